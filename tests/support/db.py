"""Read a server's database directly, as an operator would, whichever engine it is on.

`db` is what the test gave the server: a SQLite file path (read through Python's `sqlite3`,
read-only) or a `postgresql://` URL (read through asyncpg, in an event loop of a thread of its own,
so the calling test's loop is never involved). Each read opens its own connection and closes it.

Queries are written once, with `?` placeholders; for PostgreSQL they become `$1, $2, ...`. Rows come
back as dicts holding the same Python values on both engines: timestamps as aware UTC datetimes
(SQLite stores them as text), JSON columns as the text stored (decode them with `json.loads`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import sqlite3
import threading
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import DateTime

from mcptasks.store.schema import metadata

T = TypeVar("T")

#: Columns of the mcptasks tables that hold a timestamp (SQLite keeps them as UTC text).
TIMESTAMP_COLUMNS = frozenset(
    column.name
    for table in metadata.tables.values()
    for column in table.columns
    if isinstance(column.type, DateTime)
)
#: The tables holding a task's rows, by `task_id`.
TASK_TABLES = ("tasks", "task_results", "task_events")


def is_postgres(db: Path | str) -> bool:
    """Whether `db` names a PostgreSQL database (a `postgresql://` URL) rather than a SQLite file."""
    return isinstance(db, str) and db.startswith(("postgresql://", "postgresql+asyncpg://", "postgres://"))


def _numbered(sql: str) -> str:
    """`sql` with its `?` placeholders numbered for PostgreSQL (`$1`, `$2`, ...).

    The queries of this module never hold a literal `?`, so every one is a placeholder.
    """
    counter = itertools.count(1)
    return re.sub(r"\?", lambda _: f"${next(counter)}", sql)


def _in_thread(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine `make()` in an event loop of a new thread; return its value or raise."""
    outcome: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            outcome.append(asyncio.run(make()))
        except BaseException as exc:  # re-raised in the calling thread
            failure.append(exc)

    thread = threading.Thread(target=target, name="db-reader")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]


def _postgres_query(url: str, sql: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
    """Rows of `sql` (with `$n` placeholders) on the PostgreSQL database `url`."""
    # asyncpg takes a plain libpq URL; SQLAlchemy's driver suffix is not part of it.
    dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)

    async def run() -> list[dict[str, Any]]:
        connection = await asyncpg.connect(dsn)
        try:
            return [dict(record) for record in await connection.fetch(sql, *args)]
        finally:
            await connection.close()

    return _in_thread(run)


def _sqlite_value(name: str, value: Any) -> Any:
    """A SQLite value as PostgreSQL would give it: timestamp text becomes an aware UTC datetime."""
    if name in TIMESTAMP_COLUMNS and isinstance(value, str):
        moment = datetime.fromisoformat(value)
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return value


def _sqlite_query(path: Path | str, sql: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
    """Rows of `sql` on the SQLite file `path`, opened read-only."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    try:
        return [
            {key: _sqlite_value(key, value) for key, value in dict(row).items()}
            for row in connection.execute(sql, args)
        ]
    finally:
        connection.close()


def query(db: Path | str, sql: str, *args: Any) -> list[dict[str, Any]]:
    """The rows of one read-only `sql` statement (with `?` placeholders for `args`) on `db`."""
    if is_postgres(db):
        return _postgres_query(str(db), _numbered(sql), args)
    return _sqlite_query(db, sql, args)


def task_rows(db: Path | str, *task_ids: str) -> dict[str, dict[str, Any]]:
    """The `tasks` rows of `task_ids` with their stored `result` and `error`, keyed by task id."""
    marks = ",".join("?" * len(task_ids))
    found = query(
        db,
        "SELECT t.*, r.result, r.error FROM tasks t LEFT JOIN task_results r USING (task_id) "
        f"WHERE t.task_id IN ({marks})",
        *task_ids,
    )
    return {row["task_id"]: row for row in found}


def task_events(db: Path | str, task_id: str) -> list[tuple[str | None, str, str | None]]:
    """The status history `(from, to, message)` of one task, oldest first."""
    return [
        (row["from_status"], row["to_status"], row["message"])
        for row in query(
            db,
            "SELECT from_status, to_status, message FROM task_events WHERE task_id = ? ORDER BY event_id",
            task_id,
        )
    ]


def input_rows(db: Path | str, task_id: str) -> list[dict[str, Any]]:
    """The task's `task_input_requests` rows in the order asked, `params` and `response` decoded."""
    rows = query(
        db,
        "SELECT request_key, method, params, created_at, response, answered_at "
        "FROM task_input_requests WHERE task_id = ? ORDER BY created_at, request_key",
        task_id,
    )
    for row in rows:
        for column in ("params", "response"):
            if row[column] is not None:
                row[column] = json.loads(row[column])
    return rows


def row_counts(db: Path | str, task_id: str) -> dict[str, int]:
    """How many rows of `tasks`, `task_results` and `task_events` belong to `task_id`."""
    return {
        table: int(query(db, f"SELECT count(*) AS n FROM {table} WHERE task_id = ?", task_id)[0]["n"])
        for table in TASK_TABLES
    }


def integrity_check(path: Path | str) -> str:
    """`PRAGMA integrity_check` of the SQLite file `path`, opened read-only ("ok" when intact)."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return str(connection.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        connection.close()
