"""A throw-away PostgreSQL database per server start, and the CPU its backends use.

The benchmark creates a fresh database with `CREATE DATABASE` over a connection to an existing one
(the admin URL, e.g. `postgresql://postgres@127.0.0.1:5432/postgres`), serves mcptasks on it, and
drops it `WITH (FORCE)` afterwards. asyncpg is imported only here and only for `--pg`: it is
the driver `mcptasks[postgres]` installs anyway.

mcptasks' own CPU leaves out the work its PostgreSQL backends do, so `backend_pids()` lets the
benchmark read their CPU from /proc too (this works when PostgreSQL runs on the same host).
"""

from __future__ import annotations

import secrets
from types import ModuleType
from urllib.parse import urlsplit, urlunsplit

__all__ = ["DEFAULT_ADMIN_URL", "PgAdmin"]

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _asyncpg() -> ModuleType:
    try:
        import asyncpg  # type: ignore[import-untyped]
    except ImportError as exc:
        raise SystemExit("--pg needs asyncpg: pip install -e '.[postgres]' (or '.[dev]')") from exc
    return asyncpg  # type: ignore[no-any-return]


class PgAdmin:
    """Creates and drops benchmark databases through the admin URL."""

    def __init__(self, admin_url: str = DEFAULT_ADMIN_URL) -> None:
        self.admin_url = admin_url

    def url_of(self, database: str) -> str:
        """The admin URL with its database replaced by `database`: what `mcptasks serve --db` gets."""
        parts = urlsplit(self.admin_url)
        return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))

    async def create_database(self) -> str:
        """Create an empty database with a fresh name and return that name."""
        name = f"mcptasks_bench_{secrets.token_hex(4)}"
        conn = await _asyncpg().connect(self.admin_url)
        try:
            # A name cannot be a bind parameter; this one is made of [a-z0-9_] only.
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return name

    async def drop_database(self, name: str) -> None:
        """Drop database `name`, ending any session still connected to it."""
        conn = await _asyncpg().connect(self.admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    async def backend_pids(self, name: str) -> list[int]:
        """Process ids of the backends connected to database `name` now."""
        conn = await _asyncpg().connect(self.admin_url)
        try:
            rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", name)
        finally:
            await conn.close()
        return [int(row["pid"]) for row in rows]
