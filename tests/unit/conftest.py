"""Fixtures of the unit suite: a real database per test (SQLite and PostgreSQL), the real `Store`,
`Executor` and `TaskManager`, and factories for owners and tasks.

- `engine` (parametrized): every test that uses the store runs once on SQLite and once on
  PostgreSQL (`tests/conftest.py` decides whether PostgreSQL must be there).
- `template_db` (session): one SQLite file migrated to head with `migrate.upgrade`; every SQLite test
  gets a `shutil.copy` of it. PostgreSQL tests get a database cloned from a migrated template
  database (`postgres_template`). No test pays for the migration or sees another's rows.
- `store`: the `Store` opened on that database as a serving process opens it; closed at teardown.
- `db`: reads the test's database directly, past the owner-scoped verbs (through the store's own
  connector, so one SQLite library has the file open).
- `statements`: records every statement the store runs, with its parameters (`Connector.trace`).
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
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import URL
from tests.conftest import PostgresServer

from mcptasks.core.model import Completed, ErrorInfo, Failed, TaskRecord, Wire, utcnow
from mcptasks.core.owner import Owner, OwnerKind
from mcptasks.core.status import TaskStatus
from mcptasks.runtime.bus import TaskBus
from mcptasks.runtime.executor import Executor
from mcptasks.runtime.manager import TaskManager
from mcptasks.runtime.options import Leases, Retention
from mcptasks.store import migrate
from mcptasks.store.engine import create_engines, database_url
from mcptasks.store.program import Execute, Program
from mcptasks.store.schema import metadata
from mcptasks.store.statements import Statement
from mcptasks.store.store import Store

#: The node id tasks made by `task_factory` are leased to, unless told otherwise.
FACTORY_NODE = "factory-node:1:abcdef"
#: How long `eventually` waits by default, in seconds.
EVENTUALLY_TIMEOUT_S = 5.0


# -- database -----------------------------------------------------------------------------------


def _in_thread(run: Callable[[], Awaitable[None]]) -> None:
    """Run `run()` in an event loop of its own thread (session fixtures must not touch
    pytest-asyncio's loops)."""
    failure: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(run())  # type: ignore[arg-type]
        except BaseException as exc:  # re-raised in the calling thread
            failure.append(exc)

    thread = threading.Thread(target=target, name="migrate-template")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


def _migrate(url: URL) -> None:
    async def run() -> None:
        engines = create_engines(url)
        try:
            await migrate.upgrade(engines)
        finally:
            await engines.dispose()

    _in_thread(run)


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per session; copy it, never open it."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    _migrate(database_url(str(path)))
    # Disposing the last connection checkpoints the WAL into the main file and removes it.
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres_server: PostgresServer) -> Iterator[str]:
    """A PostgreSQL database migrated to head once per session: the template of each test's."""
    name = postgres_server.create_database(prefix="mcptasks_template")
    try:
        _migrate(postgres_server.url(name))
        yield name
    finally:
        postgres_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest) -> str:
    """The database engine of this run of the test."""
    return str(request.param)


@pytest.fixture
def db_url(engine: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[URL]:
    """This test's own migrated database: a copy of the SQLite template, or a PostgreSQL clone."""
    if engine == "sqlite":
        template: Path = request.getfixturevalue("template_db")
        path = tmp_path / "mcptasks.db"
        shutil.copy(template, path)
        yield database_url(str(path))
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.create_database(template=request.getfixturevalue("postgres_template"))
    try:
        yield server.url(name)
    finally:
        server.drop_database(name)


@pytest.fixture
async def store(db_url: URL) -> AsyncIterator[Store]:
    store = Store.for_url(db_url)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def _count_program(table_name: str, where: Mapping[str, Any]) -> Program[int]:
    table = metadata.tables[table_name]
    statement = select(func.count().label("n")).select_from(table)
    for column in where:
        statement = statement.where(table.c[column] == column_param(table, column))
    result = yield Execute(Statement("probe_count", "test probe", statement), dict(where))
    row = result.first()
    assert row is not None
    return int(row["n"])


def column_param(table: Any, column: str) -> Any:
    from sqlalchemy import bindparam

    return bindparam(column, type_=table.c[column].type)


def _rows_program() -> Program[dict[str, list[dict[str, Any]]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for table in metadata.sorted_tables:
        result = yield Execute(Statement(f"probe_{table.name}", "test probe", select(table)), {})
        out[table.name] = result.rows
    return out


@dataclass
class DbProbe:
    """Reads the test's database directly, past the owner-scoped verbs."""

    store: Store

    async def count(self, table_name: str, **where: Any) -> int:
        """How many rows of `table_name` match the equality filters `where`."""
        return await self.store.connector.read(lambda: _count_program(table_name, where))

    async def rows(self) -> dict[str, list[dict[str, Any]]]:
        """Every row of every mcptasks table, as dicts."""
        return await self.store.connector.read(_rows_program)

    async def execute(self, sql: str) -> None:
        """Run one SQL statement (DDL for a test's own fixture) in a transaction of its own."""

        def program() -> Program[None]:
            yield Execute(Statement("probe_sql", "test probe", text(sql)), {})

        await self.store.connector.submit(program)

    async def refuse_inserts(self, table: str, *, when: str = "TRUE") -> None:
        """Make every INSERT into `table` whose NEW row satisfies `when` fail with 'refused'."""
        if self.store.connector.engine == "sqlite":
            await self.execute(
                f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} "
                f"WHEN {when} BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
            return
        await self.execute(
            f"CREATE FUNCTION refuse_{table}() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN IF {when} THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$"
        )
        await self.execute(
            f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION refuse_{table}()"
        )


@pytest.fixture
def db(store: Store) -> DbProbe:
    return DbProbe(store)


# -- statement recording ------------------------------------------------------------------------


@dataclass
class Statements:
    """What the store ran: `(statement name, parameters)` in order."""

    ran: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def clear(self) -> None:
        self.ran.clear()

    def touching_tasks(self) -> list[tuple[str, dict[str, Any]]]:
        """Every statement recorded (all of them read or write an mcptasks table)."""
        return list(self.ran)


@pytest.fixture
def statements(store: Store) -> Iterator[Statements]:
    """Record every statement the store runs (`Connector.trace`)."""
    recorded = Statements()

    def trace(statement: Statement, params: Mapping[str, Any]) -> None:
        recorded.ran.append((statement.name, dict(params)))

    store.connector.trace = trace
    try:
        yield recorded
    finally:
        store.connector.trace = None


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
