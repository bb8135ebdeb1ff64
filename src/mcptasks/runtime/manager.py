"""`TaskManager`: the task verbs both wires call, with the owner as their first argument.

It computes ttl and polling hints, creates tasks durably before they run, cancels, lists with
opaque cursors, and waits for terminal states. Every status change it causes is published on the
`TaskBus` after commit.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mcptasks.core.errors import InvalidParams, InvalidTaskState, TaskNotFound
from mcptasks.core.model import InputRequest, TaskRecord, TaskResult, Wire
from mcptasks.core.owner import Owner
from mcptasks.observe import metrics, tracing
from mcptasks.runtime.bus import TaskBus
from mcptasks.runtime.executor import Executor
from mcptasks.runtime.options import LIST_PAGE_SIZE, Retention
from mcptasks.runtime.outcomes import finished_metrics
from mcptasks.runtime.running import Admission, Invoke
from mcptasks.store.store import AnswerOutcome, Store

#: statusMessage of a task cancelled by its client.
CANCELLED_MESSAGE = "The task was cancelled by request."
#: How long `wait_terminal` sleeps between store reads when no in-process wake-up arrives, in s.
WAIT_POLL_S = 1.0
#: Most active tasks whose last poll is remembered (for holding back fast polls); oldest forgotten.
MAX_TRACKED_POLLS = 100_000


@dataclass(frozen=True, slots=True)
class _Poll:
    """When a task was last answered to a poll (event-loop time, s) and what was answered."""

    at: float
    seen: datetime


@dataclass(frozen=True, slots=True)
class Page:
    """One page of `TaskManager.list_tasks`."""

    tasks: list[TaskRecord]
    #: Opaque cursor of the next page, or None on the last page.
    next_cursor: str | None


class TaskManager:
    """The task verbs shared by both wires (see module docstring)."""

    def __init__(self, store: Store, executor: Executor, bus: TaskBus, retention: Retention) -> None:
        self.store = store
        self.executor = executor
        self.bus = bus
        self.retention = retention
        self._polls: dict[str, _Poll] = {}
        # Only active tasks are remembered: a task that ends is forgotten at once.
        bus.on_status(self._ended)
        bus.add_interest(self._polls.__contains__)

    async def create(
        self,
        owner: Owner,
        *,
        wire: Wire,
        tool_name: str,
        arguments: dict[str, object],
        requested_ttl_ms: int | None,
        progress_token: str | int | None,
        invoke: Invoke,
        client_capabilities: dict[str, object] | None = None,
        on_start: Callable[[TaskRecord], None] | None = None,
    ) -> TaskRecord:
        """Create a `working` task, commit it, and start its tool on this node.

        `requested_ttl_ms` is the client's `task.ttl` (2025-11-25) or None; the granted ttl is the
        default or the request capped at the maximum. `client_capabilities` (what the client can be
        asked: elicitation, sampling) is stored with the task. `on_start(record)` is called just
        before the executor is handed the tool (what must be in place before the tool can report
        anything: a connection to notify). Returns the committed record.
        The executor admits the task before it is stored, so a create racing a stop is either
        refused with nothing stored, or stored and answered (its task then handled like any the
        stop interrupts): never stored and answered with an error.
        Where the store commits in order (SQLite), the tool starts while the row is being
        committed, so the commit's wait is not added to the tool's run: every change the tool
        makes commits after the row. The answer still waits for the COMMIT; if the row cannot
        be stored the tool is stopped at once and nothing of it is stored (`Executor.abandon`).
        Raises: ServerStopping once the server began to stop (nothing stored); StoreError when
        the task could not be stored (nothing stored either).
        Spec: 2025-11-25 tasks "Creating Tasks"; SEP-2663 "Task Creation" (durable before answer).
        """
        admission = self.executor.admit()
        now = self.executor.db_now()
        record = TaskRecord.new(
            owner=owner,
            wire=wire,
            tool_name=tool_name,
            arguments=dict(arguments),
            ttl_ms=self.retention.ttl_for(requested_ttl_ms),
            poll_interval_ms=self.retention.poll_interval_ms,
            progress_token=progress_token,
            client_capabilities=dict(client_capabilities) if client_capabilities is not None else None,
            now=now,
            lease_node=self.executor.node,
            lease_expires_at=now + self.executor.lease_until(),
            attempt=1,
            trace_context=tracing.current_traceparent(),
        )
        await self._store_and_start(record, invoke, admission, on_start)
        metrics.task_created(record.tool_name, record.wire)
        # The CreateTaskResult is the task's first answer: a poll sooner than its interval waits.
        self._answered(record, asyncio.get_running_loop().time())
        return record

    async def _store_and_start(
        self,
        record: TaskRecord,
        invoke: Invoke,
        admission: Admission,
        on_start: Callable[[TaskRecord], None] | None,
    ) -> None:
        """Submit the row of `record` and start its tool: before the COMMIT's wait where the store
        commits in order, after it otherwise (see `create`)."""
        start_first = self.store.commits_in_order
        try:
            created = self.store.submit_create(record, node=self.executor.node)
            if not start_first:
                await created
        except BaseException:
            # Not stored (or its caller went away: the commit goes on, and its lease, left to run
            # out, lets recovery apply the tool's policy).
            admission.withdraw()
            raise
        if on_start is not None:
            on_start(record)
        self.executor.run(record, invoke, admission)
        if start_first:
            try:
                await created
            except asyncio.CancelledError:
                raise  # only the caller went away: the commit goes on, and so does the tool
            except BaseException:
                self.executor.abandon(record.task_id)
                raise

    async def get(self, owner: Owner, task_id: str) -> TaskRecord:
        """The task, if `owner` may see it.

        Raises: TaskNotFound for unknown, expired and foreign ids alike.
        """
        record = await self.store.get_task(owner, task_id)
        if record is None:
            raise TaskNotFound()
        tracing.about_request(record)
        return record

    async def get_with_result(self, owner: Owner, task_id: str) -> tuple[TaskRecord, TaskResult | None]:
        """The task and its outcome (None until terminal), if `owner` may see it.

        Raises: TaskNotFound.
        """
        found = await self._read(owner, task_id)
        tracing.about_request(found[0])
        return found

    async def _read(self, owner: Owner, task_id: str) -> tuple[TaskRecord, TaskResult | None]:
        found = await self.store.get_task_with_result(owner, task_id)
        if found is None:
            raise TaskNotFound()
        return found

    async def wait_terminal(self, owner: Owner, task_id: str) -> tuple[TaskRecord, TaskResult | None]:
        """Block until the task is terminal, then return it with its outcome.

        Wakes on in-process changes and re-reads the store at least every `WAIT_POLL_S` seconds, so
        a task finished by another replica (or expired and deleted) is noticed too.
        Raises: TaskNotFound (also if the task is deleted while waiting).
        Spec: 2025-11-25 tasks "Result Retrieval" (tasks/result MUST block until terminal).
        """
        # Watch before reading, so a change committed during the read still wakes us.
        with self.bus.watching(task_id) as changed:
            while True:
                record, result = await self._read(owner, task_id)
                if record.is_terminal:
                    tracing.about_request(record)
                    return record, result
                await changed.wait(WAIT_POLL_S)

    async def poll(self, owner: Owner, task_id: str) -> tuple[TaskRecord, TaskResult | None]:
        """`tasks/get`: the task and its outcome, holding back polls faster than `pollInterval`.

        A poll of an active task that comes less than its `pollInterval` after the previous answer
        (the CreateTaskResult counts as one), with nothing changed since, is answered at the next
        change of the task, or when the interval has passed, whichever is first: the
        client gets every change as soon as it happens, and a client polling in a tight loop does
        not take the CPU from the tools (SEP-2663: servers MAY rate-limit clients that poll
        faster than `pollIntervalMs`; 2025-11-25: requestors SHOULD respect `pollInterval`).
        Raises: TaskNotFound.
        """
        loop = asyncio.get_running_loop()
        # Watch before reading, so a change committed during the read still ends a hold.
        with self.bus.watching(task_id) as changed:
            record, result = await self._read(owner, task_id)
            previous = self._polls.get(task_id)
            if not record.is_terminal and previous is not None and previous.seen == record.last_updated_at:
                interval_s = (record.poll_interval_ms or 0) / 1000
                remaining_s = previous.at + interval_s - loop.time()
                if remaining_s > 0:
                    await changed.wait(remaining_s)  # a change, or the interval is over
                    record, result = await self._read(owner, task_id)
        self._answered(record, loop.time())
        tracing.about_request(record)
        return record, result

    def _answered(self, record: TaskRecord, at: float) -> None:
        """Remember that `record` was just answered to its client (event-loop time `at`, in s)."""
        polls = self._polls
        polls.pop(record.task_id, None)  # re-inserted last: the oldest are evicted first
        if record.is_terminal:
            return
        polls[record.task_id] = _Poll(at, record.last_updated_at)
        if len(polls) > MAX_TRACKED_POLLS:
            del polls[next(iter(polls))]

    def _ended(self, record: TaskRecord) -> None:
        if record.is_terminal:
            self._polls.pop(record.task_id, None)

    @property
    def tracked_polls(self) -> int:
        """How many active tasks have their last answer remembered (for holding fast polls)."""
        return len(self._polls)

    async def cancel(self, owner: Owner, task_id: str, *, reject_terminal: bool) -> TaskRecord:
        """Cancel the task: durably `cancelled` before this returns, then the tool is stopped.

        `reject_terminal=True` (2025-11-25) raises `InvalidTaskState` for a terminal task;
        `False` (SEP-2663) returns it unchanged.
        Raises: TaskNotFound, InvalidTaskState.
        Spec: 2025-11-25 tasks "Task Cancellation"; SEP-2663 "Task Cancellation".
        """
        outcome = await self.store.cancel_task(owner, task_id, CANCELLED_MESSAGE, self.executor.db_now())
        if outcome is None:
            raise TaskNotFound()
        tracing.about_request(outcome.record)
        if not outcome.cancelled:
            if reject_terminal:
                raise InvalidTaskState(
                    f"Cannot cancel task: already in terminal status '{outcome.record.status.value}'"
                )
            return outcome.record
        finished_metrics(outcome.record)
        self.bus.publish(outcome.record)
        self.executor.cancel_local(task_id)
        return outcome.record

    async def outstanding_inputs(self, owner: Owner, task_id: str) -> list[InputRequest]:
        """The unanswered questions of a task `owner` may see, in the order asked."""
        return await self.store.outstanding_inputs(owner, task_id)

    async def answer(
        self, owner: Owner, task_id: str, responses: Mapping[str, dict[str, Any]]
    ) -> AnswerOutcome:
        """Store the client's answers and wake the tool waiting on them.

        Answers to keys that are not outstanding are ignored; the task turns `working` again once
        nothing is outstanding. If no worker holds the task any more (its server stopped), the
        tool's `on_restart` policy is applied now: it runs again here, or the task fails.
        Raises: TaskNotFound for unknown, expired and foreign ids alike.
        Spec: SEP-2663 "Task Update Requests"; 2025-11-25 tasks "Input Required Status".
        """
        outcome = await self.store.answer_inputs(owner, task_id, responses, self.executor.db_now())
        if outcome is None:
            raise TaskNotFound()
        tracing.about_request(outcome.record)
        if outcome.resumed:
            self.bus.publish(outcome.record)
        if outcome.answered:
            self.bus.wake(task_id)
            if not outcome.record.is_terminal:
                await self.executor.recover(outcome.record)
        return outcome

    async def list_tasks(self, owner: Owner, cursor: str | None, limit: int = LIST_PAGE_SIZE) -> Page:
        """One page of the owner's tasks, newest first.

        Raises: InvalidParams (field `cursor`) for a cursor this owner was not given.
        Spec: 2025-11-25 tasks "Task Listing" (opaque cursors, nextCursor when more exist).
        """
        after = None if cursor is None else decode_cursor(owner, cursor)
        rows = await self.store.list_tasks(owner, after, limit + 1)
        page, more = rows[:limit], len(rows) > limit
        next_cursor = encode_cursor(owner, page[-1]) if more and page else None
        return Page(page, next_cursor)


def _owner_tag(owner: Owner) -> str:
    return hashlib.sha256(owner.key.encode()).hexdigest()[:16]


def encode_cursor(owner: Owner, last: TaskRecord) -> str:
    """An opaque cursor after `last`, bound to `owner`."""
    payload = {"v": 1, "o": _owner_tag(owner), "c": last.created_at.isoformat(), "t": last.task_id}
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(owner: Owner, cursor: str) -> tuple[datetime, str]:
    """The keyset position in `cursor`.

    The cursor needs no signature: the listing query is owner-scoped, so a forged position can
    only move within the caller's own tasks. A cursor of another owner is refused all the same.
    Raises: InvalidParams naming `cursor`.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
        if payload.get("v") != 1 or payload.get("o") != _owner_tag(owner):
            raise ValueError("not this owner's cursor")
        created_at = datetime.fromisoformat(payload["c"])
        task_id = payload["t"]
        if not isinstance(task_id, str) or created_at.tzinfo is None:
            raise ValueError("malformed cursor")
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError, AttributeError):
        raise InvalidParams("cursor", "unknown or invalid cursor") from None
    return created_at, task_id
