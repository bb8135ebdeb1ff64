"""`mcptasks db upgrade` and `mcptasks db current`: migrate the schema, and say which revision it is at.

Also the two database helpers every command uses: the URL of `--db`, and the refusal to open a
SQLite path that does not exist (connecting would create an empty file there).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mcptasks.cli.errors import CLIError, unreachable_as_error

if TYPE_CHECKING:
    from sqlalchemy.engine import URL


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


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """`db upgrade [--sql]`: migrate to head and print the revision reached, or print the SQL."""
    from mcptasks.store import migrate

    url = url_of(args.db)
    if args.sql:
        sys.stdout.write(migrate.offline_sql(url))
        return 0
    return asyncio.run(_db_upgrade(url))


async def _db_upgrade(url: URL) -> int:
    from mcptasks.store import migrate
    from mcptasks.store.engine import create_engines, describe_url

    engines = create_engines(url)
    try:
        with unreachable_as_error(url):
            before = await migrate.current_revision(engines)
            after = await migrate.upgrade(engines)
    finally:
        await engines.dispose()
    if before == after:
        print(f"{describe_url(url)} is already at revision {after} (head)")
    else:
        print(f"upgraded {describe_url(url)} from revision {before or 'none'} to {after} (head)")
    return 0


def cmd_db_current(args: argparse.Namespace) -> int:
    """`db current`: print the database's revision and whether it is the newest."""
    url = url_of(args.db)
    require_existing_file(url)
    return asyncio.run(_db_current(url))


async def _db_current(url: URL) -> int:
    from mcptasks.store import migrate
    from mcptasks.store.engine import create_engines

    head = migrate.head_revision()
    engines = create_engines(url)
    try:
        with unreachable_as_error(url):
            current = await migrate.current_revision(engines)
    finally:
        await engines.dispose()
    if current == head:
        print(f"{current} (head)")
    else:
        print(f"{current or 'none'} (not at head {head}: run `mcptasks db upgrade`)")
    return 0
