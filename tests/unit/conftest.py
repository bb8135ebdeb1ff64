"""Fixtures of the unit suite: a real SQLite file per test, the real `Store`, `Executor` and
`TaskManager`, and factories for owners and tasks.

- `template_db` (session): one SQLite file migrated to head with `migrate.upgrade`; every test gets
  a `shutil.copy` of it (`db_path`), so no test pays for the migration or sees another's rows.
- `engines`, `store`: engines and an opened `Store` on that copy; both closed at teardown
  (`filterwarnings = error` turns an unclosed aiosqlite connection into a failure).
- `statements`: a `before_cursor_execute` listener on both engines recording what ran
  (procrastinate's `InMemoryConnector.queries`).
- `owner_factory`, `task_factory`: build owners and committed tasks in any status, through the real
  store verbs (so each task has the events and results its status implies).
- `leases`, `retention`, `executor_factory`, `manager`: a runtime with timings short enough for tests.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import URL

from mcptasks.core.model import Completed, ErrorInfo, Failed, TaskRecord, Wire, utcnow
from mcptasks.core.owner import Owner, OwnerKind
from mcptasks.core.status import TaskStatus
from mcptasks.runtime.bus import TaskBus
from mcptasks.runtime.executor import Executor
from mcptasks.runtime.manager import TaskManager
from mcptasks.runtime.options import Leases, Retention
from mcptasks.store import migrate
from mcptasks.store.engine import Engines, create_engines, database_url
from mcptasks.store.schema import metadata
from mcptasks.store.store import Store

#: The node id tasks made by `task_factory` are leased to, unless told otherwise.
FACTORY_NODE = "factory-node:1:abcdef"
#: How long `eventually` waits by default, in seconds.
EVENTUALLY_TIMEOUT_S = 5.0


# -- database -----------------------------------------------------------------------------------


def _migrate_template(path: Path) -> None:
    async def run() -> None:
        engines = create_engines(database_url(str(path)))
        try:
            await migrate.upgrade(engines)
        finally:
            await engines.dispose()

    failure: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(run())
        except BaseException as exc:  # re-raised in the calling thread
            failure.append(exc)

    # A thread of its own: the session fixture must not touch pytest-asyncio's event loops.
    thread = threading.Thread(target=target, name="migrate-template")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per session; copy it, never open it."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    _migrate_template(path)
    # Disposing the last connection checkpoints the WAL into the main file and removes it.
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0
    return path


@pytest.fixture
def db_path(tmp_path: Path, template_db: Path) -> Path:
    """This test's own copy of the migrated template."""
    path = tmp_path / "mcptasks.db"
    shutil.copy(template_db, path)
    return path


@pytest.fixture
def db_url(db_path: Path) -> URL:
    return database_url(str(db_path))


@pytest.fixture
async def engines(db_url: URL) -> AsyncIterator[Engines]:
    engines = create_engines(db_url)
    try:
        yield engines
    finally:
        await engines.dispose()


@pytest.fixture
async def store(engines: Engines) -> AsyncIterator[Store]:
    store = Store(engines)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@dataclass
class DbProbe:
    """Reads the test's database directly, past the owner-scoped verbs."""

    engines: Engines

    async def count(self, table_name: str, **where: Any) -> int:
        """How many rows of `table_name` match the equality filters `where`."""
        table = metadata.tables[table_name]
        statement = select(func.count()).select_from(table)
        for column, value in where.items():
            statement = statement.where(table.c[column] == value)
        async with self.engines.reader.connect() as conn:
            return int((await conn.execute(statement)).scalar_one())

    async def rows(self) -> dict[str, list[dict[str, Any]]]:
        """Every row of every mcptasks table, as dicts."""
        out: dict[str, list[dict[str, Any]]] = {}
        async with self.engines.reader.connect() as conn:
            for table in metadata.sorted_tables:
                out[table.name] = [dict(row) for row in (await conn.execute(select(table))).mappings()]
        return out


@pytest.fixture
def db(engines: Engines) -> DbProbe:
    return DbProbe(engines)


# -- statement recording ------------------------------------------------------------------------


@dataclass
class Statements:
    """What ran on the engines: `(sql, parameters)` in order."""

    ran: list[tuple[str, Any]] = field(default_factory=list)

    def clear(self) -> None:
        self.ran.clear()

    def touching_tasks(self) -> list[tuple[str, list[Any]]]:
        """`(sql, bound values)` of the statements that read or write an mcptasks table.

        BEGIN, SAVEPOINT/RELEASE and PRAGMA statements are left out.
        """
        names = tuple(metadata.tables)
        return [(sql, _flatten(params)) for sql, params in self.ran if any(name in sql for name in names)]


def _flatten(parameters: Any) -> list[Any]:
    # The bound values of one execution: positional, named or executemany.
    if parameters is None:
        return []
    if isinstance(parameters, dict):
        return list(parameters.values())
    if isinstance(parameters, list | tuple):
        values: list[Any] = []
        for item in parameters:
            values.extend(_flatten(item) if isinstance(item, list | tuple | dict) else [item])
        return values
    return [parameters]


@pytest.fixture
def statements(engines: Engines) -> Iterator[Statements]:
    """Record every statement the engines run (a SQLAlchemy `before_cursor_execute` listener)."""
    recorded = Statements()

    def listener(_conn: Any, _cursor: Any, sql: str, parameters: Any, _context: Any, _many: bool) -> None:
        recorded.ran.append((sql, parameters))

    targets = {id(e.sync_engine): e.sync_engine for e in (engines.writer, engines.reader)}.values()
    for target in targets:
        event.listen(target, "before_cursor_execute", listener)
    try:
        yield recorded
    finally:
        for target in targets:
            event.remove(target, "before_cursor_execute", listener)


# -- owners and tasks ---------------------------------------------------------------------------


class OwnerFactory(Protocol):
    def __call__(self, kind: OwnerKind = "session", **kwargs: Any) -> Owner: ...


@pytest.fixture
def owner_factory() -> OwnerFactory:
    """`owner_factory(kind="session" | "principal" | "capability", ...)`: a fresh, distinct owner."""
    counter = itertools.count(1)

    def make(kind: OwnerKind = "session", **kwargs: Any) -> Owner:
        n = next(counter)
        if kind == "session":
            return Owner.session(kwargs.get("session_id", f"session-{n}"))
        if kind == "principal":
            return Owner.principal(
                kwargs.get("issuer", "https://issuer.example"),
                kwargs.get("subject", f"user-{n}"),
                kwargs.get("client_id", "client-a"),
                per_client=kwargs.get("per_client", True),
            )
        return Owner.capability()

    return make


class TaskFactory(Protocol):
    def __call__(
        self,
        *,
        owner: Owner | None = None,
        status: TaskStatus = TaskStatus.WORKING,
        tool_name: str = "echo",
        arguments: dict[str, Any] | None = None,
        wire: Wire = "2025-11-25",
        ttl_ms: int | None = 3_600_000,
        created_at: datetime | None = None,
        node: str = FACTORY_NODE,
        lease_expires_at: datetime | None = None,
        attempt: int = 1,
        result: dict[str, Any] | None = None,
    ) -> Awaitable[TaskRecord]: ...


@pytest.fixture
def task_factory(store: Store, owner_factory: OwnerFactory) -> TaskFactory:
    """`await task_factory(owner=…, status=…, …)`: a committed task in `status`, as the store has it.

    The task is created `working` and leased to `node` (attempt `attempt`), then moved with the real
    verbs: `set_status` (input_required), `finish_task` (completed, failed), `cancel_task` (cancelled).
    """

    async def make(
        *,
        owner: Owner | None = None,
        status: TaskStatus = TaskStatus.WORKING,
        tool_name: str = "echo",
        arguments: dict[str, Any] | None = None,
        wire: Wire = "2025-11-25",
        ttl_ms: int | None = 3_600_000,
        created_at: datetime | None = None,
        node: str = FACTORY_NODE,
        lease_expires_at: datetime | None = None,
        attempt: int = 1,
        result: dict[str, Any] | None = None,
    ) -> TaskRecord:
        owner = owner or owner_factory()
        now = created_at or utcnow()
        record = TaskRecord.new(
            owner=owner,
            wire=wire,
            tool_name=tool_name,
            arguments=arguments if arguments is not None else {"text": "hello"},
            ttl_ms=ttl_ms,
            poll_interval_ms=1000,
            now=now,
        ).evolve(
            lease_node=node,
            lease_expires_at=lease_expires_at or utcnow() + timedelta(seconds=30),
            attempt=attempt,
        )
        await store.create_task(record, node=node)
        task_id = record.task_id
        if status is TaskStatus.INPUT_REQUIRED:
            assert await store.set_status(task_id, attempt, node, status, "need input", utcnow())
        elif status is TaskStatus.COMPLETED:
            outcome = Completed(result or {"content": [{"type": "text", "text": "done"}]})
            assert await store.finish_task(task_id, attempt, node, outcome, utcnow())
        elif status is TaskStatus.FAILED:
            outcome_f = Failed(ErrorInfo(-32603, "Tool execution failed"), "Tool execution failed")
            assert await store.finish_task(task_id, attempt, node, outcome_f, utcnow())
        elif status is TaskStatus.CANCELLED:
            cancelled = await store.cancel_task(owner, task_id, "cancelled by the factory", utcnow())
            assert cancelled is not None and cancelled.cancelled
        found = await store.admin_get_task(task_id)
        assert found is not None
        return found[0]

    return make


# -- runtime ------------------------------------------------------------------------------------


@pytest.fixture
def leases() -> Leases:
    return Leases(
        duration_s=1, heartbeat_s=0.2, recover_interval_s=0.2, cancel_grace_s=0.3, shutdown_grace_s=0.3
    )


@pytest.fixture
def retention() -> Retention:
    return Retention(sweep_interval_s=0.2, sweep_batch=50, expired_keep_s=60, poll_interval_ms=500)


@pytest.fixture
def bus() -> TaskBus:
    return TaskBus()


class ExecutorFactory(Protocol):
    def __call__(self, *, node: str | None = None, start: bool = True) -> Awaitable[Executor]: ...


@pytest.fixture
async def executor_factory(
    store: Store, bus: TaskBus, leases: Leases, retention: Retention
) -> AsyncIterator[ExecutorFactory]:
    """`await executor_factory(node=…, start=True)`: a real `Executor`, stopped at teardown."""
    made: list[Executor] = []

    async def make(*, node: str | None = None, start: bool = True) -> Executor:
        executor = Executor(store, bus, node=node, leases=leases, retention=retention)
        made.append(executor)
        if start:
            await executor.start()
        return executor

    try:
        yield make
    finally:
        for executor in made:
            await executor.stop()


@pytest.fixture
async def executor(executor_factory: ExecutorFactory) -> Executor:
    return await executor_factory()


@pytest.fixture
def manager(store: Store, executor: Executor, bus: TaskBus, retention: Retention) -> TaskManager:
    return TaskManager(store, executor, bus, retention)


Eventually = Callable[..., Awaitable[float]]


async def _eventually(
    check: Callable[[], Awaitable[bool]], *, timeout_s: float = EVENTUALLY_TIMEOUT_S, every_s: float = 0.02
) -> float:
    start = time.monotonic()
    deadline = start + timeout_s
    while True:
        if await check():
            return time.monotonic() - start
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout_s} s")
        await asyncio.sleep(every_s)


@pytest.fixture
def eventually() -> Eventually:
    """`await eventually(check, timeout_s=5)`: poll the async `check` until true, else fail.

    Returns the seconds it took. A deadline, never a fixed sleep.
    """
    return _eventually


async def _status_of(store: Store, task_id: str) -> TaskStatus | None:
    found = await store.admin_get_task(task_id)
    return None if found is None else found[0].status


@pytest.fixture
def status_of(store: Store) -> Callable[[str], Awaitable[TaskStatus | None]]:
    """`await status_of(task_id)`: the stored status (any owner), or None when the row is gone."""
    return lambda task_id: _status_of(store, task_id)
