"""Every SQL statement mcptasks runs, each a named `Statement` built once from the tables.

Read this file to see all the SQL there is. Variable parts are named parameters (`:task_id`,
`:now`, ...); status sets are constants written into the text. `python -m mcptasks.store
[sqlite|postgresql]` prints every statement as the database receives it.

Rules the statements follow:

- Owner-scoped statements (names ending `_owned`) match the task through `visible_to`: the caller's
  `:owner_key`, or a capability task when the caller is anonymous (`:anonymous`). Access is decided
  in SQL, never by fetching a row and checking it afterwards; `core.owner.Owner.may_see` is the
  same rule for the in-process view.
- Status changes are compare-and-set: the WHERE clause names the status the change starts from,
  so a terminal status never changes. Read-then-write verbs first lock the task row
  (`lock_*`, `SELECT ... FOR UPDATE` on PostgreSQL; SQLite has one writer), so what they
  decide on cannot change before they write.
- Statements a worker runs on the task it holds are fenced by its lease (`:node`, `:attempt`).
- Changes return the new row (`RETURNING`) instead of reading it again.
- `admin_*` statements are unscoped; only the operator command line runs them.

Long on purpose: every statement mcptasks runs is here, so an operator reads all of its SQL in one
place.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Integer,
    Text,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    null,
    or_,
    select,
    table,
    tuple_,
    update,
)
from sqlalchemy.sql.elements import BindParameter

from mcptasks.core.status import ACTIVE, TERMINAL, TaskStatus
from mcptasks.store.schema import task_events, task_input_requests, task_results, tasks
from mcptasks.store.statements import Statement

# -- building blocks -------------------------------------------------------------------------------


def status_in(column: ColumnElement[Any], statuses: Collection[TaskStatus]) -> ColumnElement[bool]:
    """`column IN ('a', 'b')` with the statuses written into the SQL text."""
    return column.in_([_const(status) for status in sorted(statuses)])


def _const(status: TaskStatus) -> ColumnElement[Any]:
    """A status written into the SQL text as a constant."""
    return literal_column(f"'{status.value}'")


def _is(column: ColumnElement[Any], status: TaskStatus) -> ColumnElement[bool]:
    return column == _const(status)


def visible_to() -> ColumnElement[bool]:
    """The access predicate: the task is the caller's own, or a capability task and the caller is
    anonymous (a session or a capability caller; an OAuth principal never sees capability tasks).

    Parameters: `:owner_key` (`Owner.key`), `:anonymous` (`Owner.kind != "principal"`).
    """
    return or_(
        tasks.c.owner_key == bindparam("owner_key"),
        and_(tasks.c.owner_kind == literal_column("'capability'"), bindparam("anonymous", type_=Boolean)),
    )


def _fenced() -> ColumnElement[bool]:
    """The worker's lease: the same node and attempt still hold the task."""
    return and_(tasks.c.attempt == bindparam("attempt"), tasks.c.lease_node == bindparam("node"))


def _lease_gone() -> ColumnElement[bool]:
    """The lease ran out, or was released (a released lease reads as expired at `created_at`)."""
    return tasks.c.lease_expires_at < bindparam("now")


#: The values of a task that just became terminal: nobody holds it any more.
_TERMINAL_VALUES: dict[str, Any] = {"lease_node": null(), "lease_expires_at": null()}

_task_and_outcome = tasks.outerjoin(task_results, task_results.c.task_id == tasks.c.task_id)


def _asked_order() -> tuple[ColumnElement[Any], ...]:
    # Keys are input-1, input-2, ...: shorter keys first keeps input-10 after input-9 when two
    # questions share a timestamp.
    key = task_input_requests.c.request_key
    return (task_input_requests.c.created_at, func.length(key), key)


# -- creating and reading --------------------------------------------------------------------------

insert_task = Statement(
    "insert_task",
    "Insert a new task row.",
    insert(tasks).values({column.name: bindparam(column.name) for column in tasks.columns}),
)

insert_event = Statement(
    "insert_event",
    "Record one status change in the task's history (from_status NULL for the creation).",
    insert(task_events).values(
        task_id=bindparam("task_id"),
        from_status=bindparam("from_status"),
        to_status=bindparam("to_status"),
        at=bindparam("at"),
        message=bindparam("message"),
        attempt=bindparam("attempt"),
        node=bindparam("node"),
    ),
)

insert_result = Statement(
    "insert_result",
    "Store the outcome of a task that just became terminal.",
    insert(task_results).values(
        task_id=bindparam("task_id"),
        result=bindparam("result"),
        error=bindparam("error"),
        stored_at=bindparam("now"),
    ),
)

get_task_owned = Statement(
    "get_task_owned",
    "Read one task the caller may see, with its stored outcome (NULLs until terminal).",
    select(tasks, task_results.c.result, task_results.c.error)
    .select_from(_task_and_outcome)
    .where(tasks.c.task_id == bindparam("task_id"), visible_to()),
)

get_task = Statement(
    "get_task",
    "Read one task and its outcome by id, for the worker or maintenance that acts on it.",
    select(tasks, task_results.c.result, task_results.c.error)
    .select_from(_task_and_outcome)
    .where(tasks.c.task_id == bindparam("task_id")),
)

list_tasks_first = Statement(
    "list_tasks_first",
    "The first page of the caller's own tasks, newest first.",
    select(tasks)
    .where(tasks.c.owner_key == bindparam("owner_key"))
    .order_by(tasks.c.created_at.desc(), tasks.c.task_id.desc())
    .limit(bindparam("limit", type_=Integer)),
)

list_tasks_after = Statement(
    "list_tasks_after",
    "The next page of the caller's own tasks, newest first, after the keyset position of the last.",
    select(tasks)
    .where(
        tasks.c.owner_key == bindparam("owner_key"),
        tuple_(tasks.c.created_at, tasks.c.task_id)
        < tuple_(bindparam("after_created_at", type_=tasks.c.created_at.type), bindparam("after_task_id")),
    )
    .order_by(tasks.c.created_at.desc(), tasks.c.task_id.desc())
    .limit(bindparam("limit", type_=Integer)),
)

# -- locking what a change decides on --------------------------------------------------------------

lock_task_owned = Statement(
    "lock_task_owned",
    "Read and lock one task the caller may see, before changing it (cancel, answers).",
    select(tasks).where(tasks.c.task_id == bindparam("task_id"), visible_to()).with_for_update(),
)

lock_task = Statement(
    "lock_task",
    "Read and lock one task by id, before a worker or maintenance change.",
    select(tasks).where(tasks.c.task_id == bindparam("task_id")).with_for_update(),
)

_lock_columns = (tasks.c.status, tasks.c.attempt, tasks.c.lease_node)

lock_status = Statement(
    "lock_status",
    "Read and lock the status and lease of one task, before a worker changes it.",
    select(*_lock_columns).where(tasks.c.task_id == bindparam("task_id")).with_for_update(),
)

lock_status_owned = Statement(
    "lock_status_owned",
    "Read and lock the status and lease of one task the caller may see, before cancelling it.",
    select(*_lock_columns).where(tasks.c.task_id == bindparam("task_id"), visible_to()).with_for_update(),
)

# -- status changes --------------------------------------------------------------------------------


def cancel_update(*conditions: ColumnElement[bool]) -> Any:
    """`UPDATE tasks` cancelling task `:task_id` if it is still in `:from_status` and `conditions`
    hold, returning the row; parameters `:message`, `:now`."""
    return (
        update(tasks)
        .where(
            tasks.c.task_id == bindparam("task_id"), *conditions, tasks.c.status == bindparam("from_status")
        )
        .values(
            status=_const(TaskStatus.CANCELLED),
            status_message=bindparam("message"),
            last_updated_at=bindparam("now"),
            **_TERMINAL_VALUES,
        )
        .returning(tasks)
    )


cancel_task = Statement(
    "cancel_task",
    "Cancel a task the caller may see, if it is still in :from_status.",
    cancel_update(visible_to()),
)

move_fenced = Statement(
    "move_fenced",
    "Move a task its worker holds from :from_status to a status that is not terminal.",
    update(tasks)
    .where(tasks.c.task_id == bindparam("task_id"), _fenced(), tasks.c.status == bindparam("from_status"))
    .values(
        status=bindparam("to_status"), status_message=bindparam("message"), last_updated_at=bindparam("now")
    )
    .returning(tasks),
)

finish_fenced = Statement(
    "finish_fenced",
    "Make a task its worker holds terminal (completed or failed) and release the lease.",
    update(tasks)
    .where(tasks.c.task_id == bindparam("task_id"), _fenced(), tasks.c.status == bindparam("from_status"))
    .values(
        status=bindparam("to_status"),
        status_message=bindparam("message"),
        last_updated_at=bindparam("now"),
        **_TERMINAL_VALUES,
    )
    .returning(tasks),
)

set_status_message = Statement(
    "set_status_message",
    "Change the status message of an active task its worker holds.",
    update(tasks)
    .where(tasks.c.task_id == bindparam("task_id"), _fenced(), status_in(tasks.c.status, ACTIVE))
    .values(status_message=bindparam("message"), last_updated_at=bindparam("now"))
    .returning(tasks),
)

resume_task = Statement(
    "resume_task",
    "Move a task from input_required back to working: its input is complete.",
    update(tasks)
    .where(tasks.c.task_id == bindparam("task_id"), _is(tasks.c.status, TaskStatus.INPUT_REQUIRED))
    .values(status=_const(TaskStatus.WORKING), status_message=null(), last_updated_at=bindparam("now"))
    .returning(tasks),
)

# -- input requests --------------------------------------------------------------------------------

get_input_request = Statement(
    "get_input_request",
    "Read one input request of a task (the worker that asked waits on it).",
    select(task_input_requests).where(
        task_input_requests.c.task_id == bindparam("task_id"),
        task_input_requests.c.request_key == bindparam("key"),
    ),
)

insert_input_request = Statement(
    "insert_input_request",
    "Store a question a tool asks, before anyone is shown it.",
    insert(task_input_requests)
    .values(
        task_id=bindparam("task_id"),
        request_key=bindparam("key"),
        method=bindparam("method"),
        params=bindparam("params"),
        created_at=bindparam("now"),
    )
    .returning(task_input_requests),
)

outstanding_inputs = Statement(
    "outstanding_inputs",
    "The unanswered input requests of a task, in the order the tool asked.",
    select(task_input_requests)
    .where(task_input_requests.c.task_id == bindparam("task_id"), task_input_requests.c.response.is_(None))
    .order_by(*_asked_order()),
)

outstanding_inputs_owned = Statement(
    "outstanding_inputs_owned",
    "The unanswered input requests of a task the caller may see, in the order the tool asked.",
    select(task_input_requests)
    .join(tasks, tasks.c.task_id == task_input_requests.c.task_id)
    .where(
        task_input_requests.c.task_id == bindparam("task_id"),
        task_input_requests.c.response.is_(None),
        visible_to(),
    )
    .order_by(*_asked_order()),
)

answer_input_request = Statement(
    "answer_input_request",
    "Store the answer to an outstanding input request (an answered one is left as it is).",
    update(task_input_requests)
    .where(
        task_input_requests.c.task_id == bindparam("task_id"),
        task_input_requests.c.request_key == bindparam("key"),
        task_input_requests.c.response.is_(None),
    )
    .values(response=bindparam("response"), answered_at=bindparam("now")),
)

# -- leases and recovery ---------------------------------------------------------------------------

release_lease = Statement(
    "release_lease",
    "Give up this node's lease on an active task, leaving its status (a stop: it runs again later).",
    update(tasks)
    .where(tasks.c.task_id == bindparam("task_id"), _fenced(), status_in(tasks.c.status, ACTIVE))
    # Expired since the task was created: in the past on every replica's clock, so recovery
    # (`lease_expires_at < now`) finds it at once wherever it looks.
    .values(lease_node=null(), lease_expires_at=tasks.c.created_at)
    .returning(tasks),
)

claim_for_rerun = Statement(
    "claim_for_rerun",
    "Take an active task whose worker is gone, as the next attempt, for this node.",
    update(tasks)
    .where(
        tasks.c.task_id == bindparam("task_id"),
        tasks.c.attempt == bindparam("attempt"),
        status_in(tasks.c.status, ACTIVE),
        _lease_gone(),
    )
    .values(lease_node=bindparam("node"), lease_expires_at=bindparam("until"), attempt=tasks.c.attempt + 1)
    .returning(tasks),
)

renew_leases = Statement(
    "renew_leases",
    "Extend every lease this node holds on an active task; returns the tasks still held.",
    update(tasks)
    .where(tasks.c.lease_node == bindparam("node"), status_in(tasks.c.status, ACTIVE))
    .values(lease_expires_at=bindparam("until"))
    .returning(tasks.c.task_id, tasks.c.attempt),
)

held_leases = Statement(
    "held_leases",
    "The active tasks whose lease this node holds, with the attempt it holds.",
    select(tasks.c.task_id, tasks.c.attempt).where(
        tasks.c.lease_node == bindparam("node"), status_in(tasks.c.status, ACTIVE)
    ),
)

expired_leases = Statement(
    "expired_leases",
    "Active tasks whose lease ran out or was released (their worker stopped), oldest lease first.",
    select(tasks)
    .where(status_in(tasks.c.status, ACTIVE), _lease_gone())
    .order_by(tasks.c.lease_expires_at)
    .limit(bindparam("limit", type_=Integer)),
)

fail_unleased = Statement(
    "fail_unleased",
    "Fail an active task whose lease ran out, if no worker took it meanwhile.",
    update(tasks)
    .where(
        tasks.c.task_id == bindparam("task_id"),
        tasks.c.attempt == bindparam("attempt"),
        tasks.c.status == bindparam("from_status"),
        _lease_gone(),
    )
    .values(
        status=_const(TaskStatus.FAILED),
        status_message=bindparam("message"),
        last_updated_at=bindparam("now"),
        **_TERMINAL_VALUES,
    )
    .returning(tasks),
)

# -- ttl -------------------------------------------------------------------------------------------

expired_active = Statement(
    "expired_active",
    "Active tasks whose ttl ran out: they are failed visibly before they are deleted.",
    select(tasks)
    .where(
        status_in(tasks.c.status, ACTIVE),
        tasks.c.expires_at.is_not(None),
        tasks.c.expires_at < bindparam("now"),
    )
    .order_by(tasks.c.expires_at)
    .limit(bindparam("limit", type_=Integer)),
)

fail_expired = Statement(
    "fail_expired",
    "Fail an active task whose ttl ran out and keep it readable until :keep_until.",
    update(tasks)
    .where(tasks.c.task_id == bindparam("task_id"), tasks.c.status == bindparam("from_status"))
    .values(
        status=_const(TaskStatus.FAILED),
        status_message=bindparam("message"),
        last_updated_at=bindparam("now"),
        expires_at=bindparam("keep_until"),
        ttl_ms=bindparam("ttl_ms"),
        **_TERMINAL_VALUES,
    )
    .returning(tasks),
)

delete_expired = Statement(
    "delete_expired",
    "Delete up to :limit terminal tasks whose ttl ran out (outcome, inputs and events cascade).",
    delete(tasks)
    .where(
        tasks.c.task_id.in_(
            select(tasks.c.task_id)
            .where(
                status_in(tasks.c.status, TERMINAL),
                tasks.c.expires_at.is_not(None),
                tasks.c.expires_at < bindparam("now"),
            )
            .limit(bindparam("limit", type_=Integer))
            .scalar_subquery()
        )
    )
    .returning(tasks.c.task_id),
)

# -- the database's clock and the other replicas (PostgreSQL) ---------------------------------------

database_time = Statement(
    "database_time",
    "The database's clock: leases are measured on it, whichever replica sets them.",
    select(func.now().label("now")),
)

schema_revision = Statement(
    "schema_revision",
    "The migration the schema is at (alembic's bookkeeping row): readiness checks read it.",
    select(literal_column("version_num")).select_from(table("alembic_version")),
)

announce_change = Statement(
    "announce_change",
    "Tell the other replicas, at this transaction's COMMIT, that a task changed ('<origin> <task id>').",
    select(func.pg_notify(bindparam("channel"), bindparam("payload"))),
)

# -- operator views (unscoped) ---------------------------------------------------------------------

admin_get_task = Statement(
    "admin_get_task",
    "Operator view: one task of any owner, with its outcome.",
    select(tasks, task_results.c.result, task_results.c.error)
    .select_from(_task_and_outcome)
    .where(tasks.c.task_id == bindparam("task_id")),
)

admin_task_events = Statement(
    "admin_task_events",
    "Operator view: the status history of one task, oldest first.",
    select(task_events).where(task_events.c.task_id == bindparam("task_id")).order_by(task_events.c.event_id),
)

admin_input_requests = Statement(
    "admin_input_requests",
    "Operator view: the input requests of one task, in the order the tool asked.",
    select(task_input_requests)
    .where(task_input_requests.c.task_id == bindparam("task_id"))
    .order_by(*_asked_order()),
)


def admin_list_tasks(owner_like: str | None, statuses: Collection[str] | None) -> Statement:
    """Operator view: tasks of every owner, newest first, filtered by `:owner_like` and `statuses`.

    Built per call (the filters change its shape); parameters `:limit` and, with `owner_like`,
    `:pattern`.
    """
    statement = select(tasks)
    if owner_like:
        pattern: BindParameter[str] = bindparam("pattern", type_=Text)
        statement = statement.where(
            or_(
                tasks.c.owner_key.like(pattern),
                tasks.c.owner_subject.like(pattern),
                tasks.c.owner_client_id.like(pattern),
            )
        )
    if statuses:
        statement = statement.where(status_in(tasks.c.status, [TaskStatus(status) for status in statuses]))
    return Statement(
        "admin_list_tasks",
        "Operator view: tasks of every owner, newest first.",
        statement.order_by(tasks.c.created_at.desc(), tasks.c.task_id.desc()).limit(
            bindparam("limit", type_=Integer)
        ),
    )


def all_statements() -> Iterator[Statement]:
    """Every statement of this module, in the order it is written."""
    for value in globals().values():
        if isinstance(value, Statement):
            yield value
