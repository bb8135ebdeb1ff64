"""WAL checkpoints of a SQLite file, off the commit path.

SQLite's default checkpoints the WAL inside the COMMIT that takes it past 1,000 pages
(`wal_autocheckpoint`): that COMMIT, and every write queued behind it, waits while the checkpoint
copies the pages into the database file and fsyncs it. The cost grows with the number of distinct
pages the WAL holds: about 0.5 ms on a new file, 5 to 10 ms once a store holds 100,000 tasks (random
task ids spread each batch's index entries over many pages), which was most of the create latency
p99 at scale.

So the writer connection turns that off and reports, through SQLite's WAL hook, how many pages its
WAL holds after each COMMIT (`wal_grew`, on the commit thread). Past `CHECKPOINT_PAGES` it wakes the
`Checkpointer`: a thread with its own connection that runs a PASSIVE checkpoint (it copies what no
reader still needs, never waits for a lock and never blocks the writer), while the writer goes on
committing. The writer restarts the WAL from its beginning at its next write once a checkpoint has
copied all of it (sqlite.org/wal.html, "WAL File Growth"); `journal_size_limit` then truncates it.

Two connections of one process writing and checkpointing at once is the case of SQLite's WAL-reset
bug (fixed in 3.51.3): on an older library the writer keeps SQLite's own checkpoints
(`SQLiteConnector` checks `sqlite_version_problem`). If the checkpointer falls far behind (a reader
holding an old snapshot, a slow disk), the WAL grows past `CHECKPOINT_PAGES_INLINE` and the commit
thread checkpoints itself after handing its batch back, so the WAL stays bounded.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

import apsw

from mcptasks.observe import metrics

logger = logging.getLogger("mcptasks.store")

#: WAL size, in pages, past which a COMMIT wakes the checkpointer (SQLite's own default threshold).
CHECKPOINT_PAGES = 1000
#: WAL size, in pages, past which the commit thread checkpoints itself (the checkpointer is behind).
CHECKPOINT_PAGES_INLINE = 16_000


def open_connection(path: str) -> apsw.Connection:
    """A connection to `path` for checkpoints only (`synchronous=FULL`, as the writer's).

    Raises: apsw.Error when the file cannot be opened.
    """
    flags = apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_URI | apsw.SQLITE_OPEN_NOMUTEX
    conn = apsw.Connection(path, flags=flags)
    conn.execute("PRAGMA synchronous=FULL").fetchall()
    return conn


class Checkpointer:
    """A thread that runs PASSIVE checkpoints of one SQLite file when woken (module docstring).

    `start()` once, `wake()` from any thread (cheap, idempotent until the checkpoint runs),
    `stop()` to end the thread and close its connection. A failed checkpoint is logged at DEBUG
    and retried on the next wake: a PASSIVE checkpoint fails only when another connection is
    checkpointing the same file (another server), which does the work instead.
    """

    def __init__(self, conn: apsw.Connection) -> None:
        #: The checkpointer's own connection (`synchronous=FULL`: the copy is fsynced before the
        #: writer may restart the WAL over the frames it copied).
        self._conn = conn
        self._wanted = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="mcptasks-sqlite-checkpoint", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def wake(self) -> None:
        """Ask for a checkpoint soon (from the commit thread's WAL hook)."""
        self._wanted.set()

    def stop(self) -> None:
        """End the thread (after the checkpoint it may be running) and close its connection."""
        self._stopping = True
        self._wanted.set()
        if self._thread.is_alive():
            self._thread.join()
        with contextlib.suppress(apsw.Error):
            self._conn.close()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            if self._stopping:
                return
            try:
                checkpoint(self._conn, "background")
            except Exception:  # not SQLite's (those are handled): keep the thread for the next one
                logger.exception("checkpoint failed", extra={"action": "checkpoint"})


def checkpoint(conn: apsw.Connection, where: str) -> None:
    """Run one PASSIVE checkpoint on `conn`, recording its duration (`where`: a metrics label).

    Never raises: a checkpoint that cannot run now is retried by the next one.
    """
    started = time.perf_counter()
    try:
        conn.wal_checkpoint(mode=apsw.SQLITE_CHECKPOINT_PASSIVE)
    except apsw.Error as exc:
        logger.debug("checkpoint skipped: %s", type(exc).__name__, extra={"action": "checkpoint"})
        return
    metrics.checkpoint(where, time.perf_counter() - started)


__all__ = ["CHECKPOINT_PAGES", "CHECKPOINT_PAGES_INLINE", "Checkpointer", "checkpoint", "open_connection"]
