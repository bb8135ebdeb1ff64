"""Secrets at rest and in logs: a private database file, and no credential in any log line.

- The SQLite file a server creates, its `-wal` and its `-shm` are mode 0600 although the server
  runs under umask 022 (SQLite alone would make them 0644).
- Streamable HTTP refuses a body over 4 MiB with 413, and on a loopback bind a foreign `Host`
  with 421 and a foreign `Origin` with 403, on both wires, as the README says.
- Two `mcptasks serve --log-level DEBUG` processes per engine, one without authentication and one
  with OAuth (opaque tokens checked by RFC 7662 introspection, so the server holds a client
  secret), each go through a full 2025-11-25 session (initialize, GET stream, a task, its result,
  the list, an inline call, DELETE, then a request on the ended session), a 2026-07-28 task, and
  (with OAuth) a refused token. No line the servers wrote holds a session id, a bearer token or the
  client secret; the SDK's session-id lines are there, redacted.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.integration.conftest import new_database

from auth.harness import AuthServer, BearerLegacy, BearerModern, introspection_args
from auth.issuer import INTROSPECTION_CLIENT_ID, INTROSPECTION_CLIENT_SECRET, LocalIssuer
from support.clients import (
    ACCEPT_BOTH,
    LEGACY_VERSION,
    MODERN_VERSION,
    LegacyHttpClient,
    ModernHttpClient,
    envelope,
)

pytestmark = pytest.mark.slow

#: What the SDK logs for every new session, and what it must read after redaction.
NEW_SESSION_LINE = "Created new transport with session ID: [redacted]"


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    local = LocalIssuer().start()
    try:
        yield local
    finally:
        local.close()


@pytest.fixture(scope="module")
def plain_server(module_db: Path | str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    """`mcptasks serve` without authentication at DEBUG, started under umask 022."""
    server = AuthServer(tmp_path_factory.mktemp("plain"), [], name="plain", db=module_db)  # type: ignore[arg-type]
    with umask(0o022):
        server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def oauth_server(
    engine: str, request: pytest.FixtureRequest, issuer: LocalIssuer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AuthServer]:
    """`mcptasks serve` with introspection (its client secret from the environment) at DEBUG."""
    directory = tmp_path_factory.mktemp("oauth")
    credentials = {
        "MCPTASKS_AUTH_CLIENT_ID": INTROSPECTION_CLIENT_ID,
        "MCPTASKS_AUTH_CLIENT_SECRET": INTROSPECTION_CLIENT_SECRET,
    }
    with new_database(engine, request, directory) as db:
        server = AuthServer(directory, introspection_args(issuer), env=credentials, name="oauth", db=db)  # type: ignore[arg-type]
        server.start()
        try:
            yield server
        finally:
            server.stop()


def _mode(path: Path) -> str:
    return oct(stat.S_IMODE(path.stat().st_mode))


async def test_the_database_file_and_its_wal_and_shm_are_private(
    engine: str, plain_server: AuthServer
) -> None:
    if engine != "sqlite":
        pytest.skip("file modes are SQLite's: PostgreSQL keeps its own files")
    # A task written, so the WAL holds a commit.
    modern = ModernHttpClient(plain_server.base_url)
    try:
        created = await modern.call("tools/call", {"name": "echo", "arguments": {"text": "mode check"}})
        assert created["resultType"] == "task"
    finally:
        await modern.aclose()
    db = Path(plain_server.db)
    files = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
    assert {path.name: _mode(path) for path in files} == {path.name: "0o600" for path in files}


#: The SDK's request body limit, in bytes (4 MiB), as the README states it.
BODY_LIMIT_BYTES = 4 * 1024 * 1024


@pytest.mark.parametrize("version", [LEGACY_VERSION, MODERN_VERSION])
async def test_an_oversized_body_and_a_foreign_host_or_origin_are_refused_as_the_readme_says(
    plain_server: AuthServer, version: str
) -> None:
    headers = {"Accept": ACCEPT_BOTH, "Content-Type": "application/json", "MCP-Protocol-Version": version}
    if version == MODERN_VERSION:
        headers.update({"Mcp-Method": "tools/call", "Mcp-Name": "echo"})

    def call(text: str) -> bytes:
        params = {"name": "echo", "arguments": {"text": text}, "_meta": envelope(declare=False)}
        return json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}).encode()

    overhead = len(call(""))
    async with httpx.AsyncClient(timeout=60) as http:
        # One byte over the limit: refused before it is parsed, whether declared or streamed.
        over = call("x" * (BODY_LIMIT_BYTES - overhead + 1))
        assert len(over) == BODY_LIMIT_BYTES + 1
        response = await http.post(plain_server.url, content=over, headers=headers)
        assert (response.status_code, response.text) == (413, "Request body too large")

        async def streamed() -> AsyncIterator[bytes]:
            for start in range(0, len(over), 65536):
                yield over[start : start + 65536]

        response = await http.post(plain_server.url, content=streamed(), headers=headers)
        assert (response.status_code, response.text) == (413, "Request body too large")
        if version == MODERN_VERSION:
            # Exactly at the limit: served.
            at_limit = call("x" * (BODY_LIMIT_BYTES - overhead))
            assert len(at_limit) == BODY_LIMIT_BYTES
            response = await http.post(plain_server.url, content=at_limit, headers=headers)
            assert response.status_code == 200, response.text[:300]
            assert response.json()["result"]["content"][0]["text"].startswith("echo: xxx")
        # DNS rebinding, on a loopback bind: a foreign Host, a foreign Origin.
        small = call("rebinding")
        for extra, status, text in (
            ({"Host": "attacker.example"}, 421, "Invalid Host header"),
            ({"Host": f"attacker.example:{plain_server.port}"}, 421, "Invalid Host header"),
            ({"Origin": "http://attacker.example"}, 403, "Invalid Origin header"),
        ):
            response = await http.post(plain_server.url, content=small, headers={**headers, **extra})
            assert (response.status_code, response.text) == (status, text), extra


async def _full_legacy_session(client: LegacyHttpClient) -> str:
    """initialize, GET stream, a task and its result, the list, an inline call, DELETE, then a
    request on the ended session; returns the session id."""
    await client.open(listen=True)
    session_id = client.session_id
    assert session_id is not None
    created = await client.call("tools/call", {"name": "echo", "arguments": {"text": "logs"}, "task": {}})
    task_id = created["task"]["taskId"]
    await client.call("tasks/get", {"taskId": task_id})
    assert (await client.call("tasks/result", {"taskId": task_id}))["content"][0]["text"] == "echo: logs"
    assert (await client.call("tasks/list", {}))["tasks"]
    assert (await client.call("tools/call", {"name": "echo", "arguments": {"text": "inline"}}))["content"]
    await client.aclose()  # DELETE ends the session
    headers = {**client._headers(), "Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient(timeout=20, headers=dict(client.http.headers)) as http:
        ended = await http.post(
            client.url, json={"jsonrpc": "2.0", "id": 9, "method": "ping"}, headers=headers
        )
    assert ended.status_code == 404, ended.text
    return session_id


async def _modern_task(client: ModernHttpClient) -> None:
    created = await client.call("tools/call", {"name": "echo", "arguments": {"text": "logs 2026"}})
    assert created["resultType"] == "task", created
    await client.call("tasks/get", {"taskId": created["taskId"]})
    await client.aclose()


async def test_no_session_id_token_or_client_secret_reaches_a_log_line(
    issuer: LocalIssuer, plain_server: AuthServer, oauth_server: AuthServer
) -> None:
    session_ids = [await _full_legacy_session(LegacyHttpClient(plain_server.base_url))]
    await _modern_task(ModernHttpClient(plain_server.base_url))

    token = issuer.opaque(issuer.active("alice", "c1", oauth_server.resource))
    session_ids.append(await _full_legacy_session(BearerLegacy(oauth_server.base_url, token)))
    await _modern_task(BearerModern(oauth_server.base_url, token))
    refused = issuer.opaque()  # unknown to the issuer: inactive
    response = await _post_ping(oauth_server, refused)
    assert response.status_code == 401

    # Stopped, so everything is written, shutdown lines included.
    plain_server.stop()
    oauth_server.stop()
    logs = {
        server.name: server.captured_bytes().decode(errors="replace")
        for server in (plain_server, oauth_server)
    }
    needles: dict[str, str] = {f"session id {i}": session_id for i, session_id in enumerate(session_ids)}
    needles.update({f"token #{i}": issued for i, issued in enumerate(issuer.issued)})
    needles["client secret"] = INTROSPECTION_CLIENT_SECRET
    found = [
        f"{what} in the {name} server's log, line {number}"
        for name, log in logs.items()
        for number, line in enumerate(log.splitlines(), 1)
        for what, needle in needles.items()
        if needle in line
    ]
    assert not found, found
    # The check sees what the servers log: DEBUG lines, and the SDK's session lines, redacted.
    for name, log in logs.items():
        assert " DEBUG " in log, name
        assert NEW_SESSION_LINE in log, (name, log[-2000:])


async def _post_ping(server: AuthServer, token: str) -> httpx.Response:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    headers = {"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=20) as http:
        return await http.post(server.url, json=body, headers=headers)
