"""`/readyz` of a real `mcptasks serve` whose PostgreSQL database goes away: 503 naming the failed
check and nothing else, `/healthz` still 200, and ready again once the database is back.

The server reaches PostgreSQL through a TCP proxy on loopback (`support.proxy`); severing the proxy
is the network cut (connections closed, new ones refused). The proxy runs in this test's event
loop, so blocking calls on the server process go to a thread.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from support.process import ServeProcess
from support.proxy import pausable_proxy

if TYPE_CHECKING:
    from tests.conftest import PostgresServer

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ALL_PASS = {"database": True, "schema": True, "executor": True, "accepting": True}
#: Longest the probe may take to reflect a cut or a restored database, in s (a loaded machine).
SETTLE_TIMEOUT_S = 60.0


async def _readyz_until(client: httpx.AsyncClient, status_code: int) -> httpx.Response:
    """GET /readyz until it answers `status_code`; the last answer. Fails after SETTLE_TIMEOUT_S."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        answer = await client.get("/readyz")
        if answer.status_code == status_code or time.monotonic() > deadline:
            return answer
        await asyncio.sleep(0.2)


async def test_readyz_names_the_database_when_postgres_is_cut_off(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    name = postgres_server.create_database(prefix="mcptasks_it")
    url = postgres_server.url(name)
    try:
        async with pausable_proxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
            through_proxy = url.set(drivername="postgresql", port=proxy.port)
            db = through_proxy.render_as_string(hide_password=False)
            server = ServeProcess(db, tmp_path / "server.log")
            await asyncio.to_thread(server.start)
            try:
                async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
                    ready = await _readyz_until(client, 200)
                    assert ready.json() == {"status": "ready", "checks": ALL_PASS}, server.log()

                    await proxy.sever()
                    refused = await _readyz_until(client, 503)
                    health = await client.get("/healthz")

                    await proxy.restore()
                    back = await _readyz_until(client, 200)
            finally:
                code = await asyncio.to_thread(server.stop)
    finally:
        postgres_server.drop_database(name)

    assert refused.status_code == 503, server.log()
    body: dict[str, Any] = refused.json()
    # The failed checks are named; the ones that do not need the database still pass.
    assert body == {
        "status": "not ready",
        "checks": {"database": False, "schema": False, "executor": True, "accepting": True},
    }
    # Nothing internal: no address, port, database name, driver or exception text.
    for secret in (str(proxy.port), name, "127.0.0.1", "asyncpg", "Error", "refused", "postgres"):
        assert secret not in refused.text, secret
    assert refused.headers["content-type"] == "application/json"
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert back.status_code == 200 and back.json()["checks"] == ALL_PASS
    assert code == 0, server.log()
