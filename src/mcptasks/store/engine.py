"""Database URLs, and the SQLAlchemy engines that migrations run on.

`database_url` turns what a user gives (`--db`) into a URL. The engines here are alembic's: they
upgrade and inspect the schema, at start-up before the store opens and in `mcptasks db`. Serving
does not use them (the store's connectors run their own compiled statements: `connector.py`).

SQLite (storage-and-auth.md §1): WAL, `synchronous=FULL`, `foreign_keys=ON`, `busy_timeout`, and a
`begin` hook that emits `BEGIN IMMEDIATE` itself on the writer engine, so a migration is one
transaction and SAVEPOINTs nest. These engines use Python's `sqlite3`; the store uses the SQLite
that APSW bundles. Two SQLite libraries must never have one file open at the same time in one
process (closing one's file descriptor drops the other's POSIX locks), so migrations run, and their
engines are disposed, before the store opens.

PostgreSQL: one pool for both, READ COMMITTED.

Every engine has `hide_parameters=True`: an error's text (logged, or printed by the CLI) names the
statement but never the values bound to it (task ids, arguments, the read right of a task).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool, StaticPool

from mcptasks.core.errors import ConfigurationError, StoreError
from mcptasks.store.sqlite import create_private

logger = logging.getLogger("mcptasks.store")

#: How long a SQLite connection waits for the write lock before failing, in ms.
SQLITE_BUSY_TIMEOUT_MS = 5000


def database_url(path_or_url: str) -> URL:
    """Turn what a user gives (`--db`) into an async SQLAlchemy URL.

    A plain path becomes `sqlite+aiosqlite:///<absolute path>`; `sqlite://` and `postgresql://`
    URLs get their async driver (`aiosqlite`, `asyncpg`).

    Raises: ConfigurationError for an unsupported scheme.
    """
    if "://" not in path_or_url:
        if path_or_url == ":memory:":
            return make_url("sqlite+aiosqlite:///:memory:")
        return make_url("sqlite+aiosqlite:///" + str(Path(path_or_url).expanduser().resolve()))
    url = make_url(path_or_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return url.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+asyncpg")
    raise ConfigurationError(
        f"unsupported database URL scheme {url.drivername!r}: use a file path or postgresql://"
    )


def describe_url(url: URL) -> str:
    """A printable form of `url` with any password masked."""
    if url.get_backend_name() == "sqlite":
        return url.database or ":memory:"
    return url.render_as_string(hide_password=True)


def libpq_url(url: URL) -> str:
    """`url` as a libpq connection string (`postgresql://user@host:port/db?...`) for `psql`,
    without its password, which goes through `PGPASSWORD` instead (argv is visible in `ps`)."""
    return URL.create(
        "postgresql",
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query=url.query,
    ).render_as_string(hide_password=False)


def is_memory(url: URL) -> bool:
    """Whether `url` names an in-memory SQLite database."""
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


@dataclass(frozen=True, slots=True)
class Engines:
    """The engines of one store: `writer` for every write, `reader` for reads (may be the same)."""

    url: URL
    writer: AsyncEngine
    reader: AsyncEngine

    @property
    def is_sqlite(self) -> bool:
        """Whether the backend is SQLite (and writes go through the group-commit writer)."""
        return self.url.get_backend_name() == "sqlite"

    async def dispose(self) -> None:
        """Close every pooled connection (aiosqlite threads included)."""
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()


def _install_sqlite_hooks(engine: AsyncEngine, *, begin: str, writer: bool) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # The driver must never emit BEGIN itself (pysqlite's legacy transaction control skips
        # it for SELECT and DDL); the `begin` hook below does. PRAGMAs then run in autocommit.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        try:
            pragmas = [f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}", "foreign_keys=ON"]
            if writer:
                pragmas = ["journal_mode=WAL", "synchronous=FULL", "journal_size_limit=67108864", *pragmas]
            for pragma in pragmas:
                cursor.execute(f"PRAGMA {pragma}")
        finally:
            cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)


def create_engines(url: URL) -> Engines:
    """Create the engines for `url` (see module docstring for the settings).

    Raises: ConfigurationError when the URL's driver is not installed.
    """
    try:
        if url.get_backend_name() == "sqlite":
            if is_memory(url):
                # One shared connection: a second connection would see another, empty database.
                engine = create_async_engine(url, poolclass=StaticPool, hide_parameters=True)
                _install_sqlite_hooks(engine, begin="BEGIN IMMEDIATE", writer=True)
                return Engines(url=url, writer=engine, reader=engine)
            # The first to open a new file creates it, owner-only (`create_private`).
            create_private(url.database or "")
            # NullPool: a connection is closed when it is returned, so nothing of this library
            # stays open once the migration is done (see the module docstring).
            writer = create_async_engine(url, poolclass=NullPool, hide_parameters=True)
            _install_sqlite_hooks(writer, begin="BEGIN IMMEDIATE", writer=True)
            reader = create_async_engine(url, poolclass=NullPool, hide_parameters=True)
            # Plain (deferred) BEGIN: a consistent snapshot that never blocks the writer.
            _install_sqlite_hooks(reader, begin="BEGIN", writer=False)
            return Engines(url=url, writer=writer, reader=reader)
        engine = create_async_engine(
            url,
            pool_pre_ping=True,
            hide_parameters=True,
            connect_args={
                "server_settings": {
                    "application_name": "mcptasks",
                    "statement_timeout": "15000",
                    "idle_in_transaction_session_timeout": "30000",
                    "lock_timeout": "5000",
                }
            },
        )
        return Engines(url=url, writer=engine, reader=engine)
    except ImportError as exc:  # pragma: no cover - depends on what is installed
        raise ConfigurationError(
            f"the driver for {url.drivername} is not installed (pip install 'mcptasks[postgres]')"
        ) from exc


@contextlib.contextmanager
def map_store_errors() -> Iterator[None]:
    """Turn a driver or SQLAlchemy error into `StoreError`, keeping the original as `__cause__`.

    The most specific mapping wins: integrity violations, operational errors (locked, disk full,
    connection lost), then everything else from SQLAlchemy.
    """
    try:
        yield
    except IntegrityError as exc:
        raise StoreError("the task store rejected a write (constraint violated)") from exc
    except OperationalError as exc:
        raise StoreError("the task store is unavailable") from exc
    except DBAPIError as exc:
        raise StoreError("the task store failed") from exc
    except SQLAlchemyError as exc:
        raise StoreError("the task store failed") from exc
    except OSError as exc:  # asyncpg raises connection failures unwrapped
        raise StoreError("the task store is unreachable") from exc


# `URL` is re-exported: the command line names the type without importing SQLAlchemy itself.
__all__ = [
    "SQLITE_BUSY_TIMEOUT_MS",
    "URL",
    "Engines",
    "create_engines",
    "database_url",
    "describe_url",
    "is_memory",
    "libpq_url",
    "map_store_errors",
]
