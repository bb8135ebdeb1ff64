"""Shared fixtures: the databases tests run against.

- `sqlite_url`: a fresh SQLite file in the test's tmp_path (as an async URL).
- `postgres_server` (session): the local PostgreSQL server on 127.0.0.1:5432 (trust auth); it
  creates and drops databases for tests. Where no server answers, PostgreSQL tests are skipped with
  the reason, unless `MCPTASKS_REQUIRE_POSTGRES=1` (set by `.ci/run`): then they fail.
- `postgres_url`: a fresh, empty PostgreSQL database, dropped after the test.
- `private_data_folder` (session, automatic): `XDG_DATA_HOME` points into a temporary folder, so a
  command run without `--db` never writes the user's own data folder (tests of the default
  location set `HOME` too, for platforms that ignore `XDG_DATA_HOME`).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import URL

from mcptasks.store.engine import database_url

#: The local test server (trust auth); each test gets its own database created through it.
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
POSTGRES_ADDRESS = ("127.0.0.1", 5432)
#: How long to wait for the TCP connect that decides whether PostgreSQL tests run, in seconds.
POSTGRES_PROBE_TIMEOUT_S = 1.0
#: Set to 1 to make a PostgreSQL test that cannot connect fail instead of skipping (CI sets it).
REQUIRE_POSTGRES_ENV = "MCPTASKS_REQUIRE_POSTGRES"


def _postgres_reachable() -> bool:
    try:
        with socket.create_connection(POSTGRES_ADDRESS, timeout=POSTGRES_PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def _run_in_thread(make: Callable[[], Awaitable[Any]]) -> Any:
    """Run the coroutine `make()` in an event loop of a thread of its own; return its value."""
    outcome: list[Any] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            outcome.append(asyncio.run(make()))  # type: ignore[arg-type]
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=target, name="postgres-admin")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]


class PostgresServer:
    """Creates and drops databases on the local test server (synchronous: usable from any fixture)."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url

    def _admin(self, sql: str) -> None:
        async def run() -> None:
            conn = await asyncpg.connect(self.admin_url)
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        _run_in_thread(run)

    def create_database(self, *, template: str | None = None, prefix: str = "mcptasks_test") -> str:
        """Create a database (a copy of `template`, if given); returns its name."""
        name = f"{prefix}_{secrets.token_hex(6)}"
        clause = f' TEMPLATE "{template}"' if template else ""
        self._admin(f'CREATE DATABASE "{name}"{clause}')
        return name

    def drop_database(self, name: str) -> None:
        """Drop a database, closing any connection still open to it."""
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def url(self, name: str) -> URL:
        """The async URL of database `name`."""
        return database_url(self.admin_url).set(database=name)


@pytest.fixture(scope="session", autouse=True)
def private_data_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`XDG_DATA_HOME` for the whole run (and every process it starts): a temporary folder."""
    folder = tmp_path_factory.mktemp("xdg-data")
    before = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = str(folder)
    try:
        yield folder
    finally:
        if before is None:
            del os.environ["XDG_DATA_HOME"]
        else:
            os.environ["XDG_DATA_HOME"] = before


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The local PostgreSQL server; skips (or fails, see module docstring) when none answers."""
    if not _postgres_reachable():
        reason = (
            f"PostgreSQL is not reachable on {POSTGRES_ADDRESS[0]}:{POSTGRES_ADDRESS[1]} "
            "(start one with trust auth and a database 'test' to run the postgres tests)"
        )
        if os.environ.get(REQUIRE_POSTGRES_ENV) == "1":
            pytest.fail(f"{reason}; {REQUIRE_POSTGRES_ENV}=1 requires it")
        pytest.skip(reason)
    yield PostgresServer(POSTGRES_ADMIN_URL)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> URL:
    """An async URL of a SQLite file that does not exist yet."""
    return database_url(str(tmp_path / "mcptasks.db"))


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[URL]:
    """An async URL of a new, empty PostgreSQL database, dropped (WITH (FORCE)) afterwards."""
    name = postgres_server.create_database()
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)
