"""Reads a schemathesis run's NDJSON events and writes its findings, grouped by cause and
deduplicated, most serious first, each with one example and a curl line that replays it (with
the credential helpers of sign.py); prints a short summary. Exits 1 when there is any finding.

    summarize.py --ndjson RUN.ndjson --openapi openapi.json --out findings.md
                 [--routes crates/server/src] [--server-log serve.log] [--server-died]
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ beside the sources
sys.path.insert(0, str(Path(__file__).resolve().parent))
import hooks  # noqa: E402  (after the path it lives in)

# Lower is more serious.
SEVERITY = {
    "crash": 0,
    "server_error": 1,
    "auth": 1,
    "harness": 1,
    "not_json": 2,
    "untestable": 3,
    "response_schema": 4,
    "undocumented": 5,
    "stateful": 5,
    "accepted_invalid": 6,
    "rejected_valid": 7,
    "missing_route": 8,
    "other": 9,
}
CATEGORY_TITLES = {
    "crash": "The server crashed, panicked or stopped answering",
    "server_error": "5xx answers",
    "auth": "Authentication not enforced",
    "harness": "Credentials of the harness refused mid-run (the run lost coverage, or the server refused a good one)",
    "not_json": "Errors that are not the JSON error shape",
    "untestable": "Operations the document describes too badly to test",
    "response_schema": "Answers that do not match the documented schema",
    "undocumented": "Undocumented status codes and content types",
    "stateful": "Resources that do not behave as their links say",
    "accepted_invalid": "Requests the document forbids, accepted",
    "rejected_valid": "Requests the document allows, refused as malformed (400) or by a rule it does not state",
    "missing_route": "Routes the server serves that the document leaves out",
    "other": "Other",
}
# Headers a reproduction leaves out: credentials are added by sign.py, the rest by curl.
DROPPED_HEADERS = {
    "authorization", "cashless-gate-id", "cashless-gate-signature", "user-agent", "accept",
    "accept-encoding", "connection", "content-length",
}
example_text_max = 300


@dataclass
class Example:
    operation: str
    request: dict
    response: dict | None
    message: str

    @property
    def size(self) -> int:
        return len(self.request.get("uri", "")) + len(_decode(self.request.get("body")))


@dataclass
class Group:
    category: str
    title: str
    code: str
    operations: set[str] = field(default_factory=set)
    cases: int = 0
    example: Example | None = None
    reproduce: str | None = None

    def add(self, example: Example) -> None:
        self.cases += 1
        self.operations.add(example.operation)
        if self.example is None or example.size < self.example.size:
            self.example = example


def _decode(blob: dict | None) -> bytes:
    if not blob:
        return b""
    if "$base64" in blob:
        return base64.b64decode(blob["$base64"])
    return str(blob.get("string", "")).encode()


def _error_code(response: dict | None) -> str | None:
    if not response:
        return None
    try:
        error = json.loads(_decode(response.get("content")))["error"]
        return str(error["code"])
    except (ValueError, KeyError, TypeError):
        return None


def _media_type(response: dict | None) -> str:
    if not response:
        return ""
    values = {k.lower(): v for k, v in response.get("headers", {}).items()}.get("content-type") or [""]
    return values[0].split(";")[0].strip()


def _classify(code: str, failure: dict, operation: str, response: dict | None) -> tuple[str, str, tuple]:
    """(category, title, grouping key) of one failed check."""
    message = failure.get("message", "")
    first = message.split("\n", 1)[0]
    status = response.get("status_code") if response else None
    error = _error_code(response)
    if code in ("ST101", "ST102"):
        return "server_error", f"{status} answer", (code, operation, status, error)
    if code.startswith("ST4"):
        return "auth", failure.get("title", code), (code, operation)
    not_json = code == "ST901" and "error_is_json" in failure.get("title", "")
    if not_json or (code in ("ST104", "ST105", "ST106") and status and status >= 400):
        # The same cause whichever check saw it: a framework rejection answered as text.
        body = _decode(response.get("content")) if response else b""
        cause = body.decode("utf-8", "replace").split(":", 1)[0][:60]
        media = _media_type(response) or "no Content-Type"
        return "not_json", f"{status} answered as {media}: `{cause}`", ("not_json", status, media, cause)
    if code == "ST108":
        schema_at = re.search(r"Schema at (\S+?):?$", message, re.MULTILINE)
        where = schema_at.group(1) if schema_at else ""
        required = " is a required property" in first or "Additional properties" in first
        if not required and re.match(r"""^\s*[\[{"0-9-]""", first) and " is " in first:
            # The value is quoted first: the same mismatch on another value is the same cause.
            problem = "answer" + first[first.rindex(" is "):]
            return "response_schema", f"{operation}: {problem} ({where})", (code, operation, where, problem)
        return "response_schema", f"{first} ({where})", (code, where, first)
    if code == "ST103":
        return "undocumented", f"undocumented status {status}" + (f" `{error}`" if error else ""), \
            (code, status, error)
    if code in ("ST104", "ST105", "ST106"):
        category = "not_json" if status and status >= 400 else "undocumented"
        return category, f"{first} (status {status})", (code, first, status)
    if code == "ST201":
        component = re.search(r"Invalid component: (.*)", message)
        what = component.group(1) if component else first
        return "accepted_invalid", f"{operation}: {status} for a request with {what}", (code, operation, what)
    if code == "ST203":
        return "accepted_invalid", f"{operation}: {first}", (code, operation, first)
    if code == "ST202":
        if error and error != "invalid_request":
            # One error code is one rule the document leaves out, on whichever operation.
            return "rejected_valid", f"schema-valid requests refused with {status} `{error}`", (code, status, error)
        return "rejected_valid", f"{operation}: schema-valid request refused with {status}" \
            + (f" `{error}`" if error else ""), (code, operation, status, error)
    if code.startswith("ST3"):
        return "stateful", f"{failure.get('title')}: {first}", (code, operation, first)
    return "other", f"{failure.get('title')}: {first}", (code, operation, first)


def _shell_quote(data: bytes) -> str:
    if all(32 <= b < 127 and b != ord("'") for b in data):
        return "'" + data.decode() + "'"
    escaped = "".join(
        chr(b) if 32 <= b < 127 and b not in (ord("'"), ord("\\")) else f"\\x{b:02x}" for b in data
    )
    return "$'" + escaped + "'"


def _body_argument(body: bytes) -> str:
    if b"\x00" not in body:
        return _shell_quote(body)
    # A NUL cannot be in an argument: give curl and sign.py the bytes through a pipe.
    octal = "".join(chr(b) if 32 <= b < 127 and b not in (ord("'"), ord("\\")) else f"\\0{b:03o}" for b in body)
    return f"@<(printf '%b' '{octal}')"


def _operation_of(label: str) -> tuple[str, str]:
    method, _, path = label.partition(" ")
    return method, path


@dataclass
class Issued:
    """The credentials the hooks handed out in the run (hooks.py, $CASHLESS_FUZZ_ISSUED)."""

    bearers: dict[str, str] = field(default_factory=dict)
    merchant_keys: set[tuple[str, str]] = field(default_factory=set)
    gate_ids: set[str] = field(default_factory=set)

    @classmethod
    def read(cls, path: Path | None) -> Issued:
        issued = cls()
        if path is None or not path.exists():
            return issued
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if "authorization" in record:
                issued.bearers[record["authorization"]] = record["kind"]
            elif record["kind"] == "merchant":
                issued.merchant_keys.add((record["merchant_id"], record["key_id"]))
            elif record["kind"] == "gate":
                issued.gate_ids.add(record["gate_id"])
        return issued

    def kind_of(self, authorization: str) -> str | None:
        if authorization in self.bearers:
            return self.bearers[authorization]
        signer = re.match(r'CASHLESS-ED25519 merchant_id="([^"]*)",key_id="([^"]*)"', authorization)
        if signer and (signer.group(1), signer.group(2)) in self.merchant_keys:
            return "merchant"
        return None


def reproduction(example: Example, raw_schema: dict, issued: Issued) -> str:
    request = example.request
    method = request.get("method", "GET")
    uri = request.get("uri", "")
    path_and_query = re.sub(r"^https?://[^/]+", "", uri)
    body = _decode(request.get("body"))
    headers = {name: values for name, values in request.get("headers", {}).items()}
    parts = ["curl -si"]
    if method != "GET":
        parts.append(f"-X {method}")
    parts.append('"$CASHLESS_URL"' + _shell_quote(path_and_query.encode()))
    for name, values in headers.items():
        if name.lower() in DROPPED_HEADERS or name.lower().startswith("x-schemathesis"):
            continue
        for value in values:
            parts.append("-H " + _shell_quote(f"{name}: {value}".encode("utf-8", "surrogateescape")))
    body_arg = _body_argument(body) if body else ""
    quoted_target = _shell_quote(path_and_query.encode())
    for value in headers.get("Authorization", []):
        kind = issued.kind_of(value)
        if value == "[Filtered]":  # a run with sanitized output: the operation's own credential
            op_method, op_path = _operation_of(example.operation)
            operation = raw_schema.get("paths", {}).get(op_path, {}).get(op_method.lower(), {})
            kind = (hooks.kind_for(op_method, op_path, operation, raw_schema) or "").replace("-throwaway", "")
        if kind in ("operator", "consumer", "staff"):
            parts.append(f'-H "$(sign {kind})"')
        elif kind == "merchant":
            parts.append(f'-H "$(sign merchant {method} {quoted_target}' + (f" {body_arg}" if body else "") + ')"')
        else:
            # Not one of ours: a fuzzed credential, sent as it was.
            parts.append("-H " + _shell_quote(f"Authorization: {value}".encode("utf-8", "surrogateescape")))
    gate_ids = headers.get("Cashless-Gate-Id", [])
    if gate_ids and gate_ids[0] in issued.gate_ids and "Cashless-Gate-Signature" in headers:
        parts.append('-H "$(sign gate-id)"')
        parts.append(f'-H "$(sign gate {method} {quoted_target}' + (f" {body_arg}" if body else "") + ')"')
    else:
        for name in ("Cashless-Gate-Id", "Cashless-Gate-Signature"):
            for value in headers.get(name, []):
                parts.append("-H " + _shell_quote(f"{name}: {value}".encode("utf-8", "surrogateescape")))
    if body:
        parts.append(f"--data-binary {body_arg}")
    return " ".join(parts)


def _excerpt(data: bytes) -> str:
    text = data.decode("utf-8", "backslashreplace")
    return text if len(text) <= example_text_max else text[:example_text_max] + "…"


def read_events(path: Path, groups: dict[tuple, Group], known: list[KnownRefusal]) -> dict:
    stats = {"cases": 0, "operations": set(), "phases": {}, "errors": 0, "known": known, "known_skipped": 0}
    with path.open() as events:
        for line in events:
            event = json.loads(line)
            kind, payload = next(iter(event.items()))
            if kind == "NonFatalError":
                _add_error(payload, groups)
                stats["errors"] += 1
            elif kind == "PhaseFinished":
                stats["phases"][payload["phase"]["name"]] = payload.get("status")
            elif kind == "ScenarioFinished":
                _add_scenario(payload["recorder"], groups, stats)
    return stats


def _add_error(payload: dict, groups: dict[tuple, Group]) -> None:
    value = payload.get("value", {})
    error_type = value.get("type", "Error")
    message = str(value.get("message", ""))
    label = payload.get("label", "")
    if error_type == "InvalidSchema":
        cause = re.sub(r"'[^']*'", "'…'", message)
        key = ("schema", cause)
        category, title = "untestable", f"{message if 'not defined' not in message else cause}"
    else:
        key = ("error", error_type)
        category, title = "crash", f"{error_type}: {message[:200]}"
    group = groups.setdefault(key, Group(category, title, error_type))
    group.add(Example(label, {"method": _operation_of(label)[0], "uri": ""}, None, message))


@dataclass
class KnownRefusal:
    operation: str  # "METHOD /path" or "*"
    status: int
    code: str
    message: str

    def matches(self, operation: str, status: int | None, code: str | None, message: str) -> bool:
        return (self.operation in ("*", operation) and self.status == status and self.code == code
                and self.message in message)


def read_known(path: Path | None) -> list[KnownRefusal]:
    known = []
    if path is None or not path.exists():
        return known
    for line in path.read_text().splitlines():
        line = line.split(" # ", 1)[0].split("  #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        operation, words = (words[0], words[1:]) if words[0] == "*" else (" ".join(words[:2]), words[2:])
        known.append(KnownRefusal(operation, int(words[0]), words[1], " ".join(words[2:])))
    return known


def _is_known(known: list[KnownRefusal], code: str, operation: str, response: dict | None) -> bool:
    if code != "ST202" or not response:
        return False
    try:
        error = json.loads(_decode(response.get("content")))["error"]
    except (ValueError, KeyError, TypeError):
        return False
    return any(k.matches(operation, response.get("status_code"), error.get("code"), str(error.get("message", "")))
               for k in known)


def _add_scenario(recorder: dict, groups: dict[tuple, Group], stats: dict) -> None:
    interactions = recorder.get("interactions", {})
    stats["cases"] += len(recorder.get("cases", {}))
    stats["operations"].add(recorder.get("label"))
    for case_id, checks in recorder.get("checks", {}).items():
        for check in checks:
            if check.get("status") != "failure":
                continue
            failure = check["failure_info"]["failure"]
            operation = failure.get("operation") or recorder.get("label", "")
            interaction = interactions.get(case_id) or {}
            response = interaction.get("response")
            if _is_known(stats["known"], failure.get("code", ""), operation, response):
                stats["known_skipped"] += 1
                continue
            category, title, key = _classify(failure.get("code", ""), failure, operation, response)
            group = groups.setdefault(key, Group(category, title, failure.get("code", "")))
            group.add(Example(operation, interaction.get("request", {}), response, failure.get("message", "")))


def missing_routes(source_dir: Path, raw_schema: dict) -> list[str]:
    """Paths routed in the server's source (`.route("/v1/…"` and the health checks) that the
    document does not have."""
    documented = set(raw_schema.get("paths", {}))
    routed = set()
    for source in sorted(source_dir.rglob("*.rs")):
        for path in re.findall(r'\.route\(\s*"([^"]+)"', source.read_text()):
            if path.startswith("/v1/") or path in ("/healthz", "/readyz"):
                routed.add(path)
    return sorted(routed - documented)


def document_problems(raw_schema: dict) -> list[tuple[str, str, str]]:
    """(title, operation, path) for what the document says that no request can follow: parameters
    `in: path` that the path has no place for, and pictures described as arrays of integers."""
    problems = []
    for path, operations in raw_schema.get("paths", {}).items():
        placeholders = set(re.findall(r"\{([^{}]+)\}", path))
        for method, operation in operations.items():
            if not isinstance(operation, dict) or method == "parameters":
                continue
            label = f"{method.upper()} {path}"
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path" and parameter.get("name") not in placeholders:
                    problems.append(("parameters declared `in: path` that are not in the path (query parameters?)",
                                     f"{label} ({parameter.get('name')})", path))
            for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
                schema = content.get("schema") or {}
                if not media_type.endswith("json") and schema.get("type") == "array":
                    problems.append(("picture (or other non-JSON) bodies described as a JSON array, "
                                     "not `type: string, format: binary`", f"{label} ({media_type})", path))
    return problems


def write_markdown(groups: list[Group], raw_schema: dict, issued: Issued, stats: dict, out: Path,
                   notes: list[str]) -> None:
    lines = [
        "# API fuzzing findings (scripts/api-fuzz)",
        "",
        f"{stats['cases']} test cases over {len(stats['operations'])} operations; "
        f"{len(groups)} distinct findings, most serious first.",
        "",
        "Reproduce against a demo server (`cashless serve --demo --data-dir D`):",
        "",
        "```sh",
        "export CASHLESS_URL=http://127.0.0.1:8080 CASHLESS_DATA_DIR=D",
        'sign() { target/api-fuzz-venv/bin/python tests/api-fuzz/sign.py "$@"; }',
        "```",
        "",
    ]
    lines += notes
    current = None
    for number, group in enumerate(groups, 1):
        if group.category != current:
            current = group.category
            lines += ["", f"## {CATEGORY_TITLES[current]}", ""]
        operations = sorted(o for o in group.operations if o)
        shown = ", ".join(f"`{o}`" for o in operations[:12]) + (f" and {len(operations) - 12} more" if len(operations) > 12 else "")
        lines.append(f"### {number}. {group.title}")
        lines.append("")
        lines.append(f"- {group.code}, {group.cases} case(s), {len(operations)} operation(s): {shown}")
        example = group.example
        if example and example.request.get("uri"):
            body = _decode(example.request.get("body"))
            lines.append(f"- e.g. `{example.request.get('method')} {re.sub(r'^https?://[^/]+', '', example.request['uri'])}`"
                         + (f" with body `{_excerpt(body)}`" if body else ""))
            if example.response:
                lines.append(f"  → {example.response.get('status_code')} {_media_type(example.response)} "
                             f"`{_excerpt(_decode(example.response.get('content')))}`")
            detail = example.message.split("\n")
            detail = " ".join(x.strip() for x in detail[:3] if x.strip())
            if detail:
                lines.append(f"- {detail[:400]}")
            lines.append(f"- reproduce: `{reproduction(example, raw_schema, issued)}`")
        elif example:
            lines.append(f"- {example.message[:400]}")
        if group.reproduce:
            lines.append(f"- reproduce: `{group.reproduce}`")
        lines.append("")
    out.write_text("\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ndjson", type=Path, required=True)
    parser.add_argument("--openapi", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--routes", type=Path)
    parser.add_argument("--refusals", type=Path)
    parser.add_argument("--issued", type=Path)
    parser.add_argument("--known", type=Path, help="refusals no schema can foretell (known-refusals.txt)")
    parser.add_argument("--server-log", type=Path)
    parser.add_argument("--server-died", action="store_true")
    arguments = parser.parse_args()

    raw_schema = json.loads(arguments.openapi.read_text())
    groups: dict[tuple, Group] = {}
    stats = read_events(arguments.ndjson, groups, read_known(arguments.known))
    notes: list[str] = []
    if arguments.refusals and arguments.refusals.exists():
        for line in arguments.refusals.read_text().splitlines():
            refusal = json.loads(line)
            key = ("refusal", refusal["kind"], refusal.get("code"))
            group = groups.setdefault(key, Group(
                "harness", f"the {refusal['kind']} credential refused with 401 `{refusal.get('code')}`", "hooks"))
            group.operations.add(refusal["operation"])
            group.cases += 1
            if group.example is None:
                group.example = Example(refusal["operation"], {}, None,
                                        f"first: {refusal['method']} {refusal['path']}")
    if arguments.server_died:
        groups[("died",)] = Group("crash", "the server process exited during the run", "server")
        groups[("died",)].cases = 1
    if arguments.server_log and arguments.server_log.exists():
        log = arguments.server_log.read_text(errors="replace")
        for panic in sorted(set(re.findall(r"panicked at [^\n]*", log)))[:20]:
            group = groups.setdefault(("panic", panic), Group("crash", panic, "panic"))
            group.cases += 1
    for title, where, path in document_problems(raw_schema):
        group = groups.setdefault(("document", title), Group("untestable", title, "document"))
        group.operations.add(where)
        group.cases += 1
        group.reproduce = group.reproduce or f'curl -s "$CASHLESS_URL/openapi.json" | jq \'.paths["{path}"]\''

    if arguments.routes:
        for path in missing_routes(arguments.routes, raw_schema):
            group = groups.setdefault(("route",), Group("missing_route", "routes missing from /openapi.json", "route"))
            group.operations.add(path)
            group.cases += 1
            group.reproduce = f'curl -s "$CASHLESS_URL/openapi.json" | jq \'.paths | has("{path}")\''

    ordered = sorted(groups.values(), key=lambda g: (SEVERITY[g.category], -len(g.operations), -g.cases, g.title))
    write_markdown(ordered, raw_schema, Issued.read(arguments.issued), stats, arguments.out, notes)

    print(f"api-fuzz: {stats['cases']} test cases, {len(stats['operations'])} operations, "
          f"{len(ordered)} distinct findings"
          + (f" ({stats['known_skipped']} refusals listed in {arguments.known} not counted)" if stats["known_skipped"] else ""))
    for group in ordered[:25]:
        print(f"  [{group.category}] {group.title[:110]} ({len(group.operations)} op, {group.cases} cases)")
    if len(ordered) > 25:
        print(f"  … and {len(ordered) - 25} more")
    if ordered:
        print(f"api-fuzz: details and curl reproductions in {arguments.out}")
    tested = {label for label in stats["operations"] if label and " /" in label}
    failing = {o for g in ordered for o in g.operations if o in tested}
    # Findings about no tested operation (a crash, a route left out) count on their own.
    elsewhere = sum(1 for g in ordered if not (g.operations & tested))
    print(f"api-fuzz: {len(tested - failing)} passed, {len(failing) + elsewhere} failed")
    return 1 if ordered else 0


if __name__ == "__main__":
    sys.exit(main())
