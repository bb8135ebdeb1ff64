"""The executor: runs tools as background asyncio tasks under leases.

Shaped like procrastinate's worker: one `start()`/`stop()`, named side tasks (`heartbeat`,
`recover_leases`, `sweep_ttl`), and `_running` mapping each task id to its asyncio task and context.

- A worker holds a lease `(node, attempt, expiry)` on its task, renewed every heartbeat. Every write
  it makes is fenced on that lease and on the task being active (`Store.finish_task`), so a cancel
  racing a completion, or a zombie worker after a restart, cannot overwrite the outcome.
- Leases are measured on the database's clock (`Store.database_time`; each heartbeat measures how
  far this host's clock is from it), so replicas with skewed clocks agree on when a lease ran out.
- A lease that is not renewed means the task was cancelled or taken over: the worker's token fires.
- Self-fencing: a node that cannot renew its leases (the database is out of reach) stops its tools
  before the leases can run out (the token `Leases.cancel_grace_s` before, a hard cancel at the
  end), so another replica that takes a task over never runs it at the same time as this one.
- An outcome that cannot be stored is written again with a growing delay while the lease lasts
  (tenacity). If it still cannot be, the task is failed with `OUTCOME_LOST_MESSAGE` as soon as the
  database answers again (unless another replica recovered it first), never dropped silently.
- Other processes' changes (another replica's cancel or answer, a completion) reach this one as
  store events (`Store.on_external_change`): the task is read again, its waiters woken, and its tool
  stopped if this node no longer holds it.
- A tool that asks a question (`TaskContext.elicit`) parks its task in `input_required` and waits
  for the stored answer, woken in-process or by polling the store.
- Leases that ran out or were released (a stop, a crash) are recovered by the tool's
  `on_restart` policy: "fail" fails the task as interrupted; "rerun" runs the tool again from its
  start as the next attempt, where already-answered questions return their stored answers.
- At stop, a task waiting for input, or whose tool is "rerun", keeps its status and releases its
  lease, so it is recovered at the next start; any other running task is failed as interrupted.
- Cancellation fires the tool's token first and cancels it hard after `Leases.cancel_grace_s`.
  A hard cancel stops the tool only: storing its outcome runs apart from it, so its retries go on.
- At stop, tools get `Leases.shutdown_grace_s` to finish; the rest are cancelled and failed with a
  `statusMessage` saying a server stop interrupted them.
- A new task is admitted (`admit()`) before its row is stored: once the stop began, admission is
  refused (nothing is stored, the client hears `ServerStopping`), and a task admitted before is
  run, or handled like any task the stop interrupts, so its client's `CreateTaskResult` holds.
- The ttl sweeper fails active tasks whose ttl ran out (visibly), then deletes expired terminal tasks
  in bounded batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_exponential

from mcptasks.core.errors import InputUnavailable, ServerStopping, StoreError, TaskCancelled
from mcptasks.core.model import (
    ELICITATION,
    ErrorInfo,
    Failed,
    InputMethod,
    Outcome,
    RecoveryPolicy,
    TaskRecord,
    utcnow,
)
from mcptasks.core.status import TaskStatus
from mcptasks.observe import metrics, tracing
from mcptasks.observe.logs import set_task
from mcptasks.runtime.bus import TaskBus
from mcptasks.runtime.context import TaskContext
from mcptasks.runtime.options import Leases, Retention
from mcptasks.store.store import Store

logger = logging.getLogger("mcptasks.runtime")

Invoke = Callable[[TaskContext], Awaitable[Outcome]]

#: statusMessage of a task whose tool crashed (the detail is in the server log only).
CRASH_MESSAGE = "Tool execution failed"
#: statusMessage of a task interrupted by a server stop or by a worker that died.
INTERRUPTED_MESSAGE = "Task interrupted: the server stopped while it was running"
#: statusMessage of a parked task whose tool cannot resume ("fail" policy) after a stop.
INTERRUPTED_WAITING_MESSAGE = (
    "Task interrupted while waiting for input: the server stopped and this tool cannot resume"
)
#: statusMessage of a task whose tool this server no longer serves.
UNKNOWN_TOOL_MESSAGE = "Task interrupted: its tool is not served any more"
#: How often a worker waiting for an answer re-reads the store (answers from other replicas), in s.
INPUT_POLL_S = 1.0
#: How often the executor looks whether another process changed the database (SQLite), in s.
EXTERNAL_CHANGE_POLL_S = 0.1
#: statusMessage of a task whose outcome could not be stored while its worker held the lease.
OUTCOME_LOST_MESSAGE = (
    "Task failed: the tool finished, but its outcome could not be stored while the task store was unavailable"
)
#: How much sooner than the database this node considers its leases ended, in s (round trips,
#: clock measurement); at most a tenth of the lease.
LEASE_SAFETY_S = 1.0
#: How soon a heartbeat that failed is tried again, in s.
HEARTBEAT_RETRY_S = 1.0


class ToolResolver(Protocol):
    """How the executor finds a task's tool again (recovery after a stop or a crash)."""

    def recovery_policy(self, tool_name: str) -> RecoveryPolicy | None:
        """The tool's `on_restart` policy; None when no tool of that name is served."""
        ...

    def invoker(self, record: TaskRecord) -> Invoke:
        """The `invoke` that runs `record`'s tool with its stored arguments."""
        ...


def new_node_id() -> str:
    """This process's node id: `host:pid:random`, unique across restarts and replicas."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(eq=False)
class _Running:
    record: TaskRecord
    context: TaskContext = field(init=False)
    task: asyncio.Task[None] | None = None
    #: Why the runner cancelled the asyncio task hard: "cancelled" or "stopping".
    hard_reason: str | None = None
    #: How many questions the tool is waiting on right now.
    waiting_input: int = 0
    #: Set at stop for a tool that was waiting for input: its task stays parked for the next start.
    keep_on_stop: bool = False
    timers: list[asyncio.TimerHandle] = field(default_factory=list)
    #: Event-loop time until which this node surely holds the task's lease (self-fencing), in s.
    lease_valid_until: float = 0.0
    #: The tool itself, apart from `task` (which also stores the outcome): a hard cancel stops
    #: this one only, so the outcome's retries are never cut.
    tool: asyncio.Future[Outcome] | None = None


class Admission:
    """A task admitted by `Executor.admit()`: run it with `Executor.run(..., admission)` once
    stored, or `withdraw()` it when it could not be stored. Either may be called once."""

    __slots__ = ("_executor", "_open")

    def __init__(self, executor: Executor) -> None:
        self._executor = executor
        self._open = True

    def close(self) -> bool:
        """Settle the admission; returns whether it was still open."""
        if not self._open:
            return False
        self._open = False
        self._executor._settled()
        return True

    def withdraw(self) -> None:
        """The task was not stored: nothing will run (idempotent)."""
        self.close()


class _TaskSink:
    """Progress and status messages of a task running here."""

    def __init__(self, executor: Executor, running: _Running) -> None:
        self._executor = executor
        self._running = running

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        self._executor.bus.publish_progress(self._running.record, progress, total, message)

    async def status_message(self, message: str | None) -> None:
        record = self._running.record
        updated = await self._executor.store.set_status_message(
            record.task_id, record.attempt, self._executor.node, message, self._executor.db_now()
        )
        if updated is not None:
            self._running.record = updated
            self._executor.bus.publish(updated)

    async def ask(self, key: str, method: InputMethod, params: dict[str, Any]) -> dict[str, Any]:
        executor, running = self._executor, self._running
        record = running.record
        _require_capability(record, method)
        stored = await executor.store.request_input(
            record.task_id, record.attempt, executor.node, key, method, params, executor.db_now()
        )
        if stored is None:
            raise TaskCancelled()  # cancelled, finished or taken over meanwhile
        current, request = stored
        if request.response is not None:
            return request.response  # answered before (this is a re-run): not asked again
        if request.method != method:
            raise RuntimeError(f"question {key} was {request.method} before and is {method} now")
        if current.status is not record.status:
            executor.bus.publish(current)
        running.record = current
        executor.bus.publish_input(current, request)
        running.waiting_input += 1
        metrics.question_asked()
        input_span = tracing.start_input(method, key)
        asked_at = asyncio.get_running_loop().time()
        waited_s: float | None = None
        try:
            with executor.bus.watching(record.task_id) as changed:
                while True:
                    latest = await executor.store.get_input_request(record.task_id, key)
                    if latest is None:
                        raise TaskCancelled()  # the task was deleted
                    if latest.response is not None:
                        waited_s = asyncio.get_running_loop().time() - asked_at
                        return latest.response
                    running.context.check_cancelled()
                    cancelled = asyncio.ensure_future(running.context.wait_cancelled())
                    woken = asyncio.ensure_future(changed.wait(INPUT_POLL_S))
                    try:
                        await asyncio.wait({cancelled, woken}, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        cancelled.cancel()
                        woken.cancel()
        finally:
            running.waiting_input -= 1
            metrics.question_settled(method, waited_s)
            input_span.end()


def _require_capability(record: TaskRecord, method: InputMethod) -> None:
    capability = "elicitation" if method == ELICITATION else "sampling"
    if capability not in (record.client_capabilities or {}):
        raise InputUnavailable(
            capability,
            f"The tool asked the client a question ({method}), but the client did not declare "
            f"the {capability} capability",
        )


class Executor:
    """Runs tools for tasks created on this node, and keeps leases, recovery and ttl in order."""

    def __init__(
        self,
        store: Store,
        bus: TaskBus,
        *,
        node: str | None = None,
        leases: Leases | None = None,
        retention: Retention | None = None,
        resolver: ToolResolver | None = None,
    ) -> None:
        self.store = store
        self.resolver = resolver
        self.bus = bus
        self.node = node or new_node_id()
        self.leases = leases or Leases()
        self.retention = retention or Retention()
        self._running: dict[str, _Running] = {}
        self._side_tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._rechecking: asyncio.Task[None] | None = None
        self._refreshing: dict[str, asyncio.Task[None]] = {}
        #: Tasks changed again while their refresh was reading: read once more after it.
        self._refresh_again: set[str] = set()
        #: This host's clock minus the database's (`db_now`), measured at each heartbeat.
        self._clock_offset = timedelta(0)
        #: Fires when the first lease held here is about to run out unrenewed (self-fencing).
        self._fence_timer: asyncio.TimerHandle | None = None
        #: Tasks whose outcome could not be stored: task id -> attempt (see OUTCOME_LOST_MESSAGE).
        self._lost: dict[str, int] = {}
        #: Fenced tasks whose lease is still to be released: task id -> attempt. Their tools are
        #: stopped; the heartbeat must not keep their leases alive.
        self._fenced: dict[str, int] = {}
        #: Leases the last heartbeat renewed for tasks no tool runs here: task id -> attempt.
        #: Held so for two heartbeats in a row, a lease is released (see `_release_strays`).
        self._strays: dict[str, int] = {}
        #: Admitted tasks not run or withdrawn yet (`admit`); `stop()` waits for them.
        self._admitted = 0
        self._no_admitted = asyncio.Event()
        self._no_admitted.set()
        #: Set once `stop()` is done: a task admitted before but stored after is not run here.
        self._stopped = False
        store.on_external_change(self._on_external_change)

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Measure the database's clock, recover what a previous process left behind, then start
        the side tasks."""
        await self._measure_clock()
        await self._recover_once()
        side_tasks: list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]] = [
            ("heartbeat", self._heartbeat_loop),
            ("recover_leases", self._recover_loop),
            ("sweep_ttl", self._sweep_loop),
        ]
        if self.store.connector.polls_for_changes:
            side_tasks.append(("watch_changes", self._watch_changes_loop))
        for name, loop in side_tasks:
            self._side_tasks.append(asyncio.create_task(loop(), name=f"mcptasks.{name}"))

    async def stop(self) -> None:
        """Stop claiming, give running tools the shutdown grace, then cancel and fail the rest.

        Idempotent: a second call waits for nothing new.
        """
        self._stopping = True
        if self._fence_timer is not None:
            self._fence_timer.cancel()
        for refresh in list(self._refreshing.values()):
            refresh.cancel()
        for side in self._side_tasks:
            side.cancel()
        for side in self._side_tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await side
        self._side_tasks.clear()
        # Creates admitted before the stop are stored and answered: wait for them to be run (or
        # withdrawn), so their tasks get the same grace as the others.
        if self._admitted:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._no_admitted.wait(), self.leases.shutdown_grace_s)
        pending = [r.task for r in self._running.values() if r.task is not None]
        for running in self._running.values():
            running.keep_on_stop = running.waiting_input > 0
            # The token first, so a cooperative tool can end cleanly within the grace period.
            running.hard_reason = "stopping"
            running.context._cancel()
        if pending:
            _, still = await asyncio.wait(pending, timeout=self.leases.shutdown_grace_s)
            for running in list(self._running.values()):
                if running.task in still and running.tool is not None:
                    # The tool only (a sync tool's thread is left behind; it is a daemon): the
                    # runner then stores what the stop means for the task.
                    running.tool.cancel()
            if still:
                await asyncio.wait(still)
        # Outcomes that could not be stored while their lease lasted: one last try, so they do
        # not read "interrupted by a server stop" at the next start.
        for task_id, attempt in list(self._lost.items()):
            with contextlib.suppress(StoreError):
                await self._fail_lost(task_id, attempt)
        self._stopped = True

    @property
    def stopping(self) -> bool:
        """Whether `stop()` was called: no new task may start."""
        return self._stopping

    @property
    def running_task_ids(self) -> frozenset[str]:
        """Ids of the tasks whose tools run in this process now."""
        return frozenset(self._running)

    # -- running tools ---------------------------------------------------------------------------

    def lease_until(self) -> timedelta:
        """The lease length as a timedelta."""
        return timedelta(seconds=self.leases.duration_s)

    def db_now(self) -> datetime:
        """The database's time now, as this node estimates it (aware UTC): leases are set on it."""
        return utcnow() + self._clock_offset

    def admit(self) -> Admission:
        """Admit one new task, before its row is stored (an answer must match what is stored).

        Returns the `Admission` to pass to `run` once the task is stored, or to `withdraw()`.
        Raises: ServerStopping once `stop()` was called (nothing may be stored then).
        """
        if self._stopping:
            raise ServerStopping()
        self._admitted += 1
        self._no_admitted.clear()
        return Admission(self)

    def _settled(self) -> None:
        self._admitted -= 1
        if self._admitted == 0:
            self._no_admitted.set()

    def run(self, record: TaskRecord, invoke: Invoke, admission: Admission | None = None) -> None:
        """Start `invoke` for `record`, a task already committed with this node's lease.

        A task admitted before the stop began (`admission`) is accepted while stopping: it is
        handled like any task the stop interrupts (kept for a rerun tool, else failed as
        interrupted), or, when the stop is over, left to lease recovery at the next start.
        Raises: RuntimeError when the executor is stopping and the task was not admitted before.
        """
        if admission is not None and not admission.close():
            raise RuntimeError("this admission was used already")
        if self._stopping and admission is None:
            raise RuntimeError("the executor is stopping")
        if self._stopped:
            return  # its lease runs out; the next start recovers it by its tool's policy
        if self._stopping:
            invoke = _not_started  # the stop began: the tool does not start (see `_run_one`)
        running = _Running(record=record)
        running.context = TaskContext(record.task_id, _TaskSink(self, running), attempt=record.attempt)
        # The lease was set on the database's clock when the task was created or claimed.
        loop_now = asyncio.get_running_loop().time()
        if record.lease_expires_at is not None:
            lease_left_s = (record.lease_expires_at - self.db_now()).total_seconds()
        else:
            lease_left_s = self.leases.duration_s
        running.lease_valid_until = loop_now + lease_left_s - self._lease_safety_s()
        self._running[record.task_id] = running
        if self._stopping:
            running.hard_reason = "stopping"
            running.keep_on_stop = False
            running.context._cancel()
        running.task = asyncio.create_task(
            self._run_one(running, invoke), name=f"mcptasks.task.{record.task_id}"
        )
        self._arm_fence()

    def cancel_local(self, task_id: str) -> None:
        """Fire the token of a tool running here, and cancel it hard after the grace period."""
        running = self._running.get(task_id)
        if running is None or running.context.is_cancelled:
            return
        running.context._cancel()
        loop = asyncio.get_running_loop()
        running.timers.append(loop.call_later(self.leases.cancel_grace_s, self._hard_cancel, running))

    def _hard_cancel(self, running: _Running) -> None:
        tool = running.tool
        if tool is not None and not tool.done():
            logger.info(
                "tool ignored cancellation for %.1fs; cancelling it",
                self.leases.cancel_grace_s,
                extra={"action": "hard_cancel", "task_id": running.record.task_id},
            )
            running.hard_reason = running.hard_reason or "cancelled"
            tool.cancel()

    async def _run_one(self, running: _Running, invoke: Invoke) -> None:
        record = running.record
        # This asyncio task's records (the tool's own included) name the task it runs.
        set_task(record.task_id, record.tool_name, record.attempt)
        metrics.tool_started()
        span, span_token = tracing.start_run(record)
        finished: TaskRecord | None = None
        try:
            outcome: Outcome | None
            try:
                # A task of its own, so a hard cancel stops the tool but not what follows it.
                running.tool = tool = asyncio.ensure_future(invoke(running.context))
                try:
                    outcome = await tool
                finally:
                    running.tool = None
            except TaskCancelled:
                outcome = None if running.context.is_cancelled else _crash()
            except asyncio.CancelledError:
                if running.hard_reason == "fenced":
                    await self._release_fenced(running)
                    return
                if running.hard_reason != "stopping":
                    return  # cancelled by its client: nothing of ours to store
                outcome = None
            except Exception:
                logger.exception(
                    "tool %r raised",
                    record.tool_name,
                    extra={"action": "tool_crash", "task_id": record.task_id},
                )
                outcome = _crash()
            if outcome is None and running.hard_reason == "fenced":
                await self._release_fenced(running)
                return
            if outcome is None:
                if not (
                    running.hard_reason == "stopping" or (self._stopping and running.context.is_cancelled)
                ):
                    return  # cancelled by the client (the store says so)
                if running.keep_on_stop or self._policy(record.tool_name) == "rerun":
                    # Kept for the next start: parked questions stay answerable; a rerun tool runs again.
                    await self.store.release_lease(record.task_id, record.attempt, self.node)
                    return
                outcome = Failed(ErrorInfo(-32603, INTERRUPTED_MESSAGE), INTERRUPTED_MESSAGE)
            with tracing.outcome_span():
                finished = await self._store_outcome(running, outcome)
            if finished is not None:
                finished_metrics(finished)
                self.bus.publish(finished)
        except StoreError:
            logger.warning(
                "could not release the lease at a stop; it runs out instead",
                extra={"action": "release", "task_id": record.task_id},
            )
        finally:
            tracing.end_run(span, span_token, finished)
            metrics.tool_ended()
            for timer in running.timers:
                timer.cancel()
            self._running.pop(record.task_id, None)

    async def _store_outcome(self, running: _Running, outcome: Outcome) -> TaskRecord | None:
        """Store `outcome`, again and again with a growing delay while the lease surely lasts.

        Returns the terminal record, or None when the worker lost the task (cancelled, taken
        over). When the store stays unavailable past the lease, the task is remembered as lost
        and failed with OUTCOME_LOST_MESSAGE once the store answers again.
        """
        record = running.record
        loop = asyncio.get_running_loop()

        def lease_ends(state: RetryCallState) -> bool:
            # Read at each try: a heartbeat that renews the lease meanwhile extends the retries.
            return loop.time() + (state.upcoming_sleep or 0.0) >= running.lease_valid_until

        retrying = AsyncRetrying(
            retry=retry_if_exception(lambda exc: isinstance(exc, StoreError) and exc.unavailable),
            wait=wait_exponential(multiplier=0.05, max=2.0),
            stop=lease_ends,
            reraise=True,
            before_sleep=lambda state: logger.debug(
                "could not store the outcome; trying again",
                extra={"action": "finish", "task_id": record.task_id},
            ),
        )
        try:
            async for attempt in retrying:
                with attempt:
                    # Submitted in this same step, so a `tasks/get` arriving now waits for this
                    # commit (the store shields it: our own cancellation cannot interrupt it).
                    return await self.store.finish_task(
                        record.task_id, record.attempt, self.node, outcome, self.db_now()
                    )
        except StoreError:
            self._lost[record.task_id] = record.attempt
            logger.warning(
                "could not store the outcome while the lease lasted: the task will be failed as lost "
                "when the task store answers again",
                extra={"action": "finish", "task_id": record.task_id},
            )
        return None

    # -- side tasks ------------------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        while True:
            try:
                await self.heartbeat()
            except StoreError as exc:
                # An outage is logged once by the store (`StoreHealth`), not at every heartbeat.
                logger.debug("could not renew the leases held here: %s", exc, extra={"action": "heartbeat"})
                await asyncio.sleep(min(HEARTBEAT_RETRY_S, self.leases.heartbeat_s))
                continue
            except Exception:
                logger.exception("heartbeat failed", extra={"action": "heartbeat"})
            await asyncio.sleep(self.leases.heartbeat_s)

    async def heartbeat(self) -> None:
        """Renew this node's leases (on the database's clock), fire the token of every task whose
        lease was not renewed, and fail the tasks whose outcome was lost.

        Raises: StoreError when the leases could not be renewed (the fence timer keeps running).
        """
        started = asyncio.get_running_loop().time()
        # Only tools started before the renewal are judged by it: a task committed meanwhile may
        # be missing from what it returns, and is not lost for that.
        judged = dict(self._running)
        await self._measure_clock()
        renewed = await self.store.renew_leases(self.node, self.db_now() + self.lease_until())
        valid_until = started + self.leases.duration_s - self._lease_safety_s()
        for task_id, running in self._still_running(judged):
            if renewed.get(task_id) != running.record.attempt:
                self.cancel_local(task_id)
            elif running.hard_reason != "fenced":
                running.lease_valid_until = max(running.lease_valid_until, valid_until)
        self._arm_fence()
        await self._release_strays(renewed)
        for task_id, attempt in list(self._fenced.items()):
            await self.store.release_lease(task_id, attempt, self.node)
            self._fenced.pop(task_id, None)
        for task_id, attempt in list(self._lost.items()):
            await self._fail_lost(task_id, attempt)

    def _still_running(self, judged: dict[str, _Running]) -> list[tuple[str, _Running]]:
        """The tools of `judged` (a copy of `_running` taken before a read) that still run."""
        return [
            (task_id, running) for task_id, running in judged.items() if self._running.get(task_id) is running
        ]

    async def _release_strays(self, renewed: dict[str, int]) -> None:
        """Give up leases held here for two heartbeats in a row with no tool running, so lease
        recovery applies the tool's policy instead of this node renewing them for ever.

        A task between its commit and its tool's start is held so for an instant, never for two
        heartbeats; a lease held longer is a defect, logged once per task.
        """
        strays = {
            task_id: attempt
            for task_id, attempt in renewed.items()
            if task_id not in self._running and task_id not in self._lost and task_id not in self._fenced
        }
        for task_id, attempt in list(strays.items()):
            if self._strays.get(task_id) == attempt:
                logger.warning(
                    "releasing a lease held here with no tool running",
                    extra={"action": "release", "task_id": task_id},
                )
                await self.store.release_lease(task_id, attempt, self.node)
                del strays[task_id]
        self._strays = strays

    async def _measure_clock(self) -> None:
        """How far the database's clock is from this host's (none to measure on SQLite)."""
        if self.store.connector.polls_for_changes:
            return  # SQLite: every process on the file shares this host's clock
        before = utcnow()
        database = await self.store.database_time()
        after = utcnow()
        self._clock_offset = database - (before + (after - before) / 2)

    def _lease_safety_s(self) -> float:
        """How much sooner than the database this node considers a lease ended, in s."""
        return min(LEASE_SAFETY_S, self.leases.duration_s / 10)

    def _arm_fence(self) -> None:
        """Set the fence timer to the first lease held here that would run out unrenewed, less
        the cancel grace (the tool gets its grace before another node may take the task)."""
        if self._fence_timer is not None:
            self._fence_timer.cancel()
            self._fence_timer = None
        deadlines = [r.lease_valid_until for r in self._running.values() if r.hard_reason != "fenced"]
        if deadlines and not self._stopping:
            fence_at = min(deadlines) - self.leases.cancel_grace_s
            self._fence_timer = asyncio.get_running_loop().call_at(fence_at, self._fence)

    def _fence(self) -> None:
        """Leases were not renewed in time: stop their tools before another node may take over.

        Each such tool's token fires now; it is cancelled hard when its lease surely ends. Its
        task is left as it is in SQL: the node that takes it over decides (rerun or fail).
        """
        self._fence_timer = None
        loop = asyncio.get_running_loop()
        due = [
            running
            for running in self._running.values()
            if running.hard_reason != "fenced"
            and running.lease_valid_until - self.leases.cancel_grace_s <= loop.time() + 0.001
        ]
        if due:
            logger.error(
                "cannot renew the leases held here: stopping %d tools before the leases run out",
                len(due),
                extra={"action": "fence"},
            )
        for running in due:
            running.hard_reason = "fenced"
            running.context._cancel()
            running.timers.append(loop.call_at(running.lease_valid_until, self._hard_cancel, running))
        self._arm_fence()

    async def _release_fenced(self, running: _Running) -> None:
        """A fenced tool stopped: give its lease up so recovery decides (rerun or fail) at once,
        or at the next heartbeat that reaches the store."""
        record = running.record
        try:
            await self.store.release_lease(record.task_id, record.attempt, self.node)
        except StoreError:
            self._fenced[record.task_id] = record.attempt

    async def _fail_lost(self, task_id: str, attempt: int) -> None:
        """Fail a task whose outcome could not be stored, if this node still holds it."""
        lost = Failed(ErrorInfo(-32603, OUTCOME_LOST_MESSAGE), OUTCOME_LOST_MESSAGE)
        finished = await self.store.finish_task(task_id, attempt, self.node, lost, self.db_now())
        self._lost.pop(task_id, None)
        if finished is not None:
            finished_metrics(finished)
            logger.info(
                "failed a task whose outcome was lost", extra={"action": "finish", "task_id": task_id}
            )
            self.bus.publish(finished)

    async def _watch_changes_loop(self) -> None:
        # Another process on the same SQLite file (a second stdio server of the user) may cancel or
        # answer a task running here; looking costs no query (store.check_external_changes).
        while True:
            await asyncio.sleep(EXTERNAL_CHANGE_POLL_S)
            self.store.check_external_changes()

    def _on_external_change(self, task_id: str | None) -> None:
        """Another process changed `task_id` (None: maybe any task): waiters re-read it, and a tool
        running here stops if this node no longer holds its task."""
        loop = asyncio.get_running_loop()
        if task_id is None:
            self.bus.wake_all()
            if self._running and (self._rechecking is None or self._rechecking.done()):
                self._rechecking = loop.create_task(self._recheck_running(), name="mcptasks.recheck_leases")
            return
        if task_id not in self._running and not self.bus.is_watched(task_id):
            return  # nothing here depends on it: no read (the store already forgot its view)
        if task_id in self._refreshing:
            self._refresh_again.add(task_id)  # the read under way may predate this change
            return
        self._refreshing[task_id] = loop.create_task(self._refresh(task_id), name="mcptasks.refresh")

    async def _refresh(self, task_id: str) -> None:
        """Read a task another replica changed; tell this process's listeners; stop its tool here
        if it is no longer ours."""
        # A tool started after the read began is not judged by it (the read may predate its claim).
        judged = self._running.get(task_id)
        try:
            found = await self.store.read_task(task_id)
        except StoreError:
            self.bus.wake(task_id)  # the waiters read it themselves
            return
        finally:
            self._refreshing.pop(task_id, None)
            if task_id in self._refresh_again:
                self._refresh_again.discard(task_id)
                if not self._stopping:
                    self._on_external_change(task_id)
        running = self._running.get(task_id)
        if running is not judged:
            running = None
        if found is None:
            self.bus.wake(task_id)
            if running is not None:
                self.cancel_local(task_id)  # deleted
            return
        record = found[0]
        if running is not None and (
            record.is_terminal or record.lease_node != self.node or record.attempt != running.record.attempt
        ):
            self.cancel_local(task_id)  # cancelled, or taken over by another replica
        self.bus.publish(record)

    async def _recheck_running(self) -> None:
        judged = dict(self._running)  # as in `heartbeat`: tools started meanwhile are not judged
        try:
            held = await self.store.held_leases(self.node)
        except StoreError:
            logger.debug("could not re-read the leases held here", extra={"action": "recheck_leases"})
            return
        for task_id, running in self._still_running(judged):
            if held.get(task_id) != running.record.attempt:
                self.cancel_local(task_id)  # cancelled, finished or taken over by another process

    async def _recover_loop(self) -> None:
        while True:
            await asyncio.sleep(self.leases.recover_interval_s)
            try:
                await self._recover_once()
            except StoreError as exc:
                _log_store_error("lease recovery", exc)
            except Exception:
                logger.exception("lease recovery failed", extra={"action": "recover_leases"})

    async def _recover_once(self) -> None:
        """Recover active tasks whose lease ran out or was released (their worker is gone)."""
        now = self.db_now()
        for record in await self.store.expired_leases(now, 100):
            if record.task_id not in self._running:
                await self.recover(record, now)

    def _policy(self, tool_name: str) -> RecoveryPolicy | None:
        # Without a resolver (an executor used on its own) every tool counts as "fail".
        return "fail" if self.resolver is None else self.resolver.recovery_policy(tool_name)

    async def recover(self, record: TaskRecord, now: datetime | None = None) -> None:
        """Apply the tool's `on_restart` policy to an active task no worker holds.

        "rerun": claim it as the next attempt and run the tool again here. "fail" (or a tool no
        longer served): fail it with a statusMessage saying why. A no-op if a worker holds it.
        """
        now = now or self.db_now()
        if record.task_id in self._running or (
            record.lease_node is not None
            and record.lease_expires_at is not None
            and record.lease_expires_at >= now
        ):
            return
        policy = None if record.task_id in self._lost else self._policy(record.tool_name)
        if policy == "rerun" and self._stopping:
            return  # left as it is: the next start runs it again (an answer stored now is kept)
        if policy == "rerun" and self.resolver is not None:
            claimed = await self.store.claim_for_rerun(record, self.node, now + self.lease_until(), now)
            if claimed is not None:
                metrics.lease_recovered("rerun")
                logger.info(
                    "running task again as attempt %d",
                    claimed.attempt,
                    extra={"action": "rerun", "task_id": record.task_id},
                )
                self.run(claimed, self.resolver.invoker(claimed))
            return
        if record.task_id in self._lost:
            message = OUTCOME_LOST_MESSAGE  # the tool did finish: not run again, and not "interrupted"
        elif policy is None:
            message = UNKNOWN_TOOL_MESSAGE
        elif record.status is TaskStatus.INPUT_REQUIRED:
            message = INTERRUPTED_WAITING_MESSAGE
        else:
            message = INTERRUPTED_MESSAGE
        failed = await self.store.fail_unleased(record, message, now)
        self._lost.pop(record.task_id, None)
        if failed is not None:
            metrics.lease_recovered("failed")
            finished_metrics(failed)
            logger.info(
                "failed a task interrupted by a stop", extra={"action": "recover", "task_id": record.task_id}
            )
            self.bus.publish(failed)

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.retention.sweep_interval_s)
            try:
                await self.sweep()
            except StoreError as exc:
                _log_store_error("ttl sweep", exc)
            except Exception:
                logger.exception("ttl sweep failed", extra={"action": "sweep_ttl"})

    async def sweep(self) -> int:
        """Fail active tasks past their ttl, then delete expired terminal tasks; returns deletions."""
        now = self.db_now()
        keep = timedelta(seconds=self.retention.expired_keep_s)
        for record in await self.store.fail_expired(now, keep, self.retention.sweep_batch):
            finished_metrics(record)
            self.bus.publish(record)
            self.cancel_local(record.task_id)
        deleted = 0
        while True:
            count = await self.store.delete_expired(now, self.retention.sweep_batch)
            metrics.expired_deleted(count)
            deleted += count
            if count < self.retention.sweep_batch:
                return deleted


def finished_metrics(record: TaskRecord) -> None:
    """Count a task this process just made terminal (`observe.metrics.task_finished`)."""
    elapsed = (record.last_updated_at - record.created_at).total_seconds()
    metrics.task_finished(record.tool_name, record.status.value, elapsed)


def _log_store_error(what: str, exc: StoreError) -> None:
    """A side task met a store error: an outage is logged by `StoreHealth` (DEBUG here); anything
    else once, without the driver's text, which may quote the statement's values."""
    if exc.unavailable:
        logger.debug("%s: %s", what, exc.message, extra={"action": what})
    else:
        logger.error(
            "%s failed: %s (%s)", what, exc.message, type(exc.__cause__).__name__, extra={"action": what}
        )


async def _not_started(context: TaskContext) -> Outcome:
    """The `invoke` of a task admitted just before a stop: its tool never starts."""
    raise TaskCancelled()


def _crash() -> Failed:
    return Failed(ErrorInfo(-32603, CRASH_MESSAGE), CRASH_MESSAGE)


__all__ = [
    "CRASH_MESSAGE",
    "Admission",
    "INTERRUPTED_MESSAGE",
    "INTERRUPTED_WAITING_MESSAGE",
    "Executor",
    "Invoke",
    "ToolResolver",
    "new_node_id",
]
