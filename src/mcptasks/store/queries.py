"""Every SQL statement mcptasks runs, one function per named statement.

The first line of each docstring is the statement's description. Owner-scoped statements take the
`Owner` first and put it in the WHERE clause: access is decided in SQL, never by fetching a row and
checking it afterwards. Status changes are compare-and-set: the WHERE clause names the statuses the
move may start from (`core.status.allowed_sources`), so a terminal status can never change.
Statements a worker runs on the task it holds are fenced by its lease (`node`, `attempt`) instead;
maintenance statements (lease recovery, ttl sweeping) act on every owner by design. Functions
whose name starts with `admin_` are unscoped; only the operator CLI calls them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Delete,
    Insert,
    Select,
    Update,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)

from mcptasks.core.model import TaskRecord
from mcptasks.core.owner import Owner
from mcptasks.core.status import ACTIVE, TaskStatus
from mcptasks.store.schema import task_events, task_input_requests, task_results, tasks


def _values(statuses: Collection[TaskStatus]) -> list[str]:
    return sorted(status.value for status in statuses)


def _asked_order() -> tuple[ColumnElement[Any], ...]:
    # Keys are input-1, input-2, ...: shorter keys first keeps input-10 after input-9 when two
    # questions share a timestamp.
    key = task_input_requests.c.request_key
    return (task_input_requests.c.created_at, func.length(key), key)


def visible_to(owner: Owner) -> ColumnElement[bool]:
    """The access predicate: which task rows `owner` may read or change by id.

    A principal or a session sees its own tasks. Tasks owned by `capability` (created by an
    anonymous caller without a session) are readable by any anonymous caller holding the id;
    an authenticated principal never sees them.
    """
    own = tasks.c.owner_key == owner.key
    if owner.kind == "principal":
        return own
    if owner.kind == "session":
        return or_(own, tasks.c.owner_kind == "capability")
    return tasks.c.owner_kind == "capability"


def insert_task(record: TaskRecord) -> Insert:
    """Insert a new task row."""
    return insert(tasks).values(
        task_id=record.task_id,
        owner_kind=record.owner_kind,
        owner_key=record.owner_key,
        owner_issuer=record.owner_issuer,
        owner_subject=record.owner_subject,
        owner_client_id=record.owner_client_id,
        wire=record.wire,
        tool_name=record.tool_name,
        arguments=record.arguments,
        status=record.status.value,
        status_message=record.status_message,
        created_at=record.created_at,
        last_updated_at=record.last_updated_at,
        ttl_ms=record.ttl_ms,
        expires_at=record.expires_at,
        poll_interval_ms=record.poll_interval_ms,
        progress_token=record.progress_token,
        client_capabilities=record.client_capabilities,
        lease_node=record.lease_node,
        lease_expires_at=record.lease_expires_at,
        attempt=record.attempt,
    )


def insert_event(
    task_id: str,
    from_status: TaskStatus | None,
    to_status: TaskStatus,
    at: datetime,
    message: str | None,
    attempt: int,
    node: str | None,
) -> Insert:
    """Record one status change in the task's history."""
    return insert(task_events).values(
        task_id=task_id,
        from_status=None if from_status is None else from_status.value,
        to_status=to_status.value,
        at=at,
        message=message,
        attempt=attempt,
        node=node,
    )


def get_task(owner: Owner, task_id: str) -> Select[Any]:
    """Read one task the owner may see."""
    return select(tasks).where(tasks.c.task_id == task_id, visible_to(owner))


def get_task_with_result(owner: Owner, task_id: str) -> Select[Any]:
    """Read one task the owner may see, with its stored outcome (if any)."""
    return (
        select(tasks, task_results.c.result, task_results.c.error)
        .select_from(tasks.outerjoin(task_results, task_results.c.task_id == tasks.c.task_id))
        .where(tasks.c.task_id == task_id, visible_to(owner))
    )


def list_tasks(owner: Owner, after: tuple[datetime, str] | None, limit: int) -> Select[Any]:
    """List the owner's own tasks, newest first, keyset-paged after `(created_at, task_id)`."""
    statement = select(tasks).where(tasks.c.owner_key == owner.key)
    if after is not None:
        created_at, task_id = after
        statement = statement.where(tuple_(tasks.c.created_at, tasks.c.task_id) < tuple_(created_at, task_id))
    return statement.order_by(tasks.c.created_at.desc(), tasks.c.task_id.desc()).limit(limit)


def lock_status(task_id: str) -> Select[Any]:
    """Read a task's status and attempt inside a write transaction (the CAS's expected value)."""
    return select(tasks.c.status, tasks.c.attempt, tasks.c.lease_node).where(tasks.c.task_id == task_id)


def cancel_task(owner: Owner, task_id: str, from_status: TaskStatus, message: str, now: datetime) -> Update:
    """Cancel a task the owner may see, if it is still in `from_status`."""
    return (
        update(tasks)
        .where(tasks.c.task_id == task_id, visible_to(owner), tasks.c.status == from_status.value)
        .values(
            status=TaskStatus.CANCELLED.value,
            status_message=message,
            last_updated_at=now,
            lease_node=None,
            lease_expires_at=None,
        )
    )


def move_fenced(
    task_id: str,
    attempt: int,
    node: str,
    from_status: TaskStatus,
    to_status: TaskStatus,
    message: str | None,
    now: datetime,
) -> Update:
    """Move a task its worker holds (same node, same attempt) from `from_status` to `to_status`."""
    values: dict[str, Any] = {"status": to_status.value, "status_message": message, "last_updated_at": now}
    if to_status.is_terminal:
        values |= {"lease_node": None, "lease_expires_at": None}
    return (
        update(tasks)
        .where(
            tasks.c.task_id == task_id,
            tasks.c.attempt == attempt,
            tasks.c.lease_node == node,
            tasks.c.status == from_status.value,
        )
        .values(**values)
    )


def set_status_message(task_id: str, attempt: int, node: str, message: str | None, now: datetime) -> Update:
    """Change the status message of a task its worker holds, while it is active."""
    return (
        update(tasks)
        .where(
            tasks.c.task_id == task_id,
            tasks.c.attempt == attempt,
            tasks.c.lease_node == node,
            tasks.c.status.in_(_values(ACTIVE)),
        )
        .values(status_message=message, last_updated_at=now)
    )


def read_task(task_id: str) -> Select[Any]:
    """Re-read one task inside a worker's or the maintenance's own write (no owner: it is fenced)."""
    return select(tasks).where(tasks.c.task_id == task_id)


def insert_result(
    task_id: str, result: dict[str, Any] | None, error: dict[str, Any] | None, now: datetime
) -> Insert:
    """Store the outcome of a task that just became terminal."""
    return insert(task_results).values(task_id=task_id, result=result, error=error, stored_at=now)


def renew_leases(node: str, held: Sequence[tuple[str, int]], until: datetime) -> Update:
    """Extend the leases this node still holds on active tasks, returning the renewed task ids."""
    return (
        update(tasks)
        .where(
            tasks.c.lease_node == node,
            tasks.c.status.in_(_values(ACTIVE)),
            tuple_(tasks.c.task_id, tasks.c.attempt).in_(list(held)),
        )
        .values(lease_expires_at=until)
        .returning(tasks.c.task_id)
    )


def expired_leases(now: datetime, limit: int) -> Select[Any]:
    """Find active tasks whose lease ran out (their worker stopped), oldest lease first."""
    return (
        select(tasks)
        .where(
            tasks.c.status.in_(_values(ACTIVE)),
            or_(tasks.c.lease_expires_at.is_(None), tasks.c.lease_expires_at < now),
        )
        .order_by(tasks.c.lease_expires_at)
        .limit(limit)
    )


def fail_unleased(task_id: str, attempt: int, from_status: TaskStatus, message: str, now: datetime) -> Update:
    """Fail an active task whose lease ran out, if no worker took it meanwhile."""
    return (
        update(tasks)
        .where(
            tasks.c.task_id == task_id,
            tasks.c.attempt == attempt,
            tasks.c.status == from_status.value,
            or_(tasks.c.lease_expires_at.is_(None), tasks.c.lease_expires_at < now),
        )
        .values(
            status=TaskStatus.FAILED.value,
            status_message=message,
            last_updated_at=now,
            lease_node=None,
            lease_expires_at=None,
        )
    )


def expired_active(now: datetime, limit: int) -> Select[Any]:
    """Find active tasks whose ttl ran out: they are failed visibly before they are deleted."""
    return (
        select(tasks)
        .where(tasks.c.status.in_(_values(ACTIVE)), tasks.c.expires_at.is_not(None), tasks.c.expires_at < now)
        .order_by(tasks.c.expires_at)
        .limit(limit)
    )


def fail_expired(
    task_id: str, from_status: TaskStatus, message: str, now: datetime, keep_until: datetime, ttl_ms: int
) -> Update:
    """Fail an active task whose ttl ran out and keep it readable until `keep_until`."""
    return (
        update(tasks)
        .where(tasks.c.task_id == task_id, tasks.c.status == from_status.value)
        .values(
            status=TaskStatus.FAILED.value,
            status_message=message,
            last_updated_at=now,
            expires_at=keep_until,
            ttl_ms=ttl_ms,
            lease_node=None,
            lease_expires_at=None,
        )
    )


def get_input_request(task_id: str, key: str) -> Select[Any]:
    """Read one input request of a task (the worker that asked waits on it)."""
    return select(task_input_requests).where(
        task_input_requests.c.task_id == task_id, task_input_requests.c.request_key == key
    )


def insert_input_request(
    task_id: str, key: str, method: str, params: dict[str, Any], now: datetime
) -> Insert:
    """Store a question a tool asks, before anyone is shown it."""
    return insert(task_input_requests).values(
        task_id=task_id, request_key=key, method=method, params=params, created_at=now
    )


def outstanding_input_requests(owner: Owner, task_id: str) -> Select[Any]:
    """The unanswered input requests of a task the owner may see, in the order the tool asked."""
    return (
        select(task_input_requests)
        .join(tasks, tasks.c.task_id == task_input_requests.c.task_id)
        .where(
            task_input_requests.c.task_id == task_id,
            task_input_requests.c.response.is_(None),
            visible_to(owner),
        )
        .order_by(*_asked_order())
    )


def answer_input_request(task_id: str, key: str, response: dict[str, Any], now: datetime) -> Update:
    """Store the answer to an outstanding input request (an answered one is left as it is)."""
    return (
        update(task_input_requests)
        .where(
            task_input_requests.c.task_id == task_id,
            task_input_requests.c.request_key == key,
            task_input_requests.c.response.is_(None),
        )
        .values(response=response, answered_at=now)
    )


def count_outstanding(task_id: str) -> Select[Any]:
    """How many input requests of a task are still unanswered."""
    return (
        select(func.count())
        .select_from(task_input_requests)
        .where(task_input_requests.c.task_id == task_id, task_input_requests.c.response.is_(None))
    )


def resume_task(owner: Owner, task_id: str, message: str | None, now: datetime) -> Update:
    """Move a task the owner may see from input_required back to working (its input is complete)."""
    return (
        update(tasks)
        .where(
            tasks.c.task_id == task_id,
            visible_to(owner),
            tasks.c.status == TaskStatus.INPUT_REQUIRED.value,
        )
        .values(status=TaskStatus.WORKING.value, status_message=message, last_updated_at=now)
    )


def release_lease(task_id: str, attempt: int, node: str) -> Update:
    """Give up this node's lease on an active task, leaving its status (server stop: run again later)."""
    return (
        update(tasks)
        .where(
            tasks.c.task_id == task_id,
            tasks.c.attempt == attempt,
            tasks.c.lease_node == node,
            tasks.c.status.in_(_values(ACTIVE)),
        )
        .values(lease_node=None, lease_expires_at=None)
    )


def claim_for_rerun(task_id: str, attempt: int, node: str, until: datetime, now: datetime) -> Update:
    """Take an active task whose worker is gone, as the next attempt, for this node."""
    return (
        update(tasks)
        .where(
            tasks.c.task_id == task_id,
            tasks.c.attempt == attempt,
            tasks.c.status.in_(_values(ACTIVE)),
            or_(tasks.c.lease_expires_at.is_(None), tasks.c.lease_expires_at < now),
        )
        .values(lease_node=node, lease_expires_at=until, attempt=attempt + 1)
    )


def delete_expired_terminal(now: datetime, limit: int) -> Delete:
    """Delete up to `limit` terminal tasks whose ttl ran out (results, inputs and events cascade)."""
    batch = (
        select(tasks.c.task_id)
        .where(
            tasks.c.status.in_(_values({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED})),
            tasks.c.expires_at.is_not(None),
            tasks.c.expires_at < now,
        )
        .limit(limit)
        .scalar_subquery()
    )
    return delete(tasks).where(tasks.c.task_id.in_(batch))


def delete_children(task_ids: Sequence[str]) -> list[Delete]:
    """Delete the dependent rows of tasks (for backends where the cascade is not enforced)."""
    return [
        delete(table).where(table.c.task_id.in_(list(task_ids)))
        for table in (task_results, task_input_requests, task_events)
    ]


def admin_list_tasks(owner_like: str | None, statuses: Collection[str] | None, limit: int) -> Select[Any]:
    """Operator view: tasks of every owner, newest first, optionally filtered."""
    statement = select(tasks)
    conditions: list[ColumnElement[bool]] = []
    if owner_like:
        pattern = f"%{owner_like}%"
        conditions.append(
            or_(
                tasks.c.owner_key.like(pattern),
                tasks.c.owner_subject.like(pattern),
                tasks.c.owner_client_id.like(pattern),
            )
        )
    if statuses:
        conditions.append(tasks.c.status.in_(sorted(statuses)))
    if conditions:
        statement = statement.where(and_(*conditions))
    return statement.order_by(tasks.c.created_at.desc(), tasks.c.task_id.desc()).limit(limit)


def admin_get_task(task_id: str) -> Select[Any]:
    """Operator view: one task of any owner, with its outcome."""
    return (
        select(tasks, task_results.c.result, task_results.c.error)
        .select_from(tasks.outerjoin(task_results, task_results.c.task_id == tasks.c.task_id))
        .where(tasks.c.task_id == task_id)
    )


def admin_task_events(task_id: str) -> Select[Any]:
    """Operator view: the status history of one task, oldest first."""
    return select(task_events).where(task_events.c.task_id == task_id).order_by(task_events.c.event_id)


def admin_input_requests(task_id: str) -> Select[Any]:
    """Operator view: the input requests of one task, in the order the tool asked."""
    return (
        select(task_input_requests).where(task_input_requests.c.task_id == task_id).order_by(*_asked_order())
    )
