"""The operator commands that act: `tasks cancel`, `tasks purge`, `tasks stats`, `db backup`, `db sql`.

They go through `store.admin.StoreAdmin`, the owner-blind operator path (never the request path of
a client), on the database the servers use, while the servers run:

- `tasks cancel ID [--reason TEXT]`: durable; the server running the tool, on any replica, stops it;
- `tasks purge --status S --older-than 7d [--dry-run] [--batch N]`: terminal tasks only, in bounded
  batches (each its own transaction), with a progress bar on a terminal;
- `tasks stats [--json]`: counts by status and tool, the oldest active task, unanswered
  questions, p50/p95 durations per tool;
- `db backup PATH`: an online SQLite copy (`store/backup.py`), with progress; PostgreSQL gets the
  `pg_dump` line to run instead;
- `db sql`: `sqlite3` (read-only URI) or `psql` (read-only transactions) on the configured database.

Tables and progress bars are drawn by rich, on stderr for progress and stdout for tables.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field
from pydantic_settings import NoDecode
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from mcptasks.cli import render
from mcptasks.cli.database import operator_store, url_of
from mcptasks.cli.errors import CLIError, unreachable_as_error
from mcptasks.cli.settings import CommandSettings, Option, SettingsError, env_name, words
from mcptasks.core.status import TERMINAL, TaskStatus

#: `--older-than` units, in seconds.
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")


def parse_age(value: Any) -> Any:
    """Before-validator: `"7d"`, `"12h"`, `"30m"`, `"90s"`, `"2w"` -> a timedelta."""
    if isinstance(value, str):
        match = _DURATION.match(value.lower())
        if match is None:
            raise ValueError("expected a number and a unit (s, m, h, d or w), e.g. 7d")
        return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
    return value


def _terminal_statuses(value: Any) -> Any:
    found = words(value)
    return [item.lower() for item in found] if isinstance(found, list) else found


class CancelSettings(CommandSettings):
    """The settings of `mcptasks tasks cancel ID`."""

    reason: Annotated[str | None, Option("why, added to the task's status message", metavar="TEXT")] = None


class PurgeSettings(CommandSettings):
    """The settings of `mcptasks tasks purge`."""

    status: Annotated[
        tuple[TaskStatus, ...],
        NoDecode,
        BeforeValidator(_terminal_statuses),
        Option(
            "purge tasks in this terminal status (repeatable, or comma-separated: completed,failed,"
            "cancelled); default: all three",
            metavar="STATUS",
        ),
    ] = ()
    older_than: Annotated[
        timedelta | None,
        BeforeValidator(parse_age),
        Option(
            "purge tasks last changed longer ago than this (required): 90s, 30m, 12h, 7d or 2w", metavar="AGE"
        ),
    ] = None
    dry_run: Annotated[bool, Option("count what would be purged; delete nothing")] = False
    batch: Annotated[int, Field(ge=1, le=100_000), Option("tasks deleted per transaction", metavar="N")] = 500


class StatsSettings(CommandSettings):
    """The settings of `mcptasks tasks stats`."""

    as_json: Annotated[
        bool, Field(validation_alias=env_name("json")), Option("print one JSON object instead of tables")
    ] = False


class BackupSettings(CommandSettings):
    """The settings of `mcptasks db backup PATH` (the PATH is an argument)."""


def register(task_commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `tasks cancel`, `tasks purge` and `tasks stats` to the `tasks` subcommands."""
    cancel = task_commands.add_parser(
        "cancel", help="cancel a task of any owner; the server running it stops the tool"
    )
    cancel.add_argument("task_id", metavar="ID", help="the task id")
    CancelSettings.add_options(cancel)
    cancel.set_defaults(settings=CancelSettings, run=run_cancel)
    purge = task_commands.add_parser(
        "purge", help="delete old terminal tasks (completed, failed, cancelled) in batches"
    )
    PurgeSettings.add_options(purge)
    purge.set_defaults(settings=PurgeSettings, run=run_purge)
    stats = task_commands.add_parser("stats", help="counts by status and tool, oldest active task, durations")
    StatsSettings.add_options(stats)
    stats.set_defaults(settings=StatsSettings, run=run_stats)


def register_db(db_commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `db backup` and `db sql` to the `db` subcommands."""
    backup = db_commands.add_parser(
        "backup", help="copy a SQLite task database while servers use it (PostgreSQL: use pg_dump)"
    )
    backup.add_argument("path", metavar="PATH", help="the new file to write the copy to")
    BackupSettings.add_options(backup)
    backup.set_defaults(settings=BackupSettings, run=run_backup)
    sql = db_commands.add_parser(
        "sql", help="open sqlite3 or psql on the database, read-only (queries: README, For operators)"
    )
    CommandSettings.add_options(sql)
    sql.set_defaults(settings=CommandSettings, run=run_sql)


# -- tasks cancel ---------------------------------------------------------------------------------


def run_cancel(settings: CancelSettings, args: argparse.Namespace) -> int:
    """`tasks cancel ID`: 0 when cancelled or already terminal (said on stdout). Raises: CLIError."""
    return asyncio.run(_cancel(settings.db, args.task_id, settings.reason))


async def _cancel(db: str, task_id: str, reason: str | None) -> int:
    from mcptasks.store.admin import StoreAdmin

    async with operator_store(db, readonly=False) as store:
        outcome = await StoreAdmin(store).cancel_task(task_id, reason)
    if outcome is None:
        raise CLIError(f"no task with id {task_id!r}")
    if outcome.cancelled:
        print(f"cancelled {task_id}")
    else:
        print(f"{task_id} is already {outcome.record.status.value}: left as it is")
    return 0


# -- tasks purge ----------------------------------------------------------------------------------


def run_purge(settings: PurgeSettings, args: argparse.Namespace) -> int:
    """`tasks purge`: delete (or with --dry-run count) old terminal tasks. Raises: CLIError."""
    if settings.older_than is None:
        raise SettingsError("--older-than is required, e.g. --older-than 7d")
    active = [status.value for status in settings.status if status not in TERMINAL]
    if active:
        raise CLIError(f"--status {', '.join(active)}: only terminal tasks can be purged")
    return asyncio.run(_purge(settings))


async def _purge(settings: PurgeSettings) -> int:
    from mcptasks.store.admin import StoreAdmin

    statuses = list(settings.status)
    older_than = settings.older_than or timedelta(0)
    named = ", ".join(s.value for s in statuses) or "completed, failed, cancelled"
    async with operator_store(settings.db, readonly=settings.dry_run) as store:
        admin = StoreAdmin(store)
        total = await admin.count_purgeable(statuses, older_than)
        if settings.dry_run:
            print(f"would purge {total} tasks ({named}) last changed more than {older_than} ago")
            return 0
        purged = 0
        console = Console(stderr=True)
        columns = (TextColumn("purging"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
            progress = bar.add_task("purge", total=total)
            async for deleted in admin.purge(statuses, older_than, batch=settings.batch):
                purged += deleted
                bar.update(progress, completed=purged)
    print(f"purged {purged} tasks ({named}) last changed more than {older_than} ago")
    return 0


# -- tasks stats ----------------------------------------------------------------------------------


def run_stats(settings: StatsSettings, args: argparse.Namespace) -> int:
    """`tasks stats`: tables on stdout, or one JSON object with --json. Raises: CLIError."""
    from mcptasks.store.admin import StoreAdmin

    async def read() -> Any:
        async with operator_store(settings.db) as store:
            return await StoreAdmin(store).stats()

    stats = asyncio.run(read())
    oldest = stats.oldest_active
    if settings.as_json:
        document = {
            "by_status": stats.by_status(),
            "by_tool": [
                {"tool": tool, "status": status, "tasks": count}
                for (status, tool), count in stats.counts.items()
            ],
            "oldest_active": None
            if oldest is None
            else {"task_id": oldest[0], "tool": oldest[1], "status": oldest[2], "created_at": oldest[3]},
            "pending_questions": stats.pending_questions,
            "durations_ms": {
                tool: {"tasks": d.tasks, "p50": d.p50_ms, "p95": d.p95_ms}
                for tool, d in stats.durations.items()
            },
            "sampled": stats.sampled,
        }
        print(json.dumps(document, indent=2, default=render.json_default))
        return 0
    console = Console(soft_wrap=True)
    statuses = Table("status", "tasks", title="Tasks by status")
    for status, count in stats.by_status().items():
        statuses.add_row(status, str(count))
    console.print(statuses)
    tools = Table("tool", "status", "tasks", title="Tasks by tool")
    for (status, tool), count in sorted(stats.counts.items(), key=lambda item: (item[0][1], item[0][0])):
        tools.add_row(tool, status, str(count))
    console.print(tools)
    durations = Table("tool", "tasks", "p50 ms", "p95 ms", title=f"Durations (last {stats.sampled} finished)")
    for tool, d in stats.durations.items():
        durations.add_row(tool, str(d.tasks), str(d.p50_ms), str(d.p95_ms))
    console.print(durations)
    if oldest is None:
        console.print("oldest active task: none")
    else:
        created = render.json_default(oldest[3])
        console.print(f"oldest active task: {oldest[0]} ({oldest[1]}, {oldest[2]}, created {created})")
    console.print(f"questions waiting for an answer: {stats.pending_questions}")
    return 0


# -- db backup and db sql -------------------------------------------------------------------------


def run_backup(settings: BackupSettings, args: argparse.Namespace) -> int:
    """`db backup PATH`: copy a SQLite database online. Raises: CLIError (PostgreSQL: the pg_dump line)."""
    from mcptasks.store.backup import backup_sqlite

    url = url_of(settings.db)
    target = Path(args.path)
    console = Console(stderr=True)
    columns = (TextColumn("copying pages"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        progress = bar.add_task("backup", total=None)

        def on_progress(copied: int, total: int) -> None:
            bar.update(progress, completed=copied, total=total)

        with unreachable_as_error(url):
            pages = asyncio.run(backup_sqlite(url, target, on_progress=on_progress))
    print(f"backed up {settings.db} to {target} ({pages} pages)")
    return 0


def run_sql(settings: CommandSettings, args: argparse.Namespace) -> int:
    """`db sql`: replace this process with sqlite3 or psql, read-only. Raises: CLIError."""
    url = url_of(settings.db)
    if url.get_backend_name() == "sqlite":
        path = url.database or ""
        if not path or path == ":memory:" or not Path(path).exists():
            raise CLIError(f"no database file at {path or '(none)'}: give --db PATH")
        command = ["sqlite3", "-readonly", f"file:{Path(path).resolve()}?mode=ro"]
        env = dict(os.environ)
    else:
        # The password goes to psql through its environment, never its argv (visible in `ps`).
        from mcptasks.store.engine import libpq_url

        command = ["psql", libpq_url(url)]
        env = {**os.environ, "PGOPTIONS": "-c default_transaction_read_only=on"}
        if url.password:
            env["PGPASSWORD"] = str(url.password)
    if shutil.which(command[0]) is None:
        raise CLIError(f"{command[0]} is not installed (or not on PATH): install it to use `db sql`")
    os.execvpe(command[0], command, env)
