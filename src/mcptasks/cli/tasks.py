"""`mcptasks tasks list` and `mcptasks tasks show ID`: read the tasks of every owner.

These commands read the store directly and unscoped (the `admin_*` verbs). They never migrate and
never start an executor, so running them against a live database changes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from mcptasks.cli import render
from mcptasks.cli.db import require_existing_file, url_of
from mcptasks.cli.errors import CLIError, unreachable_as_error

if TYPE_CHECKING:
    from mcptasks.core.model import TaskRecord
    from mcptasks.store.store import Store


@contextlib.asynccontextmanager
async def _admin_store(db: str) -> AsyncIterator[Store]:
    """Open the store read-only for the operator commands; the schema must be at the newest revision."""
    from mcptasks.store import migrate
    from mcptasks.store.engine import create_engines, describe_url
    from mcptasks.store.store import Store

    url = url_of(db)
    require_existing_file(url)
    head = migrate.head_revision()
    # The revision is read on alembic's engine, disposed before the store opens (store/engine.py).
    engines = create_engines(url)
    try:
        with unreachable_as_error(url):
            current = await migrate.current_revision(engines)
    finally:
        await engines.dispose()
    if current != head:
        at = "has no mcptasks schema" if current is None else f"is at revision {current}"
        raise CLIError(
            f"the database {describe_url(url)} {at}, but this mcptasks reads revision {head}: "
            "run `mcptasks db upgrade`"
        )
    store = Store.for_url(url, readonly=True)
    with unreachable_as_error(url):
        await store.open()
    try:
        yield store
    finally:
        await store.close()


def cmd_tasks_list(args: argparse.Namespace) -> int:
    """`tasks list`: the newest tasks, as a table (stdout) or a JSON array; "no tasks" on stderr."""
    records = asyncio.run(_tasks_list(args.db, args.owner, list(args.status or ()), args.limit))
    if args.json:
        print(json.dumps([render.record_json(r) for r in records], indent=2, default=render.json_default))
    elif records:
        render.print_table(records)
    else:
        print("no tasks", file=sys.stderr)
    return 0


async def _tasks_list(db: str, owner: str | None, statuses: list[str], limit: int) -> list[TaskRecord]:
    async with _admin_store(db) as store:
        return await store.admin_list_tasks(owner_like=owner or None, statuses=statuses or None, limit=limit)


def cmd_tasks_show(args: argparse.Namespace) -> int:
    """`tasks show ID`: one task as labelled text or a JSON object. Raises: CLIError for an unknown id."""
    shown = asyncio.run(_tasks_show(args.db, args.task_id))
    if args.json:
        print(json.dumps(render.shown_json(shown), indent=2, default=render.json_default))
    else:
        render.print_shown(shown)
    return 0


async def _tasks_show(db: str, task_id: str) -> render.Shown:
    async with _admin_store(db) as store:
        found = await store.admin_get_task(task_id)
        if found is None:
            raise CLIError(f"no task with id {task_id!r}")
        record, result = found
        events = await store.admin_task_events(task_id)
        requests = await store.admin_input_requests(task_id)
    return render.Shown(record, result, events, requests)
