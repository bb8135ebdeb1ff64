"""The alembic environment of mcptasks: one script for app start-up, the command line and `--sql`.

Three ways in (storage-and-auth.md §2.1):

- App start-up (`mcptasks.store.migrate.upgrade`): the caller runs alembic inside
  `AsyncConnection.run_sync` and passes the synchronous connection of its writer engine in
  `config.attributes["connection"]`. It is used as is and never closed here.
- Command line (`alembic upgrade head`, `alembic check`): engines are built with
  `create_engines(database_url(...))`, so SQLite gets the server's BEGIN IMMEDIATE hook and PRAGMAs.
  The writer engine runs the migrations through `run_sync` and is disposed afterwards.
- Offline (`alembic upgrade head --sql`, `mcptasks.store.migrate.offline_sql`): SQL text for a DBA,
  no database connection.

The database is `config.attributes["url"]` (set by `mcptasks.store.migrate.alembic_config`), else
the `MCPTASKS_DB` environment variable (a file path or a URL), else `mcptasks.db`.

SQLite:
- `PRAGMA foreign_keys` is OFF while migrating (set on the raw DBAPI cursor, outside any
  transaction, where SQLite honours it) and ON again afterwards. With it ON, the DROP TABLE of a
  batch table rebuild cascades and silently deletes every child row (§2.2). `PRAGMA
  foreign_key_check` runs before the commit; a violation rolls the whole upgrade back.
- `transactional_ddl=True`: the whole upgrade is one transaction, opened as `BEGIN IMMEDIATE` by the
  engine's hook. A failed upgrade leaves nothing behind (§2.3), and processes that start at once
  queue on the write lock and then find the database at head (§2.5).

PostgreSQL: the first statement in the migration transaction takes
`pg_advisory_xact_lock(MIGRATION_LOCK_KEY)`, so replicas that start at once migrate one at a time.

Every migration is rendered in batch mode, so the same script runs on both backends.
"""

from __future__ import annotations

import asyncio
import os
from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection

from mcptasks.core.errors import StoreError
from mcptasks.store.engine import create_engines, database_url
from mcptasks.store.schema import metadata

#: PostgreSQL advisory lock key held by a migrating transaction: the ASCII bytes of "mcptasks".
MIGRATION_LOCK_KEY = 0x6D63707461736B73
#: The database used when neither the caller nor `MCPTASKS_DB` names one.
DEFAULT_DB = "mcptasks.db"

config = context.config
target_metadata = metadata

#: Options shared by every mode (storage-and-auth.md §2.1).
_OPTIONS: dict[str, Any] = {
    "target_metadata": target_metadata,
    # Always batch: SQLite can ALTER almost nothing; on PostgreSQL batch emits plain ALTERs.
    "render_as_batch": True,
    "compare_type": True,
}

_LOCK = text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")


def _url() -> URL:
    url = config.attributes.get("url")
    if isinstance(url, URL):
        return url
    if isinstance(url, str):
        return database_url(url)
    return database_url(os.environ.get("MCPTASKS_DB") or DEFAULT_DB)


def _transactional_ddl(dialect_name: str) -> bool | None:
    # Valid on SQLite only because the engine's `begin` hook emits BEGIN itself (§2.3); None keeps
    # the dialect's own default (True on PostgreSQL).
    return True if dialect_name == "sqlite" else None


def run_migrations_offline() -> None:
    """Write the migrations as SQL text, mirroring what the online path executes."""
    url = _url()
    dialect_name = url.get_backend_name()
    context.configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        transactional_ddl=_transactional_ddl(dialect_name),
        **_OPTIONS,
    )
    if dialect_name == "sqlite":
        context.execute("PRAGMA foreign_keys=OFF")
    with context.begin_transaction():
        if dialect_name == "postgresql":
            context.execute(_LOCK)
        context.run_migrations()
        if dialect_name == "sqlite":
            context.execute("PRAGMA foreign_key_check")
    if dialect_name == "sqlite":
        context.execute("PRAGMA foreign_keys=ON")


def _raw_pragma(connection: Connection, sql: str) -> None:
    # Bypasses SQLAlchemy's autobegin: through exec_driver_sql() the PRAGMA would open a transaction,
    # SQLite would silently ignore it there, and alembic, finding a transaction already open, would
    # never commit the upgrade (storage-and-auth.md §2.1).
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql)
    finally:
        cursor.close()


def do_run_migrations(connection: Connection) -> None:
    """Run the migrations on `connection` (synchronous; inside `run_sync` on an async engine)."""
    dialect_name = connection.dialect.name
    sqlite = dialect_name == "sqlite"
    external = connection.in_transaction()
    if sqlite:
        if external:
            raise RuntimeError(
                "mcptasks migrations need a SQLite connection outside any transaction "
                "(PRAGMA foreign_keys is ignored inside one); use engine.connect(), not engine.begin()"
            )
        _raw_pragma(connection, "PRAGMA foreign_keys=OFF")
    try:
        context.configure(
            connection=connection, transactional_ddl=_transactional_ddl(dialect_name), **_OPTIONS
        )
        with context.begin_transaction():
            if dialect_name == "postgresql":
                context.execute(_LOCK)
            context.run_migrations()
            if sqlite:
                violations = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if violations:
                    # Raised inside the transaction, so the whole upgrade rolls back.
                    raise StoreError(
                        f"foreign key violations after migrating (table, rowid, parent, fk): {violations[:5]}"
                    )
    finally:
        if not external and connection.in_transaction():
            # e.g. `alembic check`, or a failure after reflection autobegan a transaction.
            connection.rollback()
        if sqlite:
            _raw_pragma(connection, "PRAGMA foreign_keys=ON")


async def run_async_migrations(url: URL) -> None:
    """Build the server's engines for `url`, migrate on the writer engine, then dispose of them."""
    engines = create_engines(url)
    try:
        async with engines.writer.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engines.dispose()


def run_migrations_online() -> None:
    """Migrate the connection passed in by the app, or else the database named by `_url()`."""
    connection = config.attributes.get("connection")
    if connection is not None:
        do_run_migrations(connection)
        return
    asyncio.run(run_async_migrations(_url()))


if (
    "connection" not in config.attributes
    and config.config_file_name is not None
    and config.file_config.has_section("loggers")
):
    # The command line's logging (alembic.ini). An application that passes its connection keeps its
    # own logging, and existing loggers are never disabled.
    fileConfig(config.config_file_name, disable_existing_loggers=False)

if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
