"""Schemathesis hooks for `scripts/api-fuzz`: every request carries the credential its operation
declares, and every error answer must be our JSON error shape.

Credentials (from the demo server that `scripts/api-fuzz` starts; it sets CASHLESS_URL and
CASHLESS_DATA_DIR):

- operator: `Authorization: Bearer` with `<data-dir>/operator-token`;
- consumer: a demo consumer signed in with a texted code read from the operator's SMS outbox;
- staff: the demo city's manager at West Lake Noodles, signed in the same way;
- merchant: a demo merchant's Ed25519 key from `<data-dir>/demo-city.json`; each request is
  signed (README, "Signing merchant requests") over the exact method, path and query, and body
  bytes that go on the wire, with a fresh nonce: a `requests` auth object does it once the
  request is prepared;
- gate: a gate this module registers with its own Ed25519 key; `Cashless-Gate-Signature` is over
  `cashless-gate-batch-v1\\n` + body (tap uploads) or `cashless-gate-scan-v1\\n` + body.

The credential comes from the operation's declared `security` (scheme names and descriptions
say which kind), else from its path. Operations that end a session (sign out, remove a device)
get a throwaway consumer or staff member, so the long-lived sessions survive the run.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import secrets
import sys
import threading
import time
from pathlib import Path
from typing import Any

import requests
import schemathesis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

URL = os.environ.get("CASHLESS_URL", "http://127.0.0.1:8080").rstrip("/")
DATA_DIR = Path(os.environ.get("CASHLESS_DATA_DIR", "cashless-data"))
# Set-up requests (sign-ins, registering the gate) give up after this long.
setup_timeout_secs = 10
# A sign-in whose code was replaced by a fuzzed request for the same phone is tried again.
sign_in_attempts_max = 3

# The kinds of credential, and the words in a security scheme's name or description that say
# which one a scheme is (first match wins: a "staff" bearer is not the consumer's).
KIND_WORDS = [
    ("gate", ("gate",)),
    ("staff", ("staff",)),
    ("operator", ("operator",)),
    ("merchant", ("merchant", "ed25519")),
    ("consumer", ("consumer", "session", "wallet", "sign-in")),
]
# Where a route lists several ways in, the one to use: the merchant's own signature can do
# everything a staff session can.
KIND_PREFERENCE = ["merchant", "operator", "consumer", "staff", "gate"]

# Operations that end the session they are sent with.
SESSION_ENDING = {
    ("POST", "/v1/auth/sign-out"): "consumer-throwaway",
    ("POST", "/v1/auth/sign-out-everywhere"): "consumer-throwaway",
    ("DELETE", "/v1/me/devices/{id}"): "consumer-throwaway",
    ("POST", "/v1/staff/sign-out"): "staff-throwaway",
}

_lock = threading.RLock()
_cache: dict[str, Any] = {}
_warned: set[str] = set()


def _warn_once(message: str) -> None:
    with _lock:
        if message in _warned:
            return
        _warned.add(message)
    print(f"api-fuzz hooks: {message}", file=sys.stderr)


def _demo_city() -> dict:
    with _lock:
        if "demo" not in _cache:
            _cache["demo"] = json.loads((DATA_DIR / "demo-city.json").read_text())
        return _cache["demo"]


def _operator_token() -> str:
    with _lock:
        if "operator" not in _cache:
            _cache["operator"] = (DATA_DIR / "operator-token").read_text().strip()
        return _cache["operator"]


def _operator_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {_operator_token()}"}


def _fresh_phone() -> str:
    # 170 numbers are virtual operators' in mainland China: no demo person has one.
    return "+86170" + "".join(secrets.choice("0123456789") for _ in range(8))


def _texted_code(phone: str, sent: dict) -> str:
    """The newest code texted to `phone`, from the operator's SMS outbox."""
    answer = requests.get(
        f"{URL}/v1/operator/sms",
        params={"phone": phone},
        headers=_operator_headers(),
        timeout=setup_timeout_secs,
    )
    answer.raise_for_status()
    messages = sorted(answer.json().get("messages", []), key=lambda m: m.get("sent_at_ms", 0))
    for message in reversed(messages):
        found = re.search(r"\b(\d{6})\b", message.get("text", ""))
        if found:
            return found.group(1)
    # The outbox is the way; a demo server also answers the code itself.
    if "demo_code" in sent:
        return sent["demo_code"]
    raise RuntimeError(f"no code texted to {phone}: {answer.text[:200]}")


def _sign_in(codes_path: str, session_path: str, phone: str, extra: dict) -> dict:
    """Asks for a code, reads it from the outbox, signs in; the sign-in answer."""
    last_error = ""
    for _ in range(sign_in_attempts_max):
        sent = requests.post(f"{URL}{codes_path}", json={"phone": phone}, timeout=setup_timeout_secs)
        if sent.status_code == 429:
            # A fuzzed request for this phone came first; once a code is used another is allowed.
            wait = sent.json().get("error", {}).get("details", {}).get("retry_after_secs", 1)
            last_error = sent.text
            time.sleep(min(float(wait), 2.0))
            continue
        sent.raise_for_status()
        code = _texted_code(phone, sent.json())
        answer = requests.post(
            f"{URL}{session_path}",
            json={"phone": phone, "code": code, **extra},
            timeout=setup_timeout_secs,
        )
        if answer.ok:
            return answer.json()
        last_error = f"{answer.status_code} {answer.text[:300]}"
    raise RuntimeError(f"could not sign {phone} in at {session_path}: {last_error}")


def _consumer_sign_in(phone: str) -> str:
    device_key = Ed25519PrivateKey.generate()
    public_hex = device_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    device = {"name": "api-fuzz", "public_key": public_hex}
    return _sign_in("/v1/auth/sms-codes", "/v1/auth/sign-in", phone, {"device": device})["token"]


def _consumer_token() -> str:
    with _lock:
        if "consumer" not in _cache:
            # The first demo consumer: real name, a card, money and the PIN 258036, so payments
            # can go through.
            phone = _demo_city()["consumers"][0]["phone"]
            _cache["consumer"] = _consumer_sign_in(phone)
        return _cache["consumer"]


def _staff_token() -> str:
    with _lock:
        if "staff" not in _cache:
            manager = next(s for s in _demo_city()["staff"] if s["role"] == "manager")
            signed_in = _sign_in("/v1/staff/sms-codes", "/v1/staff/sessions", manager["phone"], {})
            _protected_staff_ids.add(str(signed_in.get("staff", {}).get("id")))
            _cache["staff"] = signed_in["token"]
        return _cache["staff"]


# The manager whose session the harness holds: a fuzzed removal (the merchant API answers the
# staff list to that session) would end it for the rest of the run.
_protected_staff_ids: set[str] = set()


def _throwaway_staff_token() -> str:
    """A cashier added to the signing merchant's staff just now, signed in."""
    phone = _fresh_phone()
    body = json.dumps({"phone": phone, "name": "api-fuzz", "role": "cashier"}).encode()
    added = requests.post(
        f"{URL}/v1/merchant/staff",
        data=body,
        headers={"Content-Type": "application/json"},
        auth=MerchantSignature(_merchant()),
        timeout=setup_timeout_secs,
    )
    if not added.ok:
        raise RuntimeError(f"could not add a throwaway cashier: {added.status_code} {added.text[:300]}")
    return _sign_in("/v1/staff/sms-codes", "/v1/staff/sessions", phone, {})["token"]


def _merchant() -> dict:
    """The signing merchant's id and current key: a demo merchant's key at first, then the key
    a fuzzed rotation (POST /v1/merchant/keys) made current."""
    with _lock:
        if "merchant" not in _cache:
            # Not West Lake Noodles: its demo staff hold the staff session, and a fuzzed
            # DELETE /v1/merchant/staff/{id} with an id from GET /v1/merchant/staff must not end it.
            merchants = _demo_city()["merchants"]
            chosen = next((m for m in merchants if m["display_name"] == "Grandma Wu Noodle Stall"), merchants[1])
            _cache["merchant"] = {key: chosen[key] for key in ("id", "key_id", "secret_key")}
            _held_key_ids.add(chosen["key_id"])
            _record_issued({"kind": "merchant", "merchant_id": chosen["id"], "key_id": chosen["key_id"]})
        return _cache["merchant"]


# A rotation (signed with the current key, or the operator's new key for the merchant) makes
# the current key rotated out: it may no longer manage keys or staff. The harness rotates to
# keys it holds the secret of, and follows. Public key (hex) → secret.
_rotation_secrets: dict[str, str] = {}
# Every key the harness has signed with: none of them may be revoked by a fuzzed request.
_held_key_ids: set[str] = set()
HEX_KEY = re.compile(r"^[0-9a-fA-F]{64}$")


def _hold_rotation_key(case: Any) -> None:
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("public_key"), str) and HEX_KEY.match(body["public_key"]):
        key = Ed25519PrivateKey.generate()
        public_hex = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
        with _lock:
            _rotation_secrets[public_hex] = key.private_bytes_raw().hex()
        body["public_key"] = public_hex


def _follow_rotation(response: Any) -> None:
    try:
        view = json.loads(response.content)
    except ValueError:
        return
    if not isinstance(view, dict):
        return
    with _lock:
        secret = _rotation_secrets.pop(str(view.get("public_key", "")).lower(), None)
        if secret is not None and view.get("id"):
            _cache["merchant"] = {**_cache["merchant"], "key_id": str(view["id"]), "secret_key": secret}
            _held_key_ids.add(str(view["id"]))
            _record_issued({"kind": "merchant", "merchant_id": _cache["merchant"]["id"], "key_id": str(view["id"])})


def _body_bytes(request: requests.PreparedRequest) -> bytes:
    """The body exactly as it goes on the wire (a str body is sent as UTF-8 here)."""
    body = request.body
    if body is None:
        return b""
    if isinstance(body, str):
        body = body.encode("utf-8")
        request.body = body
        request.headers["Content-Length"] = str(len(body))
    if not isinstance(body, (bytes, bytearray)):
        raise TypeError(f"cannot sign a streamed body ({type(body).__name__})")
    return bytes(body)


def merchant_authorization(merchant: dict, method: str, path_and_query: str, body: bytes) -> str:
    """The `Authorization` header of a merchant request (README, "Signing merchant requests")."""
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(merchant["secret_key"]))
    timestamp = str(int(time.time()))
    nonce = secrets.token_hex(8)
    to_sign = "\n".join(
        ["CASHLESS-ED25519", method.upper(), path_and_query, timestamp, nonce, hashlib.sha256(body).hexdigest()]
    )
    signature = key.sign(to_sign.encode()).hex()
    return (
        f'CASHLESS-ED25519 merchant_id="{merchant["id"]}",key_id="{merchant["key_id"]}",'
        f'timestamp="{timestamp}",nonce="{nonce}",signature="{signature}"'
    )


def gate_signature(key: Ed25519PrivateKey, path: str, body: bytes) -> str:
    """`Cashless-Gate-Signature`: tap uploads sign their batch, the other gate routes a scan."""
    context = b"cashless-gate-batch-v1\n" if path.split("?", 1)[0].endswith("/taps") else b"cashless-gate-scan-v1\n"
    return key.sign(context + body).hex()


class MerchantSignature(requests.auth.AuthBase):
    """`Authorization: CASHLESS-ED25519 …` over the prepared request."""

    def __init__(self, merchant: dict) -> None:
        self.merchant = merchant

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = _body_bytes(request)
        request.headers["Authorization"] = merchant_authorization(self.merchant, request.method, request.path_url, body)
        return request


class GateSignature(requests.auth.AuthBase):
    """`Cashless-Gate-Id` and `Cashless-Gate-Signature` over the prepared request's body."""

    def __init__(self, gate_id: str, key: Ed25519PrivateKey) -> None:
        self.gate_id = gate_id
        self.key = key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = _body_bytes(request)
        request.headers["Cashless-Gate-Id"] = self.gate_id
        request.headers["Cashless-Gate-Signature"] = gate_signature(self.key, request.path_url, body)
        return request


def _gate() -> GateSignature:
    """The gate of this data directory: registered once, its key kept beside the database so
    reproductions (sign.py) sign as the same gate."""
    with _lock:
        if "gate" not in _cache:
            saved = DATA_DIR / "api-fuzz-gate.json"
            if saved.exists():
                gate = json.loads(saved.read_text())
            else:
                gate = _register_gate()
                saved.write_text(json.dumps(gate))
            key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(gate["secret_key"]))
            _cache["gate"] = GateSignature(gate["gate_id"], key)
            _record_issued({"kind": "gate", "gate_id": gate["gate_id"]})
        return _cache["gate"]


def _forget_gate() -> None:
    with _lock:
        _cache.pop("gate", None)
        (DATA_DIR / "api-fuzz-gate.json").unlink(missing_ok=True)


def _register_gate() -> dict:
    network = requests.get(f"{URL}/v1/transit/network", params={"operator": 1}, timeout=setup_timeout_secs)
    network.raise_for_status()
    line, station = _first_station(network.json())
    key = Ed25519PrivateKey.generate()
    gate_id = f"API-FUZZ-{secrets.token_hex(4)}"
    public_hex = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    registered = requests.post(
        f"{URL}/v1/operator/transit/gates",
        json={"gate_id": gate_id, "operator": 1, "line": line, "station": station,
              "direction": "entry", "public_key": public_hex},
        headers=_operator_headers(),
        timeout=setup_timeout_secs,
    )
    if not registered.ok:
        raise RuntimeError(f"could not register a gate: {registered.status_code} {registered.text[:300]}")
    secret_hex = key.private_bytes_raw().hex()
    return {"gate_id": gate_id, "secret_key": secret_hex}


def _first_station(network: dict) -> tuple[str, str]:
    for line in network.get("lines", []):
        for stop in line.get("stops", []):
            if stop.get("station"):
                return str(line["id"]), str(stop["station"])
    raise RuntimeError(f"no station in the network: {json.dumps(network)[:300]}")


def _scheme_kind(name: str, scheme: dict) -> str | None:
    for text in (name, scheme.get("description", "")):
        lowered = text.lower()
        for kind, words in KIND_WORDS:
            if any(word in lowered for word in words):
                return kind
    return None


def _path_kind(method: str, path: str) -> str | None:
    if path.startswith(("/v1/operator/", "/v1/ledger/")):
        return "operator"
    if path.startswith("/v1/merchant/"):
        return "merchant"
    if path.startswith("/v1/me") or path in ("/v1/auth/sign-out", "/v1/auth/sign-out-everywhere"):
        return "consumer"
    if path in ("/v1/staff/me", "/v1/staff/sign-out"):
        return "staff"
    if path in ("/v1/transit/taps", "/v1/transit/gate", "/v1/transit/scan-image"):
        return "gate"
    return None


def _declared_kinds(label: str, operation: dict, raw_schema: dict) -> tuple[bool, list[str]]:
    """(whether security is declared, the kinds of credential it accepts, most capable first;
    none when anyone may call it)."""
    security = operation.get("security", raw_schema.get("security"))
    if security is None:
        return False, []
    if not security or any(requirement == {} for requirement in security):
        return True, []
    schemes = raw_schema.get("components", {}).get("securitySchemes", {})
    usable = []
    for requirement in security:
        kinds = {_scheme_kind(name, schemes.get(name, {})) for name in requirement}
        if len(kinds) == 1 and None not in kinds:
            usable.append(kinds.pop())
        else:
            _warn_once(f"{label}: cannot tell which credential {sorted(requirement)} is")
    if not usable:
        return False, []
    return True, sorted(set(usable), key=KIND_PREFERENCE.index)


def kinds_for(method: str, path: str, operation: dict, raw_schema: dict) -> list[str]:
    """The credentials an operation may get, the one to use most first: `operator`, `consumer`,
    `staff`, `merchant`, `gate`, or a `…-throwaway` one; none for a public operation."""
    method = method.upper()
    declared, kinds = _declared_kinds(f"{method} {path}", operation, raw_schema)
    if not declared:
        kinds = [kind] if (kind := _path_kind(method, path)) else []
    if kinds and (method, path) in SESSION_ENDING:
        kinds = [SESSION_ENDING[(method, path)]]
    return kinds


def kind_for(method: str, path: str, operation: dict, raw_schema: dict) -> str | None:
    kinds = kinds_for(method, path, operation, raw_schema)
    return kinds[0] if kinds else None


def credential_kind(operation: Any) -> str | None:
    return kind_for(operation.method, operation.path, operation.definition.raw, operation.schema.raw_schema)


# Of the requests to routes a staff session may also use (the merchant API), one in this many
# goes with the manager's session instead of the merchant's signature.
staff_share_denominator = 4
_requests_counted = itertools.count()


def _chosen_kind(operation: Any) -> str | None:
    kinds = kinds_for(operation.method, operation.path, operation.definition.raw, operation.schema.raw_schema)
    if kinds[:1] == ["merchant"] and "staff" in kinds and next(_requests_counted) % staff_share_denominator == 0:
        return "staff"
    return kinds[0] if kinds else None


# Every credential handed out, for the summary's reproductions ($CASHLESS_FUZZ_ISSUED, one JSON
# object a line: a kind and the header value or the signer's ids).
ISSUED = os.environ.get("CASHLESS_FUZZ_ISSUED")


def _record_issued(record: dict) -> None:
    if ISSUED:
        with _lock, open(ISSUED, "a") as issued:
            issued.write(json.dumps(record) + "\n")


def _bearer(token: str) -> str:
    return f"Bearer {token}"


_recorded: set[str] = set()


def _issue(kind: str, header: str) -> str:
    if header not in _recorded:
        _recorded.add(header)
        _record_issued({"kind": kind.replace("-throwaway", ""), "authorization": header})
    return header


@schemathesis.auth(refresh_interval=None)
class CashlessAuth:
    """Picks, fetches and applies the credential of each operation."""

    def get(self, case: Any, context: Any) -> tuple[str, Any] | None:
        kind = _chosen_kind(context.operation)
        if kind is None:
            return None
        if kind == "operator":
            return kind, _issue(kind, _bearer(_operator_token()))
        if kind == "consumer":
            return kind, _issue(kind, _bearer(_consumer_token()))
        if kind == "consumer-throwaway":
            return kind, _issue(kind, _bearer(_consumer_sign_in(_fresh_phone())))
        if kind == "staff":
            return kind, _issue(kind, _bearer(_staff_token()))
        if kind == "staff-throwaway":
            return kind, _issue(kind, _bearer(_throwaway_staff_token()))
        if kind == "merchant":
            return kind, MerchantSignature(_merchant())
        if kind == "gate":
            return kind, _gate()
        raise AssertionError(kind)

    def set(self, case: Any, data: tuple[str, Any], context: Any) -> None:
        kind, credential = data
        if isinstance(credential, str):
            case.headers = case.headers or {}
            case.headers["Authorization"] = credential
            return
        if isinstance(credential, GateSignature):
            if _gate_headers_left_out(case):
                return
            _point_taps_at(case, credential.gate_id)
        case._auth = credential


GATE_HEADERS = ("cashless-gate-id", "cashless-gate-signature")


def _gate_headers_left_out(case: Any) -> bool:
    """Whether a case leaves out a gate header the document lists as a parameter: a test that a
    request without it is refused, which a signature added here would spoil."""
    declared = {
        str(parameter.get("name", "")).lower()
        for parameter in case.operation.definition.raw.get("parameters", [])
        if isinstance(parameter, dict) and parameter.get("in") == "header"
    }
    sent = {str(name).lower() for name in (case.headers or {})}
    return any(name in declared and name not in sent for name in GATE_HEADERS)


def _point_taps_at(case: Any, gate_id: str) -> None:
    # A batch names its gate: the fuzzed one would only ever be refused as gate_mismatch.
    if isinstance(case.body, dict) and isinstance(case.body.get("gate_id"), str):
        case.body["gate_id"] = gate_id


# The fuzzer may find the harness's own gate or merchant key in earlier answers (GET
# /v1/transit/gate, GET /v1/merchant/profile) and re-key or revoke it, which would leave the
# rest of the run refused. Those requests are pointed elsewhere: the operations still run.
@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict) -> None:
    label = f"{case.operation.method.upper()} {case.operation.path}"
    if label == "POST /v1/operator/transit/gates" and isinstance(case.body, dict):
        gate = _cache.get("gate")
        if gate is not None and case.body.get("gate_id") == gate.gate_id:
            case.body["gate_id"] = gate.gate_id + "-X"
    if label == "POST /v1/merchant/keys" and credential_kind(case.operation) == "merchant":
        _hold_rotation_key(case)
    if label == "POST /v1/operator/merchants/{id}/keys" and (case.path_parameters or {}).get("id") == _merchant()["id"]:
        _hold_rotation_key(case)  # the operator's new key rotates the merchant's current one out too
    if label == "DELETE /v1/merchant/staff/{id}" and (case.path_parameters or {}).get("id") in _protected_staff_ids:
        case.path_parameters["id"] = "00000000-0000-0000-0000-000000000000"
    if label == "DELETE /v1/operator/merchants/{id}/keys/{key_id}":
        if (case.path_parameters or {}).get("key_id") in _held_key_ids:
            case.path_parameters["key_id"] = "0000000000000000"


# Answers that refuse a credential this module issued. Outside the operations that end a
# session on purpose, each one means the harness lost a credential (or the server refused a
# good one): it is written to $CASHLESS_FUZZ_REFUSALS for the summary, and the credential is
# fetched again for the next request.
REFUSALS = os.environ.get("CASHLESS_FUZZ_REFUSALS")


def _issued_kind(request: Any) -> str | None:
    authorization = request.headers.get("Authorization", "")
    with _lock:
        bearers = {
            _bearer(_cache[kind]): kind for kind in ("operator", "consumer", "staff") if kind in _cache
        }
        gate = _cache.get("gate")
    if authorization in bearers:
        return bearers[authorization]
    merchant = _merchant()
    if authorization.startswith(f'CASHLESS-ED25519 merchant_id="{merchant["id"]}",'):
        return "merchant"
    if gate is not None and request.headers.get("Cashless-Gate-Id") == gate.gate_id \
            and "Cashless-Gate-Signature" in request.headers:
        return "gate"
    return None


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    if response.status_code == 201 and (
        (response.request.path_url == "/v1/merchant/keys" and _issued_kind(response.request) == "merchant")
        or response.request.path_url == f"/v1/operator/merchants/{_merchant()['id']}/keys"
    ):
        _follow_rotation(response)
    if response.status_code != 401:
        return
    kind = _issued_kind(response.request)
    if kind is None:
        return
    label = f"{case.operation.method.upper()} {case.operation.path}"
    try:
        code = json.loads(response.content)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code = None
    with _lock:
        if kind in ("consumer", "staff"):
            _cache.pop(kind, None)
    if kind == "gate":
        _forget_gate()
    if REFUSALS:
        record = {"kind": kind, "operation": label, "code": code,
                  "method": response.request.method, "path": response.request.path_url}
        with _lock, open(REFUSALS, "a") as refusals:
            refusals.write(json.dumps(record) + "\n")


def _media_type(response: Any) -> str:
    # Schemathesis keeps headers with lowercase names and a list of values.
    values = response.headers.get("content-type") or [""]
    return values[0].split(";")[0].strip().lower()


@schemathesis.check
def error_is_json(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx/5xx answer is `{"error": {"code": "...", "message": "..."}}` as JSON."""
    if response.status_code < 400:
        return None
    media_type = _media_type(response)
    if media_type != "application/json":
        raise AssertionError(
            f"{response.status_code} answered as {media_type or 'no Content-Type'}, not application/json: "
            f"{response.text[:200]!r}"
        )
    try:
        body = json.loads(response.content or b"")
    except ValueError as error:
        raise AssertionError(f"{response.status_code} body is not JSON ({error}): {response.text[:200]!r}")
    error = body.get("error") if isinstance(body, dict) else None
    if not (isinstance(error, dict) and isinstance(error.get("code"), str) and isinstance(error.get("message"), str)):
        raise AssertionError(f"{response.status_code} body is not {{\"error\": {{\"code\", \"message\"}}}}: {response.text[:200]!r}")
    return None
