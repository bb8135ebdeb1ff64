"""A consistent copy of a SQLite task database while servers keep using it (`mcptasks db backup`).

SQLite's online backup API copies the database page by page in steps; a write by a server between
steps restarts the copy, so the result is the database as of one commit, never a torn file (copying
the file with `cp` while a server writes can be). A busy server could restart a stepwise copy for
ever, so after `MAX_RESTARTS` restarts the rest is copied in one step: one read transaction, which
in WAL mode does not hold up the servers' writers. The copy is
created owner-only (mode 0600), like the database itself, and is a plain database file in
rollback-journal mode (`journal_mode=DELETE`), ready to be moved or opened as `--db`.

PostgreSQL has its own tools: `pg_dump` for a logical copy, or the server's physical backups.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import apsw
from sqlalchemy.engine import URL

from mcptasks.core.errors import ConfigurationError, StoreError
from mcptasks.store.engine import describe_url
from mcptasks.store.sqlite import connect, create_private, error_from

#: Pages copied per step (4 MiB of 4 KiB pages): short enough not to hold up a server's writer.
PAGES_PER_STEP = 1024
#: Restarts (a server wrote between steps) after which the copy finishes in one step.
MAX_RESTARTS = 3

#: `on_progress(copied_pages, total_pages)`, called after every step.
Progress = Callable[[int, int], None]


def postgres_hint(url: URL) -> str:
    """What to run instead for a PostgreSQL database `url` (password not shown)."""
    database = url.database or "DBNAME"
    return f"a PostgreSQL database is backed up with pg_dump, e.g. pg_dump -Fc -f tasks.dump {database}"


def _copy(source_path: str, target: Path, on_progress: Progress | None, pages_per_step: int) -> int:
    if not Path(source_path).is_file():
        raise StoreError(f"no database file at {source_path}")
    if target.exists():
        raise ConfigurationError(f"{target} exists already: choose a new file for the backup")
    if not target.parent.is_dir():
        raise ConfigurationError(f"{target.parent} is not a folder: create it or choose another path")
    source = connect(source_path, writer=False)
    created = create_private(str(target))
    pages = 0
    try:
        destination = apsw.Connection(str(target))
        try:
            with destination.backup("main", source, "main") as backup:
                restarts, copied = 0, 0
                while not backup.done:
                    backup.step(pages_per_step if restarts < MAX_RESTARTS else -1)
                    pages = backup.pagecount
                    if pages - backup.remaining < copied:
                        restarts += 1
                    copied = pages - backup.remaining
                    if on_progress is not None:
                        on_progress(copied, pages)
            destination.execute("PRAGMA journal_mode=DELETE").fetchall()
        finally:
            destination.close()
    except apsw.Error as exc:
        if created:
            target.unlink(missing_ok=True)
        raise error_from(exc) from exc
    except BaseException:
        if created:
            target.unlink(missing_ok=True)
        raise
    finally:
        source.close()
    return pages


async def backup_sqlite(
    url: URL, target: Path, *, on_progress: Progress | None = None, pages_per_step: int = PAGES_PER_STEP
) -> int:
    """Copy the SQLite database `url` to the new file `target`; returns the pages copied.

    `on_progress(copied, total)` is called (from a worker thread) after each step of
    `pages_per_step` pages. Raises: ConfigurationError for a PostgreSQL or in-memory `url`, an
    existing `target` or a missing folder (the message says what to do); StoreError when the
    database cannot be read or the copy cannot be written (a partial copy is removed).
    """
    if url.get_backend_name() != "sqlite":
        raise ConfigurationError(postgres_hint(url))
    path = url.database or ""
    if path in ("", ":memory:") or path.startswith("file:"):
        raise ConfigurationError(f"{describe_url(url)} is not a database file: nothing to back up")
    return await asyncio.to_thread(_copy, path, target, on_progress, max(1, pages_per_step))


__all__ = ["PAGES_PER_STEP", "backup_sqlite", "postgres_hint"]
