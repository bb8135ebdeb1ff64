"""`TaskClient` against a server that is not mcptasks: mcp 1.29's experimental tasks (2025-11-25).

The server (`mcp129_server.py`) runs in its own virtual environment holding `mcp==1.29.0`, made
under `.testenv/mcp129` the first time these tests run (`servers.mcp129_python`).
"""

from __future__ import annotations

import anyio
import pytest
from mcp_types import ElicitRequestParams, ElicitResult, TextContent

from mcptasks.client import (
    NoTaskWire,
    StatusUpdate,
    TaskCancelledError,
    TaskClient,
    TaskFailedError,
    TaskNotFoundError,
)
from mcptasks.core.status import TaskStatus

pytestmark = pytest.mark.slow

LIMIT_S = 20


async def test_create_get_and_result(mcp129_url: str) -> None:
    async with TaskClient(mcp129_url) as client:
        assert client.wire == "2025-11-25"  # mcp 1.29 has no server/discover: auto falls back
        handle = await client.call_tool_as_task(
            "slow_echo", {"text": "hi", "steps": 3, "delay_ms": 50}, ttl_ms=60_000
        )
        assert handle.task_id is not None and ":" in handle.task_id  # 1.29's session-scoped ids
        snapshot = await handle.status()
        assert snapshot.ttl_ms == 60_000
        assert snapshot.poll_interval_ms == 500  # mcp 1.29's default

        with anyio.fail_after(LIMIT_S):
            statuses = [u.task async for u in handle.updates(poll_ms=20) if isinstance(u, StatusUpdate)]
        assert statuses[-1].status is TaskStatus.COMPLETED

        result = await handle.result()
        block = result.content[0]
        assert isinstance(block, TextContent) and block.text == "echo: hi"

        page = await client.list_tasks()
        assert handle.task_id in [task.task_id for task in page.tasks]


async def test_cancel(mcp129_url: str) -> None:
    async with TaskClient(mcp129_url) as client:
        handle = await client.call_tool_as_task("slow_echo", {"text": "long", "steps": 500, "delay_ms": 50})
        cancelled = await handle.cancel()
        assert cancelled.status is TaskStatus.CANCELLED
        # mcp 1.29 answers -32602 to a second cancel (a terminal task): the client reads the task.
        assert (await handle.cancel()).status is TaskStatus.CANCELLED
        with anyio.fail_after(LIMIT_S), pytest.raises(TaskCancelledError):
            await handle.result()


async def test_a_failed_task(mcp129_url: str) -> None:
    # mcp 1.29 answers tasks/result of a failed task with an empty result; its statusMessage is the text.
    async with TaskClient(mcp129_url) as client:
        handle = await client.call_tool_as_task("boom")
        with anyio.fail_after(LIMIT_S), pytest.raises(TaskFailedError) as raised:
            await handle.result()
    assert raised.value.code == -32603
    assert raised.value.error_message == "boom"


async def test_a_question_on_the_tasks_result_stream(mcp129_url: str) -> None:
    # mcp 1.29 delivers a task's questions only on the response stream of tasks/result.
    asked: list[str | None] = []

    async def on_elicitation(task_id: str | None, params: ElicitRequestParams) -> ElicitResult:
        asked.append(task_id)
        return ElicitResult(action="accept", content={"ok": True})

    async with TaskClient(mcp129_url, on_elicitation=on_elicitation) as client:
        handle = await client.call_tool_as_task("confirm", {"question": "Proceed?"})
        with anyio.fail_after(LIMIT_S):
            result = await handle.result()
    block = result.content[0]
    assert isinstance(block, TextContent) and block.text == "confirmed"
    assert asked == [handle.task_id]


async def test_tasks_belong_to_their_session(mcp129_url: str) -> None:
    async with TaskClient(mcp129_url) as first, TaskClient(mcp129_url) as second:
        handle = await first.call_tool_as_task("slow_echo", {"text": "mine", "steps": 1, "delay_ms": 10})
        assert handle.task_id is not None
        with pytest.raises(TaskNotFoundError):
            await second.task(handle.task_id).status()


async def test_the_2026_wire_is_not_offered(mcp129_url: str) -> None:
    with pytest.raises(NoTaskWire):
        async with TaskClient(mcp129_url, wire="2026-07-28"):
            pass
