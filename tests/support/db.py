"""Read a server's SQLite file directly (read-only), as an operator would."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any


def _connect(db: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    return connection


def task_rows(db: Path, *task_ids: str) -> dict[str, dict[str, Any]]:
    """The `tasks` rows of `task_ids` with their stored `result` and `error`, keyed by task id."""
    connection = _connect(db)
    try:
        marks = ",".join("?" * len(task_ids))
        found = connection.execute(
            "SELECT t.*, r.result, r.error FROM tasks t LEFT JOIN task_results r USING (task_id) "
            f"WHERE t.task_id IN ({marks})",
            task_ids,
        ).fetchall()
        return {row["task_id"]: dict(row) for row in found}
    finally:
        connection.close()


def task_events(db: Path, task_id: str) -> list[tuple[str | None, str, str | None]]:
    """The status history `(from, to, message)` of one task, oldest first."""
    connection = _connect(db)
    try:
        return [
            (row["from_status"], row["to_status"], row["message"])
            for row in connection.execute(
                "SELECT from_status, to_status, message FROM task_events WHERE task_id = ? ORDER BY event_id",
                (task_id,),
            )
        ]
    finally:
        connection.close()


def row_counts(db: Path, task_id: str) -> dict[str, int]:
    """How many rows of `tasks`, `task_results` and `task_events` belong to `task_id`."""
    connection = _connect(db)
    try:
        return {
            table: connection.execute(
                f"SELECT count(*) FROM {table} WHERE task_id = ?", (task_id,)
            ).fetchone()[0]
            for table in ("tasks", "task_results", "task_events")
        }
    finally:
        connection.close()
