"""The SQLite connector: group commit with one thread hand-off per batch.

SQLite is reached through APSW, which bundles its own, current SQLite (the SQLite that Python's
`sqlite3` links is often older than 3.51.3, which fixed the WAL-reset corruption bug; see
`sqlite_version_problem`). Each process has one writer connection: the only one of that process
that writes. Its WAL is checkpointed by a thread of its own, off the commit path
(`store/checkpoints.py`). Several processes may serve one file (stdio servers of one user);
`external_changes` tells a process when another one committed.

How a write travels (storage-and-auth.md §1.8):

1. `submit(program)` queues the program; the first one queued schedules a flush on the event loop.
2. The flush runs, on the event loop thread, `BEGIN IMMEDIATE` and every queued program in a
   SAVEPOINT of its own (a failing program is rolled back alone; its caller gets the error). These
   statements only touch SQLite's page cache: microseconds each, no I/O wait, no thread hop.
3. The `COMMIT` (the WAL write and its fsync, `synchronous=FULL`) is handed to the commit thread,
   which alone waits on the disk, then hands the batch back with one `call_soon_threadsafe`.
4. Back on the loop, each program's `on_commit` runs, then its caller's future resolves: "acknowledged"
   always means "durable". Programs queued meanwhile form the next batch.

So a batch costs one hand-off each way, however many programs it holds, and the event loop never
waits on the disk. If another process holds the write lock (an operator's `sqlite3` shell), the
flush's non-blocking `BEGIN IMMEDIATE` fails at once and the commit thread waits for the lock instead.

Reads run on the event loop thread on a separate connection (WAL: readers never wait for the
writer): a point read costs microseconds, less than a thread hop. An in-memory database is a single
connection, so its reads queue behind the writes.

Long on purpose: the writer thread, its batches and their acknowledgement after the COMMIT are one
mechanism, whose ordering rules are easier to check in one file than across several.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import apsw

from mcptasks.core.errors import StoreError
from mcptasks.observe import metrics
from mcptasks.store import checkpoints
from mcptasks.store.health import StoreHealth
from mcptasks.store.program import Execute, Program, ProgramFactory, Result, run_sync
from mcptasks.store.statements import Statement

logger = logging.getLogger("mcptasks.store")

T = TypeVar("T")

#: How long the commit thread waits for another process's write lock, in ms.
BUSY_TIMEOUT_MS = 5000
#: How long a read on the event loop may wait for a lock (WAL readers almost never do), in ms.
READ_BUSY_TIMEOUT_MS = 100
#: Most programs committed in one transaction.
MAX_BATCH = 256
#: Bound of the queue of programs waiting for a batch: beyond it, `submit` refuses (back-pressure
#: belongs to the callers, which are requests; a full queue means the disk cannot keep up).
MAX_QUEUED = 50_000
#: PRAGMAs of every connection; the writer also sets the journal mode and `synchronous`.
_PRAGMAS = ("foreign_keys=ON",)
_WRITER_PRAGMAS = ("journal_mode=WAL", "synchronous=FULL", "journal_size_limit=67108864")
#: The SQLite release that fixed the WAL-reset bug (sqlite.org/wal.html#walresetbug).
WAL_RESET_FIXED = (3, 51, 3)
#: Permissions of a database file mcptasks creates: owner read and write only (its rows hold tool
#: arguments and results). SQLite gives the `-wal` and `-shm` files the database file's permissions.
DATABASE_FILE_MODE = 0o600


def sqlite_version() -> str:
    """The version of the SQLite library mcptasks runs on (APSW's)."""
    return apsw.sqlite_lib_version()


def sqlite_version_problem() -> str | None:
    """A one-line warning when the SQLite library predates the WAL-reset fix (3.51.3), else None."""
    version = sqlite_version()
    parts = tuple(int(part) for part in version.split(".")[:3])
    if parts >= WAL_RESET_FIXED:
        return None
    return (
        f"SQLite {version} predates 3.51.3, which fixed a rare WAL corruption bug when two connections "
        "write or checkpoint at once; a server keeps one writing connection, but several servers on one "
        "file have one each: install an APSW wheel that bundles SQLite >= 3.51.3 (pip install -U apsw)"
    )


def error_from(exc: BaseException) -> StoreError:
    """A `StoreError` for an APSW error, with a message that names the condition, never SQL.

    A constraint violated or SQL that SQLite refuses is a bug, not an outage (`unavailable` False).
    """
    unavailable = True
    if isinstance(exc, apsw.FullError):
        message = "the task store is full (no space left on the disk)"
    elif isinstance(exc, apsw.ReadOnlyError):
        message = "the task store is read-only"
    elif isinstance(exc, apsw.BusyError | apsw.LockedError):
        message = "the task store is locked by another process"
    elif isinstance(exc, apsw.ConstraintError):
        message = "the task store rejected a write (constraint violated)"
        unavailable = False
    elif isinstance(exc, apsw.SQLError | apsw.MisuseError | apsw.RangeError | apsw.BindingsError):
        message = "the task store refused a statement"
        unavailable = False
    elif isinstance(exc, apsw.IOError | apsw.CantOpenError | apsw.PermissionsError):
        message = "the task store is unavailable (I/O error)"
    elif isinstance(exc, apsw.CorruptError | apsw.NotADBError):
        message = "the task store is damaged (not a valid SQLite database)"
    else:
        message = "the task store failed"
    error = StoreError(message, unavailable=unavailable)
    error.__cause__ = exc
    return error


def create_private(path: str) -> bool:
    """Create the database file `path`, empty and readable by its owner only, unless it exists.

    SQLite would create a missing file with mode 0644 less the umask, and creates the `-wal` and
    `-shm` files with the database file's mode (set exactly, whatever the umask), so creating the
    file first with `DATABASE_FILE_MODE` makes all three private. SQLite takes an empty file as an
    empty database. An existing file keeps its mode: an operator may have chosen it. Returns
    whether the file was created; does nothing for `:memory:` or a `file:` URI, or when the file
    cannot be created (a missing directory, say), which SQLite's own open then reports.
    """
    if path in ("", ":memory:") or path.startswith("file:"):
        return False
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, DATABASE_FILE_MODE)
    except OSError:
        return False
    try:
        if hasattr(os, "fchmod"):  # the umask may have taken bits away; not on Windows
            os.fchmod(fd, DATABASE_FILE_MODE)
    finally:
        os.close(fd)
    return True


def warn_if_shared(path: str) -> None:
    """Log a warning when other users may read or write the database file `path`."""
    with contextlib.suppress(OSError):
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & 0o007:
            logger.warning(
                "the task database %s has mode %04o: other users can read it; chmod 600 it and its "
                "-wal and -shm files",
                path,
                mode,
                extra={"action": "database_mode"},
            )


def connect(path: str, *, writer: bool) -> apsw.Connection:
    """Open `path` with mcptasks' settings (module docstring); a writer creates the file (mode 0600).

    Raises: StoreError when the file cannot be opened.
    """
    flags = apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_URI | apsw.SQLITE_OPEN_NOMUTEX
    if writer:
        flags |= apsw.SQLITE_OPEN_CREATE
        if not create_private(path):
            warn_if_shared(path)
    try:
        conn = apsw.Connection(path, flags=flags)
        # Setting up may wait for another process starting on the same file (its switch to WAL,
        # its migrations); the writer then never waits on the event loop (`_flush`).
        conn.set_busy_timeout(BUSY_TIMEOUT_MS if writer else READ_BUSY_TIMEOUT_MS)
        for pragma in (*(_WRITER_PRAGMAS if writer else ()), *_PRAGMAS):
            conn.execute(f"PRAGMA {pragma}").fetchall()
        if writer:
            conn.set_busy_timeout(0)
        else:
            conn.execute("PRAGMA query_only=ON").fetchall()
    except apsw.Error as exc:
        raise error_from(exc) from exc
    return conn


def create_schema(conn: apsw.Connection) -> None:
    """Create the tables of `schema` (the migrations' head) on an empty in-memory database.

    A file database is migrated with alembic instead (`migrate.upgrade`); an in-memory one lives
    only as long as its single connection, which alembic's library cannot share.
    """
    from sqlalchemy.schema import CreateIndex, CreateTable

    from mcptasks.store.schema import metadata
    from mcptasks.store.statements import DIALECTS

    dialect = DIALECTS["sqlite"]
    with conn:
        for table in metadata.sorted_tables:
            conn.execute(str(CreateTable(table).compile(dialect=dialect)))
            for index in sorted(table.indexes, key=lambda found: str(found.name)):
                conn.execute(str(CreateIndex(index).compile(dialect=dialect)))


def _execute(conn: apsw.Connection, step: Execute) -> Result:
    compiled = step.statement.compiled("sqlite")
    cursor = conn.execute(compiled.sql, compiled.parameters(step.params))
    if compiled.columns:
        rows = [compiled.row(raw) for raw in cursor]
        return Result(rows, len(rows))
    return Result([], conn.changes())


Trace = Callable[[Statement, Mapping[str, Any]], None]


def execute(conn: apsw.Connection, step: Execute, trace: Trace | None = None) -> Result:
    """Run one statement of a program on `conn`, logging its name (never its values) at DEBUG."""
    if trace is not None:
        trace(step.statement, step.params)
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("sql %s", step.statement.name, extra={"action": "sql", "statement": step.statement.name})
    return _execute(conn, step)


@dataclass(eq=False, slots=True)
class _Pending:
    program: Program[Any]
    future: asyncio.Future[Any]
    on_commit: Callable[[Any], None] | None
    ok: bool = False
    value: Any = None


class SQLiteConnector:
    """Runs transaction programs on one SQLite file (see module docstring).

    Use `open()` once (inside the event loop that will use it), `submit()`/`read()`, `close()`.
    """

    engine = "sqlite"
    #: One writer, one queue: programs commit in the order they were submitted.
    commits_in_order = True

    def __init__(self, path: str, *, memory: bool = False, readonly: bool = False) -> None:
        #: The file path (or `:memory:`).
        self.path = path
        self._memory = memory
        #: Only reads (an operator's command): no writer connection, `submit` refuses.
        self._readonly = readonly and not memory
        #: The writer's `PRAGMA data_version` when last looked at (see `check_changes`).
        self._data_version: Any = None
        self._watchers: list[Callable[[str | None], None]] = []
        self._writer: apsw.Connection | None = None
        self._reader: apsw.Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: list[_Pending] = []
        self._flush_scheduled = False
        #: A batch is with the commit thread (or waiting there for the write lock).
        self._committing = False
        #: This process holds the write lock and looked at `data_version` since it won it.
        self._locked = False
        #: A program of the batch being committed changed rows (see `_report_health`).
        self._batch_wrote = False
        self._handoff: queue.SimpleQueue[tuple[str, list[_Pending]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        #: Runs the WAL's checkpoints off the commit path (None: SQLite's own, inside COMMITs).
        self._checkpointer: checkpoints.Checkpointer | None = None
        #: The WAL outgrew `CHECKPOINT_PAGES_INLINE`: the commit thread checkpoints after its COMMIT.
        self._checkpoint_inline = False
        self._closed = False
        #: The batch the commit thread is working on (failed by `_break` if the thread dies).
        self._in_thread: list[_Pending] | None = None
        #: Called with each statement and its parameters before it runs (debugging, tests).
        self.trace: Trace | None = None
        #: Set while nothing is queued or committing (what `close()` waits for).
        self._idle: asyncio.Event | None = None
        #: Why the writer cannot commit any more (its commit thread died); every write then fails.
        self._broken: StoreError | None = None
        #: Outage episodes, logged once each (`StoreHealth`).
        self.health = StoreHealth()

    @property
    def polls_for_changes(self) -> bool:
        """Whether other processes' changes are found by calling `check_changes` (a file: yes)."""
        return not self._memory

    def on_change(self, watcher: Callable[[str | None], None]) -> None:
        """Call `watcher(None)` when `check_changes` finds that another process committed."""
        self._watchers.append(watcher)

    def check_changes(self) -> bool | None:
        """Whether another process committed to the file since the last call (watchers are told).

        True or False when it can tell, None when it cannot right now (a batch is waiting for
        another process's write lock). Exact: the writer's `PRAGMA data_version` changes only with
        the commits of other connections, and this process writes only through the writer. No
        query: a few microseconds. While this process holds the write lock (a batch between its
        `BEGIN IMMEDIATE` and the end of its `COMMIT`) no other process can commit, so the answer
        is False without a look: the look taken when the lock was won (`_look_under_lock`) stands.
        """
        if self._memory:
            return False
        if self._committing:
            return False if self._locked else None
        return self._look()

    def _look_under_lock(self) -> None:
        """Take the look of `check_changes` right after this process won the write lock.

        Runs on the event loop while the commit thread does not use the writer. Other processes'
        commits before the lock was won are found (and watchers told) here; none can follow until
        the COMMIT ends, so `check_changes` answers False until then.
        """
        if self._memory:
            return
        self._look()
        self._locked = True

    def _look(self) -> bool | None:
        conn = self._writer
        if conn is None:
            return None
        try:
            version = conn.execute("PRAGMA data_version").fetchall()[0][0]
        except apsw.Error:
            return None
        changed = self._data_version is not None and version != self._data_version
        self._data_version = version
        if changed:
            for watcher in self._watchers:
                try:
                    watcher(None)
                except Exception:
                    logger.exception("change watcher failed", extra={"action": "external_change"})
        return changed

    async def database_time(self) -> datetime:
        """The clock leases are measured on: this host's (every process on a file shares it)."""
        return datetime.now(UTC)

    async def open(self) -> None:
        """Open the connections and start the commit thread.

        Raises: StoreError when the file cannot be opened.
        """
        await self._open()
        self.check_changes()  # the starting point

    async def _open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._idle = asyncio.Event()
        self._idle.set()
        if self._readonly:
            self._reader = connect(self.path, writer=False)
            return
        self._writer = connect(self.path, writer=True)
        try:
            if self._memory:
                create_schema(self._writer)
            self._reader = self._writer if self._memory else connect(self.path, writer=False)
            if not self._memory and sqlite_version_problem() is None:
                self._start_checkpointer(self._writer)
        except BaseException:
            if self._checkpointer is not None:
                self._checkpointer.stop()
                self._checkpointer = None
            self._close_connections()
            raise
        self._thread = threading.Thread(
            target=self._commit_thread, name="mcptasks-sqlite-commit", daemon=True
        )
        self._thread.start()

    def _start_checkpointer(self, writer: apsw.Connection) -> None:
        """Move the WAL's checkpoints off the commit path (`store/checkpoints.py`)."""
        try:
            conn = checkpoints.open_connection(self.path)
        except apsw.Error as exc:
            raise error_from(exc) from exc
        self._checkpointer = checkpoints.Checkpointer(conn)
        # The hook replaces SQLite's automatic checkpoints (`wal_autocheckpoint` is a WAL hook).
        writer.set_wal_hook(self._wal_grew)
        self._checkpointer.start()

    def _wal_grew(self, conn: apsw.Connection, name: str, pages: int) -> int:
        """SQLite's WAL hook: after a COMMIT (on the commit thread), the WAL holds `pages` pages."""
        if pages >= checkpoints.CHECKPOINT_PAGES and self._checkpointer is not None:
            self._checkpointer.wake()
        if pages >= checkpoints.CHECKPOINT_PAGES_INLINE:
            self._checkpoint_inline = True
        return apsw.SQLITE_OK

    async def close(self) -> None:
        """Commit what is queued, stop the commit thread and close the connections."""
        if self._closed:
            return
        if self._idle is not None:
            await self._idle.wait()
        self._closed = True
        if self._thread is not None:
            self._handoff.put(None)
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join)
            self._thread = None
        if self._checkpointer is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._checkpointer.stop)
            self._checkpointer = None
        self._close_connections()

    def _close_connections(self) -> None:
        # The reader first: the writer, closing last, checkpoints the WAL into the database.
        for conn in (self._reader, self._writer):
            if conn is not None:
                with contextlib.suppress(apsw.Error):
                    conn.close()
        self._reader = self._writer = None

    # -- writes ---------------------------------------------------------------------------------

    def submit(
        self,
        make: ProgramFactory[T],
        on_commit: Callable[[T], None] | None = None,
        changed: Callable[[T], Iterable[str]] | None = None,
    ) -> asyncio.Future[T]:
        """Queue the program `make()` for the next batch; the future resolves after its COMMIT.

        `changed` is not needed here: other processes on the file notice every commit
        (`check_changes`).

        `on_commit(value)` runs on the event loop right after the COMMIT, before the future resolves.
        Cancelling the future does not stop the program: it is committed with its batch.
        The future raises what the program raised (its savepoint rolled back), or StoreError when
        the batch could not be committed or the connector is closed.
        """
        loop = self._loop
        if loop is None or self._closed:
            raise StoreError("the task store is closed")
        if self._readonly:
            raise StoreError("the task store was opened read-only")
        if self._broken is not None:
            raise self._broken
        if len(self._queue) >= MAX_QUEUED:
            raise StoreError("the task store is overloaded: too many writes are waiting")
        future: asyncio.Future[T] = loop.create_future()
        self._queue.append(_Pending(make(), future, on_commit))
        assert self._idle is not None
        self._idle.clear()
        if not self._flush_scheduled and not self._committing:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._committing or not self._queue:
            return
        batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
        if self._broken is not None:
            self._finish(batch, self._broken)
            return
        conn = self._writer
        assert conn is not None
        self._committing = True
        try:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except apsw.BusyError:
                # Another process holds the write lock: wait for it off the event loop.
                self._handoff.put(("begin", batch))
                return
            except apsw.Error as exc:
                self._finish(batch, error_from(exc))
                return
            self._look_under_lock()
            self._run(batch)
        except BaseException as exc:
            # Not an SQLite error (MemoryError, KeyboardInterrupt): nobody may be left waiting.
            self._break(batch, exc)
            raise

    def _run(self, batch: list[_Pending]) -> None:
        conn = self._writer
        assert conn is not None
        trace = self.trace
        alone = len(batch) == 1
        self._batch_wrote = False
        try:
            for pending in batch:
                # A SAVEPOINT per program, so one failing program leaves the others; a program
                # alone in its batch needs none (its failure rolls the whole transaction back).
                if not alone:
                    conn.execute("SAVEPOINT program")
                changes = conn.total_changes()
                try:
                    pending.value = run_sync(pending.program, lambda step: execute(conn, step, trace))
                except Exception as exc:
                    if not alone:
                        conn.execute("ROLLBACK TO program")
                        conn.execute("RELEASE program")
                    pending.ok, pending.value = False, error_from(exc) if isinstance(exc, apsw.Error) else exc
                else:
                    if not alone:
                        conn.execute("RELEASE program")
                    pending.ok = True
                    if conn.total_changes() != changes:
                        self._batch_wrote = True
        except apsw.Error as exc:  # the savepoint machinery itself failed: give up the batch
            with contextlib.suppress(apsw.Error):
                conn.execute("ROLLBACK")
            self._finish(batch, error_from(exc))
            return
        if alone and not batch[0].ok:
            # Nothing to commit: undo the failed program's changes here, without the thread.
            try:
                conn.execute("ROLLBACK")
            except apsw.Error as exc:
                self._finish(batch, error_from(exc))
                return
            self._finish(batch, None)
            return
        self._handoff.put(("commit", batch))

    def _commit_thread(self) -> None:
        loop = self._loop
        assert loop is not None
        try:
            self._commit_loop(loop)
        except BaseException as exc:
            # The thread dies (MemoryError, an interrupt): fail the batch it held and every write
            # queued after it, on the event loop, instead of leaving their callers waiting forever.
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                loop.call_soon_threadsafe(self._break, None, exc)
            logger.critical(
                "the SQLite commit thread stopped (%s); writes fail until the server restarts",
                type(exc).__name__,
                extra={"action": "commit"},
            )

    def _commit_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        conn = self._writer
        assert conn is not None
        while True:
            item = self._handoff.get()
            if item is None:
                return
            kind, batch = item
            self._in_thread = batch
            error: StoreError | None = None
            if kind == "begin":
                try:
                    conn.set_busy_timeout(BUSY_TIMEOUT_MS)
                    conn.execute("BEGIN IMMEDIATE")
                except apsw.Error as exc:
                    error = error_from(exc)
                finally:
                    conn.set_busy_timeout(0)
                self._in_thread = None
                loop.call_soon_threadsafe(self._begun, batch, error)
                continue
            committing = time.perf_counter()
            try:
                conn.execute("COMMIT")
            except apsw.Error as exc:
                error = error_from(exc)
                with contextlib.suppress(apsw.Error):
                    conn.execute("ROLLBACK")
            else:
                metrics.commit("sqlite", time.perf_counter() - committing, len(batch))
            if self._checkpoint_inline:
                # The checkpointer is far behind: bound the WAL here, before the loop may use the
                # writer again (its acknowledgement waits, as it would for SQLite's own).
                self._checkpoint_inline = False
                checkpoints.checkpoint(conn, "inline")
            self._in_thread = None
            loop.call_soon_threadsafe(self._finish, batch, error)

    def _report_health(self, batch: list[_Pending]) -> None:
        """A committed batch ends an outage only if a program of it changed rows (a COMMIT that
        writes nothing succeeds on a full disk too); a program that met a storage error (a full
        disk inside its statement) is a failure of the outage."""
        for pending in batch:
            if not pending.ok and isinstance(pending.value, StoreError) and pending.value.unavailable:
                self.health.failed(pending.value)
                return
        if self._batch_wrote:
            self.health.succeeded()

    def _break(self, batch: list[_Pending] | None, exc: BaseException) -> None:
        """The writer cannot go on: fail `batch`, the batch the commit thread held, and every
        write queued or handed off, then refuse all writes (`submit` raises)."""
        if self._broken is None:
            self._broken = StoreError("the task store's writer stopped")
            self._broken.__cause__ = exc
        error = self._broken
        batches = [batch, self._in_thread]
        self._in_thread = None
        while True:
            try:
                item = self._handoff.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                batches.append(item[1])
        batches.append(self._queue)
        self._queue = []
        self._committing = False
        self._locked = False
        for failed in batches:
            for pending in failed or ():
                if not pending.future.done():
                    pending.future.set_exception(error)
        if self._idle is not None:
            self._idle.set()

    def _begun(self, batch: list[_Pending], error: StoreError | None) -> None:
        if error is not None:
            self._finish(batch, error)
            return
        try:
            self._look_under_lock()
            self._run(batch)
        except BaseException as exc:
            self._break(batch, exc)
            raise

    def _finish(self, batch: list[_Pending], error: StoreError | None) -> None:
        self._committing = False
        self._locked = False
        if error is not None:
            self.health.failed(error)
            if not error.unavailable:
                logger.error("could not commit %d writes: %s", len(batch), error, extra={"action": "commit"})
        else:
            self._report_health(batch)
        for pending in batch:
            # A caller that went away (its future cancelled) still had its program committed.
            if error is not None:
                if not pending.future.done():
                    pending.future.set_exception(error)
            elif not pending.ok:
                if not pending.future.done():
                    pending.future.set_exception(pending.value)
            else:
                if pending.on_commit is not None:
                    try:
                        pending.on_commit(pending.value)
                    except Exception:
                        logger.exception("after-commit hook failed", extra={"action": "commit"})
                if not pending.future.done():
                    pending.future.set_result(pending.value)
        if self._queue:
            if not self._flush_scheduled:
                self._flush()
        elif self._idle is not None:
            self._idle.set()

    # -- reads ----------------------------------------------------------------------------------

    async def read(self, make: ProgramFactory[T], on_read: Callable[[T], None] | None = None) -> T:
        """Run the read-only program `make()` and return its value (a consistent snapshot).

        `on_read(value)` runs at once (no await in between, so no commit can come between).
        Raises: StoreError when the database cannot be read.
        """
        if self._memory:
            return await self.submit(make, on_read)
        conn = self._reader
        if conn is None or self._closed:
            raise StoreError("the task store is closed")
        with self._reading(conn):
            value = run_sync(make(), lambda step: execute(conn, step, self.trace))
        # A read that works does not end an outage: writes may still fail (a full disk).
        if on_read is not None:
            on_read(value)
        return value

    @contextlib.contextmanager
    def _reading(self, conn: apsw.Connection) -> Iterator[None]:
        try:
            conn.execute("BEGIN")
            try:
                yield
            finally:
                conn.execute("COMMIT")
        except apsw.Error as exc:
            error = error_from(exc)
            self.health.failed(error)
            raise error from exc

    async def check_writable(self) -> None:
        """Refuse a database this process can only read (a read-only file or directory).

        Raises: StoreError naming the file when SQLite opened it read-only.
        """
        conn = self._writer
        if conn is None or self._memory:
            return
        if conn.readonly("main"):
            raise StoreError(f"the database file {self.path} is read-only: mcptasks serve needs to write it")


__all__ = [
    "SQLiteConnector",
    "connect",
    "error_from",
    "sqlite_version",
    "sqlite_version_problem",
]
