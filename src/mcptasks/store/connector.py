"""What the `Store` needs from a database: run transaction programs, durably.

Two connectors implement it: `sqlite.SQLiteConnector` (group commit, one thread hand-off per batch)
and `postgres.PostgresConnector` (a transaction per program on an asyncpg pool). `open_connector`
picks one for a database URL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy.engine import URL

from mcptasks.core.errors import ConfigurationError
from mcptasks.store.health import StoreHealth
from mcptasks.store.program import ProgramFactory
from mcptasks.store.statements import Statement

T = TypeVar("T")


class Connector(Protocol):
    """Runs transaction programs (`program.py`) on one database."""

    #: "sqlite" or "postgresql": which compiled form of each statement to run.
    engine: str
    #: Called with each statement and its parameters before it runs (debugging, tests), or None.
    trace: Callable[[Statement, Mapping[str, Any]], None] | None
    #: Storage-outage episodes: every operation reports its failure or success here.
    health: StoreHealth
    #: Programs commit in the order they were submitted (one writer): a program may depend on
    #: one submitted before it that is not committed yet (SQLite). PostgreSQL's pool: False.
    commits_in_order: bool

    @property
    def polls_for_changes(self) -> bool:
        """Whether other processes' changes are found only by calling `check_changes` (SQLite),
        rather than pushed (PostgreSQL's LISTEN/NOTIFY)."""
        ...

    def on_change(self, watcher: Callable[[str | None], None]) -> None:
        """Call `watcher(task_id)` when another process changed that task, `watcher(None)` when any
        task may have changed."""
        ...

    def check_changes(self) -> bool | None:
        """Whether another process committed since the last call (telling the watchers).

        True or False when the connector can tell at once, None when it cannot (then reads of
        active tasks go to the database).
        """
        ...

    async def database_time(self) -> datetime:
        """The clock leases are measured on (the database's). Raises: StoreError."""
        ...

    async def open(self) -> None:
        """Connect. Raises: StoreError when the database cannot be reached."""
        ...

    async def close(self) -> None:
        """Finish what was submitted, then disconnect."""
        ...

    async def check_writable(self) -> None:
        """Refuse a database this process could only read. Raises: StoreError naming it."""
        ...

    def submit(
        self,
        make: ProgramFactory[T],
        on_commit: Callable[[T], None] | None = None,
        changed: Callable[[T], Iterable[str]] | None = None,
    ) -> asyncio.Future[T]:
        """Run the program `make()` in a transaction; the future resolves once it is committed.

        `changed(value)` names the tasks it changed, for the other processes to hear of.
        `on_commit(value)` runs on the event loop after the COMMIT and before the future resolves.
        The future raises what the program raised, or StoreError when the commit failed.
        Cancelling the future cancels only the wait: the program still runs and commits.
        """
        ...

    async def read(self, make: ProgramFactory[T], on_read: Callable[[T], None] | None = None) -> T:
        """Run the read-only program `make()` and return its value.

        `on_read(value)` runs as soon as the value is known, in order with the commits of
        `submit` (so a view fed by both never goes back in time).
        Raises: StoreError.
        """
        ...


def open_connector(url: URL, *, readonly: bool = False) -> Connector:
    """The connector for `url` (an async SQLAlchemy URL from `engine.database_url`).

    `readonly=True` (operator commands) opens for reading only.
    Raises: ConfigurationError for an unsupported URL or a missing driver.
    """
    backend = url.get_backend_name()
    if backend == "sqlite":
        from mcptasks.store.engine import is_memory
        from mcptasks.store.sqlite import SQLiteConnector

        if is_memory(url):
            return SQLiteConnector(":memory:", memory=True)
        assert url.database is not None
        return SQLiteConnector(url.database, readonly=readonly)
    if backend == "postgresql":
        try:
            from mcptasks.store.postgres import PostgresConnector
        except ImportError as exc:  # pragma: no cover - depends on what is installed
            raise ConfigurationError(
                "the PostgreSQL driver is not installed (pip install 'mcptasks[postgres]')"
            ) from exc
        return PostgresConnector(url, readonly=readonly)
    raise ConfigurationError(f"unsupported database {url.drivername!r}: use a file path or postgresql://")


__all__ = ["Connector", "open_connector"]
