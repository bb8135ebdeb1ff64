"""`/healthz` and `/readyz` of a real server process, on SQLite and PostgreSQL.

The probes answer without a token or a session, say nothing but which check failed, and turn
`/readyz` to 503 when the database's schema is not the one this version needs (an operator ran a
downgrade under a live server) and back once it is. A stopping server answers 503 to both
(in-process: the window of a real stop is too short to aim at).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import asyncpg
import httpx
import pytest

from mcptasks import TaskServer
from mcptasks.store import migrate
from support.process import HttpServer

pytestmark = pytest.mark.slow

ALL_PASS = {"database": True, "schema": True, "executor": True, "accepting": True}


async def _set_revision(db: Path | str, revision: str) -> None:
    """Write `revision` into alembic's bookkeeping row, as `alembic downgrade` would leave it."""
    if isinstance(db, Path):
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE alembic_version SET version_num = ?", (revision,))
        return
    conn = await asyncpg.connect(db)
    try:
        await conn.execute("UPDATE alembic_version SET version_num = $1", revision)
    finally:
        await conn.close()


async def test_probes_of_a_serving_replica(http_server: HttpServer) -> None:
    async with httpx.AsyncClient(base_url=http_server.base_url, timeout=10) as client:
        health = await client.get("/healthz")
        ready = await client.get("/readyz")

    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": ALL_PASS}


async def test_readyz_fails_while_the_schema_is_not_this_versions(
    server_db: Path | str, tmp_path: Path
) -> None:
    server = HttpServer(server_db, tmp_path / "server.log").start()
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
            assert (await client.get("/readyz")).status_code == 200

            await _set_revision(server_db, "0001")
            refused = await client.get("/readyz")
            assert refused.status_code == 503
            assert refused.json() == {"status": "not ready", "checks": {**ALL_PASS, "schema": False}}
            assert (await client.get("/healthz")).status_code == 200  # the process is still up

            await _set_revision(server_db, migrate.head_revision())
            assert (await client.get("/readyz")).status_code == 200
    finally:
        server.stop()


async def test_a_stopping_server_is_not_ready(tmp_path: Path) -> None:
    server = TaskServer("health", db=str(tmp_path / "tasks.db"))
    async with server:
        app = server.streamable_http_app()
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
        ) as client:
            assert (await client.get("/readyz")).json()["checks"] == ALL_PASS
            server.request_stop()
            assert await server.readiness() == {**ALL_PASS, "accepting": False}
            stopping = await client.get("/readyz")
            assert stopping.status_code == 503
            assert stopping.headers["retry-after"]
