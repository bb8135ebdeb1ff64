"""Migrations (storage-and-auth.md §2.6): one head, empty -> head equals `schema.metadata`, round
trip, data kept, concurrent start-up, failure rolls back, the `alembic` command line, PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, Connection

from mcptasks.core.errors import ConfigurationError, StoreError
from mcptasks.store import migrate
from mcptasks.store.engine import Engines, create_engines, describe_url
from mcptasks.store.migrate import (
    alembic_config,
    check_at_head,
    current_revision,
    head_revision,
    offline_sql,
    upgrade,
)
from mcptasks.store.schema import metadata, task_events, task_input_requests, task_results, tasks

REPOSITORY = Path(__file__).resolve().parents[2]
TABLES = {"tasks", "task_results", "task_input_requests", "task_events"}
#: The operator views of migration 0005.
VIEWS = {"v_tasks", "v_pending_inputs", "v_task_history"}
#: A batch rebuild of a table the views read, done the way migration 0005's docstring says.
REBUILD_WITH_VIEWS = """
from alembic import context

views = context.script.get_revision("0005").module
views.drop_views()
with op.batch_alter_table("{table}", recreate="always") as batch_op:
    batch_op.add_column(sa.Column("extra", sa.Text(), nullable=True))
views.create_views()
"""


@pytest.fixture
async def engines(sqlite_url: URL) -> AsyncIterator[Engines]:
    engines = create_engines(sqlite_url)
    try:
        yield engines
    finally:
        await engines.dispose()


@pytest.fixture
async def pg_engines(postgres_url: URL) -> AsyncIterator[Engines]:
    engines = create_engines(postgres_url)
    try:
        yield engines
    finally:
        await engines.dispose()


# -- helpers ------------------------------------------------------------------------------------


async def _on_reader(engines: Engines, fn: Callable[[Connection], Any]) -> Any:
    async with engines.reader.connect() as conn:
        return await conn.run_sync(fn)


async def _alembic(
    engines: Engines, fn: Callable[..., None], *args: str, config: Config | None = None
) -> None:
    """Run an alembic command on the writer engine, the way `migrate.upgrade` does."""
    config = config if config is not None else alembic_config(engines.url)

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        fn(config, *args)

    async with engines.writer.connect() as conn:
        await conn.run_sync(run)


def _drift(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


def _table_names(connection: Connection) -> set[str]:
    return set(sa.inspect(connection).get_table_names())


def _view_names(connection: Connection) -> set[str]:
    return set(sa.inspect(connection).get_view_names())


def _view_rows(connection: Connection) -> dict[str, int]:
    return {
        name: int(connection.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar_one())
        for name in sorted(VIEWS)
    }


def _assert_constraints_match_metadata(connection: Connection) -> None:
    # compare_metadata does not see CHECK constraints (storage-and-auth.md §2.6 item 7), and FK
    # options are checked here explicitly too.
    inspector = sa.inspect(connection)
    for table in metadata.sorted_tables:
        expected_checks = {str(c.name) for c in table.constraints if isinstance(c, sa.CheckConstraint)}
        assert {c["name"] for c in inspector.get_check_constraints(table.name)} == expected_checks
        expected_fks = {(str(fk.name), fk.ondelete) for fk in table.foreign_key_constraints}
        reflected_fks = {
            (fk["name"], fk["options"].get("ondelete")) for fk in inspector.get_foreign_keys(table.name)
        }
        assert reflected_fks == expected_fks


async def _seed(engines: Engines) -> None:
    now = datetime.now(UTC)
    async with engines.writer.begin() as conn:
        await conn.execute(
            tasks.insert().values(
                task_id="t-1",
                owner_kind="session",
                owner_key="session:abc",
                wire="2025-11-25",
                tool_name="slow_tool",
                arguments={"n": 1},
                status="completed",
                created_at=now,
                last_updated_at=now,
                ttl_ms=60_000,
            )
        )
        await conn.execute(task_results.insert().values(task_id="t-1", result={"content": []}, stored_at=now))
        await conn.execute(
            task_input_requests.insert().values(
                task_id="t-1",
                request_key="1",
                method="elicitation/create",
                params={"message": "sure?"},
                created_at=now,
            )
        )
        await conn.execute(
            task_events.insert().values(
                task_id="t-1", from_status=None, to_status="working", at=now, attempt=0
            )
        )
        await conn.execute(
            task_events.insert().values(
                task_id="t-1", from_status="working", to_status="completed", at=now, attempt=1
            )
        )


async def _snapshot(engines: Engines) -> dict[str, list[tuple[Any, ...]]]:
    snapshot: dict[str, list[tuple[Any, ...]]] = {}
    async with engines.reader.connect() as conn:
        for table in (tasks, task_results, task_input_requests, task_events):
            rows = await conn.execute(sa.select(table).order_by(*table.primary_key.columns))
            snapshot[table.name] = [tuple(row) for row in rows]
    return snapshot


async def _foreign_keys_on(engines: Engines) -> bool:
    async with engines.writer.connect() as conn:
        return bool((await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar_one())


def _run_alembic_cli(*args: str, db: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MCPTASKS_DB": db}
    return subprocess.run(
        [sys.executable, "-W", "error", "-m", "alembic", "-c", "alembic.ini", *args],
        cwd=REPOSITORY,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def extra_revision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], None]:
    """Copy the migrations into tmp_path as if packaged, and add revisions to the copy.

    `migrate.alembic_config()` prefers the packaged location, so `upgrade()` then runs the copy.
    """
    location = tmp_path / "mcptasks" / "migrations"
    source = migrate.alembic_config().get_main_option("script_location") or ""
    shutil.copytree(source, location, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(migrate, "_PACKAGED_MIGRATIONS", location)
    heads = [head_revision()]

    def add(revision: str, upgrade_body: str) -> None:
        body = textwrap.indent(textwrap.dedent(upgrade_body).strip(), "    ")
        (location / "versions" / f"{revision}_test.py").write_text(
            f'"""test revision"""\n\nimport sqlalchemy as sa\nfrom alembic import op\n\n'
            f"revision = {revision!r}\ndown_revision = {heads[-1]!r}\nbranch_labels = None\n"
            f"depends_on = None\n\n\ndef upgrade() -> None:\n{body}\n\n\n"
            f"def downgrade() -> None:\n    pass\n"
        )
        heads.append(revision)

    return add


# -- the migration history ---------------------------------------------------------------------


def test_single_head() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_heads() == [head_revision()]


def test_revision_files_are_named_after_their_revision() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    for revision in script.walk_revisions():
        assert revision.path is not None
        name = Path(revision.path).name
        assert re.fullmatch(r"\d{4}_[a-z0-9_]+\.py", name), name
        assert name.startswith(f"{revision.revision}_"), (name, revision.revision)


def test_alembic_config_finds_the_migrations() -> None:
    location = Path(alembic_config().get_main_option("script_location") or "")
    # An editable install has no packaged copy, so the repository's folder is used.
    assert location == REPOSITORY / "migrations"
    assert (location / "env.py").is_file()


# -- SQLite ------------------------------------------------------------------------------------


async def test_upgrade_from_empty_matches_metadata(engines: Engines) -> None:
    assert await current_revision(engines) is None

    assert await upgrade(engines) == head_revision()

    assert await current_revision(engines) == head_revision()
    assert await _on_reader(engines, _drift) == []
    assert await _on_reader(engines, _table_names) == TABLES | {"alembic_version"}
    assert await _on_reader(engines, _view_names) == VIEWS
    await _on_reader(engines, _assert_constraints_match_metadata)
    # env.py turned foreign keys off on the writer's (only) connection; they must be on again.
    assert await _foreign_keys_on(engines)
    await check_at_head(engines)


async def test_round_trip_head_base_head(engines: Engines) -> None:
    await upgrade(engines)

    await _alembic(engines, command.downgrade, "0004")
    assert await current_revision(engines) == "0004"
    assert await _on_reader(engines, _view_names) == set()
    assert await _on_reader(engines, _table_names) == TABLES | {"alembic_version"}

    await _alembic(engines, command.downgrade, "base")
    assert await current_revision(engines) is None
    assert await _on_reader(engines, _table_names) == {"alembic_version"}
    assert await _on_reader(engines, _view_names) == set()

    assert await upgrade(engines) == head_revision()
    assert await _on_reader(engines, _drift) == []
    assert await _on_reader(engines, _view_names) == VIEWS


async def test_upgrade_again_keeps_data(engines: Engines) -> None:
    await upgrade(engines)
    await _seed(engines)
    before = await _snapshot(engines)
    assert [len(rows) for rows in before.values()] == [1, 1, 1, 2]

    assert await upgrade(engines) == head_revision()

    assert await _snapshot(engines) == before


async def test_batch_rebuild_keeps_child_rows(
    engines: Engines, extra_revision: Callable[[str, str], None]
) -> None:
    # The foreign-key trap (storage-and-auth.md §2.2): rebuilding `tasks` DROPs it, and with
    # foreign_keys=ON that cascades into every child table.
    await upgrade(engines)
    await _seed(engines)
    before = await _snapshot(engines)
    extra_revision("9001", REBUILD_WITH_VIEWS.format(table="tasks"))

    assert await upgrade(engines) == "9001"

    after = await _snapshot(engines)
    assert {name: len(rows) for name, rows in after.items()} == {
        name: len(rows) for name, rows in before.items()
    }
    assert after["task_events"] == before["task_events"]
    assert after["task_results"] == before["task_results"]
    assert await _foreign_keys_on(engines)
    # The views were recreated on the rebuilt table and still read every row.
    assert await _on_reader(engines, _view_names) == VIEWS
    assert await _on_reader(engines, _view_rows) == {"v_pending_inputs": 0, "v_task_history": 2, "v_tasks": 1}


async def test_batch_rebuild_without_dropping_the_views_is_refused(
    engines: Engines, extra_revision: Callable[[str, str], None]
) -> None:
    # The trap migration 0005's docstring warns of: SQLite re-checks every view when the rebuilt
    # copy is renamed, and the table they read was just dropped. The upgrade rolls back whole.
    head = await upgrade(engines)
    await _seed(engines)
    before = await _snapshot(engines)
    extra_revision(
        "9001",
        """
        with op.batch_alter_table("tasks", recreate="always") as batch_op:
            batch_op.add_column(sa.Column("extra", sa.Text(), nullable=True))
        """,
    )

    with pytest.raises(StoreError, match="error in view v_tasks"):
        await upgrade(engines)

    assert await current_revision(engines) == head
    assert await _snapshot(engines) == before
    assert await _on_reader(engines, _view_names) == VIEWS


async def test_failed_upgrade_rolls_back_everything(
    engines: Engines, extra_revision: Callable[[str, str], None]
) -> None:
    # Transactional DDL (storage-and-auth.md §2.3): nothing is left behind, not even a table
    # `_alembic_tmp_task_events` of the half-done rebuild.
    head = await upgrade(engines)
    await _seed(engines)
    before = await _snapshot(engines)
    extra_revision("9001", REBUILD_WITH_VIEWS.format(table="tasks"))
    extra_revision(
        "9002",
        REBUILD_WITH_VIEWS.format(table="task_events") + 'op.execute("SELECT * FROM no_such_table")\n',
    )

    with pytest.raises(StoreError) as raised:
        await upgrade(engines)

    message = str(raised.value)
    assert "\n" not in message
    assert describe_url(engines.url) in message
    assert "no such table" in message
    assert isinstance(raised.value.__cause__, sa.exc.SQLAlchemyError)
    # One transaction for the whole upgrade: 9001 succeeded, but it is rolled back with 9002.
    assert await current_revision(engines) == head
    assert await _on_reader(engines, _table_names) == TABLES | {"alembic_version"}
    assert await _on_reader(engines, _view_names) == VIEWS
    assert await _on_reader(engines, _drift) == []
    assert await _snapshot(engines) == before
    assert await _foreign_keys_on(engines)


async def test_unknown_revision_is_a_store_error(engines: Engines) -> None:
    await upgrade(engines)
    async with engines.writer.begin() as conn:
        await conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'ffff'")

    with pytest.raises(StoreError, match=re.escape(describe_url(engines.url))) as raised:
        await upgrade(engines)

    assert "ffff" in str(raised.value)
    assert raised.value.__cause__ is not None


async def test_check_at_head_raises_on_empty_database(engines: Engines) -> None:
    with pytest.raises(ConfigurationError) as raised:
        await check_at_head(engines)

    message = str(raised.value)
    assert describe_url(engines.url) in message
    assert "no revision" in message
    assert f"expects revision {head_revision()}" in message


async def test_concurrent_upgrades_on_one_new_file(sqlite_url: URL) -> None:
    # Six servers starting at once (storage-and-auth.md §2.5): BEGIN IMMEDIATE serialises them.
    all_engines = [create_engines(sqlite_url) for _ in range(6)]
    try:
        revisions = await asyncio.gather(*(upgrade(engines) for engines in all_engines))
        assert revisions == [head_revision()] * 6
        assert await _on_reader(all_engines[0], _drift) == []
    finally:
        for engines in all_engines:
            await engines.dispose()


_UPGRADE_IN_A_PROCESS = """
import asyncio, sys, time
from pathlib import Path
from mcptasks.store.engine import create_engines, database_url
from mcptasks.store.migrate import upgrade

async def main() -> None:
    engines = create_engines(database_url(sys.argv[1]))
    try:
        print("ready", flush=True)
        while not Path(sys.argv[2]).exists():  # start together, imports done
            time.sleep(0.005)
        print(await upgrade(engines))
    finally:
        await engines.dispose()

asyncio.run(main())
"""


async def _upgrade_in_processes(db: str, go: Path, count: int) -> None:
    """Start `count` processes that each run `upgrade()` on `db` at the same moment."""
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-W",
            "error",
            "-c",
            _UPGRADE_IN_A_PROCESS,
            db,
            str(go),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(count)
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            assert await asyncio.wait_for(process.stdout.readline(), timeout=60) == b"ready\n"
    finally:
        await asyncio.to_thread(go.touch)  # also on failure: no process is left waiting
        outputs = await asyncio.gather(*(process.communicate() for process in processes))

    for process, (stdout, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr.decode()
        assert stdout.decode().strip() == head_revision()


async def test_concurrent_upgrades_from_separate_processes(tmp_path: Path) -> None:
    # The measured case of storage-and-auth.md §2.5: only BEGIN IMMEDIATE serialises them.
    await _upgrade_in_processes(str(tmp_path / "processes.db"), tmp_path / "go", 6)


def test_offline_sql() -> None:
    # Offline mode never connects: neither URL names a reachable database.
    sqlite = offline_sql(URL.create("sqlite+aiosqlite", database="/nonexistent/dir/mcptasks.db"))
    postgres = offline_sql(URL.create("postgresql+asyncpg", host="127.0.0.1", port=1, database="x"))

    for sql in (sqlite, postgres):
        for table in TABLES:
            assert f"CREATE TABLE {table} " in sql
        for view in VIEWS:
            assert sql.index(f"CREATE VIEW {view} AS") < sql.index("COMMIT;")
        assert sql.index("BEGIN;") < sql.index("CREATE TABLE tasks") < sql.index("COMMIT;")
    assert sqlite.index("PRAGMA foreign_keys=OFF") < sqlite.index("BEGIN;")
    assert sqlite.index("COMMIT;") < sqlite.index("PRAGMA foreign_keys=ON")
    assert "ON DELETE CASCADE" in sqlite
    first_statement = postgres.split("BEGIN;", 1)[1].strip().splitlines()[0]
    assert first_statement.startswith("SELECT pg_advisory_xact_lock(")
    assert "COMMENT ON COLUMN tasks.task_id" in postgres
    assert "julianday(" in sqlite and "julianday(" not in postgres
    assert "EXTRACT(EPOCH FROM" in postgres and "EXTRACT(EPOCH FROM" not in sqlite


def test_alembic_command_line(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"

    upgraded = _run_alembic_cli("upgrade", "head", db=str(db))
    assert upgraded.returncode == 0, upgraded.stderr
    checked = _run_alembic_cli("check", db=str(db))
    assert checked.returncode == 0, checked.stderr
    assert "No new upgrade operations detected" in checked.stdout
    current = _run_alembic_cli("current", db=str(db))
    assert current.returncode == 0, current.stderr
    assert f"{head_revision()} (head)" in current.stdout


def test_alembic_check_reports_drift_on_an_empty_database(tmp_path: Path) -> None:
    checked = _run_alembic_cli("check", db=str(tmp_path / "empty.db"))
    assert checked.returncode != 0
    assert "Target database is not up to date" in checked.stderr


# -- PostgreSQL --------------------------------------------------------------------------------


@pytest.mark.postgres
async def test_postgres_upgrade_matches_metadata(pg_engines: Engines) -> None:
    assert await current_revision(pg_engines) is None
    with pytest.raises(ConfigurationError):
        await check_at_head(pg_engines)

    assert await upgrade(pg_engines) == head_revision()

    assert await _on_reader(pg_engines, _drift) == []
    assert await _on_reader(pg_engines, _table_names) == TABLES | {"alembic_version"}
    assert await _on_reader(pg_engines, _view_names) == VIEWS
    await _on_reader(pg_engines, _assert_constraints_match_metadata)
    await check_at_head(pg_engines)

    await _seed(pg_engines)
    before = await _snapshot(pg_engines)
    assert await upgrade(pg_engines) == head_revision()
    assert await _snapshot(pg_engines) == before
    assert await _on_reader(pg_engines, _view_rows) == {
        "v_pending_inputs": 0,
        "v_task_history": 2,
        "v_tasks": 1,
    }

    db = pg_engines.url.render_as_string(hide_password=False)
    checked = await asyncio.to_thread(_run_alembic_cli, "check", db=db)
    assert checked.returncode == 0, checked.stderr
    assert "No new upgrade operations detected" in checked.stdout


@pytest.mark.postgres
async def test_postgres_round_trip(pg_engines: Engines) -> None:
    await upgrade(pg_engines)
    await _alembic(pg_engines, command.downgrade, "0004")
    assert await _on_reader(pg_engines, _view_names) == set()
    assert await _on_reader(pg_engines, _table_names) == TABLES | {"alembic_version"}
    await _alembic(pg_engines, command.downgrade, "base")
    assert await _on_reader(pg_engines, _table_names) == {"alembic_version"}
    assert await upgrade(pg_engines) == head_revision()
    assert await _on_reader(pg_engines, _drift) == []
    assert await _on_reader(pg_engines, _view_names) == VIEWS


@pytest.mark.postgres
async def test_postgres_concurrent_upgrades_from_separate_processes(
    postgres_url: URL, pg_engines: Engines, tmp_path: Path
) -> None:
    # Replicas starting at once: only the advisory lock serialises them.
    await _upgrade_in_processes(postgres_url.render_as_string(hide_password=False), tmp_path / "go", 6)
    assert await _on_reader(pg_engines, _drift) == []
