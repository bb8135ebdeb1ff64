"""Fuzzing the wire: malformed and hostile requests get a clean JSON-RPC error, and the server lives on.

A property-based fuzzer (hypothesis, derandomized: the same cases on every run) sends, to one real
HTTP server process per engine (`http_server`):

- on the 2025-11-25 wire (one session): `tasks/get`, `tasks/result`, `tasks/list`, `tasks/cancel`
  and `tools/call` (task-augmented or not) with params built from right and wrong values;
- on the 2026-07-28 wire: `tasks/get`, `tasks/update`, `tasks/cancel` and `tools/call`, with a
  right or wrong `_meta` envelope and routing headers;
- on both, malformed envelopes: broken JSON, batches, wrong `jsonrpc`, `id`, `method`, `params`.

and malformed envelopes over stdio (a `runner.py` subprocess, each wire). Every reply must come
within `REPLY_TIMEOUT_S` (no hang), be below HTTP 500, be a well-formed JSON-RPC response to the
request with a standard error code, and carry no internal text (`_fuzz.INTERNAL_TEXT`: validation
reports, tracebacks, reprs, exception class names, SQL). After the run a normal call still works.

Fuzz cases per module run (per engine): `HTTP_EXAMPLES` per HTTP wire, `STDIO_EXAMPLES` per stdio
wire.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pydantic_core
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.apps import SECRET
from support.clients import LEGACY_VERSION, envelope
from support.process import HttpServer, server_config

from ._fuzz import (
    SyncHttp,
    SyncStdio,
    assert_no_internal_text,
    assert_well_formed,
    check_http_reply,
    legacy_requests,
    malformed_envelopes,
    modern_requests,
)

pytestmark = pytest.mark.slow

#: Fuzz cases per HTTP wire (requests and malformed envelopes together).
HTTP_EXAMPLES = 400
#: Fuzz cases (malformed lines) per stdio wire.
STDIO_EXAMPLES = 150


def fuzz_settings(examples: int) -> settings:
    """Bounded and reproducible: a fixed number of cases, derandomized, no example database."""
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


@pytest.fixture(scope="module")
def legacy(http_server: HttpServer) -> Any:
    client = SyncHttp(http_server.base_url).open_session()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="module")
def modern(http_server: HttpServer) -> Any:
    client = SyncHttp(http_server.base_url)
    try:
        yield client
    finally:
        client.close()


def _valid_id(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _id_of(body: bytes) -> Any:
    """The request id a reply to `body` may carry (None when `body` has no valid one)."""
    try:
        value = pydantic_core.from_json(body.decode("utf-8", errors="replace"))
    except ValueError:
        return None
    return value.get("id") if isinstance(value, dict) and _valid_id(value.get("id")) else None


def _legacy_task_ids(client: SyncHttp) -> list[str]:
    """Ids of real tasks of this session: a completed one and a failed one."""
    ids = []
    for tool, arguments in (("echo", {"text": "fuzz seed"}), ("crash", {})):
        created = client.call("tools/call", {"name": tool, "arguments": arguments, "task": {}})
        ids.append(created["task"]["taskId"])
    return ids


def _modern_task_ids(client: SyncHttp) -> list[str]:
    ids = []
    for tool, arguments in (("echo", {"text": "fuzz seed"}), ("crash", {})):
        created = client.call("tools/call", {"name": tool, "arguments": arguments, "_meta": envelope()})
        assert created["resultType"] == "task", created
        ids.append(created["taskId"])
    return ids


def test_the_2025_wire_survives_fuzzed_task_requests_and_envelopes(legacy: SyncHttp) -> None:
    task_ids = _legacy_task_ids(legacy)
    requests = legacy_requests(task_ids)
    envelopes = malformed_envelopes()
    sent: list[str] = []

    @fuzz_settings(HTTP_EXAMPLES)
    @given(st.data())
    def fuzz(data: st.DataObject) -> None:
        if data.draw(st.integers(0, 3), label="kind") == 0:
            body = data.draw(envelopes, label="envelope")
            sent.append("envelope")
            check_http_reply(legacy.post_raw(body), _id_of(body))
            return
        method, params = data.draw(requests, label="request")
        sent.append(method)
        request_id, reply = legacy.request(method, params)
        check_http_reply(reply, request_id)

    fuzz()
    assert len(sent) == HTTP_EXAMPLES
    assert {"tasks/get", "tasks/result", "tasks/list", "tasks/cancel", "tools/call", "envelope"} <= set(sent)
    # Alive, and the session too: a task runs to its result.
    created = legacy.call("tools/call", {"name": "echo", "arguments": {"text": "after fuzz"}, "task": {}})
    result = legacy.call("tasks/result", {"taskId": created["task"]["taskId"]})
    assert result["content"][0]["text"] == "echo: after fuzz"
    assert len(legacy.call("tasks/list", {})["tasks"]) >= 3


def test_the_2026_wire_survives_fuzzed_task_requests_and_envelopes(modern: SyncHttp) -> None:
    task_ids = _modern_task_ids(modern)
    requests = modern_requests(task_ids)
    envelopes = malformed_envelopes()
    sent: list[str] = []

    @fuzz_settings(HTTP_EXAMPLES)
    @given(st.data())
    def fuzz(data: st.DataObject) -> None:
        if data.draw(st.integers(0, 3), label="kind") == 0:
            body = data.draw(envelopes, label="envelope")
            sent.append("envelope")
            check_http_reply(modern.post_raw(body, modern.headers("ping")), _id_of(body))
            return
        method, params = data.draw(requests, label="request")
        sent.append(method)
        request_id, reply = modern.request(method, params)
        check_http_reply(reply, request_id)

    fuzz()
    assert len(sent) == HTTP_EXAMPLES
    assert {"tasks/get", "tasks/update", "tasks/cancel", "tools/call", "envelope"} <= set(sent)
    created = modern.call(
        "tools/call", {"name": "echo", "arguments": {"text": "after fuzz"}, "_meta": envelope()}
    )
    task = modern.call("tasks/get", {"taskId": created["taskId"], "_meta": envelope()})
    assert task["taskId"] == created["taskId"] and task["status"] in ("working", "completed")


# -- stdio ------------------------------------------------------------------------------------------


def _expected(line: bytes) -> tuple[str, Any]:
    """What JSON-RPC 2.0 asks of a server given `line` (decoded as the server reads stdin):
    ("answer", id): a response to that request; ("error", id): an error with that id or null;
    ("nothing", None): no response (a well-formed notification or response, or a blank line:
    whitespace between messages)."""
    text = line.decode("utf-8", errors="replace")
    if not text.strip():
        return "nothing", None
    try:
        message = pydantic_core.from_json(text)
    except ValueError:
        return "error", None
    if not isinstance(message, dict):
        return "error", None
    request_id = message.get("id") if _valid_id(message.get("id")) else None
    if message.get("jsonrpc") != "2.0":
        return "error", request_id
    if "method" in message:
        params = message.get("params")
        malformed = (
            not isinstance(message["method"], str)
            or ("id" in message and request_id is None)
            or (params is not None and not isinstance(params, dict))
        )
        if malformed:
            return "error", request_id
        return ("answer", request_id) if "id" in message else ("nothing", None)
    has_result, has_error = "result" in message, "error" in message
    if has_result == has_error:
        return "error", request_id
    if has_result:
        well_formed = request_id is not None and isinstance(message["result"], dict)
    else:
        error = message["error"]
        well_formed = (
            "id" in message
            and (request_id is not None or message["id"] is None)
            and isinstance(error, dict)
            and isinstance(error.get("code"), int)
            and not isinstance(error.get("code"), bool)
            and isinstance(error.get("message"), str)
        )
    return ("nothing", None) if well_formed else ("error", request_id)


@pytest.mark.parametrize("wire", ["2025-11-25", "2026-07-28"])
def test_stdio_answers_every_malformed_line_and_lives_on(
    wire: str, module_db: Path | str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    log = tmp_path_factory.mktemp("stdio-fuzz") / "server.log"
    client = SyncStdio(server_config(module_db), log)
    try:
        modern = wire != LEGACY_VERSION
        if not modern:
            init = client.request(
                "initialize",
                {
                    "protocolVersion": LEGACY_VERSION,
                    "capabilities": {},
                    "clientInfo": {"name": "mcptasks-fuzz", "version": "0"},
                },
            )
            assert "result" in init, init
            client.send(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}')
        meta = {"_meta": envelope()} if modern else {}
        # The first request decides the connection's era.
        assert "result" in client.request("tools/list", dict(meta)), client.log()
        envelopes = malformed_envelopes()
        kinds: list[str] = []

        @fuzz_settings(STDIO_EXAMPLES)
        @given(envelopes)
        def fuzz(line: bytes) -> None:
            kind, request_id = _expected(line)
            kinds.append(kind)
            replies = client.exchange(line)
            for raw, _ in replies:
                assert_no_internal_text(raw)
            if kind == "answer":
                # Requests run concurrently: the answer may come after the sentinel's.
                answers = [m for _, m in replies if m.get("id") == request_id]
                while not answers:
                    raw, message = client.next_message()
                    assert_no_internal_text(raw)
                    if message.get("id") == request_id:
                        answers.append(message)
                assert_well_formed(answers[0], request_id)
            elif kind == "error":
                assert len(replies) == 1, (line, replies)
                message = replies[0][1]
                assert_well_formed(message, request_id)
                assert message["error"]["code"] in (-32700, -32600, -32602), message
            else:
                assert replies == [], (line, replies)

        fuzz()
        assert len(kinds) == STDIO_EXAMPLES and kinds.count("error") > STDIO_EXAMPLES // 2
        # Alive: a tool call still runs.
        answer = client.request("tools/call", {"name": "echo", "arguments": {"text": "after fuzz"}, **meta})
        assert "result" in answer, answer
        assert SECRET not in client.log()
    finally:
        client.close()


# -- a tool result with no JSON form --------------------------------------------------------------


def test_a_result_with_no_json_form_fails_its_task_without_its_repr(
    legacy: SyncHttp, modern: SyncHttp
) -> None:
    arguments = {"name": "opaque_result", "arguments": {"text": "opaque"}}
    # 2025-11-25, as a task: the task fails with the fixed message.
    created = legacy.call("tools/call", {**arguments, "task": {}})
    request_id, reply = legacy.request("tasks/result", {"taskId": created["task"]["taskId"]})
    answer = check_http_reply(reply, request_id)
    assert answer is not None and answer["error"]["code"] == -32603, reply.raw
    assert answer["error"]["message"] == "The tool returned a result that cannot be sent as JSON"
    task = legacy.call("tasks/get", {"taskId": created["task"]["taskId"]})
    assert task["status"] == "failed"
    # 2025-11-25, inline: an isError result with the same text.
    inline = legacy.call("tools/call", arguments)
    assert inline["isError"] is True
    assert inline["content"] == [
        {"type": "text", "text": "The tool returned a result that cannot be sent as JSON"}
    ]
    # 2026-07-28, as a task: tasks/get inlines the same error.
    created = modern.call("tools/call", {**arguments, "_meta": envelope()})
    deadline = time.monotonic() + 10
    task = created
    while task["status"] == "working" and time.monotonic() < deadline:
        time.sleep(0.02)
        task = modern.call("tasks/get", {"taskId": created["taskId"], "_meta": envelope()})
    assert task["status"] == "failed", task
    assert json.dumps(task).count("cannot be sent as JSON") >= 1
    for raw in (reply.raw, json.dumps(inline), json.dumps(task)):
        assert "object at 0x" not in raw and "Opaque" not in raw
