"""What an operator does to the task store, past every owner: cancel, purge, count.

Only the operator command line runs these (`mcptasks tasks cancel|purge|stats`); no request of a
client reaches them. They act through the same compare-and-set rules as the serving path:

- `cancel_task` moves an active task of any owner to `cancelled` with a compare-and-set on the
  status it read under the row lock, records the event, and names the task to the other
  processes (PostgreSQL `NOTIFY`; SQLite's `data_version`), so the server running its tool stops
  it within its polling period, on whichever replica runs it;
- `purge` deletes terminal tasks (never active ones) last changed before a cut-off, in bounded
  batches, each its own transaction, so a purge of millions never holds the writer for long;
- `stats` counts tasks by status and tool and reads a bounded sample of recent durations.

The SQL is here rather than in `queries.py` because only this module runs it; `python -m
mcptasks.store` prints it with the rest.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, bindparam, delete, func, select

from mcptasks.core.status import ACTIVE, TERMINAL, TaskStatus
from mcptasks.store import queries
from mcptasks.store.program import Execute, Program
from mcptasks.store.schema import task_input_requests, tasks
from mcptasks.store.statements import Statement
from mcptasks.store.store import Store
from mcptasks.store.transactions import CancelOutcome, cancel_locked

#: The status message of a task an operator cancelled (a reason, when given, follows it).
CANCELLED_BY_OPERATOR = "Cancelled by an operator"
#: How many tasks one purge transaction deletes at most, by default.
DEFAULT_PURGE_BATCH = 500
#: How many recent terminal tasks `stats` reads for its duration percentiles, by default.
DEFAULT_DURATION_SAMPLE = 10_000

# -- statements ------------------------------------------------------------------------------------

cancel_task = Statement(
    "admin_cancel_task",
    "Operator: cancel a task of any owner, if it is still in :from_status.",
    queries.cancel_update(),
)

status_counts = Statement(
    "admin_status_counts",
    "Operator: how many tasks there are, by status and tool.",
    select(tasks.c.status, tasks.c.tool_name, func.count().label("tasks"))
    .group_by(tasks.c.status, tasks.c.tool_name)
    .order_by(tasks.c.status, tasks.c.tool_name),
)

oldest_active = Statement(
    "admin_oldest_active",
    "Operator: the active task created first.",
    select(tasks.c.task_id, tasks.c.tool_name, tasks.c.status, tasks.c.created_at)
    .where(queries.status_in(tasks.c.status, ACTIVE))
    .order_by(tasks.c.created_at, tasks.c.task_id)
    .limit(bindparam("limit", type_=Integer)),
)

pending_questions = Statement(
    "admin_pending_questions",
    "Operator: unanswered questions of active tasks.",
    select(func.count().label("questions"))
    .select_from(task_input_requests.join(tasks, tasks.c.task_id == task_input_requests.c.task_id))
    .where(task_input_requests.c.response.is_(None), queries.status_in(tasks.c.status, ACTIVE)),
)

recent_terminal = Statement(
    "admin_recent_terminal",
    "Operator: the most recently finished tasks (tool, status, created and finished), for durations.",
    select(tasks.c.tool_name, tasks.c.status, tasks.c.created_at, tasks.c.last_updated_at)
    .where(queries.status_in(tasks.c.status, TERMINAL))
    .order_by(tasks.c.last_updated_at.desc())
    .limit(bindparam("limit", type_=Integer)),
)


def _purgeable(statuses: Collection[TaskStatus]) -> Any:
    return (
        queries.status_in(tasks.c.status, statuses),
        tasks.c.last_updated_at < bindparam("before"),
    )


def purge_statement(statuses: Collection[TaskStatus]) -> Statement:
    """Operator: delete up to `:limit` tasks in `statuses` last changed before `:before`.

    Built per call (the status set is written into the text); outcome, questions and history
    cascade with the task row.
    """
    return Statement(
        "admin_purge",
        "Operator: delete up to :limit terminal tasks last changed before :before.",
        delete(tasks)
        .where(
            tasks.c.task_id.in_(
                select(tasks.c.task_id)
                .where(*_purgeable(statuses))
                .limit(bindparam("limit", type_=Integer))
                .scalar_subquery()
            )
        )
        .returning(tasks.c.task_id),
    )


def count_purgeable_statement(statuses: Collection[TaskStatus]) -> Statement:
    """Operator: how many tasks `purge_statement(statuses)` would delete (a dry run)."""
    return Statement(
        "admin_count_purgeable",
        "Operator: how many terminal tasks were last changed before :before.",
        select(func.count().label("tasks")).select_from(tasks).where(*_purgeable(statuses)),
    )


def all_statements() -> Iterator[Statement]:
    """The fixed statements of this module (the purge statements are built per status set)."""
    yield from (cancel_task, status_counts, oldest_active, pending_questions, recent_terminal)
    yield purge_statement(TERMINAL)
    yield count_purgeable_statement(TERMINAL)


# -- results ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Durations:
    """How long one tool's recent tasks took, from creation to their terminal status, in ms."""

    tasks: int
    p50_ms: int
    p95_ms: int


@dataclass(frozen=True, slots=True)
class TaskStats:
    """What `stats` found.

    `counts` maps `(status, tool)` to a number of tasks; `oldest_active` is `(task_id, tool,
    status, created_at)` or None; `durations` maps a tool to its recent `Durations`, from the
    `sampled` most recently finished tasks.
    """

    counts: dict[tuple[str, str], int]
    oldest_active: tuple[str, str, str, datetime] | None
    pending_questions: int
    durations: dict[str, Durations] = field(default_factory=dict)
    sampled: int = 0

    def by_status(self) -> dict[str, int]:
        """Tasks per status, every status listed (0 where there are none)."""
        totals = {status.value: 0 for status in TaskStatus}
        for (status, _tool), count in self.counts.items():
            totals[status] = totals.get(status, 0) + count
        return totals


def _percentile(sorted_ms: Sequence[int], fraction: float) -> int:
    """The nearest-rank percentile of an ascending, non-empty list."""
    rank = max(1, math.ceil(fraction * len(sorted_ms)))
    return sorted_ms[rank - 1]


# -- programs --------------------------------------------------------------------------------------


def cancel_program(task_id: str, message: str, now: datetime) -> Program[CancelOutcome | None]:
    """Cancel an active task of any owner; None when there is no such task."""
    params = {"task_id": task_id}
    row = (yield Execute(queries.lock_task, params)).first()
    return (yield from cancel_locked(row, cancel_task, params, message, now))


def purge_program(statuses: Collection[TaskStatus], before: datetime, limit: int) -> Program[list[str]]:
    """Delete up to `limit` tasks in `statuses` last changed before `before`; returns their ids."""
    result = yield Execute(purge_statement(statuses), {"before": before, "limit": limit})
    return [row["task_id"] for row in result.rows]


def count_program(statuses: Collection[TaskStatus], before: datetime) -> Program[int]:
    """How many tasks in `statuses` were last changed before `before`."""
    row = (yield Execute(count_purgeable_statement(statuses), {"before": before})).first()
    return 0 if row is None else int(row["tasks"])


def stats_program(sample: int) -> Program[TaskStats]:
    """Counts by status and tool, the oldest active task, pending questions, recent durations."""
    counted = (yield Execute(status_counts, {})).rows
    counts = {(row["status"], row["tool_name"]): int(row["tasks"]) for row in counted}
    oldest = (yield Execute(oldest_active, {"limit": 1})).first()
    questions = (yield Execute(pending_questions, {})).first()
    recent = (yield Execute(recent_terminal, {"limit": sample})).rows
    per_tool: dict[str, list[int]] = {}
    for row in recent:
        elapsed = row["last_updated_at"] - row["created_at"]
        per_tool.setdefault(row["tool_name"], []).append(max(0, int(elapsed.total_seconds() * 1000)))
    durations = {}
    for tool, values in sorted(per_tool.items()):
        values.sort()
        durations[tool] = Durations(len(values), _percentile(values, 0.5), _percentile(values, 0.95))
    return TaskStats(
        counts=counts,
        oldest_active=None
        if oldest is None
        else (oldest["task_id"], oldest["tool_name"], oldest["status"], oldest["created_at"]),
        pending_questions=0 if questions is None else int(questions["questions"]),
        durations=durations,
        sampled=len(recent),
    )


# -- verbs -----------------------------------------------------------------------------------------


def _terminal(statuses: Collection[TaskStatus]) -> frozenset[TaskStatus]:
    """`statuses`, checked to be terminal. Raises: ValueError naming an active status."""
    active = sorted(status.value for status in statuses if status not in TERMINAL)
    if active:
        raise ValueError(f"only terminal tasks can be purged, not {', '.join(active)}")
    return frozenset(statuses) if statuses else TERMINAL


class StoreAdmin:
    """The operator's verbs on an open `Store` (unscoped: every owner's tasks).

    Times are the database's clock (`Store.database_time`), which leases are measured on too.
    Every verb raises StoreError when the database cannot be reached.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    async def cancel_task(self, task_id: str, reason: str | None = None) -> CancelOutcome | None:
        """Cancel task `task_id` of any owner; None when there is no such task.

        The status message is "Cancelled by an operator", then `: reason` when given. A terminal
        task is left as it is (`cancelled=False`). The server running the tool, on any replica,
        hears of the change and stops the tool (as for a client's `tasks/cancel`).
        """
        message = CANCELLED_BY_OPERATOR if not reason else f"{CANCELLED_BY_OPERATOR}: {reason}"
        now = await self.store.database_time()

        def changed(outcome: CancelOutcome | None) -> tuple[str, ...]:
            return (task_id,) if outcome is not None and outcome.cancelled else ()

        result: CancelOutcome | None = await self.store.connector.submit(
            lambda: cancel_program(task_id, message, now), None, changed
        )
        return result

    async def count_purgeable(self, statuses: Collection[TaskStatus], older_than: timedelta) -> int:
        """How many tasks `purge(statuses, older_than)` would delete now.

        Raises: ValueError when a status is not terminal (empty `statuses`: every terminal one).
        """
        checked = _terminal(statuses)
        before = await self.store.database_time() - older_than
        count: int = await self.store.connector.read(lambda: count_program(checked, before))
        return count

    async def purge(
        self, statuses: Collection[TaskStatus], older_than: timedelta, *, batch: int = DEFAULT_PURGE_BATCH
    ) -> AsyncIterator[int]:
        """Delete the tasks in `statuses` last changed more than `older_than` ago, `batch` at a time.

        Yields the number deleted by each committed batch, until a batch finds none. The cut-off
        is fixed when the purge starts. Raises: ValueError when a status is not terminal (empty
        `statuses`: every terminal one) or `batch` < 1.
        """
        checked = _terminal(statuses)
        if batch < 1:
            raise ValueError(f"batch must be at least 1, got {batch}")
        before = await self.store.database_time() - older_than
        while True:
            deleted: list[str] = await self.store.connector.submit(
                lambda: purge_program(checked, before, batch), None, lambda ids: ids
            )
            for task_id in deleted:
                self.store.view.drop(task_id)
            if not deleted:
                return
            yield len(deleted)

    async def stats(self, *, sample: int = DEFAULT_DURATION_SAMPLE) -> TaskStats:
        """Tasks by status and tool, the oldest active task, unanswered questions, and p50/p95
        durations per tool over the `sample` most recently finished tasks."""
        result: TaskStats = await self.store.connector.read(lambda: stats_program(sample))
        return result


__all__ = ["CANCELLED_BY_OPERATOR", "Durations", "StoreAdmin", "TaskStats"]
