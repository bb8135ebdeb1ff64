"""Fixtures of the integration tests: server subprocesses, their databases, and raw clients.

Every test module runs once per database engine (`engine`, module-scoped: "sqlite", "postgres"), so
the module's shared server starts once per engine. A server's database is what `TaskServer` is
given as `db`: a SQLite file path, or the URL of a new PostgreSQL database created through
`postgres_server` (`tests/conftest.py`: skipped when PostgreSQL is absent, unless CI requires it) and
dropped after its last user. Either is new and empty: the server migrates it at start-up.

- `module_db`: the database of a module's shared server (`http_server`, or a module's own).
- `server_db`: a database of the test's own, for tests that start (and restart) servers themselves;
  every server a test starts on it finds the same database.

- `task_client`: `mcptasks.client.TaskClient`s of `http_server` on either wire, for the happy
  paths (`support.task_clients`); the raw clients (`legacy_session`, `modern`) check the wire.

One HTTP server per test module (`http_server`) keeps the suite fast; tests isolate themselves by
opening their own sessions (2025-11-25) and using their own task ids (2026-07-28). Tests that
restart or kill servers, or need other settings, start their own with `HttpServer` on `server_db`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from mcptasks.client import TaskClient, Wire
from support.clients import LegacyFactory, LegacyHttpClient, ModernHttpClient
from support.process import HttpServer
from support.task_clients import http_endpoint
from support.task_clients import task_client as task_client_of

if TYPE_CHECKING:
    from tests.conftest import PostgresServer

#: The engines every integration test module runs on.
ENGINES = ("sqlite", "postgres")
#: Name prefix of the PostgreSQL databases these tests create (dropped after use).
POSTGRES_PREFIX = "mcptasks_it"


@contextmanager
def new_database(engine: str, request: pytest.FixtureRequest, directory: Path) -> Iterator[Path | str]:
    """A database no server has opened yet, for `engine`: `directory/tasks.db`, or a new PostgreSQL
    database given as a plain `postgresql://` URL and dropped (WITH (FORCE)) on exit."""
    if engine == "sqlite":
        yield directory / "tasks.db"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.create_database(prefix=POSTGRES_PREFIX)
    try:
        yield server.url(name).set(drivername="postgresql").render_as_string(hide_password=False)
    finally:
        server.drop_database(name)


@pytest.fixture(scope="module", params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """The database engine of this run of the module: "sqlite" or "postgres"."""
    return str(request.param)


@pytest.fixture(scope="module")
def module_db(
    engine: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path | str]:
    """A new database on `engine` for the module's shared server (a path or a URL)."""
    with new_database(engine, request, tmp_path_factory.mktemp("module-db")) as db:
        yield db


@pytest.fixture
def server_db(engine: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path | str]:
    """A new database on `engine` for the servers this test starts (a path or a URL)."""
    with new_database(engine, request, tmp_path) as db:
        yield db


@pytest.fixture(scope="module")
def http_server(module_db: Path | str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    """An HTTP server on a new database (`module_db`), shared by one test module."""
    directory = tmp_path_factory.mktemp("http-server")
    server = HttpServer(module_db, directory / "server.log").start()
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


#: `task_client` fixture: `async with task_client("2025-11-25", on_elicitation=...) as client:`.
TaskClientFactory = Callable[..., TaskClient]


@pytest.fixture
def task_client(http_server: HttpServer) -> TaskClientFactory:
    """Make `TaskClient`s of `http_server`: `async with task_client(wire, **options) as client:`.

    Each is a session of its own on 2025-11-25; `options` are `TaskClient`'s keyword arguments.
    """

    def connect(wire: Wire, **options: Any) -> TaskClient:
        return task_client_of(http_endpoint(http_server), wire, **options)

    return connect
