"""Prints one credential header for a request to a Cashless demo server, as scripts/api-fuzz
sends it, so a finding can be replayed with curl:

    export CASHLESS_URL=http://127.0.0.1:8080 CASHLESS_DATA_DIR=cashless-data   # a `serve --demo`
    sign() { target/api-fuzz-venv/bin/python tests/api-fuzz/sign.py "$@"; }
    curl -s "$CASHLESS_URL/v1/me" -H "$(sign consumer)"
    curl -s "$CASHLESS_URL/v1/merchant/orders?limit=2" -H "$(sign merchant GET '/v1/merchant/orders?limit=2')"
    curl -s -X POST "$CASHLESS_URL/v1/transit/taps" -H "$(sign gate-id)" \\
        -H "$(sign gate POST /v1/transit/taps "$BODY")" -H 'Content-Type: application/json' --data-binary "$BODY"

    sign operator | consumer | staff              Authorization: Bearer …
    sign merchant METHOD PATH?QUERY [BODY]       Authorization: CASHLESS-ED25519 … (fresh nonce)
    sign gate-id                                 Cashless-Gate-Id: … (registers the gate once)
    sign gate METHOD PATH [BODY]                 Cashless-Gate-Signature: …

BODY is the exact body; `@FILE` reads it from a file. Sessions are kept in
`$CASHLESS_DATA_DIR/api-fuzz-sessions.json` and signed in again when they stop working.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import requests

sys.dont_write_bytecode = True  # no __pycache__ beside the sources
sys.path.insert(0, str(Path(__file__).resolve().parent))
import hooks  # noqa: E402  (after the path it lives in)

SESSIONS = hooks.DATA_DIR / "api-fuzz-sessions.json"
CHECK_PATHS = {"consumer": "/v1/me", "staff": "/v1/staff/me"}


def _session(kind: str) -> str:
    saved = json.loads(SESSIONS.read_text()) if SESSIONS.exists() else {}
    token = saved.get(kind)
    if token:
        alive = requests.get(
            f"{hooks.URL}{CHECK_PATHS[kind]}", headers={"Authorization": f"Bearer {token}"},
            timeout=hooks.setup_timeout_secs,
        )
        if alive.ok:
            return token
    token = hooks._consumer_token() if kind == "consumer" else hooks._staff_token()
    saved[kind] = token
    SESSIONS.write_text(json.dumps(saved))
    return token


def _body(arguments: list[str]) -> bytes:
    if not arguments:
        return b""
    if arguments[0].startswith("@"):
        return Path(arguments[0][1:]).read_bytes()
    return arguments[0].encode("utf-8", "surrogateescape")


def main(arguments: list[str]) -> int:
    if not arguments:
        print(__doc__, file=sys.stderr)
        return 2
    kind, rest = arguments[0], arguments[1:]
    if kind == "operator":
        print(f"Authorization: Bearer {hooks._operator_token()}")
    elif kind in CHECK_PATHS:
        print(f"Authorization: Bearer {_session(kind)}")
    elif kind == "merchant" and len(rest) >= 2:
        print("Authorization: " + hooks.merchant_authorization(hooks._merchant(), rest[0], rest[1], _body(rest[2:])))
    elif kind == "gate-id":
        print(f"Cashless-Gate-Id: {hooks._gate().gate_id}")
    elif kind == "gate" and len(rest) >= 2:
        print("Cashless-Gate-Signature: " + hooks.gate_signature(hooks._gate().key, rest[1], _body(rest[2:])))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
