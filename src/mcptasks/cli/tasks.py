"""`mcptasks tasks list` and `mcptasks tasks show ID`: read the tasks of every owner.

These commands read the store directly and unscoped (the `admin_*` verbs). They never migrate and
never start an executor, so running them against a live database changes nothing. The commands
that act (`tasks cancel`, `purge`, `stats`) are in `cli/admin.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BeforeValidator, Field
from pydantic_settings import NoDecode

from mcptasks.cli import admin, render
from mcptasks.cli.database import operator_store
from mcptasks.cli.errors import CLIError
from mcptasks.cli.settings import CommandSettings, Option, env_name, words
from mcptasks.core.status import TaskStatus

if TYPE_CHECKING:
    from mcptasks.core.model import TaskRecord

#: Most tasks `tasks list` shows unless --limit says otherwise.
DEFAULT_LIST_LIMIT = 50


def _statuses(value: Any) -> Any:
    """Before-validator: `"Working,failed"` or `["working", "failed"]` -> `["working", "failed"]`."""
    found = words(value)
    return [item.lower() for item in found] if isinstance(found, list) else found


class ListSettings(CommandSettings):
    """The settings of `mcptasks tasks list`: filters, a limit, and the output format."""

    owner: Annotated[
        str | None,
        Option("only tasks whose owner key, OAuth subject or client id contains TEXT", metavar="TEXT"),
    ] = None
    status: Annotated[
        tuple[TaskStatus, ...],
        NoDecode,
        BeforeValidator(_statuses),
        Option(
            "only tasks in this status (repeatable, or comma-separated: working,input_required,"
            "completed,failed,cancelled)",
            metavar="STATUS",
        ),
    ] = ()
    limit: Annotated[int, Field(ge=1), Option("show at most N tasks", metavar="N")] = DEFAULT_LIST_LIMIT
    as_json: Annotated[
        bool,
        Field(validation_alias=env_name("json")),
        Option("print a JSON array of task objects instead of a table"),
    ] = False


class ShowSettings(CommandSettings):
    """The settings of `mcptasks tasks show ID` (the ID is an argument, not a setting)."""

    as_json: Annotated[
        bool, Field(validation_alias=env_name("json")), Option("print one JSON object instead of text")
    ] = False


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `tasks list` and `tasks show` to the `mcptasks` subcommands."""
    tasks = commands.add_parser("tasks", help="inspect, cancel and purge the tasks of every owner")
    task_commands = tasks.add_subparsers(dest="tasks_command", required=True, metavar="COMMAND")
    listing = task_commands.add_parser(
        "list", help="list the newest tasks, of every owner", description="List tasks, newest first."
    )
    ListSettings.add_options(listing)
    listing.set_defaults(settings=ListSettings, run=run_list)
    show = task_commands.add_parser("show", help="show one task: fields, outcome, history and input requests")
    show.add_argument("task_id", metavar="ID", help="the task id")
    ShowSettings.add_options(show)
    show.set_defaults(settings=ShowSettings, run=run_show)
    admin.register(task_commands)


def run_list(settings: ListSettings, args: argparse.Namespace) -> int:
    """`tasks list`: the newest tasks, as a table (stdout) or a JSON array; "no tasks" on stderr."""
    statuses = [status.value for status in settings.status]
    records = asyncio.run(_tasks_list(settings.db, settings.owner, statuses, settings.limit))
    if settings.as_json:
        print(json.dumps([render.record_json(r) for r in records], indent=2, default=render.json_default))
    elif records:
        render.print_table(records)
    else:
        print("no tasks", file=sys.stderr)
    return 0


async def _tasks_list(db: str, owner: str | None, statuses: list[str], limit: int) -> list[TaskRecord]:
    async with operator_store(db) as store:
        return await store.admin_list_tasks(owner_like=owner or None, statuses=statuses or None, limit=limit)


def run_show(settings: ShowSettings, args: argparse.Namespace) -> int:
    """`tasks show ID`: one task as labelled text or a JSON object. Raises: CLIError for an unknown id."""
    shown = asyncio.run(_tasks_show(settings.db, args.task_id))
    if settings.as_json:
        print(json.dumps(render.shown_json(shown), indent=2, default=render.json_default))
    else:
        render.print_shown(shown)
    return 0


async def _tasks_show(db: str, task_id: str) -> render.Shown:
    async with operator_store(db) as store:
        found = await store.admin_get_task(task_id)
        if found is None:
            raise CLIError(f"no task with id {task_id!r}")
        record, result = found
        events = await store.admin_task_events(task_id)
        requests = await store.admin_input_requests(task_id)
    return render.Shown(record, result, events, requests)
