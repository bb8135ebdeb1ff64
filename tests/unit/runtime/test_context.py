"""`TaskContext`: the cancellation token and the sink it reports to."""

from __future__ import annotations

import asyncio

import pytest

from mcptasks.core.errors import TaskCancelled
from mcptasks.runtime.context import TaskContext


class RecordingSink:
    """A `ProgressSink` that keeps what it was given (the runner's side of the protocol)."""

    def __init__(self) -> None:
        self.progress_reports: list[tuple[float, float | None, str | None]] = []
        self.messages: list[str | None] = []

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        self.progress_reports.append((progress, total, message))

    async def status_message(self, message: str | None) -> None:
        self.messages.append(message)


def test_identity() -> None:
    ctx = TaskContext("task-1", RecordingSink(), attempt=2)
    assert (ctx.task_id, ctx.attempt) == ("task-1", 2)
    inline = TaskContext(None, RecordingSink())
    assert (inline.task_id, inline.attempt) == (None, 0)


async def test_not_cancelled_at_first() -> None:
    ctx = TaskContext("task-1", RecordingSink())
    assert not ctx.is_cancelled
    ctx.check_cancelled()  # returns at once


async def test_check_cancelled_raises_after_cancel() -> None:
    ctx = TaskContext("task-1", RecordingSink())
    ctx._cancel()
    assert ctx.is_cancelled
    with pytest.raises(TaskCancelled) as caught:
        ctx.check_cancelled()
    assert caught.value.message == "The task was cancelled"
    ctx._cancel()  # idempotent
    assert ctx.is_cancelled


async def test_wait_cancelled_returns_once_cancelled() -> None:
    ctx = TaskContext("task-1", RecordingSink())
    waiter = asyncio.ensure_future(ctx.wait_cancelled())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    asyncio.get_running_loop().call_later(0.01, ctx._cancel)
    await asyncio.wait_for(waiter, 1)
    # Already cancelled: returns at once.
    await asyncio.wait_for(ctx.wait_cancelled(), 0.1)


async def test_reports_go_to_the_sink() -> None:
    sink = RecordingSink()
    ctx = TaskContext("task-1", sink)
    await ctx.report_progress(1)
    await ctx.report_progress(2.5, total=10, message="step")
    await ctx.set_status_message("half way")
    await ctx.set_status_message(None)
    assert sink.progress_reports == [(1, None, None), (2.5, 10, "step")]
    assert sink.messages == ["half way", None]


async def test_an_inline_context_continues_as_a_task() -> None:
    inline_sink, task_sink = RecordingSink(), RecordingSink()
    inline = TaskContext(None, inline_sink)
    await inline.report_progress(1)
    task = TaskContext("task-9", task_sink, attempt=1)
    assert inline._continue_as(task) is task_sink
    assert (inline.task_id, inline.attempt) == ("task-9", 1)
    await inline.report_progress(2, total=3)
    await inline.set_status_message("on")
    assert inline_sink.progress_reports == [(1, None, None)]
    assert task_sink.progress_reports == [(2, 3, None)] and task_sink.messages == ["on"]
    waiter = asyncio.ensure_future(inline.wait_cancelled())
    task._cancel()  # cancelling the task cancels the tool's own context
    await asyncio.wait_for(waiter, 1)
    assert inline.is_cancelled


async def test_continuing_as_a_cancelled_task_cancels_at_once() -> None:
    task = TaskContext("task-9", RecordingSink(), attempt=1)
    task._cancel()
    inline = TaskContext(None, RecordingSink())
    inline._continue_as(task)
    assert inline.is_cancelled
