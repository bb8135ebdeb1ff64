"""Fixtures of the store's unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.engine import URL

from mcptasks.store.sqlite import SQLiteConnector


@pytest.fixture
async def connector(db_url: URL) -> AsyncIterator[SQLiteConnector]:
    """An open SQLite connector on the test's database file (tests that set `engine` to sqlite)."""
    assert db_url.database is not None
    connector = SQLiteConnector(db_url.database)
    await connector.open()
    try:
        yield connector
    finally:
        await connector.close()
