"""The PostgreSQL connector: each program in its own transaction on a pooled asyncpg connection.

asyncpg is asyncio-native (no threads) and prepares each statement once per connection. A program
runs inside one READ COMMITTED transaction; the programs lock what they decide on (`lock_*`,
`SELECT ... FOR UPDATE`), and a transaction that PostgreSQL aborts as a serialization failure or a
deadlock is run again from the start (a fresh program), a few times, with a short backoff
(tenacity).

Replicas tell each other about changes (DESIGN §8): a transaction that changes tasks ends with
`pg_notify('mcptasks_tasks', '<origin> <task id>')`, delivered at its COMMIT; every connector
LISTENs on a connection of its own and reports the other replicas' changes to `on_change`. When
that connection is lost it reports "anything may have changed" (None) and connects again, with a
growing delay; until then the other replicas' changes are noticed by polling alone.

Long on purpose: the pool, the LISTEN connection and the retry of conflicting transactions share
one lifecycle (open, outage, close), kept in one file.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import asyncpg
from sqlalchemy.engine import URL
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from mcptasks.core.errors import StoreError
from mcptasks.observe import metrics
from mcptasks.store import queries
from mcptasks.store.health import StoreHealth
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
#: How long the driver waits for the database to answer one statement, in s (a cut network
#: fails a statement instead of hanging it; the server's own `statement_timeout` is 15 s).
COMMAND_TIMEOUT_S = 20.0
#: How many times a transaction aborted by a conflict is run again.
CONFLICT_RETRIES = 5
#: First backoff after a conflict, in seconds (doubled each time).
CONFLICT_BACKOFF_S = 0.005
#: The channel replicas announce their changes on.
CHANNEL = "mcptasks_tasks"
#: Longest wait between two attempts to connect the LISTEN connection again, in seconds.
LISTEN_RECONNECT_MAX_S = 5.0
#: How long `open` waits for the first LISTEN before it goes on without (retried behind), in s.
LISTEN_FIRST_WAIT_S = 5.0
#: How long `close` waits for the pool's connections to close before it terminates them, in s
#: (an unreachable database would otherwise hold a stop for the driver's own timeouts).
POOL_CLOSE_TIMEOUT_S = 5.0

#: Driver errors that mean the database could not be used (mapped by `error_from`). asyncpg raises
#: `InternalClientError` for a connection broken in the middle of a protocol exchange.
DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
)

_CONFLICTS: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
)


def error_from(exc: BaseException) -> StoreError:
    """A `StoreError` for a driver error, naming the condition, never the SQL or its values.

    A constraint violated or SQL that PostgreSQL refuses is a bug, not an outage (`unavailable`
    False); everything else (read-only, disk full, unreachable, timed out) is an outage.
    """
    unavailable = True
    if isinstance(exc, asyncpg.exceptions.IntegrityConstraintViolationError):
        message = "the task store rejected a write (constraint violated)"
        unavailable = False
    elif isinstance(exc, asyncpg.exceptions.ReadOnlySQLTransactionError):
        message = "the task store is read-only"
    elif isinstance(exc, asyncpg.exceptions.DiskFullError):
        message = "the task store is full (no space left on the disk)"
    elif isinstance(
        exc,
        OSError
        | asyncpg.exceptions.InterfaceError
        | asyncpg.exceptions.InternalClientError
        | asyncpg.exceptions.ConnectionDoesNotExistError
        | asyncpg.exceptions.ConnectionFailureError
        | asyncpg.exceptions.AdminShutdownError
        | asyncpg.exceptions.CannotConnectNowError
        | asyncpg.exceptions.TooManyConnectionsError
        | asyncio.TimeoutError,
    ):
        message = "the task store is unreachable"
    elif isinstance(exc, asyncpg.exceptions.QueryCanceledError | asyncpg.exceptions.LockNotAvailableError):
        message = "the task store timed out"
    elif isinstance(exc, asyncpg.exceptions.SyntaxOrAccessError | asyncpg.exceptions.DataError):
        message = "the task store refused a statement"
        unavailable = False
    else:
        message = "the task store failed"
    error = StoreError(message, unavailable=unavailable)
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


def _set_event(event: asyncio.Event, *_: Any) -> None:
    event.set()


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
    commits_in_order = False
    #: Other replicas' changes arrive by LISTEN/NOTIFY: nothing to poll for.
    polls_for_changes = False

    def __init__(self, url: URL, *, readonly: bool = False) -> None:
        self._url = url
        #: Only reads (an operator's command): `submit` refuses.
        self._readonly = readonly
        self._pool: asyncpg.Pool | None = None
        self._running: set[asyncio.Future[Any]] = set()
        #: Called with each statement and its parameters before it runs (debugging, tests).
        self.trace: Trace | None = None
        #: Tags this connector's own notifications, which it does not report to itself.
        self.origin = secrets.token_hex(6)
        self._watchers: list[Callable[[str | None], None]] = []
        self._listener: asyncio.Task[None] | None = None
        #: Whether the LISTEN connection is up (other replicas' changes are being heard).
        self.listening = False
        #: Set at the first LISTEN; `_served_unheard`: reads were served before it.
        self._listened = asyncio.Event()
        self._served_unheard = False
        #: Outage episodes, logged once each (`StoreHealth`).
        self.health = StoreHealth()

    def on_change(self, watcher: Callable[[str | None], None]) -> None:
        """Call `watcher(task_id)` when another replica changed that task, `watcher(None)` when
        any task may have changed (the LISTEN connection was lost)."""
        self._watchers.append(watcher)

    def check_changes(self) -> bool | None:
        """None: whether another replica changed something is not known at once (it is pushed)."""
        return None

    async def database_time(self) -> datetime:
        """The database's clock (`now()`), which leases are measured on.

        Raises: StoreError.
        """
        pool = self._pool
        if pool is None:
            raise StoreError("the task store is closed")
        try:
            async with pool.acquire() as conn:
                row = (await _execute(conn, Execute(queries.database_time, {}), self.trace)).first()
        except DRIVER_ERRORS as exc:
            error = error_from(exc)
            self.health.failed(error)
            raise error from exc
        assert row is not None
        value: datetime = row["now"]
        return value

    async def open(self) -> None:
        """Open the connection pool and start listening to the other replicas.

        Raises: StoreError when the database cannot be reached.
        """
        try:
            self._pool = await asyncpg.create_pool(
                dsn(self._url),
                min_size=POOL_MIN_SIZE,
                max_size=POOL_MAX_SIZE,
                server_settings=SERVER_SETTINGS,
                command_timeout=COMMAND_TIMEOUT_S,
            )
        except (TimeoutError, asyncpg.PostgresError, OSError) as exc:
            raise error_from(exc) from exc
        if not self._readonly:
            self._listener = asyncio.create_task(self._listen(), name="mcptasks.listen")
            # Listening before the first read: nothing another replica does goes unheard.
            try:
                await asyncio.wait_for(self._listened.wait(), LISTEN_FIRST_WAIT_S)
            except TimeoutError:
                self._served_unheard = True

    async def close(self) -> None:
        """Wait for running programs, then stop listening and close the pool."""
        if self._running:
            await asyncio.wait(list(self._running))
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
            self._listener = None
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await asyncio.wait_for(pool.close(), POOL_CLOSE_TIMEOUT_S)
            except DRIVER_ERRORS:  # TimeoutError is one of them
                pool.terminate()  # an unreachable database: drop the connections without a goodbye

    async def check_writable(self) -> None:
        """Refuse a database this process may only read (`default_transaction_read_only`, a
        read-only standby).

        Raises: StoreError when new transactions would be read-only or the database is out of reach.
        """
        pool = self._pool
        if pool is None or self._readonly:
            return
        try:
            async with pool.acquire() as conn:
                read_only = await conn.fetchval("SELECT current_setting('transaction_read_only')")
        except DRIVER_ERRORS as exc:
            raise error_from(exc) from exc
        if read_only == "on":
            raise StoreError(
                f"the database {self._url.render_as_string(hide_password=True)} is read-only "
                "(default_transaction_read_only or a standby): mcptasks serve needs to write it"
            )

    # -- other replicas -------------------------------------------------------------------------

    def _report(self, task_id: str | None) -> None:
        for watcher in self._watchers:
            try:
                watcher(task_id)
            except Exception:
                logger.exception("change watcher failed", extra={"action": "listen"})

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        origin, _, task_id = payload.partition(" ")
        if origin != self.origin and task_id:
            self._report(task_id)

    async def _listen(self) -> None:
        """Keep a LISTEN connection up; report None each time it was down (changes may be missed)."""
        retrying = AsyncRetrying(
            wait=wait_exponential(multiplier=0.1, max=LISTEN_RECONNECT_MAX_S),
            retry=retry_if_exception_type(
                (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)
            ),
            before_sleep=lambda state: logger.warning(
                "cannot listen to the other replicas (%s); trying again",
                type(state.outcome.exception()).__name__ if state.outcome else "",
                extra={"action": "listen"},
            ),
        )
        while True:
            lost = asyncio.Event()
            conn: asyncpg.Connection | None = None
            try:
                async for attempt in retrying:
                    with attempt:
                        conn = await asyncpg.connect(dsn(self._url), server_settings=SERVER_SETTINGS)
                assert conn is not None
                conn.add_termination_listener(functools.partial(_set_event, lost))
                await conn.add_listener(CHANNEL, self._notified)
                self.listening = True
                if self._listened.is_set() or self._served_unheard:
                    self._report(None)  # whatever happened while not listening
                self._listened.set()
                await lost.wait()
                logger.warning(
                    "lost the connection listening to the other replicas", extra={"action": "listen"}
                )
            finally:
                self.listening = False
                if conn is not None and not conn.is_closed():
                    await conn.close(timeout=1)

    # -- writes and reads -----------------------------------------------------------------------

    def submit(
        self,
        make: ProgramFactory[T],
        on_commit: Callable[[T], None] | None = None,
        changed: Callable[[T], Iterable[str]] | None = None,
    ) -> asyncio.Future[T]:
        """Run `make()` in a transaction of its own; the future resolves after its COMMIT.

        `changed(value)` names the tasks the program changed: they are announced to the other
        replicas at the COMMIT. `on_commit(value)` runs right after the COMMIT, before the future
        resolves. Cancelling the future does not stop the transaction.
        """
        if self._pool is None:
            raise StoreError("the task store is closed")
        if self._readonly:
            raise StoreError("the task store was opened read-only")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        running = asyncio.ensure_future(self._write(make, on_commit, changed))
        self._running.add(running)
        running.add_done_callback(self._running.discard)
        running.add_done_callback(lambda done: _copy_outcome(done, future))
        return future

    async def _write(
        self,
        make: ProgramFactory[T],
        on_commit: Callable[[T], None] | None,
        changed: Callable[[T], Iterable[str]] | None,
    ) -> T:
        value = await self._transaction(make, changed=changed)
        if on_commit is not None:
            try:
                on_commit(value)
            except Exception:
                logger.exception("after-commit hook failed", extra={"action": "commit"})
        return value

    async def _in_transaction(
        self,
        conn: asyncpg.Connection[Any],
        make: ProgramFactory[T],
        readonly: bool,
        changed: Callable[[T], Iterable[str]] | None,
    ) -> T:
        """Run `make()` in one transaction on `conn`, announcing `changed(value)` at its COMMIT."""
        transaction = conn.transaction(readonly=readonly)
        await transaction.start()
        try:
            value = await run_async(make(), conn, self.trace)
            for task_id in changed(value) if changed is not None else ():
                announce = {"channel": CHANNEL, "payload": f"{self.origin} {task_id}"}
                await _execute(conn, Execute(queries.announce_change, announce), self.trace)
        except BaseException:
            await transaction.rollback()
            raise
        committing = time.perf_counter()
        await transaction.commit()
        if not readonly:
            metrics.commit("postgresql", time.perf_counter() - committing)
        return value

    async def _transaction(
        self,
        make: ProgramFactory[T],
        *,
        readonly: bool = False,
        changed: Callable[[T], Iterable[str]] | None = None,
    ) -> T:
        pool = self._pool
        if pool is None:
            raise StoreError("the task store is closed")
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(_CONFLICTS),
            wait=wait_exponential(multiplier=CONFLICT_BACKOFF_S, max=1.0),
            stop=stop_after_attempt(CONFLICT_RETRIES + 1),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    async with pool.acquire() as conn:
                        value = await self._in_transaction(conn, make, readonly, changed)
                    if not readonly:
                        # After the COMMIT; a read that works does not end an outage of writes.
                        self.health.succeeded()
                    return value
        except StoreError as exc:
            self.health.failed(exc)
            raise
        except DRIVER_ERRORS as exc:
            error = error_from(exc)
            self.health.failed(error)
            raise error from exc
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
