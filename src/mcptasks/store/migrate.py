"""Schema migrations through alembic's Python API: upgrade, check, print the DDL.

No `alembic.ini` is needed: `alembic_config()` builds the alembic `Config` in code and points it at
the `migrations/` folder that ships inside the wheel as `mcptasks/migrations` (or, in a clone with an
editable install, at the repository's top-level `migrations/`). `migrations/env.py` holds the
behaviour: SQLite foreign keys off while migrating, one transaction per upgrade, a PostgreSQL
advisory lock (storage-and-auth.md §2).

`serve` upgrades at start-up with `upgrade()`, or with `--no-migrate` only checks with
`check_at_head()`. Operators get the DDL as text from `offline_sql()` (`mcptasks db upgrade --sql`).
This module never reads the environment and never creates engines of its own.
"""

from __future__ import annotations

import asyncio
import io
import threading
from pathlib import Path
from weakref import WeakKeyDictionary

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from mcptasks.core.errors import ConfigurationError, StoreError
from mcptasks.store.engine import Engines, describe_url

__all__ = [
    "alembic_config",
    "check_at_head",
    "current_revision",
    "head_revision",
    "offline_sql",
    "upgrade",
]

#: Where the wheel puts the top-level `migrations/` folder (pyproject.toml, hatch `force-include`).
_PACKAGED_MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
#: The repository's top-level `migrations/` folder, for an editable install (src layout).
_REPOSITORY_MIGRATIONS = Path(__file__).resolve().parents[3] / "migrations"


# alembic keeps its `context` and `op` proxies in module globals, so two alembic commands that
# interleave in one process run each other's migrations (found with two `upgrade()` calls under
# asyncio.gather). Within an event loop an asyncio.Lock serialises them: a coroutine waiting on the
# thread lock would block the loop its holder needs. The thread lock covers several threads/loops.
# Other processes are serialised by the database (BEGIN IMMEDIATE, advisory lock).
_ALEMBIC_THREAD_LOCK = threading.Lock()
_ALEMBIC_LOOP_LOCKS: WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = WeakKeyDictionary()
#: How long `offline_sql` waits for an alembic command running in another thread, in seconds.
_OFFLINE_LOCK_TIMEOUT_S = 60.0


def _loop_lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _ALEMBIC_LOOP_LOCKS.get(loop)
    if lock is None:
        lock = _ALEMBIC_LOOP_LOCKS[loop] = asyncio.Lock()
    return lock


def _script_location() -> Path:
    for candidate in (_PACKAGED_MIGRATIONS, _REPOSITORY_MIGRATIONS):
        if (candidate / "env.py").is_file():
            return candidate
    raise ConfigurationError(
        f"mcptasks migrations not found in {_PACKAGED_MIGRATIONS} or {_REPOSITORY_MIGRATIONS}: "
        "reinstall mcptasks"
    )


def alembic_config(engine_url: URL | None = None) -> Config:
    """Build the alembic `Config` of mcptasks in code; no `alembic.ini` is read.

    `script_location` is the packaged `mcptasks/migrations` when it exists, else the repository's
    top-level `migrations/` (editable install). `engine_url`, when given, is passed to `env.py` as
    `config.attributes["url"]`; it is used by offline mode and when no connection is passed in
    `config.attributes["connection"]`.

    Raises: ConfigurationError when neither migrations folder exists.
    """
    config = Config()
    # ConfigParser interpolates "%": a path containing one would otherwise break the option.
    config.set_main_option("script_location", str(_script_location()).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    if engine_url is not None:
        config.attributes["url"] = engine_url
    return config


def head_revision() -> str:
    """The revision id of the newest migration (the single head), e.g. `"0001"`.

    Raises: ConfigurationError when the migrations have no revision or more than one head.
    """
    script = ScriptDirectory.from_config(alembic_config())
    try:
        head = script.get_current_head()
    except CommandError as exc:
        raise ConfigurationError(f"the mcptasks migrations have several heads: {exc}") from exc
    if head is None:
        raise ConfigurationError(f"no migrations found in {script.dir}")
    return head


def _reason(exc: BaseException) -> str:
    # One line: the driver's own error for a DBAPI failure, never the SQL statement or parameters.
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0]}" if lines else type(cause).__name__


def _dbapi_errors(engines: Engines) -> tuple[type[BaseException], ...]:
    # env.py sets PRAGMAs on the raw DBAPI cursor, whose errors SQLAlchemy does not wrap.
    error = getattr(engines.writer.dialect.loaded_dbapi, "Error", None)
    return (error,) if isinstance(error, type) and issubclass(error, BaseException) else ()


async def upgrade(engines: Engines) -> str:
    """Upgrade the database to the newest migration on the writer engine; return the new revision.

    Runs alembic on a connection of `engines.writer` (`config.attributes["connection"]` inside
    `run_sync`), as one transaction. A database already at head is left alone. Safe when several
    processes start at once: on SQLite the writer's `BEGIN IMMEDIATE` makes them queue on the write
    lock (for up to the busy timeout, 5 s) and the later ones find the database at head; on
    PostgreSQL they queue on an advisory lock (bounded by the engine's `lock_timeout`, 5 s). Calls
    within one process run one at a time, because alembic's state is global.

    Raises: StoreError (one line naming the database and the reason, the alembic or SQLAlchemy error
    as `__cause__`) when the upgrade fails; the database is then left as it was. This includes a
    database at a revision these migrations do not know (newer code ran on it).
    ConfigurationError when the migrations folder is missing (see `alembic_config`).
    """
    config = alembic_config(engines.url)

    def _upgrade(connection: Connection) -> None:
        config.attributes["connection"] = connection
        with _ALEMBIC_THREAD_LOCK:
            command.upgrade(config, "head")

    failures: tuple[type[BaseException], ...] = (
        SQLAlchemyError,
        CommandError,
        StoreError,  # raised by env.py on foreign key violations
        *_dbapi_errors(engines),
    )
    try:
        async with _loop_lock(), engines.writer.connect() as conn:
            await conn.run_sync(_upgrade)
    except failures as exc:
        raise StoreError(
            f"could not upgrade the database {describe_url(engines.url)}: {_reason(exc)}"
        ) from exc
    revision = await current_revision(engines)
    if revision is None:  # pragma: no cover - alembic just wrote it
        raise StoreError(f"the database {describe_url(engines.url)} has no revision after upgrading")
    return revision


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(engines: Engines) -> str | None:
    """The revision the database is at (read on `engines.reader`), or None for an empty database.

    Raises: StoreError when the database cannot be read.
    """
    try:
        async with engines.reader.connect() as conn:
            return await conn.run_sync(_current)
    except (SQLAlchemyError, CommandError) as exc:
        raise StoreError(
            f"could not read the revision of {describe_url(engines.url)}: {_reason(exc)}"
        ) from exc


async def check_at_head(engines: Engines) -> None:
    """Refuse a database that is not at the newest migration (`serve --no-migrate`).

    Raises: ConfigurationError naming the current and the expected revision, and what to run;
    StoreError when the database cannot be read.
    """
    expected = head_revision()
    current = await current_revision(engines)
    if current != expected:
        at = f"revision {current}" if current is not None else "no revision (an empty or unmigrated database)"
        raise ConfigurationError(
            f"the database {describe_url(engines.url)} is at {at}, but this mcptasks expects revision "
            f"{expected}: run `mcptasks db upgrade` (or start without --no-migrate)"
        )


def offline_sql(url: URL) -> str:
    """The DDL that `upgrade()` would run on an empty database at `url`, as SQL text for a DBA.

    Alembic offline mode: nothing connects to `url`; only its dialect (SQLite or PostgreSQL) matters.
    The text includes the transaction, the PRAGMAs (SQLite) or the advisory lock (PostgreSQL) and
    the `alembic_version` bookkeeping.

    Raises: StoreError when alembic cannot render the migrations for this dialect.
    """
    buffer = io.StringIO()
    config = alembic_config(url)
    config.output_buffer = buffer
    if not _ALEMBIC_THREAD_LOCK.acquire(timeout=_OFFLINE_LOCK_TIMEOUT_S):
        raise StoreError("could not render the migrations: another alembic command is still running")
    try:
        command.upgrade(config, "head", sql=True)
    except (SQLAlchemyError, CommandError) as exc:
        raise StoreError(f"could not render the migrations for {describe_url(url)}: {_reason(exc)}") from exc
    finally:
        _ALEMBIC_THREAD_LOCK.release()
    return buffer.getvalue()
