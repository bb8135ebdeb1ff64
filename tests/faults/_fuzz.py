"""What the wire fuzzer sends and what it accepts back: strategies, blocking clients, reply checks.

The clients here block (httpx's sync client, a stdio subprocess read by a thread) because hypothesis
drives a plain function per example. Every request has a deadline (`REPLY_TIMEOUT_S`): an answer
that does not come in time fails the example as a hang.

A reply is acceptable when it is a well-formed JSON-RPC response to the request (or, for a message
that is not a request, an error with id null or nothing at all), its error code is a standard
JSON-RPC or MCP code, the HTTP status is below 500, and no byte of it reads like internal text
(`INTERNAL_TEXT`).
"""

from __future__ import annotations

import itertools
import json
import queue
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from hypothesis import strategies as st
from mcp.shared.inbound import encode_header_value

from support.apps import RPC_ERROR_CODE, SECRET
from support.clients import ACCEPT_BOTH, LEGACY_VERSION, MODERN_VERSION, envelope, parse_sse
from support.process import RUNNER

#: How long one request may take before the example fails as a hang, in seconds.
REPLY_TIMEOUT_S = 10.0
#: Error codes a reply may carry: JSON-RPC 2.0 §5.1, MCP's -32020..-32022, and the test tool's own.
ALLOWED_CODES = frozenset({-32700, -32600, -32601, -32602, -32603, -32020, -32021, -32022, RPC_ERROR_CODE})
#: Text that must never reach the wire (compared lowercase): library and driver texts, tracebacks,
#: reprs, exception class names, SQL, the crashing tool's secret.
INTERNAL_TEXT = (
    "validation error",
    "traceback",
    "pydantic",
    "input_value",
    "input should be",
    "instance of",
    "object at 0x",
    "valueerror",
    "typeerror",
    "keyerror",
    "attributeerror",
    "runtimeerror",
    "validationerror",
    "jsondecodeerror",
    "integrityerror",
    "operationalerror",
    "sqlalchemy",
    "sqlite",
    "asyncpg",
    "postgres",
    "select ",
    "insert into",
    "update tasks",
    SECRET.lower(),
)

#: Tools the fuzzer may call: each answers at once (no long runs, no questions to the client).
QUICK_TOOLS = (
    "echo",
    "quick",
    "crash",
    "rpc_error",
    "tool_error",
    "opaque_result",
    "req_tool",
    "forb_tool",
    "plain_tool",
)

# -- strategies -----------------------------------------------------------------------------------

#: Any JSON value, nested a little.
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)
#: Strings that are often bad ids: empty, long, unicode, control characters, path-like.
ODD_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "\x00", "../../etc/passwd", "' OR 1=1 --", "%s%s%s", "\u202e", "🙂" * 30]),
    st.text(min_size=250, max_size=300),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=5000, max_size=5000),
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`strategy`, or an arbitrary JSON value instead (the wrong type for the field)."""
    return st.one_of(strategy, strategy, JSON_VALUES)


def params_with(
    required: dict[str, st.SearchStrategy[Any]], optional: dict[str, st.SearchStrategy[Any]] | None = None
) -> st.SearchStrategy[Any]:
    """Params objects built from field strategies, plus arbitrary extra members now and then;
    sometimes not an object at all."""
    fields = st.fixed_dictionaries(required, optional=optional or {})
    extra = st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=2)
    built = st.tuples(fields, extra).map(lambda pair: {**pair[1], **pair[0]})
    return st.one_of(built, built, built, JSON_VALUES)


def tool_arguments() -> st.SearchStrategy[Any]:
    return maybe(
        st.dictionaries(
            st.sampled_from(["text", "n", "steps", "marker", "x"]),
            st.one_of(ODD_TEXT, st.integers(), JSON_VALUES),
            max_size=3,
        )
    )


def tool_names() -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(QUICK_TOOLS), st.sampled_from(QUICK_TOOLS), maybe(st.text(max_size=20)))


def legacy_requests(task_ids: list[str]) -> st.SearchStrategy[tuple[str, Any]]:
    """(method, params) of the 2025-11-25 task methods and `tools/call`, mostly malformed."""
    task_id = maybe(st.one_of(st.sampled_from(task_ids), ODD_TEXT))
    meta = maybe(
        st.fixed_dictionaries({}, optional={"progressToken": maybe(st.integers() | st.text(max_size=8))})
    )
    by_task = params_with({"taskId": task_id}, {"_meta": meta})
    call = params_with(
        {"name": tool_names()},
        {
            "arguments": tool_arguments(),
            "task": maybe(st.fixed_dictionaries({}, optional={"ttl": maybe(st.integers())})),
            "_meta": meta,
        },
    )
    return st.one_of(
        st.tuples(st.sampled_from(["tasks/get", "tasks/result", "tasks/cancel"]), by_task),
        st.tuples(st.just("tasks/list"), params_with({}, {"cursor": maybe(ODD_TEXT)})),
        st.tuples(st.just("tools/call"), call),
        st.tuples(st.just("tools/call"), call),
        st.tuples(st.sampled_from(["tasks/update", "tasks/nope", "nope"]), by_task),
    )


def modern_meta() -> st.SearchStrategy[Any]:
    """The 2026-07-28 `_meta` envelope: mostly right, sometimes wrong in one member or absent."""
    good = envelope()
    return st.one_of(
        st.just(good),
        st.just(good),
        st.just(good),
        st.just(envelope(declare=False)),
        st.builds(lambda value: {**good, "io.modelcontextprotocol/protocolVersion": value}, JSON_VALUES),
        st.builds(lambda value: {**good, "io.modelcontextprotocol/clientCapabilities": value}, JSON_VALUES),
        JSON_VALUES,
    )


def modern_requests(task_ids: list[str]) -> st.SearchStrategy[tuple[str, Any]]:
    """(method, params) of the SEP-2663 task methods and `tools/call`, mostly malformed."""
    task_id = maybe(st.one_of(st.sampled_from(task_ids), ODD_TEXT))
    by_task = params_with({"taskId": task_id, "_meta": modern_meta()})
    update = params_with(
        {"taskId": task_id, "_meta": modern_meta()},
        {"inputResponses": maybe(st.dictionaries(ODD_TEXT, JSON_VALUES, max_size=2))},
    )
    call = params_with({"name": tool_names(), "_meta": modern_meta()}, {"arguments": tool_arguments()})
    return st.one_of(
        st.tuples(st.sampled_from(["tasks/get", "tasks/cancel"]), by_task),
        st.tuples(st.just("tasks/update"), update),
        st.tuples(st.just("tools/call"), call),
        st.tuples(st.just("tools/call"), call),
        st.tuples(st.sampled_from(["tasks/list", "tasks/result", "nope"]), by_task),
    )


def malformed_envelopes() -> st.SearchStrategy[bytes]:
    """Bodies that are not a well-formed JSON-RPC request: broken JSON, wrong types, batches."""
    member = {
        "jsonrpc": st.sampled_from(["2.0", "2.0", "1.0", 2, None]),
        "id": st.one_of(st.integers(), st.text(max_size=4), st.sampled_from([None, 1.5, True, [1], {}])),
        "method": st.one_of(st.sampled_from(["ping", "tasks/get", "tasks/list", "nope"]), JSON_VALUES),
        "params": st.one_of(st.just({}), JSON_VALUES),
        "result": JSON_VALUES,
        "error": st.one_of(st.fixed_dictionaries({"code": JSON_VALUES, "message": JSON_VALUES}), JSON_VALUES),
    }
    shaped = st.fixed_dictionaries({}, optional=member)
    as_json = st.one_of(shaped, shaped, JSON_VALUES, st.lists(shaped, max_size=2)).map(
        lambda value: json.dumps(value).encode()
    )
    broken = st.one_of(
        st.binary(max_size=40),
        st.sampled_from([b"", b"{", b'{"jsonrpc": "2.0"', b"[" * 5000, b'{"a": 1,}', b"\xff\xfe{}", b"NaN"]),
        as_json.map(lambda body: body[: max(1, len(body) // 2)]),
    )
    return st.one_of(as_json, as_json, broken).map(
        lambda body: body.replace(b"\n", b" ").replace(b"\r", b" ")
    )


# -- replies --------------------------------------------------------------------------------------


def assert_no_internal_text(raw: str) -> None:
    lowered = raw.lower()
    leaked = [text for text in INTERNAL_TEXT if text in lowered]
    assert not leaked, f"internal text {leaked} on the wire: {raw[:600]}"


def assert_well_formed(message: dict[str, Any], request_id: Any) -> None:
    """A JSON-RPC response to `request_id` (None: an error about a message whose id is unusable)."""
    assert message.get("jsonrpc") == "2.0", message
    assert ("result" in message) != ("error" in message), message
    if "result" in message:
        assert message.get("id") == request_id and request_id is not None, message
        assert isinstance(message["result"], dict), message
        return
    assert message.get("id") in (request_id, None), message
    error = message["error"]
    assert isinstance(error, dict), message
    assert error.get("code") in ALLOWED_CODES, message
    assert isinstance(error.get("message"), str) and error["message"], message


@dataclass
class HttpReply:
    status: int
    raw: str
    messages: list[dict[str, Any]]


def check_http_reply(reply: HttpReply, request_id: Any) -> dict[str, Any] | None:
    """Check one HTTP answer; returns the JSON-RPC response in it (None for a bare 202)."""
    assert reply.status < 500, (reply.status, reply.raw[:600])
    assert_no_internal_text(reply.raw)
    if reply.status == 202:
        assert reply.raw == "", reply.raw
        return None
    answers = [m for m in reply.messages if "result" in m or "error" in m]
    assert len(answers) == 1, (reply.status, reply.raw[:600])
    assert_well_formed(answers[0], request_id)
    if reply.status >= 400:
        assert "error" in answers[0], reply.raw[:600]
    return answers[0]


# -- blocking clients -----------------------------------------------------------------------------


class SyncHttp:
    """Blocking JSON-RPC over Streamable HTTP: a 2025-11-25 session (`open_session`) or 2026-07-28."""

    def __init__(self, base_url: str) -> None:
        self.url = base_url.rstrip("/") + "/mcp"
        self.http = httpx.Client(timeout=httpx.Timeout(REPLY_TIMEOUT_S, connect=5.0))
        self.session_id: str | None = None
        self._ids = itertools.count(1)

    def next_id(self) -> int:
        return next(self._ids)

    def open_session(self) -> SyncHttp:
        body = {
            "jsonrpc": "2.0",
            "id": self.next_id(),
            "method": "initialize",
            "params": {
                "protocolVersion": LEGACY_VERSION,
                "capabilities": {"tasks": {}},
                "clientInfo": {"name": "mcptasks-fuzz", "version": "0"},
            },
        }
        response = self.http.post(self.url, json=body, headers={"Accept": ACCEPT_BOTH})
        assert response.status_code == 200, response.text
        self.session_id = response.headers["mcp-session-id"]
        assert self.post_raw(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}').status == 202
        return self

    def headers(self, method: str | None = None, name: Any = None) -> dict[str, str]:
        headers = {"Accept": ACCEPT_BOTH, "Content-Type": "application/json"}
        if self.session_id is not None:
            headers["Mcp-Session-Id"] = self.session_id
            headers["MCP-Protocol-Version"] = LEGACY_VERSION
        else:
            headers["MCP-Protocol-Version"] = MODERN_VERSION
            if method is not None:
                headers["Mcp-Method"] = encode_header_value(method)
            if isinstance(name, str):
                headers["Mcp-Name"] = encode_header_value(name)
        return headers

    def post_raw(self, body: bytes, headers: dict[str, str] | None = None) -> HttpReply:
        response = self.http.post(self.url, content=body, headers=headers or self.headers())
        raw = response.text
        if "text/event-stream" in response.headers.get("content-type", ""):
            messages = parse_sse(raw)
        elif raw:
            parsed = json.loads(raw)
            assert isinstance(parsed, dict), raw
            messages = [parsed]
        else:
            messages = []
        return HttpReply(response.status_code, raw, messages)

    def request(self, method: str, params: Any) -> tuple[int, HttpReply]:
        """Send a request (any params, even malformed); returns its id and the reply."""
        request_id = self.next_id()
        body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        name = params.get("name", params.get("taskId")) if isinstance(params, dict) else None
        return request_id, self.post_raw(json.dumps(body).encode(), self.headers(method, name))

    def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """A request that must succeed; returns its result."""
        request_id, reply = self.request(method, params)
        answer = check_http_reply(reply, request_id)
        assert answer is not None and "result" in answer, reply.raw
        result: dict[str, Any] = answer["result"]
        return result

    def close(self) -> None:
        if self.session_id is not None:
            self.http.delete(self.url, headers=self.headers())
        self.http.close()


class SyncStdio:
    """A `runner.py --transport stdio` subprocess spoken to line by line; a thread reads its stdout."""

    def __init__(self, config: dict[str, Any], log_path: Path) -> None:
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(RUNNER), json.dumps({**config, "transport": "stdio"})],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
            )
        self.log_path = log_path
        self.lines: queue.Queue[bytes] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name="stdio-fuzz-reader", daemon=True)
        self._reader.start()
        self._ids = itertools.count(1)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def send(self, line: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + b"\n")
        self.process.stdin.flush()

    def next_message(self) -> tuple[str, dict[str, Any]]:
        try:
            raw = self.lines.get(timeout=REPLY_TIMEOUT_S).decode()
        except queue.Empty:
            raise AssertionError(f"no answer within {REPLY_TIMEOUT_S}s:\n{self.log()}") from None
        message = json.loads(raw)
        assert isinstance(message, dict), raw
        return raw, message

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """A well-formed request; returns its response (notifications before it are skipped)."""
        request_id = f"req-{next(self._ids)}"
        self.send(
            json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}).encode()
        )
        while True:
            raw, message = self.next_message()
            assert_no_internal_text(raw)
            if message.get("id") == request_id and ("result" in message or "error" in message):
                return message

    def exchange(self, line: bytes) -> list[tuple[str, dict[str, Any]]]:
        """Send `line`, then a `ping` as a sentinel; returns every response that arrived before the
        sentinel's answer (notifications skipped)."""
        self.send(line)
        sentinel = f"sentinel-{next(self._ids)}"
        self.send(json.dumps({"jsonrpc": "2.0", "id": sentinel, "method": "ping"}).encode())
        seen: list[tuple[str, dict[str, Any]]] = []
        while True:
            raw, message = self.next_message()
            if message.get("id") == sentinel:
                assert_well_formed(message, sentinel)
                return seen
            if "result" in message or "error" in message:
                seen.append((raw, message))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
