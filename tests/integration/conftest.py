"""Fixtures of the integration tests: server subprocesses and raw clients.

One HTTP server per test module (`http_server`) keeps the suite fast; tests isolate themselves by
opening their own sessions (2025-11-25) and using their own task ids (2026-07-28). Tests that
restart or kill servers, or need other settings, start their own with `HttpServer`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from support.clients import LegacyFactory, LegacyHttpClient, ModernHttpClient
from support.process import HttpServer


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    """An HTTP server on a fresh SQLite file, shared by one test module."""
    directory = tmp_path_factory.mktemp("http-server")
    server = HttpServer(directory / "tasks.db", directory / "server.log").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def legacy_session(http_server: HttpServer) -> AsyncIterator[LegacyFactory]:
    """Open 2025-11-25 sessions on `http_server` (`await legacy_session(listen=True)`); closed after."""
    clients: list[LegacyHttpClient] = []

    async def open_session(*, listen: bool = False) -> LegacyHttpClient:
        client = LegacyHttpClient(http_server.base_url)
        clients.append(client)
        return await client.open(listen=listen)

    try:
        yield open_session
    finally:
        for client in clients:
            await client.aclose()


@pytest.fixture
async def modern(http_server: HttpServer) -> AsyncIterator[ModernHttpClient]:
    """A stateless 2026-07-28 client of `http_server`."""
    client = ModernHttpClient(http_server.base_url)
    try:
        yield client
    finally:
        await client.aclose()
