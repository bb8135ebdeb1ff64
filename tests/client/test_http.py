"""`TaskClient` against `mcptasks serve --demo` over Streamable HTTP, on both task wires."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp_types import ElicitRequest, ElicitRequestParams, ElicitResult, TextContent

from mcptasks.client import (
    ProgressUpdate,
    QuestionUpdate,
    StatusUpdate,
    TaskCancelledError,
    TaskClient,
    TaskFailedError,
    TaskNotFoundError,
    TaskUpdate,
    UnsupportedOnWire,
    Wire,
)
from mcptasks.core.status import TaskStatus

pytestmark = pytest.mark.slow

WIRES: list[Wire] = ["2025-11-25", "2026-07-28"]
#: No single test waits longer than this for a task, in seconds.
LIMIT_S = 20


def text_of(result: Any) -> str:
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


@pytest.mark.parametrize("wire", WIRES)
async def test_create_follow_and_read_the_result(demo_url: str, wire: Wire) -> None:
    async with TaskClient(demo_url, wire=wire) as client:
        assert client.wire == wire
        handle = await client.call_tool_as_task("count_to", {"n": 3, "delay_ms": 150}, ttl_ms=60_000)
        assert isinstance(handle.task_id, str) and handle.task_id
        assert handle.wire == wire
        first = await handle.status()
        assert first.task_id == handle.task_id
        assert first.status in {TaskStatus.WORKING, TaskStatus.COMPLETED}
        assert first.poll_interval_ms == 100
        if wire == "2025-11-25":
            assert first.ttl_ms == 60_000  # asked for; SEP-2663 has no way to ask

        updates: list[TaskUpdate] = []
        with anyio.fail_after(LIMIT_S):
            async for update in handle:
                updates.append(update)
        statuses = [u.task for u in updates if isinstance(u, StatusUpdate)]
        assert statuses[-1].status is TaskStatus.COMPLETED and statuses[-1].is_terminal
        assert all(not s.is_terminal for s in statuses[:-1])
        if wire == "2025-11-25":
            # Pushed by the server: notifications/progress with the call's own token.
            progress = [u for u in updates if isinstance(u, ProgressUpdate)]
            assert progress and progress[-1].total == 3

        result = await handle.result()
        assert text_of(result) == "counted to 3"
        assert result.is_error is False
        assert (await handle.wait()).status is TaskStatus.COMPLETED


@pytest.mark.parametrize("wire", WIRES)
async def test_cancel(demo_url: str, wire: Wire) -> None:
    async with TaskClient(demo_url, wire=wire) as client:
        handle = await client.call_tool_as_task("count_to", {"n": 200, "delay_ms": 100})
        cancelled = await handle.cancel()
        with anyio.fail_after(LIMIT_S):
            final = await handle.wait()
        assert final.status is TaskStatus.CANCELLED
        if wire == "2025-11-25":
            assert cancelled.status is TaskStatus.CANCELLED  # the answer is the cancelled task
        with pytest.raises(TaskCancelledError) as raised:
            await handle.result()
        assert raised.value.task_id == handle.task_id
        # Cancelling a terminal task changes nothing, on both wires.
        assert (await handle.cancel()).status is TaskStatus.CANCELLED


@pytest.mark.parametrize("wire", WIRES)
async def test_a_failed_task_raises_its_json_rpc_error(demo_url: str, wire: Wire) -> None:
    async with TaskClient(demo_url, wire=wire) as client:
        handle = await client.call_tool_as_task("always_fails", {"reason": "on purpose"})
        with anyio.fail_after(LIMIT_S), pytest.raises(TaskFailedError) as raised:
            await handle.result()
    assert raised.value.code == -32603
    assert raised.value.error_message == "Tool execution failed"
    assert "-32603" in str(raised.value)
    assert handle.last_snapshot is not None and handle.last_snapshot.status is TaskStatus.FAILED


@pytest.mark.parametrize("wire", WIRES)
async def test_a_handler_answers_the_question(demo_url: str, wire: Wire, old_files: Path) -> None:
    asked: list[tuple[str | None, ElicitRequestParams]] = []

    async def on_elicitation(task_id: str | None, params: ElicitRequestParams) -> ElicitResult:
        asked.append((task_id, params))
        return ElicitResult(action="accept", content={"confirm": True})

    async with TaskClient(demo_url, wire=wire, on_elicitation=on_elicitation) as client:
        handle = await client.call_tool_as_task(
            "clean_up", {"directory": str(old_files), "older_than_days": 0}
        )
        updates: list[TaskUpdate] = []
        with anyio.fail_after(LIMIT_S):
            async for update in handle:
                updates.append(update)
        result = await handle.result()

    assert result.structured_content is not None
    assert result.structured_content["decision"] == "confirmed"
    assert [entry["path"] for entry in result.structured_content["would_delete"]] == ["a.txt", "b.txt"]
    [(task_id, params)] = asked
    assert task_id == handle.task_id
    assert "Delete 2 files" in params.message
    questions = [u for u in updates if isinstance(u, QuestionUpdate)]
    assert [q.answer for q in questions] == [ElicitResult(action="accept", content={"confirm": True})]
    assert questions[0].question.task_id == handle.task_id
    assert questions[0].question.method == "elicitation/create"


@pytest.mark.parametrize("wire", WIRES)
async def test_a_question_answered_by_hand(demo_url: str, wire: Wire, old_files: Path) -> None:
    # Declared without a handler: questions wait for answer().
    async with TaskClient(demo_url, wire=wire, elicitation=True) as client:
        handle = await client.call_tool_as_task(
            "clean_up", {"directory": str(old_files), "older_than_days": 0}
        )
        with anyio.fail_after(LIMIT_S):
            async for update in handle:
                if isinstance(update, QuestionUpdate):
                    assert update.answer is None
                    waiting = await handle.input_requests()
                    assert list(waiting) == [update.question.key]
                    assert isinstance(waiting[update.question.key], ElicitRequest)
                    await handle.answer({update.question.key: {"action": "decline"}})
                    assert await handle.input_requests() == {}
            result = await handle.result()
    assert result.structured_content is not None
    assert result.structured_content["decision"] == "declined"


@pytest.mark.parametrize("wire", WIRES)
async def test_an_unknown_task_is_not_found(demo_url: str, wire: Wire) -> None:
    async with TaskClient(demo_url, wire=wire) as client:
        with pytest.raises(TaskNotFoundError) as raised:
            await client.task("no-such-task").status()
    assert raised.value.code == -32602
    assert raised.value.method == "tasks/get"


async def test_list_tasks_on_2025(demo_url: str) -> None:
    async with TaskClient(demo_url, wire="2025-11-25") as client:
        made = [await client.call_tool_as_task("quick_add", {"a": i, "b": 1}) for i in range(3)]
        page = await client.list_tasks()
        listed = [task.task_id for task in page.tasks]
        assert set(listed) == {handle.task_id for handle in made}  # this session's tasks only
        assert all(task.wire == "2025-11-25" for task in page.tasks)


async def test_list_tasks_does_not_exist_on_2026(demo_url: str) -> None:
    async with TaskClient(demo_url, wire="2026-07-28") as client:
        with pytest.raises(UnsupportedOnWire):
            await client.list_tasks()


async def test_auto_picks_the_extension_on_2026(demo_url: str) -> None:
    async with TaskClient(demo_url) as client:
        assert client.wire == "2026-07-28"


async def test_an_immediate_result_comes_back_as_a_terminal_handle(demo_url: str) -> None:
    # `server_time` never runs as a task: on 2026-07-28 the server answers the result at once.
    async with TaskClient(demo_url, wire="2026-07-28") as client:
        handle = await client.call_tool_as_task("server_time")
        assert handle.task_id is None
        snapshot = await handle.status()
        assert snapshot.is_terminal and snapshot.status is TaskStatus.COMPLETED
        assert text_of(await handle.result()).startswith("20")
        assert (await handle.wait()).status is TaskStatus.COMPLETED
        assert (await handle.cancel()).status is TaskStatus.COMPLETED
        assert await handle.input_requests() == {}
        assert [type(u) async for u in handle] == [StatusUpdate]


async def test_the_sdk_client_underneath_finishes_tasks_itself(demo_url: str) -> None:
    # A plain `mcp.Client.call_tool` that meets a task waits for its result (the extension's claim).
    async with TaskClient(demo_url, wire="2026-07-28") as client:
        with anyio.fail_after(LIMIT_S):
            result = await client.mcp.call_tool("count_to", {"n": 2, "delay_ms": 50})
        assert text_of(result) == "counted to 2"


async def test_call_tool_runs_the_tool_as_a_task(demo_url: str) -> None:
    async with TaskClient(demo_url, wire="2025-11-25") as client:
        with anyio.fail_after(LIMIT_S):
            result = await client.call_tool("quick_add", {"a": 2, "b": 3})
    assert text_of(result) == "5"


async def test_a_2025_task_is_not_readable_from_another_session(demo_url: str) -> None:
    # Without authentication a 2025-11-25 task belongs to the session that made it (README "Owners").
    async with TaskClient(demo_url, wire="2025-11-25") as first:
        handle = await first.call_tool_as_task("count_to", {"n": 50, "delay_ms": 100})
        assert handle.task_id is not None
        async with TaskClient(demo_url, wire="2025-11-25") as second:
            with pytest.raises(TaskNotFoundError):
                await second.task(handle.task_id).status()
        await handle.cancel()


@pytest.mark.parametrize("wire", WIRES)
async def test_a_question_asked_before_anyone_watched(demo_url: str, wire: Wire, old_files: Path) -> None:
    async with TaskClient(demo_url, wire=wire, elicitation=True) as client:
        handle = await client.call_tool_as_task(
            "clean_up", {"directory": str(old_files), "older_than_days": 0}
        )
        with anyio.fail_after(LIMIT_S):
            waiting = await handle.input_requests()
            for _ in range(LIMIT_S * 20):  # 2025-11-25: pushed to this client; 2026-07-28: polled
                if waiting:
                    break
                await anyio.sleep(0.05)
                waiting = await handle.input_requests()
            [key] = waiting
            offered: list[str] = []
            async for update in handle:
                if isinstance(update, QuestionUpdate):
                    assert update.answer is None
                    offered.append(update.question.key)
                    await handle.answer({update.question.key: ElicitResult(action="cancel")})
            result = await handle.result()
    # The question is offered under the key input_requests() showed. On 2025-11-25 an answer that
    # crosses the server's withdrawal of its copy (a new tasks/result opened) is dropped, and the
    # question is asked again: then it is offered again, under a new key (at-least-once).
    assert offered[0] == key
    assert result.structured_content is not None
    assert result.structured_content["decision"] == "cancelled"


class HandlerBroke(Exception):
    """Raised by the first call of a test's question handler."""


async def test_a_raising_handler_on_2026_propagates_and_the_question_stays(
    demo_url: str, old_files: Path
) -> None:
    calls: list[str | None] = []

    async def flaky(task_id: str | None, params: ElicitRequestParams) -> ElicitResult:
        calls.append(task_id)
        if len(calls) == 1:
            raise HandlerBroke
        return ElicitResult(action="accept", content={"confirm": False})

    async with TaskClient(demo_url, wire="2026-07-28", on_elicitation=flaky) as client:
        handle = await client.call_tool_as_task(
            "clean_up", {"directory": str(old_files), "older_than_days": 0}
        )
        with anyio.fail_after(LIMIT_S):
            with pytest.raises(HandlerBroke):
                await handle.result()
            assert (await handle.status()).status is TaskStatus.INPUT_REQUIRED
            result = await handle.result()
    assert result.structured_content is not None and result.structured_content["decision"] == "kept"
    assert calls == [handle.task_id, handle.task_id]


async def test_a_raising_handler_on_2025_answers_an_error_and_is_asked_again(
    demo_url: str, old_files: Path
) -> None:
    calls: list[str | None] = []

    async def flaky(task_id: str | None, params: ElicitRequestParams) -> ElicitResult:
        calls.append(task_id)
        if len(calls) == 1:
            raise HandlerBroke("a secret the server must not see")
        return ElicitResult(action="accept", content={"confirm": False})

    async with TaskClient(demo_url, wire="2025-11-25", on_elicitation=flaky) as client:
        handle = await client.call_tool_as_task(
            "clean_up", {"directory": str(old_files), "older_than_days": 0}
        )
        with anyio.move_on_after(2):
            await handle.wait()  # the first answer is an error; the question stays outstanding
        with anyio.fail_after(LIMIT_S):
            result = await handle.result()  # a new tasks/result: the server asks again
    assert result.structured_content is not None and result.structured_content["decision"] == "kept"
    assert calls == [handle.task_id, handle.task_id]


async def test_2025_updates_come_in_order_with_the_terminal_status_last(demo_url: str) -> None:
    # `count_to` with no delay reports progress at every step and ends at once: a poll can learn
    # of the end before the last pushes arrive on the GET stream. The reports still come out in
    # order, the last one included, before the terminal status, and nothing comes after it.
    steps = 8
    async with TaskClient(demo_url, wire="2025-11-25") as client:
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


async def test_a_2025_question_asked_again_keeps_its_key(demo_url: str, old_files: Path) -> None:
    # Every follower of a task opens a tasks/result, and the server asks the task's open question
    # again on it (the copy sent before is withdrawn, or lost with the stream the last follower
    # closed): the client shows one question under one key, and that key answers it.
    async with TaskClient(demo_url, wire="2025-11-25", elicitation=True) as client:
        handle = await client.call_tool_as_task(
            "clean_up", {"directory": str(old_files), "older_than_days": 0}
        )
        keys: list[str] = []
        for _ in range(3):
            with anyio.fail_after(LIMIT_S):
                async for update in handle:
                    if isinstance(update, QuestionUpdate):
                        keys.append(update.question.key)
                        break
        assert len(set(keys)) == 1, keys
        assert list(await handle.input_requests()) == keys[:1]
        await handle.answer({keys[0]: ElicitResult(action="accept", content={"confirm": True})})
        with anyio.fail_after(LIMIT_S):
            result = await handle.result()
        assert list(await handle.input_requests()) == []
    assert result.structured_content is not None
    assert result.structured_content["decision"] == "confirmed"
