"""Fixtures of the OAuth tests: a local issuer, `mcptasks serve --auth-*` processes, bearer clients.

- `issuer` (session): `LocalIssuer` on 127.0.0.1, serving a JWKS and RFC 7662 introspection, minting
  tokens for alice and bob through clients c1 and c2.
- `start_server` (session): starts `AuthServer`s (`start_server(name, auth_args, env=None)`), each
  in its own directory; every server started is in `started_servers` and is stopped at the end of
  the session.
- `jwt_server` (session): JWT access tokens, default `--owner-scope client`; most tests share it
  and keep apart by using their own tasks. It and `scope_server` are primed (one authorized
  request) when started, so their JWKS refetch windows start early.
- `scope_server` (session): JWT access tokens, `--auth-required-scope tasks:read` and `tasks:write`.
- `introspection_server` (session): opaque tokens checked at the issuer's RFC 7662 endpoint; its
  client id and secret come from `MCPTASKS_AUTH_CLIENT_ID`/`MCPTASKS_AUTH_CLIENT_SECRET`.
- `clients`: opens bearer clients (`await clients.legacy(server, token)`, `clients.modern(...)`),
  all closed after the test.

Tests with a `run_order` attribute run after all others, lowest first: the key-rotation tests must
wait until the server's JWKS refetch window (30 s) has passed since its last fetch, and that time
is best spent running the rest; the secrets check runs after every test that used a token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from auth.harness import (
    REQUIRED_SCOPES,
    AuthServer,
    Clients,
    StartServer,
    introspection_args,
    jwt_args,
    prime,
)
from auth.issuer import INTROSPECTION_CLIENT_ID, INTROSPECTION_CLIENT_SECRET, LocalIssuer


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move tests with a `run_order` attribute to the end (stable, lowest first)."""
    items.sort(key=lambda item: getattr(getattr(item, "function", None), "run_order", 0))


@pytest.fixture(scope="session")
def issuer() -> Iterator[LocalIssuer]:
    local = LocalIssuer().start()
    try:
        yield local
    finally:
        local.close()


@pytest.fixture(scope="session")
def started_servers() -> list[AuthServer]:
    return []


@pytest.fixture(scope="session")
def start_server(
    tmp_path_factory: pytest.TempPathFactory, started_servers: list[AuthServer]
) -> Iterator[StartServer]:
    def start(name: str, auth_args: list[str], *, env: dict[str, str] | None = None) -> AuthServer:
        server = AuthServer(tmp_path_factory.mktemp(name), auth_args, env=env, name=name)
        started_servers.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in started_servers:  # all at once: each may take its shutdown grace
            server.interrupt()
        for server in started_servers:
            server.stop()


@pytest.fixture(scope="session")
def jwt_server(issuer: LocalIssuer, start_server: StartServer) -> AuthServer:
    server = start_server("jwt", jwt_args(issuer, "jwt"))
    prime(server, issuer.mint("alice", "c1", server.resource))
    return server


@pytest.fixture(scope="session")
def scope_server(issuer: LocalIssuer, start_server: StartServer) -> AuthServer:
    scopes = [arg for scope in REQUIRED_SCOPES for arg in ("--auth-required-scope", scope)]
    server = start_server("scoped", jwt_args(issuer, "scoped", *scopes))
    prime(server, issuer.mint("alice", "c1", server.resource, scope=" ".join(REQUIRED_SCOPES)))
    return server


@pytest.fixture(scope="session")
def introspection_server(issuer: LocalIssuer, start_server: StartServer) -> AuthServer:
    credentials = {
        "MCPTASKS_AUTH_CLIENT_ID": INTROSPECTION_CLIENT_ID,
        "MCPTASKS_AUTH_CLIENT_SECRET": INTROSPECTION_CLIENT_SECRET,
    }
    return start_server("introspection", introspection_args(issuer), env=credentials)


@pytest.fixture
async def clients() -> AsyncIterator[Clients]:
    opened = Clients()
    try:
        yield opened
    finally:
        await opened.aclose()


@pytest.fixture
def gate_dir(tmp_path: Path) -> Path:
    """Where a test's gate files go (a `gate` task runs until its file exists)."""
    return tmp_path
