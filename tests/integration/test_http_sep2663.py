"""SEP-2663 tasks extension on the 2026-07-28 wire (stateless Streamable HTTP), real server subprocess.

Protocol reference Part A2 and test cases D7-D11; issue #2 "What a user can do" 4 (2026-07-28 wire).
Every request carries its own `_meta` envelope; "declaring" means it lists the tasks extension.
Tests of the exact wire speak raw JSON-RPC; the others go through `mcptasks.client`.
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

from mcptasks.core.status import TaskStatus
from support.apps import RPC_ERROR_CODE, RPC_ERROR_DATA, RPC_ERROR_MESSAGE, SECRET, TOOL_ERROR_TEXT
from support.clients import RELATED_TASK, TASKS_EXTENSION, LegacyFactory, ModernHttpClient
from support.polling import (
    wait_counter_at_least,
    wait_counter_stopped,
    wait_status,
    wait_terminal,
)

from .conftest import TaskClientFactory

pytestmark = pytest.mark.slow

#: The longest a test waits for a task's result, in seconds.
RESULT_LIMIT_S = 20
#: How often the client polls, in ms (the server answers a poll at the task's next change).
POLL_MS = 50

#: Retention default of the server (`mcptasks.runtime.options`).
DEFAULT_TTL_MS = 3_600_000
STATUSES = {"working", "input_required", "completed", "failed", "cancelled"}
REQUIRED_CAPABILITIES = {"extensions": {TASKS_EXTENSION: {}}}


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def assert_task_fields(task: dict[str, Any]) -> None:
    assert isinstance(task["taskId"], str) and task["taskId"]
    assert task["status"] in STATUSES
    assert _parse_time(task["lastUpdatedAt"]) >= _parse_time(task["createdAt"])
    assert "ttlMs" in task
    assert task["ttlMs"] is None or (isinstance(task["ttlMs"], int) and task["ttlMs"] > 0)
    if "pollIntervalMs" in task:
        assert isinstance(task["pollIntervalMs"], int) and task["pollIntervalMs"] > 0
    for legacy in ("task", "ttl", "pollInterval"):
        assert legacy not in task, legacy


def assert_ack(result: dict[str, Any]) -> None:
    """An empty acknowledgement: `resultType: complete`, optionally `_meta`, nothing else."""
    assert result["resultType"] == "complete"
    assert set(result) <= {"resultType", "_meta"}, result


async def create(client: ModernHttpClient, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """A declaring `tools/call` that must answer a CreateTaskResult."""
    result = await client.call("tools/call", {"name": name, "arguments": arguments})
    assert result["resultType"] == "task", result
    return result


async def test_discover_advertises_the_extension_only(modern: ModernHttpClient) -> None:
    result = await modern.call("server/discover", {})
    assert result["capabilities"]["extensions"][TASKS_EXTENSION] == {}
    assert "tasks" not in result["capabilities"]
    assert result["resultType"] == "complete"
    # A non-declaring client is told the same.
    plain = await modern.call("server/discover", {}, declare=False)
    assert plain["capabilities"]["extensions"][TASKS_EXTENSION] == {}


async def test_create_is_flat_and_durable(modern: ModernHttpClient, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    created = await create(modern, "gate", {"path": str(gate)})
    assert_task_fields(created)
    assert created["status"] == "working"
    assert created["ttlMs"] == DEFAULT_TTL_MS
    assert created["pollIntervalMs"] > 0
    for absent in ("result", "error", "inputRequests", "requestState", "content"):
        assert absent not in created, absent

    # Durable before the answer: tasks/get right away succeeds (no delay).
    got = await modern.call("tasks/get", {"taskId": created["taskId"]})
    assert got["resultType"] == "complete"
    assert got["taskId"] == created["taskId"]
    assert got["status"] == "working"
    assert_task_fields(got)
    for absent in ("result", "error", "inputRequests"):
        assert absent not in got, absent

    gate.write_text("go")
    done = await wait_status(modern, created["taskId"], "completed")
    assert done["resultType"] == "complete"
    assert done["createdAt"] == created["createdAt"]
    assert "error" not in done
    assert done["result"]["content"] == [{"type": "text", "text": "released: go"}]
    assert done["result"]["isError"] is False
    assert RELATED_TASK not in (done["result"].get("_meta") or {})
    assert RELATED_TASK not in (done.get("_meta") or {})


async def test_json_rpc_error_fails_the_task_with_the_error_inlined(modern: ModernHttpClient) -> None:
    task_id = (await create(modern, "rpc_error", {}))["taskId"]
    failed = await wait_terminal(modern, task_id)
    assert failed["status"] == "failed"
    assert failed["error"] == {"code": RPC_ERROR_CODE, "message": RPC_ERROR_MESSAGE, "data": RPC_ERROR_DATA}
    assert failed["statusMessage"]
    assert "result" not in failed
    assert failed["resultType"] == "complete"


async def test_crash_fails_the_task_without_leaking(modern: ModernHttpClient) -> None:
    created = await modern.request("tools/call", {"name": "crash", "arguments": {}})
    task_id = created.result["taskId"]
    failed = await wait_terminal(modern, task_id)
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == -32603
    assert failed["statusMessage"] == "Tool execution failed"
    final = await modern.request("tasks/get", {"taskId": task_id})
    for raw in (created.raw, final.raw, json.dumps(failed)):
        assert SECRET not in raw
        assert "RuntimeError" not in raw


async def test_tool_error_result_is_completed(task_client: TaskClientFactory) -> None:
    async with task_client("2026-07-28") as client:
        handle = await client.call_tool_as_task("tool_error")
        with anyio.fail_after(RESULT_LIMIT_S):
            result = await handle.result(poll_ms=POLL_MS)
    # mcptasks reports an isError result as completed on both wires (reference E1).
    assert handle.last_snapshot is not None and handle.last_snapshot.status is TaskStatus.COMPLETED
    assert result.is_error is True
    block = result.content[0]
    assert isinstance(block, TextContent) and TOOL_ERROR_TEXT in block.text


async def test_non_declaring_call_of_optional_tool_gets_a_plain_result(modern: ModernHttpClient) -> None:
    # Declaring first, then not: an earlier declaration does not count (D45).
    assert (await create(modern, "echo", {"text": "a"}))["resultType"] == "task"
    result = await modern.call("tools/call", {"name": "echo", "arguments": {"text": "b"}}, declare=False)
    assert result["resultType"] == "complete"
    assert result["content"] == [{"type": "text", "text": "echo: b"}]
    assert "taskId" not in result and "task" not in result


async def test_forbidden_tool_runs_inline_even_when_declaring(modern: ModernHttpClient) -> None:
    result = await modern.call("tools/call", {"name": "forb_tool", "arguments": {"text": "z"}})
    assert result["resultType"] == "complete"
    assert result["content"] == [{"type": "text", "text": "forbidden: z"}]


async def test_a_plain_tools_bad_arguments_are_named_without_library_text(modern: ModernHttpClient) -> None:
    refused = await modern.call("tools/call", {"name": "plain_tool", "arguments": {"text": 0}})
    assert refused["isError"] is True
    assert refused["content"] == [
        {"type": "text", "text": "Invalid arguments: arguments.text must be a string"}
    ]
    plain = await modern.call("tools/call", {"name": "plain_tool", "arguments": {"text": "p"}})
    assert plain["content"] == [{"type": "text", "text": "plain: p"}]


async def test_non_declaring_call_of_required_tool_is_refused(modern: ModernHttpClient) -> None:
    reply = await modern.request("tools/call", {"name": "req_tool", "arguments": {}}, declare=False)
    assert reply.error["code"] == -32021
    assert reply.error["data"]["requiredCapabilities"] == REQUIRED_CAPABILITIES
    assert reply.http_status == 400
    # Declaring, it runs as a task.
    task_id = (await create(modern, "req_tool", {"text": "ok"}))["taskId"]
    assert (await wait_terminal(modern, task_id))["result"]["content"][0]["text"] == "required: ok"


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("tasks/get", {"taskId": "gate-test"}),
        ("tasks/update", {"taskId": "gate-test", "inputResponses": {}}),
        ("tasks/cancel", {"taskId": "gate-test"}),
    ],
    ids=["get", "update", "cancel"],
)
@pytest.mark.parametrize(
    "capabilities",
    [{}, {"tasks": {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}}}],
    ids=["nothing", "legacy-capability-only"],
)
async def test_non_declaring_tasks_methods_get_missing_capability(
    modern: ModernHttpClient, method: str, params: dict[str, Any], capabilities: dict[str, Any]
) -> None:
    reply = await modern.request(method, params, capabilities=capabilities)
    assert reply.error["code"] == -32021, reply.message
    assert reply.error["data"]["requiredCapabilities"] == REQUIRED_CAPABILITIES
    assert reply.http_status == 400


@pytest.mark.parametrize("method", ["tasks/result", "tasks/list"])
async def test_removed_methods_are_not_found(modern: ModernHttpClient, method: str) -> None:
    params = {"taskId": "x"} if method == "tasks/result" else {}
    reply = await modern.request(method, params)
    assert reply.error["code"] == -32601


async def test_update_acks_and_validates(modern: ModernHttpClient, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    task_id = (await create(modern, "gate", {"path": str(gate)}))["taskId"]
    assert_ack(await modern.call("tasks/update", {"taskId": task_id, "inputResponses": {}}))
    # Responses for keys never issued are ignored.
    ack = await modern.call(
        "tasks/update", {"taskId": task_id, "inputResponses": {"never-issued": {"action": "accept"}}}
    )
    assert_ack(ack)
    assert (await modern.call("tasks/get", {"taskId": task_id}))["status"] == "working"

    missing = (await modern.request("tasks/update", {"taskId": task_id})).error
    assert missing["code"] == -32602 and "inputResponses" in missing["message"]
    wrong = (await modern.request("tasks/update", {"taskId": task_id, "inputResponses": "x"})).error
    assert wrong["code"] == -32602 and "inputResponses" in wrong["message"]
    gate.write_text("go")
    await wait_status(modern, task_id, "completed")


async def test_cancel_acks_stops_the_tool_and_ends_cancelled(
    modern: ModernHttpClient, tmp_path: Path
) -> None:
    marker = tmp_path / "counter"
    task_id = (await create(modern, "slow", {"steps": 400, "delay_ms": 50, "marker": str(marker)}))["taskId"]
    await wait_counter_at_least(marker, 2)
    assert_ack(await modern.call("tasks/cancel", {"taskId": task_id}))
    cancelled = await wait_terminal(modern, task_id)
    assert cancelled["status"] == "cancelled"
    for absent in ("result", "error"):
        assert absent not in cancelled
    assert await wait_counter_stopped(marker) < 400
    # A second cancel acks too and changes nothing.
    assert_ack(await modern.call("tasks/cancel", {"taskId": task_id}))
    assert (await modern.call("tasks/get", {"taskId": task_id}))["status"] == "cancelled"


async def test_cancel_of_completed_task_acks_and_keeps_the_result(modern: ModernHttpClient) -> None:
    task_id = (await create(modern, "echo", {"text": "kept"}))["taskId"]
    done = await wait_status(modern, task_id, "completed")
    assert_ack(await modern.call("tasks/cancel", {"taskId": task_id}))
    after = await modern.call("tasks/get", {"taskId": task_id})
    assert after["status"] == "completed"
    assert after["result"] == done["result"]
    assert after["lastUpdatedAt"] == done["lastUpdatedAt"]


@pytest.mark.parametrize(
    ("method", "extra"),
    [("tasks/get", {}), ("tasks/cancel", {}), ("tasks/update", {"inputResponses": {}})],
    ids=["get", "cancel", "update"],
)
async def test_unknown_task_id_is_invalid_params(
    modern: ModernHttpClient, method: str, extra: dict[str, Any]
) -> None:
    reply = await modern.request(method, {"taskId": "nonexistent-task-id-0123456789", **extra})
    assert reply.error == {"code": -32602, "message": "Task not found"}


@pytest.mark.parametrize(
    ("params", "field"),
    [({}, "taskId"), ({"taskId": 42}, "taskId"), ({"taskId": ""}, "taskId")],
    ids=["missing", "int", "empty"],
)
async def test_malformed_task_id_names_the_field(
    modern: ModernHttpClient, params: dict[str, Any], field: str
) -> None:
    reply = await modern.request("tasks/get", params, mcp_name="x")
    assert reply.error["code"] == -32602
    assert field in reply.error["message"]


async def test_legacy_task_param_is_ignored(modern: ModernHttpClient) -> None:
    declaring = await modern.call(
        "tools/call", {"name": "echo", "arguments": {"text": "a"}, "task": {"ttl": 60_000}}
    )
    # Not an opt-in and not a ttl request: the server decides, with its default ttl.
    assert declaring["resultType"] == "task"
    assert declaring["ttlMs"] == DEFAULT_TTL_MS
    plain = await modern.call(
        "tools/call", {"name": "echo", "arguments": {"text": "b"}, "task": {"ttl": 60_000}}, declare=False
    )
    assert plain["resultType"] == "complete"
    assert plain["content"] == [{"type": "text", "text": "echo: b"}]


async def test_mcp_name_header_must_match_the_task_id(modern: ModernHttpClient) -> None:
    """SEP-2663 "Streamable HTTP: Routing Headers" + SEP-2243: mismatched or missing -> -32020, HTTP 400."""
    task_id = (await create(modern, "echo", {"text": "a"}))["taskId"]
    matching = await modern.request("tasks/get", {"taskId": task_id})
    assert matching.result["taskId"] == task_id

    mismatched = await modern.request("tasks/get", {"taskId": task_id}, mcp_name="some-other-task")
    assert mismatched.http_status == 400, mismatched.message
    assert mismatched.error["code"] == -32020

    missing = await modern.request("tasks/get", {"taskId": task_id}, omit_name=True)
    assert missing.http_status == 400, missing.message
    assert missing.error["code"] == -32020


async def test_tasks_cross_the_wires_per_the_owner_rules(
    modern: ModernHttpClient, legacy_session: LegacyFactory, tmp_path: Path
) -> None:
    """Observed behaviour of `store.queries.visible_to` across wires (DESIGN §3).

    - A 2026-07-28 task is capability-owned: any anonymous caller holding the id may read it, and a
      2025-11-25 session is anonymous, so it reads it with `tasks/get` (rendered on its own wire:
      `ttl`, not `ttlMs`) and may also `tasks/result` and `tasks/cancel` it. Capability tasks are
      never listed, so the session's `tasks/list` does not show it.
    - A 2025-11-25 task is session-owned: a 2026-07-28 caller (capability owner) gets "Task not
      found", exactly as for an unknown id.
    """
    session = await legacy_session()
    modern_task = (await create(modern, "echo", {"text": "from 2026"}))["taskId"]
    await wait_status(modern, modern_task, "completed")

    seen = await session.call("tasks/get", {"taskId": modern_task})
    assert seen["taskId"] == modern_task and seen["status"] == "completed"
    assert "ttl" in seen and "ttlMs" not in seen and "resultType" not in seen
    result = await session.call("tasks/result", {"taskId": modern_task})
    assert result["content"] == [{"type": "text", "text": "echo: from 2026"}]
    assert result["_meta"][RELATED_TASK] == {"taskId": modern_task}
    assert modern_task not in {t["taskId"] for t in (await session.call("tasks/list", {}))["tasks"]}

    gate = tmp_path / "gate"
    running = (await create(modern, "gate", {"path": str(gate)}))["taskId"]
    assert (await session.call("tasks/cancel", {"taskId": running}))["status"] == "cancelled"
    assert (await modern.call("tasks/get", {"taskId": running}))["status"] == "cancelled"

    legacy_task = (
        await session.call("tools/call", {"name": "echo", "arguments": {"text": "x"}, "task": {}})
    )["task"]["taskId"]
    await wait_status(session, legacy_task, "completed")
    for method, extra in (("tasks/get", {}), ("tasks/cancel", {}), ("tasks/update", {"inputResponses": {}})):
        hidden = await modern.request(method, {"taskId": legacy_task, **extra})
        assert hidden.error == {"code": -32602, "message": "Task not found"}, method
    assert (await session.call("tasks/get", {"taskId": legacy_task}))["status"] == "completed"


async def test_concurrent_creates_are_each_durable(task_client: TaskClientFactory) -> None:
    async with task_client("2026-07-28") as client:
        handles = await asyncio.gather(*(client.call_tool_as_task("quick", {"n": i}) for i in range(20)))
        ids = [handle.task_id for handle in handles]
        assert all(isinstance(task_id, str) and len(task_id) >= 22 for task_id in ids)
        assert len(set(ids)) == len(ids)
        got = await asyncio.gather(*(handle.status() for handle in handles))
        assert [task.task_id for task in got] == ids
        with anyio.fail_after(RESULT_LIMIT_S):
            results = await asyncio.gather(*(handle.result(poll_ms=POLL_MS) for handle in handles))
    assert [
        block.text for result in results for block in result.content if isinstance(block, TextContent)
    ] == [f"quick {i}" for i in range(20)]


async def test_an_inline_call_still_streams_its_progress(modern: ModernHttpClient) -> None:
    """Task requests are answered with a JSON body; a call run inline keeps its stream (progress)."""
    reply = await modern.request(
        "tools/call",
        {"name": "slow", "arguments": {"steps": 3, "delay_ms": 1}, "_meta": {"progressToken": "p-1"}},
        declare=False,
    )
    assert reply.result["content"][0]["text"] == "counted to 3", reply.result
    progress = [n for n in reply.notifications if n.get("method") == "notifications/progress"]
    assert [n["params"]["progress"] for n in progress] == [1, 2, 3]
    created = await modern.request("tools/call", {"name": "echo", "arguments": {"text": "j"}})
    assert created.raw.lstrip().startswith("{") and created.result["resultType"] == "task"
    got = await modern.request("tasks/get", {"taskId": created.result["taskId"]})
    assert got.raw.lstrip().startswith("{")
