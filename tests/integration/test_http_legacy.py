"""2025-11-25 in-core tasks over stateful Streamable HTTP, against a real server subprocess.

Protocol reference Part A1 and test cases D1-D6; issue #2 "What a user can do" 4 (2025-11-25 wire).
Every test opens its own session(s), so tests share one server without seeing each other's tasks.
Tests of the exact wire (shapes, error objects, streams) speak raw JSON-RPC; the others go through
`mcptasks.client`, as a user would.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp_types import TextContent

from mcptasks.client import TaskCancelledError, TaskFailedError
from mcptasks.core.status import TaskStatus
from support.apps import (
    RPC_ERROR_CODE,
    RPC_ERROR_DATA,
    RPC_ERROR_MESSAGE,
    SECRET,
    TOOL_ERROR_TEXT,
)
from support.clients import RELATED_TASK, LegacyFactory, LegacyHttpClient, Reply
from support.polling import (
    read_counter,
    wait_counter_at_least,
    wait_counter_stopped,
    wait_status,
    wait_terminal,
)

from .conftest import TaskClientFactory

pytestmark = pytest.mark.slow

#: The longest a test waits for a task's result, in seconds.
RESULT_LIMIT_S = 20

#: Retention defaults of the server (`mcptasks.runtime.options`).
DEFAULT_TTL_MS = 3_600_000
MAX_TTL_MS = 7 * 86_400_000
TASK_KEYS = {"taskId", "status", "createdAt", "lastUpdatedAt", "ttl"}


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def create(client: LegacyHttpClient, name: str, arguments: dict[str, Any], **task: Any) -> dict:
    """A task-augmented `tools/call`; returns the `task` of the CreateTaskResult."""
    result = await client.call("tools/call", {"name": name, "arguments": arguments, "task": task})
    assert set(result) <= {"task", "_meta"}, result
    created: dict[str, Any] = result["task"]
    return created


def assert_task_shape(task: dict[str, Any]) -> None:
    assert set(task) >= TASK_KEYS, task
    assert isinstance(task["taskId"], str) and task["taskId"]
    assert task["status"] in {"working", "input_required", "completed", "failed", "cancelled"}
    assert _parse_time(task["lastUpdatedAt"]) >= _parse_time(task["createdAt"])
    assert task["ttl"] is None or (isinstance(task["ttl"], int) and task["ttl"] > 0)
    if "pollInterval" in task:
        assert isinstance(task["pollInterval"], int) and task["pollInterval"] > 0
    assert "task" not in task
    assert RELATED_TASK not in (task.get("_meta") or {})


async def test_initialize_advertises_tasks_capability(legacy_session: LegacyFactory) -> None:
    client = await legacy_session()
    init = client.initialize_result
    assert init is not None
    assert init["protocolVersion"] == "2025-11-25"
    assert init["capabilities"]["tasks"] == {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}}


async def test_tools_list_carries_task_support(legacy_session: LegacyFactory) -> None:
    client = await legacy_session()
    tools = {tool["name"]: tool for tool in (await client.call("tools/list", {}))["tools"]}
    assert tools["echo"]["execution"]["taskSupport"] == "optional"
    assert tools["req_tool"]["execution"]["taskSupport"] == "required"
    assert tools["forb_tool"]["execution"]["taskSupport"] == "forbidden"
    # The TaskContext parameter is not part of the input schema.
    assert set(tools["slow"]["inputSchema"]["properties"]) == {"steps", "delay_ms", "marker"}


async def test_create_answers_working_task_that_is_gettable_at_once(
    legacy_session: LegacyFactory, tmp_path: Path
) -> None:
    client = await legacy_session()
    gate = tmp_path / "gate"
    result = await client.call(
        "tools/call", {"name": "gate", "arguments": {"path": str(gate)}, "task": {"ttl": 60_000}}
    )
    assert "content" not in result
    task = result["task"]
    assert_task_shape(task)
    assert task["status"] == "working"
    assert task["ttl"] == 60_000
    assert task["pollInterval"] > 0
    assert task["createdAt"] == task["lastUpdatedAt"]

    got = await client.call("tasks/get", {"taskId": task["taskId"]})
    assert_task_shape(got)
    assert got["taskId"] == task["taskId"]
    assert got["status"] == "working"
    assert got["createdAt"] == task["createdAt"]

    gate.write_text("go")
    done = await wait_status(client, task["taskId"], "completed")
    assert done["createdAt"] == task["createdAt"]
    assert _parse_time(done["lastUpdatedAt"]) >= _parse_time(got["lastUpdatedAt"])


async def test_tasks_result_blocks_until_terminal_while_get_answers(
    legacy_session: LegacyFactory, tmp_path: Path
) -> None:
    client = await legacy_session()
    gate = tmp_path / "gate"
    task = await create(client, "gate", {"path": str(gate)})
    task_id = task["taskId"]

    pending = asyncio.create_task(client.request("tasks/result", {"taskId": task_id}))
    try:
        # While tasks/result is pending, tasks/get still answers at once, and says working.
        for _ in range(3):
            got = await asyncio.wait_for(client.call("tasks/get", {"taskId": task_id}), 5)
            assert got["status"] == "working"
        assert not pending.done(), "tasks/result answered before the task was terminal"
        gate.write_text("go")
        reply = await asyncio.wait_for(pending, 10)
    finally:
        pending.cancel()
    result = reply.result
    assert result["content"] == [{"type": "text", "text": "released: go"}]
    assert result.get("isError") is False
    assert result["_meta"][RELATED_TASK] == {"taskId": task_id}
    # tasks/result after the fact answers the same.
    again = await client.call("tasks/result", {"taskId": task_id})
    assert again["content"] == result["content"]
    assert again["_meta"][RELATED_TASK] == {"taskId": task_id}


@pytest.mark.parametrize(
    ("ttl_ms", "expected_ttl"),
    [(None, DEFAULT_TTL_MS), (5_000, 5_000), (MAX_TTL_MS * 10, MAX_TTL_MS)],
    ids=["omitted", "within-limits", "above-max"],
)
async def test_ttl_default_and_cap_are_reported(
    task_client: TaskClientFactory, ttl_ms: int | None, expected_ttl: int
) -> None:
    async with task_client("2025-11-25") as client:
        handle = await client.call_tool_as_task("quick", {"n": 1}, ttl_ms=ttl_ms)
        assert handle.last_snapshot is not None and handle.last_snapshot.ttl_ms == expected_ttl
        assert (await handle.status()).ttl_ms == expected_ttl


async def test_a_null_ttl_gets_the_default(legacy_session: LegacyFactory) -> None:
    client = await legacy_session()
    created = await create(client, "quick", {"n": 1}, ttl=None)
    assert created["ttl"] == DEFAULT_TTL_MS
    assert (await client.call("tasks/get", {"taskId": created["taskId"]}))["ttl"] == DEFAULT_TTL_MS


async def list_all(client: LegacyHttpClient) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Follow `nextCursor` to the end; returns (tasks in order, pages)."""
    pages: list[dict[str, Any]] = []
    params: dict[str, Any] = {}
    while True:
        page = await client.call("tasks/list", params)
        pages.append(page)
        if "nextCursor" not in page:
            break
        assert isinstance(page["nextCursor"], str) and page["nextCursor"]
        params = {"cursor": page["nextCursor"]}
        assert len(pages) < 20, "tasks/list does not terminate"
    return [task for page in pages for task in page["tasks"]], pages


async def test_list_pages_newest_first_over_own_tasks_only(legacy_session: LegacyFactory) -> None:
    owner, other = await legacy_session(), await legacy_session()
    created = [(await create(owner, "quick", {"n": i}))["taskId"] for i in range(57)]
    foreign = [(await create(other, "quick", {"n": i}))["taskId"] for i in range(2)]

    tasks, pages = await list_all(owner)
    ids = [task["taskId"] for task in tasks]
    assert len(pages) == 2
    assert len(pages[0]["tasks"]) == 50 and "nextCursor" in pages[0]
    assert len(pages[1]["tasks"]) == 7 and "nextCursor" not in pages[1]
    assert len(ids) == len(set(ids)), "a task was listed twice"
    assert ids == list(reversed(created)), "not every task exactly once, newest first"
    for task in tasks:
        assert_task_shape(task)
    assert not set(foreign) & set(ids)

    other_tasks, _ = await list_all(other)
    assert [task["taskId"] for task in other_tasks] == list(reversed(foreign))


async def test_list_rejects_bad_and_foreign_cursors(legacy_session: LegacyFactory) -> None:
    owner, other = await legacy_session(), await legacy_session()
    await asyncio.gather(*(create(owner, "quick", {"n": i}) for i in range(51)))
    cursor = (await owner.call("tasks/list", {}))["nextCursor"]

    for bad in ("!!definitely-not-a-cursor!!", cursor[:-3] + "AAA", ""):
        error = (await owner.request("tasks/list", {"cursor": bad})).error
        assert error["code"] == -32602, (bad, error)
        assert "cursor" in error["message"]
    error = (await owner.request("tasks/list", {"cursor": 42})).error
    assert error["code"] == -32602 and "cursor" in error["message"]

    # Another session's cursor is refused, not honoured.
    foreign = (await other.request("tasks/list", {"cursor": cursor})).error
    assert foreign["code"] == -32602 and "cursor" in foreign["message"]
    # The owner's own cursor still works.
    assert len((await owner.call("tasks/list", {"cursor": cursor}))["tasks"]) == 1


async def test_cancel_stops_the_tool_and_is_final(legacy_session: LegacyFactory, tmp_path: Path) -> None:
    client = await legacy_session()
    marker = tmp_path / "counter"
    task = await create(client, "slow", {"steps": 400, "delay_ms": 50, "marker": str(marker)})
    task_id = task["taskId"]
    await wait_counter_at_least(marker, 2)

    cancelled = await client.call("tasks/cancel", {"taskId": task_id})
    assert_task_shape(cancelled)
    assert cancelled["taskId"] == task_id
    assert cancelled["status"] == "cancelled"
    assert cancelled["statusMessage"]
    assert (await client.call("tasks/get", {"taskId": task_id}))["status"] == "cancelled"

    stopped_at = await wait_counter_stopped(marker)
    assert stopped_at < 400
    assert read_counter(marker) == stopped_at

    again = (await client.request("tasks/cancel", {"taskId": task_id})).error
    assert again["code"] == -32602
    assert "cancelled" in again["message"]
    # Cancelled is sticky, and tasks/result answers promptly (E3: an error saying so).
    assert (await client.call("tasks/get", {"taskId": task_id}))["status"] == "cancelled"
    result = await asyncio.wait_for(client.request("tasks/result", {"taskId": task_id}), 5)
    assert result.error["code"] == -32603
    # The server keeps serving.
    assert (await create(client, "quick", {"n": 1}))["status"] == "working"


async def test_cancel_of_completed_task_is_rejected(legacy_session: LegacyFactory) -> None:
    client = await legacy_session()
    task_id = (await create(client, "echo", {"text": "done"}))["taskId"]
    await wait_status(client, task_id, "completed")
    error = (await client.request("tasks/cancel", {"taskId": task_id})).error
    assert error["code"] == -32602
    assert "completed" in error["message"]
    assert (await client.call("tasks/get", {"taskId": task_id}))["status"] == "completed"
    assert (await client.call("tasks/result", {"taskId": task_id}))["content"][0]["text"] == "echo: done"


async def test_crashing_tool_fails_without_leaking_its_exception(legacy_session: LegacyFactory) -> None:
    client = await legacy_session(listen=True)
    replies: list[Reply] = []

    async def request(method: str, params: dict[str, Any]) -> Reply:
        reply = await client.request(method, params)
        replies.append(reply)
        return reply

    created = (await request("tools/call", {"name": "crash", "arguments": {}, "task": {}})).result["task"]
    task_id = created["taskId"]
    failed = await wait_terminal(client, task_id)
    assert failed["status"] == "failed"
    assert failed["statusMessage"] == "Tool execution failed"
    replies.append(await request("tasks/get", {"taskId": task_id}))

    result = await request("tasks/result", {"taskId": task_id})
    assert result.error["code"] == -32603
    assert result.error["message"] == "Tool execution failed"
    replies.append(await request("tasks/list", {}))

    # Called inline, the crash is an isError result with a fixed text.
    inline = await request("tools/call", {"name": "crash", "arguments": {}})
    assert inline.result["isError"] is True

    await client.notifications.wait_for(
        "notifications/tasks/status", lambda p: p.get("taskId") == task_id and p["status"] == "failed"
    )
    wire = [reply.raw for reply in replies] + [json.dumps(n) for n in client.notifications.items]
    for text in wire:
        assert SECRET not in text
        assert "RuntimeError" not in text
        assert "Traceback" not in text


async def test_json_rpc_error_of_the_tool_is_replayed(
    legacy_session: LegacyFactory, task_client: TaskClientFactory
) -> None:
    raw = await legacy_session()
    # Without a task: the JSON-RPC error itself.
    inline = (await raw.request("tools/call", {"name": "rpc_error", "arguments": {}})).error
    assert inline == {"code": RPC_ERROR_CODE, "message": RPC_ERROR_MESSAGE, "data": RPC_ERROR_DATA}

    # As a task: tasks/result answers the same error.
    async with task_client("2025-11-25") as client:
        handle = await client.call_tool_as_task("rpc_error")
        with anyio.fail_after(RESULT_LIMIT_S), pytest.raises(TaskFailedError) as raised:
            await handle.result()
    assert (raised.value.code, raised.value.error_message, raised.value.data) == (
        inline["code"],
        inline["message"],
        inline["data"],
    )
    final = handle.last_snapshot
    assert final is not None and final.status is TaskStatus.FAILED
    assert final.status_message == RPC_ERROR_MESSAGE


async def test_tool_error_result_completes_with_is_error(task_client: TaskClientFactory) -> None:
    async with task_client("2025-11-25") as client:
        handle = await client.call_tool_as_task("tool_error")
        with anyio.fail_after(RESULT_LIMIT_S):
            result = await handle.result()
    # mcptasks reports an isError result as completed on both wires (reference E1).
    assert handle.last_snapshot is not None and handle.last_snapshot.status is TaskStatus.COMPLETED
    assert result.is_error is True
    block = result.content[0]
    assert isinstance(block, TextContent) and TOOL_ERROR_TEXT in block.text
    assert result.meta is not None and result.meta[RELATED_TASK] == {"taskId": handle.task_id}


async def test_task_support_is_enforced(legacy_session: LegacyFactory) -> None:
    client = await legacy_session()
    required = (await client.request("tools/call", {"name": "req_tool", "arguments": {}})).error
    assert required["code"] == -32601
    forbidden = (await client.request("tools/call", {"name": "forb_tool", "arguments": {}, "task": {}})).error
    assert forbidden["code"] == -32601
    unknown = (
        await client.request("tools/call", {"name": "no_such_tool", "arguments": {}, "task": {}})
    ).error
    assert unknown["code"] == -32602

    # The allowed forms work.
    task_id = (await create(client, "req_tool", {"text": "x"}))["taskId"]
    assert (await wait_terminal(client, task_id))["status"] == "completed"
    plain = await client.call("tools/call", {"name": "forb_tool", "arguments": {"text": "y"}})
    assert plain["content"] == [{"type": "text", "text": "forbidden: y"}]


@pytest.mark.parametrize(
    ("method", "params", "field"),
    [
        ("tools/call", {"name": "echo", "arguments": {"text": "x"}, "task": {"ttl": -1}}, "task.ttl"),
        ("tools/call", {"name": "echo", "arguments": {"text": "x"}, "task": {"ttl": 0}}, "task.ttl"),
        ("tools/call", {"name": "echo", "arguments": {"text": "x"}, "task": {"ttl": "x"}}, "task.ttl"),
        ("tools/call", {"name": "echo", "arguments": {"text": "x"}, "task": {"ttl": 1.5}}, "task.ttl"),
        ("tools/call", {"name": "echo", "arguments": {"text": "x"}, "task": "soon"}, "task"),
        ("tools/call", {"name": "echo", "arguments": {}, "task": {}}, "arguments.text"),
        ("tasks/get", {"taskId": 123}, "taskId"),
        ("tasks/get", {}, "taskId"),
        ("tasks/get", {"taskId": ""}, "taskId"),
        ("tasks/result", None, "taskId"),
        ("tasks/result", {"taskId": ["a"]}, "taskId"),
        ("tasks/cancel", {"taskId": 123}, "taskId"),
        ("tasks/list", {"cursor": 7}, "cursor"),
    ],
    ids=[
        "ttl-negative",
        "ttl-zero",
        "ttl-string",
        "ttl-float",
        "task-not-object",
        "arguments-invalid",
        "get-taskId-int",
        "get-no-taskId",
        "get-taskId-empty",
        "result-no-params",
        "result-taskId-list",
        "cancel-taskId-int",
        "list-cursor-int",
    ],
)
async def test_malformed_params_name_the_field(
    legacy_session: LegacyFactory, method: str, params: dict[str, Any] | None, field: str
) -> None:
    client = await legacy_session()
    error = (await client.request(method, params)).error
    assert error["code"] == -32602, error
    assert field in error["message"], error
    assert error.get("data", {}).get("field") == field


async def test_unknown_and_foreign_task_ids_answer_identically(
    legacy_session: LegacyFactory, tmp_path: Path
) -> None:
    owner, intruder = await legacy_session(), await legacy_session()
    gate = tmp_path / "gate"
    task_id = (await create(owner, "gate", {"path": str(gate)}))["taskId"]
    unknown_id = "does-not-exist-" + task_id[::-1]

    for method in ("tasks/get", "tasks/result", "tasks/cancel"):
        foreign = await asyncio.wait_for(intruder.request(method, {"taskId": task_id}), 5)
        unknown = await asyncio.wait_for(intruder.request(method, {"taskId": unknown_id}), 5)
        assert foreign.error["code"] == -32602
        assert json.dumps(foreign.error, sort_keys=True) == json.dumps(unknown.error, sort_keys=True)
        # The owner's own unknown id gets the same answer too.
        own_unknown = await owner.request(method, {"taskId": unknown_id})
        assert json.dumps(own_unknown.error, sort_keys=True) == json.dumps(unknown.error, sort_keys=True)

    assert task_id not in {t["taskId"] for t in (await intruder.call("tasks/list", {}))["tasks"]}
    # The intruder's cancel had no effect.
    assert (await owner.call("tasks/get", {"taskId": task_id}))["status"] == "working"
    gate.write_text("mine")
    assert (await owner.call("tasks/result", {"taskId": task_id}))["content"][0]["text"] == "released: mine"


async def test_status_and_progress_notifications_arrive_on_the_get_stream(
    legacy_session: LegacyFactory, tmp_path: Path
) -> None:
    client = await legacy_session(listen=True)
    result = await client.call(
        "tools/call",
        {
            "name": "slow",
            "arguments": {"steps": 5, "delay_ms": 30},
            "task": {},
            "_meta": {"progressToken": "progress-1"},
        },
    )
    task_id = result["task"]["taskId"]

    completed = await client.notifications.wait_for(
        "notifications/tasks/status", lambda p: p.get("taskId") == task_id and p["status"] == "completed"
    )
    params = completed["params"]
    assert_task_shape(params)
    assert "_meta" not in params or RELATED_TASK not in params["_meta"]

    progress = await client.notifications.wait_for("notifications/progress", lambda p: p.get("progress") == 5)
    reports = client.notifications.matching("notifications/progress")
    assert [r["params"]["progress"] for r in reports] == [1, 2, 3, 4, 5]
    for report in reports:
        assert report["params"]["progressToken"] == "progress-1"
        assert report["params"]["total"] == 5
        assert report["params"]["_meta"][RELATED_TASK] == {"taskId": task_id}
    assert progress["params"]["message"] == "step 5"

    # A cancel is announced too.
    gate_task = await create(client, "gate", {"path": str(tmp_path / "never")})
    await client.call("tasks/cancel", {"taskId": gate_task["taskId"]})
    await client.notifications.wait_for(
        "notifications/tasks/status",
        lambda p: p.get("taskId") == gate_task["taskId"] and p["status"] == "cancelled",
    )


async def test_notifications_go_only_to_the_creating_session(legacy_session: LegacyFactory) -> None:
    owner = await legacy_session(listen=True)
    bystander = await legacy_session(listen=True)
    task_id = (await create(owner, "echo", {"text": "mine"}))["taskId"]
    await owner.notifications.wait_for(
        "notifications/tasks/status", lambda p: p.get("taskId") == task_id and p["status"] == "completed"
    )
    assert not [n for n in bystander.notifications.items if task_id in json.dumps(n)]


async def test_sep2663_only_method_is_not_found_on_2025(legacy_session: LegacyFactory) -> None:
    client = await legacy_session()
    reply = await client.request("tasks/update", {"taskId": "x", "inputResponses": {}})
    assert reply.error["code"] == -32601


async def test_plain_call_of_optional_tool_runs_inline(legacy_session: LegacyFactory) -> None:
    client = await legacy_session()
    result = await client.call("tools/call", {"name": "echo", "arguments": {"text": "hi"}})
    assert "task" not in result
    assert result["content"] == [{"type": "text", "text": "echo: hi"}]
    assert result["isError"] is False
    # Nothing was created.
    assert (await client.call("tasks/list", {}))["tasks"] == []


async def test_tool_ignoring_cancellation_is_cancelled_hard_after_the_grace(
    task_client: TaskClientFactory, tmp_path: Path
) -> None:
    marker = tmp_path / "counter"
    async with task_client("2025-11-25") as client:
        handle = await client.call_tool_as_task("stubborn", {"marker": str(marker)})
        await wait_counter_at_least(marker, 2)
        assert (await handle.cancel()).status is TaskStatus.CANCELLED
        # The tool never checks its token; the hard cancel (grace 1 s in tests) stops it.
        await wait_counter_stopped(marker, within_s=5)
        assert (await handle.status()).status is TaskStatus.CANCELLED
        with pytest.raises(TaskCancelledError):
            await handle.result()


async def test_tool_without_task_support_behaves_as_forbidden(legacy_session: LegacyFactory) -> None:
    client = await legacy_session()
    tools = {tool["name"]: tool for tool in (await client.call("tools/list", {}))["tools"]}
    assert "taskSupport" not in tools["plain_tool"].get("execution", {})
    error = (await client.request("tools/call", {"name": "plain_tool", "arguments": {}, "task": {}})).error
    assert error["code"] == -32601
    plain = await client.call("tools/call", {"name": "plain_tool", "arguments": {"text": "p"}})
    assert plain["content"] == [{"type": "text", "text": "plain: p"}]


async def test_a_plain_tools_bad_arguments_are_named_without_library_text(
    legacy_session: LegacyFactory,
) -> None:
    client = await legacy_session()
    refused = await client.call("tools/call", {"name": "plain_tool", "arguments": {"text": 0}})
    assert refused["isError"] is True
    assert refused["content"] == [
        {"type": "text", "text": "Invalid arguments: arguments.text must be a string"}
    ]


async def test_related_task_meta_and_cancelled_notification_are_ignored(
    legacy_session: LegacyFactory, tmp_path: Path
) -> None:
    client = await legacy_session()
    gate = tmp_path / "gate"
    other = (await create(client, "echo", {"text": "b"}))["taskId"]
    reply = await client.request("tools/call", {"name": "gate", "arguments": {"path": str(gate)}, "task": {}})
    task_id = reply.result["task"]["taskId"]
    # params.taskId is the source of truth (D18).
    got = await client.call("tasks/get", {"taskId": task_id, "_meta": {RELATED_TASK: {"taskId": other}}})
    assert got["taskId"] == task_id
    # notifications/cancelled for the creating request does not cancel the task (D32).
    status = await client.notify("notifications/cancelled", {"requestId": reply.message["id"]})
    assert status == 202
    assert (await client.call("tasks/get", {"taskId": task_id}))["status"] == "working"
    gate.write_text("still here")
    assert (await wait_terminal(client, task_id))["status"] == "completed"


async def test_inline_call_reports_progress_on_its_own_stream(legacy_session: LegacyFactory) -> None:
    client = await legacy_session()
    reply = await client.request(
        "tools/call",
        {"name": "slow", "arguments": {"steps": 3, "delay_ms": 10}, "_meta": {"progressToken": "inline"}},
    )
    assert reply.result["content"] == [{"type": "text", "text": "counted to 3"}]
    progress = [n["params"] for n in reply.notifications if n.get("method") == "notifications/progress"]
    assert [p["progress"] for p in progress] == [1, 2, 3]
    assert {p["progressToken"] for p in progress} == {"inline"}


async def test_requests_that_never_stream_are_answered_with_a_json_body(
    legacy_session: LegacyFactory, tmp_path: Path
) -> None:
    """`responses.ResponseModeMiddleware`: JSON for task requests, SSE where the server may stream."""
    client = await legacy_session()
    created = await client.request("tools/call", {"name": "echo", "arguments": {"text": "j"}, "task": {}})
    assert created.raw.lstrip().startswith("{"), created.raw  # a plain JSON body
    task_id = created.result["task"]["taskId"]
    await wait_terminal(client, task_id)
    for method, params in (
        ("tasks/get", {"taskId": task_id}),
        ("tasks/list", {}),
        ("tasks/cancel", {"taskId": task_id}),  # an error answer (terminal), as JSON too
    ):
        reply = await client.request(method, params)
        assert reply.raw.lstrip().startswith("{"), (method, reply.raw)
    # tasks/result of a finished task sends nothing before its answer: JSON too.
    result = await client.request("tasks/result", {"taskId": task_id})
    assert result.raw.lstrip().startswith("{") and result.result["content"][0]["text"] == "echo: j"
    # tasks/result of a running task may carry its questions first: an SSE stream, as an inline
    # call (its progress) is.
    gate = tmp_path / "gate"
    running = await create(client, "gate", {"path": str(gate)})
    waiting = asyncio.ensure_future(client.request("tasks/result", {"taskId": running["taskId"]}))
    await asyncio.sleep(0.3)
    gate.write_text("ok")
    streamed = await asyncio.wait_for(waiting, 10)
    assert "data:" in streamed.raw and streamed.result["content"][0]["text"] == "released: ok"
    inline = await client.request("tools/call", {"name": "echo", "arguments": {"text": "k"}})
    assert "data:" in inline.raw and inline.result["content"][0]["text"] == "echo: k"
