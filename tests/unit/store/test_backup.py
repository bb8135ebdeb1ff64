"""`backup_sqlite`: an online copy of a SQLite task database, taken while a server writes to it."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path

import apsw
import pytest
from sqlalchemy.engine import URL

from mcptasks.core.errors import ConfigurationError, StoreError
from mcptasks.core.model import TaskRecord
from mcptasks.core.status import TaskStatus
from mcptasks.store.backup import backup_sqlite
from mcptasks.store.engine import database_url
from mcptasks.store.store import Store

TaskFactory = Callable[..., Awaitable[TaskRecord]]


@pytest.fixture
def engine() -> str:
    """Backups through the SQLite API: SQLite only (PostgreSQL has pg_dump)."""
    return "sqlite"


async def test_backup_while_a_server_writes_is_a_whole_database(
    store: Store,
    db_url: URL,
    task_factory: TaskFactory,
    tmp_path: Path,
) -> None:
    before = [await task_factory(status=TaskStatus.COMPLETED) for _ in range(300)]
    progress: list[tuple[int, int]] = []
    stop_writing = asyncio.Event()

    async def keep_writing() -> int:
        written = 0
        while not stop_writing.is_set():
            await task_factory(status=TaskStatus.COMPLETED)
            written += 1
        return written

    writer = asyncio.ensure_future(keep_writing())
    target = tmp_path / "copy" / "backup.db"
    target.parent.mkdir()
    try:
        # One page per step, so the copy takes many steps and the writes land between them.
        pages = await backup_sqlite(
            db_url, target, on_progress=lambda done, total: progress.append((done, total)), pages_per_step=1
        )
    finally:
        stop_writing.set()
        written_meanwhile = await writer

    assert pages > 1 and progress[-1] == (pages, pages)
    assert written_meanwhile > 0
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    copy = apsw.Connection(str(target))
    try:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert copy.execute("PRAGMA journal_mode").fetchall() == [("delete",)]
    finally:
        copy.close()
    restored = Store.for_url(database_url(str(target)))
    await restored.open()
    try:
        for task in before:
            found = await restored.admin_get_task(task.task_id)
            assert found is not None and found[0].status is TaskStatus.COMPLETED
    finally:
        await restored.close()


async def test_backup_refuses_an_existing_file_and_a_missing_folder(
    store: Store, db_url: URL, tmp_path: Path
) -> None:
    existing = tmp_path / "there.db"
    existing.write_bytes(b"keep me")
    with pytest.raises(ConfigurationError, match="exists already"):
        await backup_sqlite(db_url, existing)
    assert existing.read_bytes() == b"keep me"
    with pytest.raises(ConfigurationError, match="is not a folder"):
        await backup_sqlite(db_url, tmp_path / "missing" / "copy.db")


async def test_backup_of_a_missing_database_says_so(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no database file"):
        await backup_sqlite(database_url(str(tmp_path / "nothing.db")), tmp_path / "copy.db")
    assert not (tmp_path / "copy.db").exists()


async def test_backup_of_postgresql_points_to_pg_dump(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="pg_dump") as refused:
        await backup_sqlite(database_url("postgresql://user:secret@db.example/tasks"), tmp_path / "copy.db")
    assert "secret" not in str(refused.value)
    assert "tasks" in str(refused.value)
