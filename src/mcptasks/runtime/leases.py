"""`LeaseKeeper`: the leases this node holds, on the database's clock.

- A worker holds a lease `(node, attempt, expiry)` on its task, renewed at each heartbeat
  (`renew`). Leases are measured on the database's clock (each heartbeat measures how far this
  host's clock is from it), so replicas with skewed clocks agree on when a lease ran out.
- A lease that is not renewed means the task was cancelled or taken over: the tool's token fires.
  Only tools started before the renewal are judged by it (a task committed meanwhile may be
  missing from what it returns, and is not lost for that).
- Self-fencing: a node that cannot renew its leases (the database is out of reach) stops its tools
  before the leases can run out (the token `Leases.cancel_grace_s` before, a hard cancel at the
  end), so another replica that takes a task over never runs it at the same time as this one.
- A lease renewed here for two heartbeats in a row while no tool runs for it is released, so
  lease recovery applies the tool's policy instead of this node keeping it alive for ever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Container
from datetime import datetime, timedelta

from mcptasks.core.errors import StoreError
from mcptasks.core.model import TaskRecord, utcnow
from mcptasks.runtime.options import Leases
from mcptasks.runtime.running import RunningTool
from mcptasks.store.store import Store

logger = logging.getLogger("mcptasks.runtime")

#: How much sooner than the database this node considers its leases ended, in s (round trips,
#: clock measurement); at most a tenth of the lease.
LEASE_SAFETY_S = 1.0


class LeaseKeeper:
    """Renews, fences and releases the leases of the tools in `running` (shared with the executor,
    which adds and removes them); `cancel_local(task_id)` stops a tool whose lease is gone."""

    def __init__(
        self,
        store: Store,
        node: str,
        leases: Leases,
        running: dict[str, RunningTool],
        cancel_local: Callable[[str], None],
    ) -> None:
        self._store = store
        self._node = node
        self.leases = leases
        self._running = running
        self._cancel_local = cancel_local
        #: The database's clock minus this host's (`db_now`), measured at each heartbeat.
        self._clock_offset = timedelta(0)
        #: Fires when the first lease held here is about to run out unrenewed.
        self._fence_timer: asyncio.TimerHandle | None = None
        #: Fenced tasks whose lease is still to be released: task id -> attempt. Their tools are
        #: stopped; the heartbeat must not keep their leases alive.
        self._fenced: dict[str, int] = {}
        #: Leases the last renewal extended for tasks no tool runs here: task id -> attempt.
        self._strays: dict[str, int] = {}
        self._stopped = False

    # -- the database's clock ---------------------------------------------------------------------

    def db_now(self) -> datetime:
        """The database's time now, as this node estimates it (aware UTC): leases are set on it."""
        return utcnow() + self._clock_offset

    def lease_until(self) -> timedelta:
        """The lease length (`Leases.duration_s`) as a timedelta."""
        return timedelta(seconds=self.leases.duration_s)

    async def measure_clock(self) -> None:
        """Measure how far the database's clock is from this host's (nothing to measure on SQLite,
        whose processes share this host's clock). Raises: StoreError."""
        if self._store.connector.polls_for_changes:
            return
        before = utcnow()
        database = await self._store.database_time()
        after = utcnow()
        self._clock_offset = database - (before + (after - before) / 2)

    def valid_until(self, record: TaskRecord) -> float:
        """Event-loop time until which this node surely holds `record`'s lease, in s."""
        if record.lease_expires_at is not None:
            lease_left_s = (record.lease_expires_at - self.db_now()).total_seconds()
        else:
            lease_left_s = self.leases.duration_s
        return asyncio.get_running_loop().time() + lease_left_s - self._safety_s()

    def _safety_s(self) -> float:
        return min(LEASE_SAFETY_S, self.leases.duration_s / 10)

    # -- renewal ----------------------------------------------------------------------------------

    async def renew(self, *, keep: Container[str] = ()) -> None:
        """Renew every lease held here; fire the token of each tool whose lease was not renewed;
        give up the leases of fenced tools, and of tasks no tool runs for two renewals in a row
        (except those in `keep`: tasks the executor still settles, e.g. a lost outcome).

        Raises: StoreError when the database cannot be reached (the fence timer keeps running).
        """
        started = asyncio.get_running_loop().time()
        judged = dict(self._running)
        await self.measure_clock()
        renewed = await self._store.renew_leases(self._node, self.db_now() + self.lease_until())
        valid_until = started + self.leases.duration_s - self._safety_s()
        for task_id, running in judged.items():
            if self._running.get(task_id) is not running:
                continue  # ended meanwhile
            if renewed.get(task_id) != running.record.attempt:
                self._cancel_local(task_id)
            elif running.hard_reason != "fenced":
                running.lease_valid_until = max(running.lease_valid_until, valid_until)
        self.arm()
        for task_id, attempt in list(self._fenced.items()):
            await self._store.release_lease(task_id, attempt, self._node)
            self._fenced.pop(task_id, None)
        await self._release_strays(renewed, keep)

    async def _release_strays(self, renewed: dict[str, int], keep: Container[str]) -> None:
        # A task between its commit and its tool's start is held so for an instant, never for
        # two renewals; a lease held longer is a defect, logged once per task.
        strays = {
            task_id: attempt
            for task_id, attempt in renewed.items()
            if task_id not in self._running and task_id not in keep and task_id not in self._fenced
        }
        for task_id, attempt in list(strays.items()):
            if self._strays.get(task_id) == attempt:
                logger.warning(
                    "releasing a lease held here with no tool running",
                    extra={"action": "release", "task_id": task_id},
                )
                await self._store.release_lease(task_id, attempt, self._node)
                del strays[task_id]
        self._strays = strays

    # -- self-fencing -----------------------------------------------------------------------------

    def arm(self) -> None:
        """Set the fence timer to the first lease held here that would run out unrenewed, less
        the cancel grace (the tool gets its grace before another node may take the task)."""
        if self._fence_timer is not None:
            self._fence_timer.cancel()
            self._fence_timer = None
        deadlines = [r.lease_valid_until for r in self._running.values() if r.hard_reason != "fenced"]
        if deadlines and not self._stopped:
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
            running.timers.append(loop.call_at(running.lease_valid_until, _cancel_tool, running))
        self.arm()

    async def release_fenced(self, running: RunningTool) -> None:
        """A fenced tool stopped: give its lease up so recovery decides (rerun or fail) at once,
        or at the next renewal that reaches the store."""
        record = running.record
        try:
            await self._store.release_lease(record.task_id, record.attempt, self._node)
        except StoreError:
            self._fenced[record.task_id] = record.attempt

    def stop(self) -> None:
        """No more fencing: the executor is stopping its tools itself."""
        self._stopped = True
        if self._fence_timer is not None:
            self._fence_timer.cancel()
            self._fence_timer = None


def _cancel_tool(running: RunningTool) -> None:
    """A fenced tool's lease surely ended: cancel the tool itself (not the storing of its outcome)."""
    tool = running.tool
    if tool is not None and not tool.done():
        logger.info(
            "tool ignored cancellation until its lease ended; cancelling it",
            extra={"action": "hard_cancel", "task_id": running.record.task_id},
        )
        tool.cancel()


__all__ = ["LEASE_SAFETY_S", "LeaseKeeper"]
