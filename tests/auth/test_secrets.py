"""Bearer tokens and client secrets are never stored or logged (storage-and-auth.md §5.9, §6 test 37).

Runs after every other test of the session (`run_order`), then greps the bytes of every test
server's database file, its `-wal` and `-shm`, and everything the server wrote to stdout and stderr
(at `--log-level DEBUG`) for every token the local issuer made (minted, forged, opaque; accepted or
refused) and for every client secret a server was given.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from auth.harness import AuthServer, Clients, create_with, marker, raw_create
from auth.issuer import INTROSPECTION_CLIENT_SECRET, LocalIssuer

pytestmark = pytest.mark.slow

#: The secret `wrong_credentials_server` is given on its command line.
WRONG_SECRET = "not-the-secret-0000"


def _needles(issuer: LocalIssuer) -> dict[str, bytes]:
    """What must not appear: each token, the signature segment of each JWT, and the secrets."""
    needles: dict[str, bytes] = {}
    for i, token in enumerate(issuer.issued):
        if len(token) >= 16:
            needles[f"token #{i}"] = token.encode()
        segments = token.split(".")
        if len(segments) == 3 and len(segments[2]) >= 32:
            needles[f"signature of token #{i}"] = segments[2].encode()
    needles["introspection client secret"] = INTROSPECTION_CLIENT_SECRET.encode()
    needles["wrong client secret"] = WRONG_SECRET.encode()
    return needles


def _files(server: AuthServer) -> list[Path]:
    candidates = [server.db, *(server.db.with_name(server.db.name + suffix) for suffix in ("-wal", "-shm"))]
    return [p for p in (*candidates, server.stdout_path, server.stderr_path) if p.exists()]


async def test_no_token_or_client_secret_is_stored_or_logged(
    issuer: LocalIssuer,
    jwt_server: AuthServer,
    introspection_server: AuthServer,
    started_servers: list[AuthServer],
    clients: Clients,
) -> None:
    # Use tokens here too, so the check is meaningful when this test runs alone.
    jwt_token = issuer.mint("alice", "c1", jwt_server.resource)
    await create_with(jwt_server, jwt_token, "secrets-check-jwt")
    session = await clients.legacy(jwt_server, jwt_token)
    await session.call("tasks/list", {})
    opaque = issuer.opaque(issuer.active("alice", "c1", introspection_server.resource))
    await create_with(introspection_server, opaque, "secrets-check-opaque")
    refused = issuer.mint("alice", "c1", jwt_server.resource, typ="JWT")
    assert (await raw_create(jwt_server, f"Bearer {refused}", marker("secrets"))).status_code == 401
    await clients.close(session)

    needles = _needles(issuer)
    # Whatever ran before, the tokens this test used are among the needles.
    assert {jwt_token.encode(), opaque.encode(), refused.encode()} <= set(needles.values())
    found: list[str] = []
    for server in started_servers:
        files = _files(server)
        assert server.db in files and server.stderr_path in files
        for path in files:
            data = path.read_bytes()
            found += [f"{what} in {path.name}" for what, needle in needles.items() if needle in data]
    assert not found, found

    # The grep does see what the server stores: the task arguments are there.
    stored = b"".join(p.read_bytes() for p in _files(jwt_server) if ".db" in p.name)
    assert b"secrets-check-jwt" in stored


test_no_token_or_client_secret_is_stored_or_logged.run_order = 2  # type: ignore[attr-defined]
