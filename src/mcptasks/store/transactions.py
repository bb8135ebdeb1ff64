"""What each `Store` verb does in its one transaction, as a sans-I/O program (see `program.py`).

Every status change is a compare-and-set on the status it starts from, and writes its
`task_events` row in the same transaction; a change that makes a task terminal stores its outcome
in `task_results` there too. Read-then-write programs lock the task row first (`lock_*`), so
on PostgreSQL two replicas deciding on the same task take turns (SQLite has one writer).

Long on purpose: one program per `Store` verb, side by side, so each verb's whole transaction reads
in one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mcptasks.core.errors import StoreError
from mcptasks.core.model import (
    Completed,
    ErrorInfo,
    InputRequest,
    Outcome,
    TaskEvent,
    TaskRecord,
    TaskResult,
)
from mcptasks.core.owner import Owner
from mcptasks.core.status import TaskStatus, can_transition
from mcptasks.store import queries
from mcptasks.store.program import Execute, Program
from mcptasks.store.rows import (
    event_from_row,
    input_request_from_row,
    record_from_row,
    record_params,
    result_from_row,
)
from mcptasks.store.statements import Statement


def _owner(owner: Owner) -> dict[str, Any]:
    """The parameters of `queries.visible_to`."""
    return {"owner_key": owner.key, "anonymous": owner.kind != "principal"}


def _event(
    task_id: str,
    source: TaskStatus | None,
    target: TaskStatus,
    at: datetime,
    message: str | None,
    attempt: int,
    node: str | None,
) -> Execute:
    return Execute(
        queries.insert_event,
        {
            "task_id": task_id,
            "from_status": None if source is None else source.value,
            "to_status": target.value,
            "at": at,
            "message": message,
            "attempt": attempt,
            "node": node,
        },
    )


@dataclass(frozen=True, slots=True)
class Found:
    """A task as read: the record, its outcome once terminal, its unanswered questions if read."""

    record: TaskRecord
    #: The stored outcome (None while active, and for a cancelled task).
    result: TaskResult | None = None
    #: Unanswered input requests in the order asked, or None when they were not read.
    inputs: tuple[InputRequest, ...] | None = None


@dataclass(frozen=True, slots=True)
class CancelOutcome:
    """What `cancel_task` did: `record` is the task after the call."""

    record: TaskRecord
    #: True when this call moved the task to `cancelled`; False when it was already terminal.
    cancelled: bool


@dataclass(frozen=True, slots=True)
class AnswerOutcome:
    """What `answer_inputs` did."""

    #: The task after the call.
    record: TaskRecord
    #: Keys whose answer this call stored (keys not outstanding are ignored).
    answered: frozenset[str]
    #: True when the last outstanding request was answered and the task went back to `working`.
    resumed: bool
    #: The requests still unanswered after the call, in the order asked.
    outstanding: tuple[InputRequest, ...] = ()


@dataclass(frozen=True, slots=True)
class Asked:
    """What `request_input` did: the task after the call, the request, what is still unanswered."""

    record: TaskRecord
    request: InputRequest
    outstanding: tuple[InputRequest, ...]


# -- create and read ------------------------------------------------------------------------------


def create_task(record: TaskRecord, node: str | None) -> Program[TaskRecord]:
    """Insert `record` and its creation event."""
    yield Execute(queries.insert_task, record_params(record))
    yield _event(
        record.task_id, None, record.status, record.created_at, record.status_message, record.attempt, node
    )
    return record


def get_task_owned(owner: Owner, task_id: str) -> Program[Found | None]:
    """The task with its outcome, if `owner` may see it."""
    row = (yield Execute(queries.get_task_owned, {"task_id": task_id, **_owner(owner)})).first()
    return None if row is None else Found(record_from_row(row), result_from_row(row))


def get_task(task_id: str) -> Program[Found | None]:
    """The task with its outcome, whoever owns it (workers, maintenance, operators)."""
    row = (yield Execute(queries.get_task, {"task_id": task_id})).first()
    return None if row is None else Found(record_from_row(row), result_from_row(row))


def list_tasks(owner: Owner, after: tuple[datetime, str] | None, limit: int) -> Program[list[TaskRecord]]:
    """The owner's own tasks, newest first, after the keyset position `after`."""
    if after is None:
        result = yield Execute(queries.list_tasks_first, {"owner_key": owner.key, "limit": limit})
    else:
        created_at, task_id = after
        result = yield Execute(
            queries.list_tasks_after,
            {
                "owner_key": owner.key,
                "after_created_at": created_at,
                "after_task_id": task_id,
                "limit": limit,
            },
        )
    return [record_from_row(row) for row in result.rows]


def outstanding_inputs_owned(owner: Owner, task_id: str) -> Program[tuple[InputRequest, ...]]:
    """The unanswered input requests of a task `owner` may see, in the order asked."""
    result = yield Execute(queries.outstanding_inputs_owned, {"task_id": task_id, **_owner(owner)})
    return tuple(input_request_from_row(row) for row in result.rows)


def get_input_request(task_id: str, key: str) -> Program[InputRequest | None]:
    """One input request of a task."""
    row = (yield Execute(queries.get_input_request, {"task_id": task_id, "key": key})).first()
    return None if row is None else input_request_from_row(row)


# -- status changes -------------------------------------------------------------------------------


def cancel_task(owner: Owner, task_id: str, message: str, now: datetime) -> Program[CancelOutcome | None]:
    """Move an active task of `owner` to `cancelled`; None when `owner` cannot see the task."""
    params = {"task_id": task_id, **_owner(owner)}
    row = (yield Execute(queries.lock_task_owned, params)).first()
    return (yield from cancel_locked(row, queries.cancel_task, params, message, now))


def cancel_locked(
    row: dict[str, Any] | None, cancel: Statement, params: Mapping[str, Any], message: str, now: datetime
) -> Program[CancelOutcome | None]:
    """Cancel the task `row` just read under its row lock, with the compare-and-set `cancel`
    (`params` plus `:from_status`, `:message`, `:now`); None when there was no row."""
    if row is None:
        return None
    record = record_from_row(row)
    if record.is_terminal:
        return CancelOutcome(record, cancelled=False)
    values = {**params, "from_status": record.status.value, "message": message, "now": now}
    changed = (yield Execute(cancel, values)).first()
    if changed is None:  # the row is locked: nothing else can have moved it
        raise StoreError("the task changed while it was locked")
    yield _event(record.task_id, record.status, TaskStatus.CANCELLED, now, message, record.attempt, None)
    return CancelOutcome(record_from_row(changed), cancelled=True)


def _outcome_values(outcome: Outcome) -> tuple[TaskStatus, str | None, TaskResult]:
    if isinstance(outcome, Completed):
        return TaskStatus.COMPLETED, None, TaskResult(result=outcome.result)
    return TaskStatus.FAILED, outcome.status_message, TaskResult(error=outcome.error)


def move_fenced(
    task_id: str,
    attempt: int,
    node: str,
    target: TaskStatus,
    message: str | None,
    now: datetime,
    outcome: TaskResult | None = None,
) -> Program[Found | None]:
    """Move a task its worker (`node`, `attempt`) holds to `target`; None if the worker lost it.

    A terminal `target` stores `outcome` and releases the lease.
    """
    row = (yield Execute(queries.lock_status, {"task_id": task_id})).first()
    if row is None:
        return None
    source = TaskStatus(row["status"])
    if row["attempt"] != attempt or row["lease_node"] != node or not can_transition(source, target):
        return None
    statement = queries.finish_fenced if target.is_terminal else queries.move_fenced
    changed = (
        yield Execute(
            statement,
            {
                "task_id": task_id,
                "attempt": attempt,
                "node": node,
                "from_status": source.value,
                "to_status": target.value,
                "message": message,
                "now": now,
            },
        )
    ).first()
    if changed is None:
        return None
    if target.is_terminal:
        stored = outcome or TaskResult()
        yield Execute(
            queries.insert_result,
            {
                "task_id": task_id,
                "result": stored.result,
                "error": None if stored.error is None else stored.error.to_json(),
                "now": now,
            },
        )
    yield _event(task_id, source, target, now, message, attempt, node)
    return Found(record_from_row(changed), outcome if target.is_terminal else None)


def finish_task(
    task_id: str, attempt: int, node: str, outcome: Outcome, now: datetime
) -> Program[Found | None]:
    """Store a worker's outcome and make the task terminal; None if the worker lost the task."""
    target, message, result = _outcome_values(outcome)
    return (yield from move_fenced(task_id, attempt, node, target, message, now, result))


def set_status_message(
    task_id: str, attempt: int, node: str, message: str | None, now: datetime
) -> Program[TaskRecord | None]:
    """Change the status message of an active task the worker holds; None if it lost it."""
    row = (
        yield Execute(
            queries.set_status_message,
            {"task_id": task_id, "attempt": attempt, "node": node, "message": message, "now": now},
        )
    ).first()
    return None if row is None else record_from_row(row)


# -- input requests -------------------------------------------------------------------------------


def request_input(
    task_id: str,
    attempt: int,
    node: str,
    key: str,
    method: str,
    params: dict[str, Any],
    now: datetime,
) -> Program[Asked | None]:
    """Store a question (unless stored under `key` already) and park a `working` task.

    None when the worker no longer holds the task (cancelled, finished, taken over).
    """
    row = (yield Execute(queries.lock_task, {"task_id": task_id})).first()
    if row is None or row["attempt"] != attempt or row["lease_node"] != node:
        return None
    record = record_from_row(row)
    if record.is_terminal:
        return None
    found = (yield Execute(queries.get_input_request, {"task_id": task_id, "key": key})).first()
    if found is None:
        found = (
            yield Execute(
                queries.insert_input_request,
                {"task_id": task_id, "key": key, "method": method, "params": params, "now": now},
            )
        ).first()
    assert found is not None
    request = input_request_from_row(found)
    if request.outstanding and record.status is TaskStatus.WORKING:
        moved = (
            yield Execute(
                queries.move_fenced,
                {
                    "task_id": task_id,
                    "attempt": attempt,
                    "node": node,
                    "from_status": TaskStatus.WORKING.value,
                    "to_status": TaskStatus.INPUT_REQUIRED.value,
                    "message": None,
                    "now": now,
                },
            )
        ).first()
        if moved is not None:
            record = record_from_row(moved)
            yield _event(task_id, TaskStatus.WORKING, TaskStatus.INPUT_REQUIRED, now, None, attempt, node)
    outstanding = yield Execute(queries.outstanding_inputs, {"task_id": task_id})
    return Asked(record, request, tuple(input_request_from_row(r) for r in outstanding.rows))


def answer_inputs(
    owner: Owner, task_id: str, responses: Mapping[str, dict[str, Any]], now: datetime
) -> Program[AnswerOutcome | None]:
    """Store answers to outstanding requests of a task `owner` may see; None if it cannot see it.

    The task row is locked first, so concurrent answers take turns and the last one to leave
    nothing outstanding is the one that resumes the task (never `input_required` with nothing to
    answer). Keys that are not outstanding are ignored, as are answers to a terminal task.
    """
    row = (yield Execute(queries.lock_task_owned, {"task_id": task_id, **_owner(owner)})).first()
    if row is None:
        return None
    record = record_from_row(row)
    if record.is_terminal:
        return AnswerOutcome(record, frozenset(), resumed=False)
    answered: set[str] = set()
    for key, response in responses.items():
        changed = yield Execute(
            queries.answer_input_request, {"task_id": task_id, "key": key, "response": response, "now": now}
        )
        if changed.rowcount == 1:
            answered.add(key)
    remaining = yield Execute(queries.outstanding_inputs, {"task_id": task_id})
    outstanding = tuple(input_request_from_row(r) for r in remaining.rows)
    resumed = False
    if not outstanding and record.status is TaskStatus.INPUT_REQUIRED:
        moved = (yield Execute(queries.resume_task, {"task_id": task_id, "now": now})).first()
        if moved is not None:
            yield _event(
                task_id, TaskStatus.INPUT_REQUIRED, TaskStatus.WORKING, now, None, record.attempt, None
            )
            record = record_from_row(moved)
            resumed = True
    return AnswerOutcome(record, frozenset(answered), resumed, outstanding)


# -- leases, recovery, ttl ------------------------------------------------------------------------


def release_lease(task_id: str, attempt: int, node: str) -> Program[TaskRecord | None]:
    """Give up this node's lease on an active task (it reads as expired since the task was
    created), leaving its status; the task, or None."""
    row = (
        yield Execute(queries.release_lease, {"task_id": task_id, "attempt": attempt, "node": node})
    ).first()
    return None if row is None else record_from_row(row)


def claim_for_rerun(
    record: TaskRecord, node: str, until: datetime, now: datetime
) -> Program[TaskRecord | None]:
    """Take an active task whose worker is gone as attempt `record.attempt + 1`; None if taken."""
    row = (
        yield Execute(
            queries.claim_for_rerun,
            {"task_id": record.task_id, "attempt": record.attempt, "node": node, "until": until, "now": now},
        )
    ).first()
    return None if row is None else record_from_row(row)


def renew_leases(node: str, until: datetime) -> Program[dict[str, int]]:
    """Extend every lease `node` holds on an active task; returns task id -> attempt held."""
    result = yield Execute(queries.renew_leases, {"node": node, "until": until})
    return {row["task_id"]: row["attempt"] for row in result.rows}


def held_leases(node: str) -> Program[dict[str, int]]:
    """The active tasks `node` holds a lease on: task id -> attempt."""
    result = yield Execute(queries.held_leases, {"node": node})
    return {row["task_id"]: row["attempt"] for row in result.rows}


def expired_leases(now: datetime, limit: int) -> Program[list[TaskRecord]]:
    """Active tasks whose lease ran out or was released."""
    result = yield Execute(queries.expired_leases, {"now": now, "limit": limit})
    return [record_from_row(row) for row in result.rows]


def _fail_system(
    changed: dict[str, Any] | None, source: TaskStatus, error: ErrorInfo, now: datetime
) -> Program[Found | None]:
    """After a system failure's compare-and-set (recovery, expiry): outcome and history rows."""
    if changed is None:
        return None
    record = record_from_row(changed)
    yield Execute(
        queries.insert_result,
        {"task_id": record.task_id, "result": None, "error": error.to_json(), "now": now},
    )
    yield _event(record.task_id, source, TaskStatus.FAILED, now, record.status_message, record.attempt, None)
    return Found(record, TaskResult(error=error))


def fail_unleased(record: TaskRecord, message: str, now: datetime) -> Program[Found | None]:
    """Fail an active task whose lease ran out, with `message`; None if someone moved it first."""
    changed = (
        yield Execute(
            queries.fail_unleased,
            {
                "task_id": record.task_id,
                "attempt": record.attempt,
                "from_status": record.status.value,
                "message": message,
                "now": now,
            },
        )
    ).first()
    return (yield from _fail_system(changed, record.status, ErrorInfo(-32603, message), now))


def expired_active(now: datetime, limit: int) -> Program[list[TaskRecord]]:
    """Active tasks whose ttl ran out."""
    result = yield Execute(queries.expired_active, {"now": now, "limit": limit})
    return [record_from_row(row) for row in result.rows]


def fail_expired(
    candidates: Sequence[TaskRecord], now: datetime, keep_until: datetime
) -> Program[list[Found]]:
    """Fail active tasks whose ttl ran out; each stays readable until `keep_until`.

    The task's `ttl_ms` grows to cover the extra time, so the reported ttl stays honest.
    """
    failed: list[Found] = []
    for record in candidates:
        if record.status is TaskStatus.INPUT_REQUIRED:
            message = f"Task expired while waiting for input: its ttl of {record.ttl_ms or 0} ms ran out"
        else:
            message = f"Task expired: its ttl of {record.ttl_ms or 0} ms ran out before it finished"
        new_ttl_ms = int((keep_until - record.created_at).total_seconds() * 1000)
        changed = (
            yield Execute(
                queries.fail_expired,
                {
                    "task_id": record.task_id,
                    "from_status": record.status.value,
                    "message": message,
                    "now": now,
                    "keep_until": keep_until,
                    "ttl_ms": new_ttl_ms,
                },
            )
        ).first()
        found = yield from _fail_system(changed, record.status, ErrorInfo(-32603, "Task expired"), now)
        if found is not None:
            failed.append(found)
    return failed


def delete_expired(now: datetime, limit: int) -> Program[list[str]]:
    """Delete up to `limit` terminal tasks whose ttl ran out; returns their ids."""
    result = yield Execute(queries.delete_expired, {"now": now, "limit": limit})
    return [row["task_id"] for row in result.rows]


def schema_revision() -> Program[str | None]:
    """The alembic revision the schema is at; None when the bookkeeping row is missing."""
    row = (yield Execute(queries.schema_revision, {})).first()
    return None if row is None else str(row["version_num"])


# -- operator views (unscoped) --------------------------------------------------------------------


def admin_list_tasks(
    owner_like: str | None, statuses: Sequence[str] | None, limit: int
) -> Program[list[TaskRecord]]:
    """Tasks of every owner, newest first, filtered."""
    params: dict[str, Any] = {"limit": limit}
    if owner_like:
        params["pattern"] = f"%{owner_like}%"
    result = yield Execute(queries.admin_list_tasks(owner_like, statuses), params)
    return [record_from_row(row) for row in result.rows]


def admin_task_events(task_id: str) -> Program[list[TaskEvent]]:
    """The status history of one task, oldest first."""
    result = yield Execute(queries.admin_task_events, {"task_id": task_id})
    return [event_from_row(row) for row in result.rows]


def admin_input_requests(task_id: str) -> Program[list[dict[str, Any]]]:
    """The input requests of one task as row dicts, in the order the tool asked."""
    result = yield Execute(queries.admin_input_requests, {"task_id": task_id})
    return result.rows


__all__ = [
    "AnswerOutcome",
    "Asked",
    "CancelOutcome",
    "Found",
]
