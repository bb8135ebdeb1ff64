"""`Store`: the task verbs over SQL, with an in-process view that answers most reads.

Like procrastinate's `JobManager`: each verb runs one transaction program (`transactions.py`) on
the connector and returns domain objects. Writes are acknowledged only after their COMMIT; the
`TaskView` is updated right after that COMMIT and before the acknowledgement. Reads of a task by id
are answered from the view when it may answer them (a terminal task; an active task when the
connector can tell that no other process has written since: `check_external_changes`) and from
SQL otherwise, and a read of a task whose change is being committed right now waits for that commit
(read-your-writes: a client polling a tool that just finished sees it finished).

Long on purpose: the one facade of the store, one short method per verb (the SQL is in
`transactions.py` and `queries.py`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.engine import URL

from mcptasks.core.model import InputRequest, Outcome, TaskEvent, TaskRecord, TaskResult, utcnow
from mcptasks.core.owner import Owner
from mcptasks.core.status import TaskStatus
from mcptasks.store import transactions as tx
from mcptasks.store.connector import Connector, open_connector
from mcptasks.store.health import StoreHealth
from mcptasks.store.program import ProgramFactory
from mcptasks.store.transactions import AnswerOutcome, Asked, CancelOutcome, Found
from mcptasks.store.view import DEFAULT_CAPACITY, Entry, TaskView

T = TypeVar("T")

logger = logging.getLogger("mcptasks.store")

#: Longest a read waits for a commit in flight on the same task before it answers anyway, in s.
READ_YOUR_WRITE_WAIT_S = 1.0


class Store:
    """The task verbs (see module docstring). `open()` before use, `close()` after.

    `connector` runs the SQL; `view_capacity` bounds the in-process view (entries).
    """

    def __init__(self, connector: Connector, *, view_capacity: int = DEFAULT_CAPACITY) -> None:
        self.connector = connector
        #: Committed tasks this process may answer reads from.
        self.view = TaskView(capacity=view_capacity)
        self._in_flight: dict[str, asyncio.Future[Any]] = {}
        self._change_listeners: list[Callable[[str | None], None]] = []
        connector.on_change(self._changed_elsewhere)

    @classmethod
    def for_url(
        cls,
        url: URL,
        *,
        readonly: bool = False,
        view_capacity: int = DEFAULT_CAPACITY,
    ) -> Store:
        """A store on `url` (from `engine.database_url`); `readonly` for operator commands.

        Raises: ConfigurationError for an unsupported URL or a missing driver.
        """
        return cls(open_connector(url, readonly=readonly), view_capacity=view_capacity)

    async def open(self) -> None:
        """Connect. Raises: StoreError when the database cannot be opened or reached."""
        await self.connector.open()

    async def check_writable(self) -> None:
        """Refuse a database this process could only read (a read-only file, a read-only
        PostgreSQL database or standby), so a server does not start only to refuse every write.

        Raises: StoreError with one line naming the database and the problem.
        """
        await self.connector.check_writable()

    @property
    def health(self) -> StoreHealth:
        """The store's outage episodes (`health.down`: the last operation failed for a storage reason)."""
        return self.connector.health

    async def close(self) -> None:
        """Finish pending writes and disconnect."""
        await self.connector.close()
        self.view.clear()

    # -- other processes --------------------------------------------------------------------------

    def on_external_change(self, listener: Callable[[str | None], None]) -> None:
        """Call `listener(task_id)` when another process changed that task, `listener(None)` when
        it may have changed any task."""
        self._change_listeners.append(listener)

    def check_external_changes(self) -> bool | None:
        """Look whether another process committed since the last look (SQLite: no query).

        When one did, the view forgets what may have changed and the listeners are called.
        Returns True or False, or None when the connector cannot tell now.
        """
        return self.connector.check_changes()

    def _changed_elsewhere(self, task_id: str | None) -> None:
        if task_id is None:
            self.view.drop_active()
        else:
            self.view.drop(task_id)
        for listener in self._change_listeners:
            try:
                listener(task_id)
            except Exception:
                logger.exception("external-change listener failed", extra={"action": "external_change"})

    async def database_time(self) -> datetime:
        """The database's clock, which leases are measured on. Raises: StoreError."""
        return await self.connector.database_time()

    async def schema_revision(self) -> str | None:
        """The migration the schema is at (a read through the store: readiness checks use it).

        Raises: StoreError when the database cannot be read.
        """
        return await self.connector.read(tx.schema_revision)

    def _usable(self, entry: Entry | None) -> Entry | None:
        """`entry` if it may answer a read now (see module docstring), else None."""
        if entry is None or entry.record.is_terminal:
            return entry
        return entry if self.check_external_changes() is False else None

    # -- plumbing ---------------------------------------------------------------------------------

    async def _write(
        self,
        make: ProgramFactory[T],
        on_commit: Callable[[T], None] | None = None,
        *,
        task_id: str | None = None,
        changed: Callable[[T], Iterable[str]] | None = None,
    ) -> T:
        """Submit a change; `task_id` is the task a read waits for; `changed(value)` names the
        tasks other processes must hear of."""
        # A caller that goes away cancels only its wait: the commit goes on (connector contract).
        return await self._submit(make, on_commit, task_id=task_id, changed=changed)

    def _submit(
        self,
        make: ProgramFactory[T],
        on_commit: Callable[[T], None] | None = None,
        *,
        task_id: str | None = None,
        changed: Callable[[T], Iterable[str]] | None = None,
    ) -> asyncio.Future[T]:
        future = self.connector.submit(make, on_commit, changed)
        if task_id is not None:
            self._in_flight[task_id] = future
            future.add_done_callback(lambda done: self._landed(task_id, done))
        return future

    def _landed(self, task_id: str, future: asyncio.Future[Any]) -> None:
        if self._in_flight.get(task_id) is future:
            del self._in_flight[task_id]
        if not future.cancelled():
            future.exception()  # retrieved: the writer's caller reports it

    async def _settled(self, task_id: str) -> None:
        """Wait (bounded) for a change of `task_id` that is being committed now."""
        pending = self._in_flight.get(task_id)
        if pending is not None and not pending.done():
            await asyncio.wait({pending}, timeout=READ_YOUR_WRITE_WAIT_S)

    def _remember(self, found: Found | None) -> None:
        if found is not None:
            self.view.put(found.record, result=found.result, inputs=found.inputs)

    def _remember_record(self, record: TaskRecord | None) -> None:
        if record is not None:
            self.view.update(record)

    # -- create and read --------------------------------------------------------------------------

    @property
    def commits_in_order(self) -> bool:
        """Whether changes commit in the order they are submitted (see `Connector`): then a
        task's tool may start while its row is being committed (`submit_create`)."""
        return self.connector.commits_in_order

    async def create_task(self, record: TaskRecord, *, node: str | None) -> TaskRecord:
        """Insert `record` and its creation event; returns once the row is committed.

        Spec: SEP-2663 "Task Creation" (MUST NOT answer before `tasks/get` would find the task).
        """
        return await self.submit_create(record, node=node)

    def submit_create(self, record: TaskRecord, *, node: str | None) -> asyncio.Future[TaskRecord]:
        """`create_task`, submitted now: the future resolves once the row is committed.

        Where changes commit in order, every change of the task submitted after this call
        commits after its row. Raises: StoreError when the store refuses the write at once.
        """
        return self._submit(
            lambda: tx.create_task(record, node),
            lambda created: self.view.put(created, inputs=()),
            task_id=record.task_id,
        )

    async def get_task_with_result(
        self, owner: Owner, task_id: str
    ) -> tuple[TaskRecord, TaskResult | None] | None:
        """The task and its stored outcome (None until terminal), if `owner` may see it; else None.

        Unknown, expired and foreign ids look alike.
        """
        await self._settled(task_id)
        entry = self._usable(self.view.get(task_id, utcnow()))
        if entry is not None:
            record = entry.record
            if not owner.may_see(record.owner_kind, record.owner_key):
                return None
            return record, entry.result
        found = await self.connector.read(lambda: tx.get_task_owned(owner, task_id), self._remember)
        return None if found is None else (found.record, found.result)

    async def get_task(self, owner: Owner, task_id: str) -> TaskRecord | None:
        """The task `task_id` if `owner` may see it, else None (unknown and foreign look alike)."""
        found = await self.get_task_with_result(owner, task_id)
        return None if found is None else found[0]

    async def read_task(self, task_id: str) -> tuple[TaskRecord, TaskResult | None] | None:
        """The task and its outcome whoever owns it (workers, maintenance), from SQL."""
        found = await self.connector.read(lambda: tx.get_task(task_id), self._remember)
        return None if found is None else (found.record, found.result)

    async def list_tasks(
        self, owner: Owner, after: tuple[datetime, str] | None, limit: int
    ) -> list[TaskRecord]:
        """The owner's tasks, newest first, strictly after the keyset position `after`."""
        return await self.connector.read(lambda: tx.list_tasks(owner, after, limit))

    # -- status changes ---------------------------------------------------------------------------

    async def cancel_task(
        self, owner: Owner, task_id: str, message: str, now: datetime
    ) -> CancelOutcome | None:
        """Move an active task of `owner` to `cancelled`; None when `owner` cannot see the task.

        A terminal task is left unchanged and returned with `cancelled=False`.
        """

        def committed(outcome: CancelOutcome | None) -> None:
            if outcome is not None and outcome.cancelled:
                self.view.put(outcome.record, result=None)

        return await self._write(
            lambda: tx.cancel_task(owner, task_id, message, now),
            committed,
            task_id=task_id,
            changed=lambda outcome: (task_id,) if outcome is not None and outcome.cancelled else (),
        )

    async def finish_task(
        self, task_id: str, attempt: int, node: str, outcome: Outcome, now: datetime
    ) -> TaskRecord | None:
        """Store a worker's outcome and make the task terminal; None if the worker lost the task.

        Fenced: only the worker holding the lease (`node`, `attempt`) may finish, and only while the
        task is active, so a cancel or a newer attempt always wins.
        """
        found = await self._write(
            lambda: tx.finish_task(task_id, attempt, node, outcome, now),
            self._remember,
            task_id=task_id,
            changed=_this_one(task_id),
        )
        return None if found is None else found.record

    async def set_status(
        self, task_id: str, attempt: int, node: str, target: TaskStatus, message: str | None, now: datetime
    ) -> TaskRecord | None:
        """Move a task the worker holds to `target`; None if the worker lost the task."""

        def committed(found: Found | None) -> None:
            if found is not None:
                if found.record.is_terminal:
                    self._remember(found)
                else:
                    self.view.update(found.record)

        found = await self._write(
            lambda: tx.move_fenced(task_id, attempt, node, target, message, now),
            committed,
            task_id=task_id,
            changed=_this_one(task_id),
        )
        return None if found is None else found.record

    async def set_status_message(
        self, task_id: str, attempt: int, node: str, message: str | None, now: datetime
    ) -> TaskRecord | None:
        """Change the status message of an active task the worker holds; None if it lost it."""
        return await self._write(
            lambda: tx.set_status_message(task_id, attempt, node, message, now),
            self._remember_record,
            task_id=task_id,
            changed=_this_one(task_id),
        )

    # -- input requests (elicitation, sampling) ---------------------------------------------------

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

        def committed(asked: Asked | None) -> None:
            if asked is not None:
                self.view.update(asked.record, inputs=asked.outstanding)

        asked = await self._write(
            lambda: tx.request_input(task_id, attempt, node, key, method, params, now),
            committed,
            task_id=task_id,
            changed=lambda asked: (task_id,) if asked is not None else (),
        )
        return None if asked is None else (asked.record, asked.request)

    async def get_input_request(self, task_id: str, key: str) -> InputRequest | None:
        """One input request of a task (for the worker waiting on it)."""
        entry = self._usable(self.view.get(task_id, utcnow()))
        if entry is not None and entry.inputs is not None:
            for request in entry.inputs:
                if request.key == key:
                    return request  # still outstanding: no need to read it
        return await self.connector.read(lambda: tx.get_input_request(task_id, key))

    async def outstanding_inputs(self, owner: Owner, task_id: str) -> list[InputRequest]:
        """The unanswered input requests of a task `owner` may see, in the order they were asked."""
        entry = self._usable(self.view.get(task_id, utcnow()))
        if entry is not None and entry.inputs is not None:
            record = entry.record
            return list(entry.inputs) if owner.may_see(record.owner_kind, record.owner_key) else []
        return list(await self.connector.read(lambda: tx.outstanding_inputs_owned(owner, task_id)))

    async def answer_inputs(
        self, owner: Owner, task_id: str, responses: Mapping[str, dict[str, Any]], now: datetime
    ) -> AnswerOutcome | None:
        """Store answers to outstanding requests of a task `owner` may see; None if it cannot.

        Keys that are not outstanding (never asked, already answered) are ignored, as are answers
        to a terminal task. When no request stays outstanding, an `input_required` task turns
        `working` in the same transaction.
        Spec: SEP-2663 "Task Update Requests" (partial answers; unknown keys ignored).
        """

        def committed(outcome: AnswerOutcome | None) -> None:
            if outcome is not None and not outcome.record.is_terminal:
                self.view.update(outcome.record, inputs=outcome.outstanding)

        return await self._write(
            lambda: tx.answer_inputs(owner, task_id, responses, now),
            committed,
            task_id=task_id,
            changed=lambda outcome: (task_id,) if outcome is not None and outcome.answered else (),
        )

    # -- leases, recovery, ttl --------------------------------------------------------------------

    async def release_lease(self, task_id: str, attempt: int, node: str) -> bool:
        """Give up this node's lease on an active task without changing its status (server stop);
        the lease reads as expired since the task was created, so recovery (any replica) finds it."""
        record = await self._write(
            lambda: tx.release_lease(task_id, attempt, node), self._remember_record, task_id=task_id
        )
        return record is not None

    async def claim_for_rerun(
        self, record: TaskRecord, node: str, until: datetime, now: datetime
    ) -> TaskRecord | None:
        """Take an active task whose worker is gone as attempt `record.attempt + 1`; None if taken."""
        return await self._write(
            lambda: tx.claim_for_rerun(record, node, until, now),
            self._remember_record,
            task_id=record.task_id,
        )

    async def renew_leases(self, node: str, until: datetime) -> dict[str, int]:
        """Extend every lease `node` holds on an active task; returns task id -> attempt held.

        A task this node runs that is missing from the answer was cancelled, finished or taken
        over: its worker stops.
        """

        def committed(held: dict[str, int]) -> None:
            for task_id in held:
                entry = self.view.peek(task_id)
                if entry is not None and not entry.record.is_terminal:
                    entry.record = entry.record.evolve(lease_expires_at=until)

        return await self._write(lambda: tx.renew_leases(node, until), committed)

    async def held_leases(self, node: str) -> dict[str, int]:
        """The active tasks whose lease `node` holds, from SQL: task id -> attempt."""
        return await self.connector.read(lambda: tx.held_leases(node))

    async def expired_leases(self, now: datetime, limit: int) -> list[TaskRecord]:
        """Active tasks whose lease ran out: their worker is gone."""
        return await self.connector.read(lambda: tx.expired_leases(now, limit))

    async def fail_unleased(self, record: TaskRecord, message: str, now: datetime) -> TaskRecord | None:
        """Fail an active task whose lease ran out, with `message`; None if someone moved it first."""
        found = await self._write(
            lambda: tx.fail_unleased(record, message, now),
            self._remember,
            task_id=record.task_id,
            changed=lambda found: (record.task_id,) if found is not None else (),
        )
        return None if found is None else found.record

    async def fail_expired(self, now: datetime, keep_for: timedelta, limit: int) -> list[TaskRecord]:
        """Fail active tasks whose ttl ran out; keep each readable for `keep_for` before deletion.

        Spec: DESIGN §7 (ttl never silently deletes running work); SEP-2663 "Task Polling" (after
        the ttl the server MAY mark the task failed; `ttlMs` MAY change).
        """
        candidates = await self.connector.read(lambda: tx.expired_active(now, limit))
        if not candidates:
            return []

        def committed(failed: list[Found]) -> None:
            for found in failed:
                self._remember(found)

        failed = await self._write(
            lambda: tx.fail_expired(candidates, now, now + keep_for),
            committed,
            changed=lambda found: [one.record.task_id for one in found],
        )
        return [found.record for found in failed]

    async def delete_expired(self, now: datetime, limit: int) -> int:
        """Delete up to `limit` terminal tasks whose ttl ran out; returns how many were deleted."""

        def committed(deleted: list[str]) -> None:
            for task_id in deleted:
                self.view.drop(task_id)

        deleted: list[str] = await self._write(
            lambda: tx.delete_expired(now, limit), committed, changed=lambda deleted: deleted
        )
        return len(deleted)

    # -- operator views (unscoped) ----------------------------------------------------------------

    async def admin_list_tasks(
        self, *, owner_like: str | None = None, statuses: Sequence[str] | None = None, limit: int = 50
    ) -> list[TaskRecord]:
        """Tasks of every owner, newest first (operator CLI only)."""
        return await self.connector.read(lambda: tx.admin_list_tasks(owner_like, statuses, limit))

    async def admin_get_task(self, task_id: str) -> tuple[TaskRecord, TaskResult | None] | None:
        """One task of any owner with its outcome (operator CLI only)."""
        found = await self.connector.read(lambda: tx.get_task(task_id))
        return None if found is None else (found.record, found.result)

    async def admin_task_events(self, task_id: str) -> list[TaskEvent]:
        """The status history of one task, oldest first (operator CLI only)."""
        return await self.connector.read(lambda: tx.admin_task_events(task_id))

    async def admin_input_requests(self, task_id: str) -> list[dict[str, Any]]:
        """The input requests of one task as row dicts, in the order the tool asked."""
        return await self.connector.read(lambda: tx.admin_input_requests(task_id))


def _this_one(task_id: str) -> Callable[[Any], Iterable[str]]:
    """`changed` for a write of one task: announced when the write did something (not None)."""
    return lambda value: (task_id,) if value is not None else ()


__all__ = ["AnswerOutcome", "CancelOutcome", "Store"]
