"""The PostgreSQL connector: each program in its own transaction on a pooled asyncpg connection.

asyncpg is asyncio-native (no threads) and prepares each statement once per connection. A program
runs inside one READ COMMITTED transaction; the programs lock what they decide on (`lock_task*`,
`SELECT ... FOR UPDATE`), and a transaction that PostgreSQL aborts as a serialization failure or a
deadlock is run again from the start (a fresh program), a few times, with a short backoff.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import asyncpg
from sqlalchemy.engine import URL

from mcptasks.core.errors import StoreError
from mcptasks.store.program import Execute, Program, ProgramFactory, Result
from mcptasks.store.statements import Statement

logger = logging.getLogger("mcptasks.store")

T = TypeVar("T")

#: Connections kept open by one process.
POOL_MIN_SIZE = 2
POOL_MAX_SIZE = 10
#: Server settings of every connection: bounded statements, locks and idle transactions (ms).
SERVER_SETTINGS = {
    "application_name": "mcptasks",
    "statement_timeout": "15000",
    "idle_in_transaction_session_timeout": "30000",
    "lock_timeout": "5000",
}
#: How many times a transaction aborted by a conflict is run again.
CONFLICT_RETRIES = 5
#: First backoff after a conflict, in seconds (doubled each time).
CONFLICT_BACKOFF_S = 0.005

_CONFLICTS: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
)


def error_from(exc: BaseException) -> StoreError:
    """A `StoreError` for a driver error, naming the condition, never the SQL or its values."""
    if isinstance(exc, asyncpg.exceptions.IntegrityConstraintViolationError):
        message = "the task store rejected a write (constraint violated)"
    elif isinstance(exc, asyncpg.exceptions.ReadOnlySQLTransactionError):
        message = "the task store is read-only"
    elif isinstance(exc, asyncpg.exceptions.DiskFullError):
        message = "the task store is full (no space left on the disk)"
    elif isinstance(
        exc,
        OSError
        | asyncpg.exceptions.InterfaceError
        | asyncpg.exceptions.ConnectionDoesNotExistError
        | asyncpg.exceptions.CannotConnectNowError
        | asyncpg.exceptions.TooManyConnectionsError
        | asyncio.TimeoutError,
    ):
        message = "the task store is unreachable"
    elif isinstance(exc, asyncpg.exceptions.QueryCanceledError | asyncpg.exceptions.LockNotAvailableError):
        message = "the task store timed out"
    else:
        message = "the task store failed"
    error = StoreError(message)
    error.__cause__ = exc
    return error


def dsn(url: URL) -> str:
    """The asyncpg DSN of a SQLAlchemy `postgresql://` URL (the password kept)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


Trace = Callable[[Statement, Mapping[str, Any]], None]


async def _execute(conn: asyncpg.Connection, step: Execute, trace: Trace | None) -> Result:
    if trace is not None:
        trace(step.statement, step.params)
    compiled = step.statement.compiled("postgresql")
    args = compiled.positional(step.params)
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("sql %s", step.statement.name, extra={"action": "sql", "statement": step.statement.name})
    if compiled.columns:
        records = await conn.fetch(compiled.sql, *args)
        rows = [compiled.row(tuple(record)) for record in records]
        return Result(rows, len(rows))
    status: str = await conn.execute(compiled.sql, *args)
    tail = status.rsplit(" ", 1)[-1]
    return Result([], int(tail) if tail.isdigit() else 0)


async def run_async(program: Program[T], conn: asyncpg.Connection, trace: Trace | None = None) -> T:
    """Drive `program` on `conn` (inside the caller's transaction); return its value."""
    try:
        step = next(program)
        while True:
            try:
                result = await _execute(conn, step, trace)
            except Exception as exc:
                step = program.throw(exc)
            else:
                step = program.send(result)
    except StopIteration as stop:
        value: T = stop.value
        return value


def _copy_outcome(done: asyncio.Future[T], future: asyncio.Future[T]) -> None:
    if future.done():
        if not done.cancelled():
            done.exception()  # retrieved: nobody waits for it any more
        return
    if done.cancelled():
        future.cancel()
    elif (exc := done.exception()) is not None:
        future.set_exception(exc)
    else:
        future.set_result(done.result())


class PostgresConnector:
    """Runs transaction programs on a PostgreSQL database (see module docstring)."""

    engine = "postgresql"

    def __init__(self, url: URL, *, readonly: bool = False) -> None:
        self._url = url
        #: Only reads (an operator's command): `submit` refuses.
        self._readonly = readonly
        self._pool: asyncpg.Pool | None = None
        self._running: set[asyncio.Future[Any]] = set()
        #: Called with each statement and its parameters before it runs (debugging, tests).
        self.trace: Trace | None = None

    def external_changes(self) -> bool | None:
        """None: other replicas' changes are not known here."""
        return None

    async def open(self) -> None:
        """Open the connection pool.

        Raises: StoreError when the database cannot be reached.
        """
        try:
            self._pool = await asyncpg.create_pool(
                dsn(self._url),
                min_size=POOL_MIN_SIZE,
                max_size=POOL_MAX_SIZE,
                server_settings=SERVER_SETTINGS,
            )
        except (TimeoutError, asyncpg.PostgresError, OSError) as exc:
            raise error_from(exc) from exc

    async def close(self) -> None:
        """Wait for running programs, then close the pool."""
        if self._running:
            await asyncio.wait(list(self._running))
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def submit(
        self, make: ProgramFactory[T], on_commit: Callable[[T], None] | None = None
    ) -> asyncio.Future[T]:
        """Run `make()` in a transaction of its own; the future resolves after its COMMIT.

        `on_commit(value)` runs right after the COMMIT, before the future resolves. Cancelling the
        future does not stop the transaction.
        """
        if self._pool is None:
            raise StoreError("the task store is closed")
        if self._readonly:
            raise StoreError("the task store was opened read-only")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        running = asyncio.ensure_future(self._write(make, on_commit))
        self._running.add(running)
        running.add_done_callback(self._running.discard)
        running.add_done_callback(lambda done: _copy_outcome(done, future))
        return future

    async def _write(self, make: ProgramFactory[T], on_commit: Callable[[T], None] | None) -> T:
        value = await self._transaction(make)
        if on_commit is not None:
            try:
                on_commit(value)
            except Exception:
                logger.exception("after-commit hook failed", extra={"action": "commit"})
        return value

    async def _transaction(self, make: ProgramFactory[T], *, readonly: bool = False) -> T:
        pool = self._pool
        if pool is None:
            raise StoreError("the task store is closed")
        backoff = CONFLICT_BACKOFF_S
        for attempt in range(CONFLICT_RETRIES + 1):
            try:
                async with pool.acquire() as conn, conn.transaction(readonly=readonly):
                    return await run_async(make(), conn, self.trace)
            except _CONFLICTS as exc:
                if attempt == CONFLICT_RETRIES:
                    raise error_from(exc) from exc
                logger.debug("transaction conflict; running it again", extra={"action": "retry"})
                await asyncio.sleep(backoff)
                backoff *= 2
            except StoreError:
                raise
            except (TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                raise error_from(exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def read(self, make: ProgramFactory[T], on_read: Callable[[T], None] | None = None) -> T:
        """Run the read-only program `make()` in a read-only transaction; return its value.

        `on_read(value)` runs once the value is known (only terminal tasks are remembered from a
        PostgreSQL read, and those never change, so a late `on_read` cannot go back in time).
        """
        value = await self._transaction(make, readonly=True)
        if on_read is not None:
            on_read(value)
        return value


__all__ = ["PostgresConnector", "dsn", "error_from"]
