"""`TaskNotifier`: per-task channels released when a task ends, one bounded queue per connection."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from mcptasks.core.model import TaskRecord, utcnow
from mcptasks.core.owner import Owner
from mcptasks.core.status import TaskStatus
from mcptasks.server.v2025_11_25.notify import TaskNotifier
from mcptasks.server.v2025_11_25.streams import GetStreams

STATUS = "notifications/tasks/status"
PROGRESS = "notifications/progress"


class Pipe:
    """A stdio-like connection: records what is sent; `gate` holds every send until it is set."""

    session_id = None

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.exit_stack = contextlib.AsyncExitStack()

    async def notify(self, method: str, params: dict[str, Any]) -> None:
        await self.gate.wait()
        self.sent.append((method, params))


def record(task_id: str, status: TaskStatus = TaskStatus.WORKING, seconds: int = 0) -> TaskRecord:
    return TaskRecord.new(
        owner=Owner.session("s"),
        wire="2025-11-25",
        tool_name="t",
        arguments={},
        ttl_ms=60_000,
        poll_interval_ms=1000,
        progress_token="p",
    ).evolve(task_id=task_id, status=status, last_updated_at=utcnow() + timedelta(seconds=seconds))


def attach(notifier: TaskNotifier, pipe: Pipe, task_id: str) -> None:
    notifier.attach(record(task_id), pipe, Owner.session("s"), is_pipe=True)  # type: ignore[arg-type]


async def drained(notifier: TaskNotifier) -> None:
    for _ in range(100):
        if notifier.sizes()["notify_outboxes"] == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the queue did not drain: {notifier.sizes()}")


async def test_a_task_that_ends_leaves_nothing_of_itself_or_its_connection_but_the_close_callback() -> None:
    notifier = TaskNotifier(GetStreams())
    pipe = Pipe()
    for n in range(50):
        attach(notifier, pipe, f"t{n}")
    assert notifier.sizes()["notify_channels"] == 50
    for n in range(50):
        notifier.on_status(record(f"t{n}", TaskStatus.COMPLETED, seconds=1))
    await drained(notifier)
    assert notifier.sizes() == {
        "notify_channels": 0,
        "notify_connections_active": 0,
        "notify_connections_watched": 1,
        "notify_outboxes": 0,
        "notify_queued": 0,
    }
    # One exit-stack callback for the connection, not one per task.
    assert len(pipe.exit_stack._exit_callbacks) == 1
    assert [method for method, _ in pipe.sent] == [STATUS] * 50
    await pipe.exit_stack.aclose()
    assert notifier.sizes()["notify_connections_watched"] == 0


async def test_a_slow_connection_holds_at_most_the_queue_size_and_statuses_are_coalesced() -> None:
    notifier = TaskNotifier(GetStreams(), queue_size=8)
    pipe = Pipe()
    pipe.gate.clear()  # the client reads nothing for now
    attach(notifier, pipe, "a")
    attach(notifier, pipe, "b")
    await asyncio.sleep(0)
    for n in range(100):
        notifier.on_progress(record("a"), n, 100, None)
    assert notifier.sizes()["notify_queued"] <= 8
    # Status changes of one task replace each other; a status makes room over progress.
    notifier.on_status(record("b", TaskStatus.INPUT_REQUIRED, seconds=1))
    notifier.on_status(record("b", TaskStatus.WORKING, seconds=2))
    notifier.on_status(record("a", TaskStatus.COMPLETED, seconds=3))
    assert notifier.sizes()["notify_queued"] <= 8
    assert notifier.dropped > 0
    pipe.gate.set()
    await drained(notifier)
    statuses = [(p["taskId"], p["status"]) for method, p in pipe.sent if method == STATUS]
    assert statuses == [("b", "working"), ("a", "completed")]
    progress = [p["progress"] for method, p in pipe.sent if method == PROGRESS]
    assert progress == sorted(progress) and len(progress) <= 8
    assert notifier.sizes()["notify_outboxes"] == 0


async def test_notifications_go_through_one_sender_per_connection() -> None:
    notifier = TaskNotifier(GetStreams())
    pipe = Pipe()
    pipe.gate.clear()
    attach(notifier, pipe, "a")
    before = len(asyncio.all_tasks())
    for n in range(20):
        notifier.on_progress(record("a"), n, None, None)
    assert len(asyncio.all_tasks()) == before + 1
    pipe.gate.set()
    await drained(notifier)
    assert [p["progress"] for _, p in pipe.sent] == list(range(20))


async def test_nothing_is_queued_for_an_http_session_without_a_get_stream() -> None:
    streams = GetStreams()
    notifier = TaskNotifier(streams)
    pipe = Pipe()
    pipe.session_id = "session-1"  # type: ignore[assignment]
    notifier.attach(record("a"), pipe, Owner.session("s"), is_pipe=False)  # type: ignore[arg-type]
    notifier.on_progress(record("a"), 1, None, None)
    assert notifier.sizes()["notify_queued"] == 0
    streams.opened("session-1")
    notifier.on_progress(record("a"), 2, None, None)
    await drained(notifier)
    assert [p["progress"] for _, p in pipe.sent] == [2]


async def test_what_a_task_reports_before_its_create_is_answered_is_sent_after_it_in_order() -> None:
    notifier = TaskNotifier(GetStreams())
    pipe = Pipe()
    other = record("other")
    notifier.attach(other, pipe, Owner.session("s"), is_pipe=True)  # type: ignore[arg-type]
    notifier.attach(record("new"), pipe, Owner.session("s"), is_pipe=True, held=True)  # type: ignore[arg-type]
    notifier.on_progress(record("new"), 1, None, None)
    notifier.on_progress(other, 7, None, None)  # another task of the connection is not held
    notifier.on_progress(record("new"), 2, None, None)
    notifier.on_status(record("new", TaskStatus.COMPLETED, seconds=1))
    await drained(notifier)
    assert [params["progress"] for _, params in pipe.sent] == [7]
    notifier.release("new")
    await drained(notifier)
    assert [(method, params.get("progress", params.get("status"))) for method, params in pipe.sent[1:]] == [
        (PROGRESS, 1),
        (PROGRESS, 2),
        (STATUS, "completed"),
    ]
    assert notifier.sizes()["notify_channels"] == 1  # only the other, still working


async def test_a_held_task_that_is_not_created_sends_nothing() -> None:
    notifier = TaskNotifier(GetStreams())
    pipe = Pipe()
    notifier.attach(record("failed"), pipe, Owner.session("s"), is_pipe=True, held=True)  # type: ignore[arg-type]
    notifier.on_progress(record("failed"), 1, None, None)
    notifier.drop("failed")
    notifier.release("failed")
    await drained(notifier)
    assert pipe.sent == []
    assert notifier.sizes()["notify_channels"] == 0
