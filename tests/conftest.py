"""Shared fixtures: the databases tests run against.

- `sqlite_url`: a fresh SQLite file in the test's tmp_path (as an async URL).
- `postgres_url`: a fresh PostgreSQL database on 127.0.0.1:5432, dropped after the test; the test
  is skipped, with the reason, when no server listens there. Mark such tests `@pytest.mark.postgres`.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from mcptasks.store.engine import database_url

#: The local test server (trust auth); each test gets its own database created through it.
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
POSTGRES_ADDRESS = ("127.0.0.1", 5432)
#: How long to wait for the TCP connect that decides whether PostgreSQL tests run, in seconds.
POSTGRES_PROBE_TIMEOUT_S = 1.0


def _postgres_reachable() -> bool:
    try:
        with socket.create_connection(POSTGRES_ADDRESS, timeout=POSTGRES_PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


@pytest.fixture
def sqlite_url(tmp_path: Path) -> URL:
    """An async URL of a SQLite file that does not exist yet."""
    return database_url(str(tmp_path / "mcptasks.db"))


@pytest.fixture
async def postgres_url() -> AsyncIterator[URL]:
    """An async URL of a new, empty PostgreSQL database, dropped (WITH (FORCE)) afterwards."""
    if not _postgres_reachable():
        pytest.skip(
            f"PostgreSQL is not reachable on {POSTGRES_ADDRESS[0]}:{POSTGRES_ADDRESS[1]} "
            "(start one with trust auth and a database 'test' to run the postgres tests)"
        )
    admin_url = database_url(POSTGRES_ADMIN_URL)
    name = f"mcptasks_test_{secrets.token_hex(6)}"
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield admin_url.set(database=name)
    finally:
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.dispose()
