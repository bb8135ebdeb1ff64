"""`LeaseRecovery`: active tasks whose lease ran out or was released (their worker stopped or died).

Each is handled by its tool's `on_restart` policy: "rerun" claims it as the next attempt and runs
the tool again here, from its start (questions answered before return their stored answers);
"fail" fails it with a statusMessage saying why. A task whose outcome this node could not store
(`lost`) is failed with OUTCOME_LOST_MESSAGE, never run again. Every change is a compare-and-set
on the expired lease, so two replicas recovering at once change a task once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Protocol

from mcptasks.core.model import RecoveryPolicy, TaskRecord
from mcptasks.core.status import TaskStatus
from mcptasks.observe import metrics
from mcptasks.runtime.bus import TaskBus
from mcptasks.runtime.leases import LeaseKeeper
from mcptasks.runtime.outcomes import (
    INTERRUPTED_MESSAGE,
    INTERRUPTED_WAITING_MESSAGE,
    OUTCOME_LOST_MESSAGE,
    UNKNOWN_TOOL_MESSAGE,
    finished_metrics,
)
from mcptasks.runtime.running import Invoke, RunningTool
from mcptasks.store.store import Store

logger = logging.getLogger("mcptasks.runtime")

#: Tasks recovered per pass at most (the next pass takes the rest).
RECOVER_BATCH = 100


class ToolResolver(Protocol):
    """How the executor finds a task's tool again (recovery after a stop or a crash)."""

    def recovery_policy(self, tool_name: str) -> RecoveryPolicy | None:
        """The tool's `on_restart` policy; None when no tool of that name is served."""
        ...

    def invoker(self, record: TaskRecord) -> Invoke:
        """The `invoke` that runs `record`'s tool with its stored arguments."""
        ...


class LeaseRecovery:
    """Applies `on_restart` policies to unleased active tasks (see module docstring).

    `running` and `lost` are the executor's (tools running here; task id -> attempt of outcomes
    that could not be stored); `stopping()` says whether the executor stops; `run(record, invoke)`
    starts a claimed task's tool here.
    """

    def __init__(
        self,
        store: Store,
        bus: TaskBus,
        keeper: LeaseKeeper,
        *,
        node: str,
        resolver: ToolResolver | None,
        running: Mapping[str, RunningTool],
        lost: dict[str, int],
        stopping: Callable[[], bool],
        run: Callable[[TaskRecord, Invoke], None],
    ) -> None:
        self._store = store
        self._bus = bus
        self._keeper = keeper
        self._node = node
        self.resolver = resolver
        self._running = running
        self._lost = lost
        self._stopping = stopping
        self._run = run

    def policy(self, tool_name: str) -> RecoveryPolicy | None:
        """The tool's `on_restart` policy; without a resolver (an executor used on its own) every
        tool counts as "fail"; None for a tool no longer served."""
        return "fail" if self.resolver is None else self.resolver.recovery_policy(tool_name)

    async def recover_expired(self) -> None:
        """Recover active tasks whose lease ran out or was released. Raises: StoreError."""
        now = self._keeper.db_now()
        for record in await self._store.expired_leases(now, RECOVER_BATCH):
            if record.task_id not in self._running:
                await self.recover(record, now)

    async def recover(self, record: TaskRecord, now: datetime | None = None) -> None:
        """Apply the tool's `on_restart` policy to `record` if no worker holds it (a no-op if one
        does). Raises: StoreError."""
        now = now or self._keeper.db_now()
        if record.task_id in self._running or (
            record.lease_node is not None
            and record.lease_expires_at is not None
            and record.lease_expires_at >= now
        ):
            return
        policy = None if record.task_id in self._lost else self.policy(record.tool_name)
        if policy == "rerun" and self._stopping():
            return  # left as it is: the next start runs it again (an answer stored now is kept)
        if policy == "rerun" and self.resolver is not None:
            until = now + self._keeper.lease_until()
            claimed = await self._store.claim_for_rerun(record, self._node, until, now)
            if claimed is not None:
                metrics.lease_recovered("rerun")
                logger.info(
                    "running task again as attempt %d",
                    claimed.attempt,
                    extra={"action": "rerun", "task_id": record.task_id},
                )
                self._run(claimed, self.resolver.invoker(claimed))
            return
        if record.task_id in self._lost:
            message = OUTCOME_LOST_MESSAGE  # the tool did finish: not run again, and not "interrupted"
        elif policy is None:
            message = UNKNOWN_TOOL_MESSAGE
        elif record.status is TaskStatus.INPUT_REQUIRED:
            message = INTERRUPTED_WAITING_MESSAGE
        else:
            message = INTERRUPTED_MESSAGE
        failed = await self._store.fail_unleased(record, message, now)
        self._lost.pop(record.task_id, None)
        if failed is not None:
            metrics.lease_recovered("failed")
            finished_metrics(failed)
            logger.info(
                "failed a task interrupted by a stop", extra={"action": "recover", "task_id": record.task_id}
            )
            self._bus.publish(failed)


__all__ = ["RECOVER_BATCH", "LeaseRecovery", "ToolResolver"]
