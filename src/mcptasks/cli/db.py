"""`mcptasks db upgrade` and `mcptasks db current [--json]`: migrate the schema, and say which
revision it is at. (`db backup` and `db sql` are in `admin.py`.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from mcptasks.cli.database import require_existing_file, schema_revision, url_of
from mcptasks.cli.errors import unreachable_as_error
from mcptasks.cli.settings import CommandSettings, Option, env_name

if TYPE_CHECKING:
    from mcptasks.store.engine import URL


class UpgradeSettings(CommandSettings):
    """The settings of `mcptasks db upgrade`."""

    sql: Annotated[
        bool,
        Option(
            "print the SQL of the migration for the database's dialect instead of running it "
            "(nothing connects to the database)"
        ),
    ] = False


class CurrentSettings(CommandSettings):
    """The settings of `mcptasks db current`."""

    as_json: Annotated[
        bool,
        Field(validation_alias=env_name("json")),
        Option('print one JSON object: {"database", "revision", "head", "at_head"}'),
    ] = False


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `db upgrade` and `db current` to the `mcptasks` subcommands."""
    db = commands.add_parser("db", help="migrate, back up and query the database")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    upgrade = db_commands.add_parser(
        "upgrade",
        help="migrate the database to the newest schema revision",
        description="Create or migrate the mcptasks tables (safe to run while servers are running, "
        "and on a database that is already current). Prints the revision reached.",
    )
    UpgradeSettings.add_options(upgrade)
    upgrade.set_defaults(settings=UpgradeSettings, run=run_upgrade)
    current = db_commands.add_parser(
        "current",
        help="print the schema revision of the database and whether it is the newest",
    )
    CurrentSettings.add_options(current)
    current.set_defaults(settings=CurrentSettings, run=run_current)
    from mcptasks.cli import admin  # the acting commands; they import this module's helpers

    admin.register_db(db_commands)


def run_upgrade(settings: UpgradeSettings, args: argparse.Namespace) -> int:
    """`db upgrade [--sql]`: migrate to head and print the revision reached, or print the SQL."""
    from mcptasks.store import migrate

    url = url_of(settings.db)
    if settings.sql:
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


def run_current(settings: CurrentSettings, args: argparse.Namespace) -> int:
    """`db current [--json]`: print the database's revision and whether it is the newest.

    With `--json`, one object: `database` (the URL without its password, or the file path),
    `revision` (null: no mcptasks schema), `head` (the revision this mcptasks needs) and `at_head`.
    Raises: CLIError for a SQLite file that does not exist or a database that cannot be read.
    """
    url = url_of(settings.db)
    require_existing_file(url)
    return asyncio.run(_db_current(url, as_json=settings.as_json))


async def _db_current(url: URL, *, as_json: bool) -> int:
    from mcptasks.store import migrate
    from mcptasks.store.engine import describe_url

    head = migrate.head_revision()
    current = await schema_revision(url)
    if as_json:
        document = {
            "database": describe_url(url),
            "revision": current,
            "head": head,
            "at_head": current == head,
        }
        print(json.dumps(document, indent=2))
    elif current == head:
        print(f"{current} (head)")
    else:
        print(f"{current or 'none'} (not at head {head}: run `mcptasks db upgrade`)")
    return 0
