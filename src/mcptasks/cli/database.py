"""The database helpers every command uses: the URL of `--db`, the refusal to open a SQLite path
that does not exist (connecting would create an empty file there), the schema revision, and the
store of the operator commands.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from mcptasks.cli.errors import CLIError, unreachable_as_error

if TYPE_CHECKING:
    from mcptasks.store.engine import URL
    from mcptasks.store.store import Store


def url_of(db: str) -> URL:
    """The SQLAlchemy URL of `--db` (a SQLite path or a database URL)."""
    from mcptasks.store.engine import database_url

    return database_url(db)


def require_existing_file(url: URL) -> None:
    """Refuse a SQLite path that does not exist: connecting would create an empty file there.

    Raises: CLIError naming the path and `mcptasks db upgrade`.
    """
    from mcptasks.store.engine import is_memory

    if url.get_backend_name() == "sqlite" and not is_memory(url) and url.database:
        path = Path(url.database)
        if not path.exists():
            raise CLIError(f"no database at {path}: run `mcptasks db upgrade` to create it")


@contextlib.asynccontextmanager
async def operator_store(db: str, *, readonly: bool = True) -> AsyncIterator[Store]:
    """The store of the operator commands (read-only unless `readonly=False`): the database must
    exist and its schema be at the newest revision. Raises: CLIError saying what to run."""
    from mcptasks.store import migrate
    from mcptasks.store.engine import describe_url
    from mcptasks.store.store import Store

    url = url_of(db)
    require_existing_file(url)
    head = migrate.head_revision()
    current = await schema_revision(url)
    if current != head:
        at = "has no mcptasks schema" if current is None else f"is at revision {current}"
        raise CLIError(
            f"the database {describe_url(url)} {at}, but this mcptasks reads revision {head}: "
            "run `mcptasks db upgrade`"
        )
    store = Store.for_url(url, readonly=readonly)
    with unreachable_as_error(url):
        await store.open()
    try:
        yield store
    finally:
        await store.close()


async def schema_revision(url: URL) -> str | None:
    """The database's schema revision (None: no mcptasks schema), read on alembic's engine, which is
    disposed before any store opens (store/engine.py). Raises: CLIError when it is unreachable."""
    from mcptasks.store import migrate
    from mcptasks.store.engine import create_engines

    engines = create_engines(url)
    try:
        with unreachable_as_error(url):
            return await migrate.current_revision(engines)
    finally:
        await engines.dispose()


__all__ = ["operator_store", "require_existing_file", "schema_revision", "url_of"]
