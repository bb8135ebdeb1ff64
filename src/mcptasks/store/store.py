"""`Store`: the task verbs over SQL (create, read, list, cancel, finish, lease, sweep).

Like procrastinate's `JobManager`: each verb runs named statements from `queries`, in one short
transaction, and returns domain objects (`TaskRecord`, `TaskResult`). Every status change is a
compare-and-set that also writes its `task_events` row in the same transaction. On SQLite every
write goes through the group-commit writer; on PostgreSQL through the pool.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from mcptasks.core.errors import StoreError
from mcptasks.core.model import (
    Completed,
    ErrorInfo,
    Failed,
    InputRequest,
    Outcome,
    TaskEvent,
    TaskRecord,
    TaskResult,
    as_utc,
)
from mcptasks.core.owner import Owner
from mcptasks.core.status import TaskStatus, can_transition
from mcptasks.store import queries
from mcptasks.store.engine import Engines, map_store_errors
from mcptasks.store.writer import GroupCommitWriter

T = TypeVar("T")

#: How often a compare-and-set is retried after a concurrent change (PostgreSQL).
_CAS_RETRIES = 5


def _opt_utc(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


def record_from_row(row: Mapping[str, Any]) -> TaskRecord:
    """Build a `TaskRecord` from a `tasks` row mapping."""
    return TaskRecord(
        task_id=row["task_id"],
        owner_key=row["owner_key"],
        owner_kind=row["owner_kind"],
        owner_issuer=row["owner_issuer"],
        owner_subject=row["owner_subject"],
        owner_client_id=row["owner_client_id"],
        wire=row["wire"],
        tool_name=row["tool_name"],
        arguments=dict(row["arguments"] or {}),
        status=TaskStatus(row["status"]),
        status_message=row["status_message"],
        created_at=as_utc(row["created_at"]),
        last_updated_at=as_utc(row["last_updated_at"]),
        ttl_ms=row["ttl_ms"],
        expires_at=_opt_utc(row["expires_at"]),
        poll_interval_ms=row["poll_interval_ms"],
        progress_token=row["progress_token"],
        client_capabilities=row["client_capabilities"],
        lease_node=row["lease_node"],
        lease_expires_at=_opt_utc(row["lease_expires_at"]),
        attempt=row["attempt"],
    )


def _result_from_row(row: Mapping[str, Any]) -> TaskResult | None:
    if row["result"] is None and row["error"] is None:
        return None
    return TaskResult(
        result=row["result"],
        error=None if row["error"] is None else ErrorInfo.from_json(row["error"]),
    )


async def _fail_system(
    conn: AsyncConnection, statement: Any, record: TaskRecord, error: ErrorInfo, now: datetime
) -> TaskRecord | None:
    """Run a system failure's compare-and-set `statement` (recovery, expiry) and, if it matched,
    store `error` and the history row. `record` carries the new message (and ttl) already."""
    changed = await conn.execute(statement)
    if changed.rowcount != 1:
        return None
    await conn.execute(queries.insert_result(record.task_id, None, error.to_json(), now))
    await conn.execute(
        queries.insert_event(
            record.task_id, record.status, TaskStatus.FAILED, now, record.status_message, record.attempt, None
        )
    )
    return record.evolve(
        status=TaskStatus.FAILED, last_updated_at=now, lease_node=None, lease_expires_at=None
    )


async def _fetch(conn: AsyncConnection, statement: Any) -> list[dict[str, Any]]:
    return [dict(row) for row in (await conn.execute(statement)).mappings().all()]


def input_request_from_row(row: Mapping[str, Any]) -> InputRequest:
    """Build an `InputRequest` from a `task_input_requests` row mapping."""
    return InputRequest(
        task_id=row["task_id"],
        key=row["request_key"],
        method=row["method"],
        params=dict(row["params"] or {}),
        created_at=as_utc(row["created_at"]),
        response=row["response"],
        answered_at=_opt_utc(row["answered_at"]),
    )


@dataclass(frozen=True, slots=True)
class AnswerOutcome:
    """What `Store.answer_inputs` did."""

    #: The task after the call.
    record: TaskRecord
    #: Keys whose answer this call stored (keys not outstanding are ignored).
    answered: frozenset[str]
    #: True when the last outstanding request was answered and the task went back to `working`.
    resumed: bool


@dataclass(frozen=True, slots=True)
class CancelOutcome:
    """What `Store.cancel_task` did: `record` is the task after the call."""

    record: TaskRecord
    #: True when this call moved the task to `cancelled`; False when it was already terminal.
    cancelled: bool


class Store:
    """The task verbs. `open()` before use, `close()` after (see `TaskServer.lifespan`)."""

    def __init__(self, engines: Engines) -> None:
        self.engines = engines
        self._writer = GroupCommitWriter(engines.writer) if engines.is_sqlite else None
        # An in-memory SQLite database is one shared connection: a read beside the writer's open
        # transaction would see (and roll back) its uncommitted work, so reads queue as writes do.
        self._reads_through_writer = self._writer is not None and engines.reader is engines.writer

    async def open(self) -> None:
        """Start the group-commit writer (SQLite)."""
        if self._writer is not None:
            self._writer.start()

    async def close(self) -> None:
        """Drain pending writes and close every connection."""
        if self._writer is not None:
            await self._writer.stop()
        await self.engines.dispose()

    async def _write(self, op: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        if self._writer is not None:
            return await self._writer.submit(op)
        with map_store_errors():
            async with self.engines.writer.begin() as conn:
                return await op(conn)

    async def _read_one(self, statement: Any) -> Mapping[str, Any] | None:
        if self._reads_through_writer:
            rows = await self._write(lambda conn: _fetch(conn, statement))
            return rows[0] if rows else None
        with map_store_errors():
            async with self.engines.reader.connect() as conn:
                row = (await conn.execute(statement)).mappings().first()
                return None if row is None else dict(row)

    async def _read_all(self, statement: Any) -> list[dict[str, Any]]:
        if self._reads_through_writer:
            return await self._write(lambda conn: _fetch(conn, statement))
        with map_store_errors():
            async with self.engines.reader.connect() as conn:
                return [dict(row) for row in (await conn.execute(statement)).mappings().all()]

    # -- create and read ------------------------------------------------------------------------

    async def create_task(self, record: TaskRecord, *, node: str | None) -> TaskRecord:
        """Insert `record` and its creation event; returns once the row is committed.

        Spec: SEP-2663 "Task Creation" (MUST NOT answer before `tasks/get` would find the task).
        """

        async def op(conn: AsyncConnection) -> TaskRecord:
            await conn.execute(queries.insert_task(record))
            await conn.execute(
                queries.insert_event(
                    record.task_id,
                    None,
                    record.status,
                    record.created_at,
                    record.status_message,
                    record.attempt,
                    node,
                )
            )
            return record

        return await self._write(op)

    async def get_task(self, owner: Owner, task_id: str) -> TaskRecord | None:
        """The task `task_id` if `owner` may see it, else None (unknown and foreign look alike)."""
        row = await self._read_one(queries.get_task(owner, task_id))
        return None if row is None else record_from_row(row)

    async def get_task_with_result(
        self, owner: Owner, task_id: str
    ) -> tuple[TaskRecord, TaskResult | None] | None:
        """The task and its stored outcome (None until terminal), if `owner` may see it."""
        row = await self._read_one(queries.get_task_with_result(owner, task_id))
        if row is None:
            return None
        return record_from_row(row), _result_from_row(row)

    async def list_tasks(
        self, owner: Owner, after: tuple[datetime, str] | None, limit: int
    ) -> list[TaskRecord]:
        """The owner's tasks, newest first, strictly after the keyset position `after`."""
        rows = await self._read_all(queries.list_tasks(owner, after, limit))
        return [record_from_row(row) for row in rows]

    # -- status changes -------------------------------------------------------------------------

    async def cancel_task(
        self, owner: Owner, task_id: str, message: str, now: datetime
    ) -> CancelOutcome | None:
        """Move an active task of `owner` to `cancelled`; None when `owner` cannot see the task.

        A terminal task is left unchanged and returned with `cancelled=False`.
        """

        async def op(conn: AsyncConnection) -> CancelOutcome | None:
            # On PostgreSQL (READ COMMITTED) a worker may finish the task between the read and the
            # compare-and-set; the loop re-reads and then finds it terminal.
            for _ in range(_CAS_RETRIES):
                row = (await conn.execute(queries.get_task(owner, task_id))).mappings().first()
                if row is None:
                    return None
                record = record_from_row(row)
                if record.is_terminal:
                    return CancelOutcome(record, cancelled=False)
                changed = await conn.execute(queries.cancel_task(owner, task_id, record.status, message, now))
                if changed.rowcount != 1:
                    continue
                await conn.execute(
                    queries.insert_event(
                        task_id, record.status, TaskStatus.CANCELLED, now, message, record.attempt, None
                    )
                )
                return CancelOutcome(
                    record.evolve(
                        status=TaskStatus.CANCELLED,
                        status_message=message,
                        last_updated_at=now,
                        lease_node=None,
                        lease_expires_at=None,
                    ),
                    cancelled=True,
                )
            raise StoreError("the task kept changing during cancellation")

        return await self._write(op)

    async def finish_task(
        self, task_id: str, attempt: int, node: str, outcome: Outcome, now: datetime
    ) -> TaskRecord | None:
        """Store a worker's outcome and make the task terminal; None if the worker lost the task.

        Fenced: only the worker holding the lease (`node`, `attempt`) may finish, and only while the
        task is active, so a cancel or a newer attempt always wins.
        """
        if isinstance(outcome, Completed):
            target, message = TaskStatus.COMPLETED, None
            result, error = outcome.result, None
        else:
            target, message = TaskStatus.FAILED, outcome.status_message
            result, error = None, outcome.error.to_json()
        return await self._move_fenced(
            task_id, attempt, node, target, message, now, result=result, error=error
        )

    async def set_status(
        self, task_id: str, attempt: int, node: str, target: TaskStatus, message: str | None, now: datetime
    ) -> TaskRecord | None:
        """Move a task the worker holds to a non-terminal `target` (working <-> input_required)."""
        return await self._move_fenced(task_id, attempt, node, target, message, now)

    async def _move_fenced(
        self,
        task_id: str,
        attempt: int,
        node: str,
        target: TaskStatus,
        message: str | None,
        now: datetime,
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> TaskRecord | None:
        async def op(conn: AsyncConnection) -> TaskRecord | None:
            current = (await conn.execute(queries.lock_status(task_id))).mappings().first()
            if current is None:
                return None
            source = TaskStatus(current["status"])
            if not can_transition(source, target):
                return None
            changed = await conn.execute(
                queries.move_fenced(task_id, attempt, node, source, target, message, now)
            )
            if changed.rowcount != 1:
                return None
            if target.is_terminal:
                await conn.execute(queries.insert_result(task_id, result, error, now))
            await conn.execute(queries.insert_event(task_id, source, target, now, message, attempt, node))
            row = (await conn.execute(queries.read_task(task_id))).mappings().first()
            return None if row is None else record_from_row(row)

        return await self._write(op)

    async def set_status_message(
        self, task_id: str, attempt: int, node: str, message: str | None, now: datetime
    ) -> TaskRecord | None:
        """Change the status message of an active task the worker holds; None if it lost it."""

        async def op(conn: AsyncConnection) -> TaskRecord | None:
            changed = await conn.execute(queries.set_status_message(task_id, attempt, node, message, now))
            if changed.rowcount != 1:
                return None
            row = (await conn.execute(queries.read_task(task_id))).mappings().first()
            return None if row is None else record_from_row(row)

        return await self._write(op)

    # -- input requests (elicitation, sampling) --------------------------------------------------

    async def request_input(
        self,
        task_id: str,
        attempt: int,
        node: str,
        key: str,
        method: str,
        params: dict[str, Any],
        now: datetime,
    ) -> tuple[TaskRecord, InputRequest] | None:
        """Store a question the worker's tool asks (unless it is stored already) and park the task.

        The request row is written before anyone is shown it; a `working` task turns
        `input_required` in the same transaction. A request already stored under `key` (the tool
        runs again after a restart) is returned as it is, answered or not. None when the worker no
        longer holds the task (cancelled, finished, taken over).
        """

        async def op(conn: AsyncConnection) -> tuple[TaskRecord, InputRequest] | None:
            current = (await conn.execute(queries.lock_status(task_id))).mappings().first()
            if current is None or current["attempt"] != attempt or current["lease_node"] != node:
                return None
            source = TaskStatus(current["status"])
            if source.is_terminal:
                return None
            row = (await conn.execute(queries.get_input_request(task_id, key))).mappings().first()
            if row is None:
                await conn.execute(queries.insert_input_request(task_id, key, method, params, now))
                row = (await conn.execute(queries.get_input_request(task_id, key))).mappings().first()
            assert row is not None
            request = input_request_from_row(row)
            if request.outstanding and source is TaskStatus.WORKING:
                moved = await conn.execute(
                    queries.move_fenced(task_id, attempt, node, source, TaskStatus.INPUT_REQUIRED, None, now)
                )
                if moved.rowcount == 1:
                    await conn.execute(
                        queries.insert_event(
                            task_id, source, TaskStatus.INPUT_REQUIRED, now, None, attempt, node
                        )
                    )
            task = (await conn.execute(queries.read_task(task_id))).mappings().first()
            assert task is not None
            return record_from_row(task), request

        return await self._write(op)

    async def get_input_request(self, task_id: str, key: str) -> InputRequest | None:
        """One input request of a task (for the worker waiting on it)."""
        row = await self._read_one(queries.get_input_request(task_id, key))
        return None if row is None else input_request_from_row(row)

    async def outstanding_inputs(self, owner: Owner, task_id: str) -> list[InputRequest]:
        """The unanswered input requests of a task `owner` may see, in the order they were asked."""
        rows = await self._read_all(queries.outstanding_input_requests(owner, task_id))
        return [input_request_from_row(row) for row in rows]

    async def answer_inputs(
        self, owner: Owner, task_id: str, responses: Mapping[str, dict[str, Any]], now: datetime
    ) -> AnswerOutcome | None:
        """Store answers to outstanding requests of a task `owner` may see; None if it cannot.

        Keys that are not outstanding (never asked, already answered) are ignored, as are answers
        to a terminal task. When no request stays outstanding, an `input_required` task turns
        `working` in the same transaction.
        Spec: SEP-2663 "Task Update Requests" (partial answers; unknown keys ignored).
        """

        async def op(conn: AsyncConnection) -> AnswerOutcome | None:
            row = (await conn.execute(queries.get_task(owner, task_id))).mappings().first()
            if row is None:
                return None
            record = record_from_row(row)
            if record.is_terminal:
                return AnswerOutcome(record, frozenset(), resumed=False)
            answered: set[str] = set()
            for key, response in responses.items():
                changed = await conn.execute(queries.answer_input_request(task_id, key, response, now))
                if changed.rowcount == 1:
                    answered.add(key)
            resumed = False
            if answered and record.status is TaskStatus.INPUT_REQUIRED:
                remaining = (await conn.execute(queries.count_outstanding(task_id))).scalar_one()
                if remaining == 0:
                    moved = await conn.execute(queries.resume_task(owner, task_id, None, now))
                    if moved.rowcount == 1:
                        await conn.execute(
                            queries.insert_event(
                                task_id,
                                TaskStatus.INPUT_REQUIRED,
                                TaskStatus.WORKING,
                                now,
                                None,
                                record.attempt,
                                None,
                            )
                        )
                        resumed = True
                        record = record.evolve(
                            status=TaskStatus.WORKING, status_message=None, last_updated_at=now
                        )
            return AnswerOutcome(record, frozenset(answered), resumed)

        return await self._write(op)

    # -- leases, recovery, ttl ------------------------------------------------------------------

    async def release_lease(self, task_id: str, attempt: int, node: str) -> bool:
        """Give up this node's lease on an active task without changing its status (server stop)."""

        async def op(conn: AsyncConnection) -> bool:
            changed = await conn.execute(queries.release_lease(task_id, attempt, node))
            return bool(changed.rowcount == 1)

        return await self._write(op)

    async def claim_for_rerun(
        self, record: TaskRecord, node: str, until: datetime, now: datetime
    ) -> TaskRecord | None:
        """Take an active task whose worker is gone as attempt `record.attempt + 1`; None if taken."""

        async def op(conn: AsyncConnection) -> TaskRecord | None:
            changed = await conn.execute(
                queries.claim_for_rerun(record.task_id, record.attempt, node, until, now)
            )
            if changed.rowcount != 1:
                return None
            row = (await conn.execute(queries.read_task(record.task_id))).mappings().first()
            return None if row is None else record_from_row(row)

        return await self._write(op)

    async def renew_leases(self, node: str, held: Sequence[tuple[str, int]], until: datetime) -> set[str]:
        """Extend this node's leases on `held` `(task_id, attempt)` pairs; returns the renewed ids.

        A held task missing from the answer was cancelled, finished or taken over: its worker stops.
        """
        if not held:
            return set()

        async def op(conn: AsyncConnection) -> set[str]:
            rows = await conn.execute(queries.renew_leases(node, held, until))
            return {row[0] for row in rows}

        return await self._write(op)

    async def expired_leases(self, now: datetime, limit: int) -> list[TaskRecord]:
        """Active tasks whose lease ran out: their worker is gone."""
        return [record_from_row(row) for row in await self._read_all(queries.expired_leases(now, limit))]

    async def fail_unleased(self, record: TaskRecord, message: str, now: datetime) -> TaskRecord | None:
        """Fail an active task whose lease ran out, with `message`; None if someone moved it first."""
        statement = queries.fail_unleased(record.task_id, record.attempt, record.status, message, now)
        failed = record.evolve(status_message=message)
        return await self._write(
            lambda conn: _fail_system(conn, statement, failed, ErrorInfo(-32603, message), now)
        )

    async def fail_expired(self, now: datetime, keep_for: timedelta, limit: int) -> list[TaskRecord]:
        """Fail active tasks whose ttl ran out; keep each readable for `keep_for` before deletion.

        The task's `ttl_ms` grows to cover the extra time, so the reported ttl stays honest.
        Spec: DESIGN §7 (ttl never silently deletes running work); SEP-2663 "Task Polling" (after
        the ttl the server MAY mark the task failed; `ttlMs` MAY change).
        """
        candidates = [
            record_from_row(row) for row in await self._read_all(queries.expired_active(now, limit))
        ]
        keep_until = now + keep_for
        failed: list[TaskRecord] = []
        for record in candidates:
            if record.status is TaskStatus.INPUT_REQUIRED:
                message = f"Task expired while waiting for input: its ttl of {record.ttl_ms or 0} ms ran out"
            else:
                message = f"Task expired: its ttl of {record.ttl_ms or 0} ms ran out before it finished"
            new_ttl_ms = int((keep_until - record.created_at).total_seconds() * 1000)
            statement = queries.fail_expired(
                record.task_id, record.status, message, now, keep_until, new_ttl_ms
            )
            expired = record.evolve(status_message=message, expires_at=keep_until, ttl_ms=new_ttl_ms)
            error = ErrorInfo(code=-32603, message="Task expired")
            moved = await self._write(
                functools.partial(_fail_system, statement=statement, record=expired, error=error, now=now)
            )
            if moved is not None:
                failed.append(moved)
        return failed

    async def delete_expired(self, now: datetime, limit: int) -> int:
        """Delete up to `limit` terminal tasks whose ttl ran out; returns how many were deleted."""

        async def op(conn: AsyncConnection) -> int:
            result = await conn.execute(queries.delete_expired_terminal(now, limit))
            return int(result.rowcount or 0)

        return await self._write(op)

    # -- operator views (unscoped) --------------------------------------------------------------

    async def admin_list_tasks(
        self, *, owner_like: str | None = None, statuses: Sequence[str] | None = None, limit: int = 50
    ) -> list[TaskRecord]:
        """Tasks of every owner, newest first (operator CLI only)."""
        rows = await self._read_all(queries.admin_list_tasks(owner_like, statuses, limit))
        return [record_from_row(row) for row in rows]

    async def admin_get_task(self, task_id: str) -> tuple[TaskRecord, TaskResult | None] | None:
        """One task of any owner with its outcome (operator CLI only)."""
        row = await self._read_one(queries.admin_get_task(task_id))
        if row is None:
            return None
        return record_from_row(row), _result_from_row(row)

    async def admin_task_events(self, task_id: str) -> list[TaskEvent]:
        """The status history of one task, oldest first (operator CLI only)."""
        rows = await self._read_all(queries.admin_task_events(task_id))
        return [
            TaskEvent(
                task_id=row["task_id"],
                from_status=None if row["from_status"] is None else TaskStatus(row["from_status"]),
                to_status=TaskStatus(row["to_status"]),
                at=as_utc(row["at"]),
                message=row["message"],
                attempt=row["attempt"],
            )
            for row in rows
        ]

    async def admin_input_requests(self, task_id: str) -> list[dict[str, Any]]:
        """The input requests of one task as row dicts, in the order the tool asked."""
        return await self._read_all(queries.admin_input_requests(task_id))


__all__ = ["AnswerOutcome", "CancelOutcome", "Failed", "Store", "input_request_from_row", "record_from_row"]
