"""The executor: runs tools as background asyncio tasks under leases, one concern per module.

Shaped like procrastinate's worker: one `start()`/`stop()`, named side tasks (`side_tasks.py`:
`heartbeat`, `recover_leases`, `sweep_ttl`, `watch_changes`), and `_running` mapping each task id
to its tool (`running.py`). Leases, their clock and self-fencing are `leases.py`; recovery of
unleased tasks by `on_restart` policy `recovery.py`; the ttl sweeper `sweeper.py`. Here:

- Every write a worker makes is fenced on its lease and on the task being active
  (`Store.finish_task`), so a cancel racing a completion, or a zombie worker after a restart,
  cannot overwrite the outcome.
- An outcome that cannot be stored is written again with a growing delay while the lease lasts
  (tenacity). If it still cannot be, the task is failed with `OUTCOME_LOST_MESSAGE` as soon as the
  database answers again (unless another replica recovered it first), never dropped silently.
- Other processes' changes (another replica's cancel or answer, a completion) reach this one as
  store events (`Store.on_external_change`): the task is read again, its waiters woken, and its tool
  stopped if this node no longer holds it. A read that began before a tool started does not judge it.
- Cancellation fires the tool's token first and cancels it hard after `Leases.cancel_grace_s`.
  A hard cancel stops the tool only: storing its outcome runs apart from it, so its retries go on.
- At stop, tools get `Leases.shutdown_grace_s` to finish. A task waiting for input, or whose tool
  is "rerun", keeps its status and releases its lease, so it is recovered at the next start; any
  other running task is cancelled and failed with a statusMessage saying a server stop
  interrupted it.
- A new task is admitted (`admit()`) before its row is stored: once the stop began, admission is
  refused (nothing is stored, the client hears `ServerStopping`), and a task admitted before is
  run, or handled like any task the stop interrupts, so its client's `CreateTaskResult` holds.

Long on purpose: starting, cancelling and stopping tools and storing their outcomes share the one
map of running tools; leases, recovery and the sweeper are apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from datetime import datetime, timedelta

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_exponential

from mcptasks.core.errors import ServerStopping, StoreError, TaskCancelled
from mcptasks.core.model import Outcome, TaskRecord
from mcptasks.observe import metrics, tracing
from mcptasks.observe.logs import set_task
from mcptasks.runtime.bus import TaskBus
from mcptasks.runtime.context import TaskContext
from mcptasks.runtime.leases import LeaseKeeper
from mcptasks.runtime.options import Leases, Retention
from mcptasks.runtime.outcomes import (
    CRASH_MESSAGE,
    INTERRUPTED_MESSAGE,
    OUTCOME_LOST_MESSAGE,
    failure,
    finished_metrics,
)
from mcptasks.runtime.recovery import LeaseRecovery, ToolResolver
from mcptasks.runtime.running import Admission, Invoke, RunningTool, TaskSink
from mcptasks.runtime.side_tasks import SideTasks
from mcptasks.runtime.sweeper import TtlSweeper
from mcptasks.store.store import Store

logger = logging.getLogger("mcptasks.runtime")

#: How often the executor looks whether another process changed the database (SQLite), in s.
EXTERNAL_CHANGE_POLL_S = 0.1
#: How soon a heartbeat that failed is tried again, in s.
HEARTBEAT_RETRY_S = 1.0


def new_node_id() -> str:
    """This process's node id: `host:pid:random`, unique across restarts and replicas."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


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
        self._running: dict[str, RunningTool] = {}
        self._side_tasks = SideTasks()
        self._stopping = False
        self._rechecking: asyncio.Task[None] | None = None
        self._refreshing: dict[str, asyncio.Task[None]] = {}
        #: Tasks changed again while their refresh was reading: read once more after it.
        self._refresh_again: set[str] = set()
        #: Tasks whose outcome could not be stored: task id -> attempt (see OUTCOME_LOST_MESSAGE).
        self._lost: dict[str, int] = {}
        self.keeper = LeaseKeeper(store, self.node, self.leases, self._running, self.cancel_local)
        self.recovery = LeaseRecovery(
            store,
            bus,
            self.keeper,
            node=self.node,
            resolver=resolver,
            running=self._running,
            lost=self._lost,
            stopping=lambda: self._stopping,
            run=self.run,
        )
        self.sweeper = TtlSweeper(store, bus, self.retention, self.keeper.db_now, self.cancel_local)
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
        await self.keeper.measure_clock()
        await self.recovery.recover_expired()
        side = self._side_tasks
        side.start(
            "heartbeat",
            self.heartbeat,
            self.leases.heartbeat_s,
            retry_s=min(HEARTBEAT_RETRY_S, self.leases.heartbeat_s),
        )
        side.start("recover_leases", self.recovery.recover_expired, self.leases.recover_interval_s)
        side.start("sweep_ttl", self.sweeper.sweep, self.retention.sweep_interval_s)
        if self.store.connector.polls_for_changes:
            # Another process on the same SQLite file (a second stdio server of the user) may
            # cancel or answer a task running here; looking costs no query.
            side.start("watch_changes", self._look_for_external_changes, EXTERNAL_CHANGE_POLL_S)

    async def stop(self) -> None:
        """Stop claiming, give running tools the shutdown grace, then cancel and fail the rest.

        Idempotent: a second call waits for nothing new.
        """
        self._stopping = True
        self.keeper.stop()
        for refresh in list(self._refreshing.values()):
            refresh.cancel()
        await self._side_tasks.stop()
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
        return self.keeper.lease_until()

    def db_now(self) -> datetime:
        """The database's time now, as this node estimates it (aware UTC): leases are set on it."""
        return self.keeper.db_now()

    def admit(self) -> Admission:
        """Admit one new task, before its row is stored (an answer must match what is stored).

        Returns the `Admission` to pass to `run` once the task is stored, or to `withdraw()`.
        Raises: ServerStopping once `stop()` was called (nothing may be stored then).
        """
        if self._stopping:
            raise ServerStopping()
        self._admitted += 1
        self._no_admitted.clear()
        return Admission(self._settled)

    def _settled(self) -> None:
        self._admitted -= 1
        if self._admitted == 0:
            self._no_admitted.set()

    def run(self, record: TaskRecord, invoke: Invoke, admission: Admission | None = None) -> None:
        """Start `invoke` for `record`, a task committed with this node's lease, or submitted so
        to a store that commits in order (`Store.submit_create`; `abandon` if it fails).

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
        running = RunningTool(record=record)
        sink = TaskSink(self.store, self.bus, self.node, self.db_now, running)
        running.context = TaskContext(record.task_id, sink, attempt=record.attempt)
        # The lease was set on the database's clock when the task was created or claimed.
        running.lease_valid_until = self.keeper.valid_until(record)
        self._running[record.task_id] = running
        if self._stopping:
            running.hard_reason = "stopping"
            running.keep_on_stop = False
            running.context._cancel()
        running.task = asyncio.create_task(
            self._run_one(running, invoke), name=f"mcptasks.task.{record.task_id}"
        )
        self.keeper.arm()

    def abandon(self, task_id: str) -> None:
        """Stop the tool of a task whose row could not be stored: its token fires and it is
        cancelled at once; nothing of it is stored (there is no task to store it in)."""
        running = self._running.get(task_id)
        if running is None:
            return
        running.hard_reason = "abandoned"
        running.context._cancel()
        if running.tool is not None:
            running.tool.cancel()
        elif running.task is not None:
            # Not started yet (then it never will, and nothing of its own cleans up after it), or
            # storing an outcome that has no row to go to.
            running.task.cancel()
            self._running.pop(task_id, None)

    def cancel_local(self, task_id: str) -> None:
        """Fire the token of a tool running here, and cancel it hard after the grace period."""
        running = self._running.get(task_id)
        if running is None or running.context.is_cancelled:
            return
        running.context._cancel()
        loop = asyncio.get_running_loop()
        running.timers.append(loop.call_later(self.leases.cancel_grace_s, self._hard_cancel, running))

    def _hard_cancel(self, running: RunningTool) -> None:
        tool = running.tool
        if tool is not None and not tool.done():
            logger.info(
                "tool ignored cancellation for %.1fs; cancelling it",
                self.leases.cancel_grace_s,
                extra={"action": "hard_cancel", "task_id": running.record.task_id},
            )
            running.hard_reason = running.hard_reason or "cancelled"
            tool.cancel()

    async def _run_one(self, running: RunningTool, invoke: Invoke) -> None:
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
                outcome = None if running.context.is_cancelled else failure(CRASH_MESSAGE)
            except asyncio.CancelledError:
                if running.hard_reason == "fenced":
                    await self.keeper.release_fenced(running)
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
                outcome = failure(CRASH_MESSAGE)
            if running.hard_reason == "abandoned":
                return  # its row was never stored
            if outcome is None and running.hard_reason == "fenced":
                await self.keeper.release_fenced(running)
                return
            if outcome is None:
                if not (
                    running.hard_reason == "stopping" or (self._stopping and running.context.is_cancelled)
                ):
                    return  # cancelled by the client (the store says so)
                if running.keep_on_stop or self.recovery.policy(record.tool_name) == "rerun":
                    # Kept for the next start: parked questions stay answerable; a rerun tool runs again.
                    await self.store.release_lease(record.task_id, record.attempt, self.node)
                    return
                outcome = failure(INTERRUPTED_MESSAGE)
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

    async def _store_outcome(self, running: RunningTool, outcome: Outcome) -> TaskRecord | None:
        """Store `outcome`, again and again with a growing delay while the lease surely lasts.

        Returns the terminal record, or None when the worker lost the task (cancelled, taken
        over). When the store stays unavailable past the lease, the task is remembered as lost
        and failed with OUTCOME_LOST_MESSAGE once the store answers again.
        """
        record = running.record
        try:
            # Submitted in this same step, so a `tasks/get` arriving now waits for this commit
            # (the store shields it: our own cancellation cannot interrupt it). The first try
            # needs none of the retry machinery below.
            return await self.store.finish_task(
                record.task_id, record.attempt, self.node, outcome, self.db_now()
            )
        except StoreError as exc:
            if not exc.unavailable:
                raise
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

    async def heartbeat(self) -> None:
        """Renew this node's leases (on the database's clock), fire the token of every tool whose
        lease was not renewed, and fail the tasks whose outcome was lost (`LeaseKeeper.renew`).

        Raises: StoreError when the leases could not be renewed (the fence timer keeps running).
        """
        await self.keeper.renew(keep=self._lost)
        for task_id, attempt in list(self._lost.items()):
            await self._fail_lost(task_id, attempt)

    async def _fail_lost(self, task_id: str, attempt: int) -> None:
        """Fail a task whose outcome could not be stored, if this node still holds it."""
        lost = failure(OUTCOME_LOST_MESSAGE)
        finished = await self.store.finish_task(task_id, attempt, self.node, lost, self.db_now())
        self._lost.pop(task_id, None)
        if finished is not None:
            finished_metrics(finished)
            logger.info(
                "failed a task whose outcome was lost", extra={"action": "finish", "task_id": task_id}
            )
            self.bus.publish(finished)

    async def _look_for_external_changes(self) -> None:
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
        for task_id, running in judged.items():
            if self._running.get(task_id) is not running:
                continue  # ended meanwhile
            if held.get(task_id) != running.record.attempt:
                self.cancel_local(task_id)  # cancelled, finished or taken over by another process

    async def recover(self, record: TaskRecord, now: datetime | None = None) -> None:
        """Apply the tool's `on_restart` policy to an active task no worker holds
        (`LeaseRecovery.recover`). Raises: StoreError."""
        await self.recovery.recover(record, now)

    async def sweep(self) -> int:
        """Fail active tasks past their ttl, then delete expired terminal tasks; returns deletions
        (`TtlSweeper.sweep`). Raises: StoreError."""
        return await self.sweeper.sweep()


async def _not_started(context: TaskContext) -> Outcome:
    """The `invoke` of a task admitted just before a stop: its tool never starts."""
    raise TaskCancelled()


__all__ = ["EXTERNAL_CHANGE_POLL_S", "HEARTBEAT_RETRY_S", "Executor", "new_node_id"]
