"""`TaskClient` over stdio: the client starts `mcptasks serve ... --transport stdio` itself.

Each test starts its own server process (the client owns it), on both wires.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from mcp_types import (
    CreateMessageRequestParams,
    CreateMessageResult,
    ElicitRequestParams,
    ElicitResult,
    TextContent,
)

from mcptasks.client import ProgressUpdate, StatusUpdate, TaskCancelledError, TaskClient, TaskUpdate, Wire
from mcptasks.core.status import TaskStatus

from .servers import APP, stdio_params

pytestmark = pytest.mark.slow

WIRES: list[Wire] = ["2025-11-25", "2026-07-28"]
LIMIT_S = 20


@pytest.mark.parametrize("wire", WIRES)
async def test_create_follow_result_and_cancel(tmp_path: Path, wire: Wire) -> None:
    async with TaskClient(stdio_params(tmp_path / "tasks.db"), wire=wire) as client:
        assert client.wire == wire
        handle = await client.call_tool_as_task("count_to", {"n": 3, "delay_ms": 100})
        assert handle.task_id is not None
        assert (await handle.status()).task_id == handle.task_id
        updates: list[TaskUpdate] = []
        with anyio.fail_after(LIMIT_S):
            async for update in handle.updates(poll_ms=50):
                updates.append(update)
        last = updates[-1]
        assert isinstance(last, StatusUpdate) and last.task.status is TaskStatus.COMPLETED
        if wire == "2025-11-25":
            assert any(isinstance(u, ProgressUpdate) for u in updates)  # pushed on the pipe
        block = (await handle.result()).content[0]
        assert isinstance(block, TextContent) and block.text == "counted to 3"

        long = await client.call_tool_as_task("count_to", {"n": 200, "delay_ms": 100})
        await long.cancel()
        with anyio.fail_after(LIMIT_S), pytest.raises(TaskCancelledError):
            await long.result()


@pytest.mark.parametrize("wire", WIRES)
async def test_questions_are_answered_by_the_handlers(tmp_path: Path, old_files: Path, wire: Wire) -> None:
    async def on_elicitation(task_id: str | None, params: ElicitRequestParams) -> ElicitResult:
        return ElicitResult(action="accept", content={"confirm": False})

    async def on_sampling(task_id: str | None, params: CreateMessageRequestParams) -> CreateMessageResult:
        content = TextContent(type="text", text="over stdio")
        return CreateMessageResult(role="assistant", content=content, model="pipe-model")

    params = stdio_params(tmp_path / "tasks.db", app=APP)
    async with TaskClient(
        params, wire=wire, on_elicitation=on_elicitation, on_sampling=on_sampling
    ) as client:
        with anyio.fail_after(LIMIT_S):
            asked = await client.call_tool("clean_up", {"directory": str(old_files), "older_than_days": 0})
            sampled = await client.call_tool("summarize", {"text": "pipes"})
    assert asked.structured_content is not None and asked.structured_content["decision"] == "kept"
    block = sampled.content[0]
    assert isinstance(block, TextContent) and block.text == "summary by pipe-model: over stdio"


async def test_2025_updates_come_in_order_with_the_terminal_status_last(tmp_path: Path) -> None:
    # `count_to` with no delay reports progress and a status message at every step and ends at
    # once: a poll can learn of the end while the last pushes are still on their way. The
    # reports come out in order, the last one included, before the terminal status, and nothing
    # comes after it.
    steps = 8
    async with TaskClient(stdio_params(tmp_path / "tasks.db"), wire="2025-11-25") as client:
        for _ in range(4):
            handle = await client.call_tool_as_task("count_to", {"n": steps, "delay_ms": 0})
            with anyio.fail_after(LIMIT_S):
                updates = [update async for update in handle.updates(poll_ms=20)]
            # Reports pushed before the handle was followed are not kept; the rest come in order,
            # the last one included.
            progress = [u.progress for u in updates if isinstance(u, ProgressUpdate)]
            assert progress == sorted(set(progress)) and progress[-1] == steps, updates
            last = updates[-1]
            assert isinstance(last, StatusUpdate) and last.task.status is TaskStatus.COMPLETED
            assert all(not u.task.is_terminal for u in updates[:-1] if isinstance(u, StatusUpdate))
