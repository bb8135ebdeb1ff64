"""`TtlSweeper`: tasks past their ttl.

Active tasks whose ttl ran out are failed visibly (their tool, if it runs here, is stopped); then
terminal tasks past their `expires_at` (plus `Retention.expired_keep_s`) are deleted in bounded
batches (`Retention.sweep_batch`), so one pass never holds the database long.
Spec: 2025-11-25 tasks "Task TTL"; SEP-2663 "ttl".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from mcptasks.observe import metrics
from mcptasks.runtime.bus import TaskBus
from mcptasks.runtime.options import Retention
from mcptasks.runtime.outcomes import finished_metrics
from mcptasks.store.store import Store


class TtlSweeper:
    """One `sweep()` per `Retention.sweep_interval_s` (see module docstring)."""

    def __init__(
        self,
        store: Store,
        bus: TaskBus,
        retention: Retention,
        db_now: Callable[[], datetime],
        cancel_local: Callable[[str], None],
    ) -> None:
        self._store = store
        self._bus = bus
        self._retention = retention
        self._db_now = db_now
        self._cancel_local = cancel_local

    async def sweep(self) -> int:
        """Fail active tasks past their ttl, then delete expired terminal tasks; returns how many
        were deleted. Raises: StoreError."""
        now = self._db_now()
        keep = timedelta(seconds=self._retention.expired_keep_s)
        batch = self._retention.sweep_batch
        for record in await self._store.fail_expired(now, keep, batch):
            finished_metrics(record)
            self._bus.publish(record)
            self._cancel_local(record.task_id)
        deleted = 0
        while True:
            count = await self._store.delete_expired(now, batch)
            metrics.expired_deleted(count)
            deleted += count
            if count < batch:
                return deleted


__all__ = ["TtlSweeper"]
