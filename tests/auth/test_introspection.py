"""Opaque access tokens checked by RFC 7662 introspection at the local issuer.

storage-and-auth.md §5.4 and §6 tests 13-15; issue #5 "Token verification". The server authenticates
its introspection calls with HTTP Basic client credentials (here from `MCPTASKS_AUTH_CLIENT_ID`/
`MCPTASKS_AUTH_CLIENT_SECRET`), accepts only `active: true` answers that name this resource in `aud`
(and the issuer in `iss`, a client id, an `exp` ahead), and refuses everything when the issuer does
not answer (fail closed).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

import pytest

from auth.harness import (
    AuthServer,
    Clients,
    StartServer,
    assert_refused,
    create_with,
    introspection_args,
    marker,
    raw_create,
)
from auth.issuer import DROP, INTROSPECTION_CLIENT_ID, LocalIssuer
from support.polling import wait_status

pytestmark = pytest.mark.slow

NOT_FOUND = {"code": -32602, "message": "Task not found"}


@pytest.fixture(scope="module")
def wrong_credentials_server(issuer: LocalIssuer, start_server: StartServer) -> AuthServer:
    """Configured with a client secret the issuer does not accept."""
    return start_server(
        "wrong-credentials",
        introspection_args(
            issuer, "--auth-client-id", INTROSPECTION_CLIENT_ID, "--auth-client-secret", "not-the-secret-0000"
        ),
    )


def calls_for(issuer: LocalIssuer, token: str) -> list[str | None]:
    """The client each introspection call about `token` authenticated as (None: it failed)."""
    return [client for client, asked in issuer.introspection_calls if asked == token]


# -- accepted -------------------------------------------------------------------------------------------


async def test_an_active_token_gives_access_and_names_the_owner(
    issuer: LocalIssuer, introspection_server: AuthServer, clients: Clients
) -> None:
    server = introspection_server
    token = issuer.opaque(issuer.active("alice", "c1", server.resource))
    task = await create_with(server, token, marker("opaque"))
    row = server.task_row(task["taskId"])
    assert row is not None
    assert (row["owner_kind"], row["owner_issuer"], row["owner_subject"], row["owner_client_id"]) == (
        "principal",
        issuer.issuer,
        "alice",
        "c1",
    )
    # client_secret_basic with the configured credentials.
    assert calls_for(issuer, token) == [INTROSPECTION_CLIENT_ID]

    # The same token on a 2025-11-25 session reads the task; no new introspection (cached).
    session = await clients.legacy(server, token)
    assert (await session.call("tasks/get", {"taskId": task["taskId"]}))["status"] in {"working", "completed"}
    assert len(calls_for(issuer, token)) == 1


async def test_another_token_of_the_same_principal_is_the_same_owner(
    issuer: LocalIssuer, introspection_server: AuthServer, clients: Clients
) -> None:
    server = introspection_server
    first = clients.modern(server, issuer.opaque(issuer.active("alice", "c1", server.resource)))
    created = await first.call("tools/call", {"name": "echo", "arguments": {"text": "opaque owner"}})
    task_id = created["taskId"]
    await wait_status(first, task_id, "completed")

    refreshed = issuer.opaque(issuer.active("alice", "c1", server.resource, scope="tasks:read"))
    session = await clients.legacy(server, refreshed)
    assert (await session.call("tasks/get", {"taskId": task_id}))["status"] == "completed"
    result = await session.call("tasks/result", {"taskId": task_id})
    assert result["content"][0]["text"] == "echo: opaque owner"

    bob = await clients.legacy(server, issuer.opaque(issuer.active("bob", "c1", server.resource)))
    for method in ("tasks/get", "tasks/result", "tasks/cancel"):
        assert (await bob.request(method, {"taskId": task_id})).error == NOT_FOUND, method
    other_client = clients.modern(server, issuer.opaque(issuer.active("alice", "c2", server.resource)))
    assert (await other_client.request("tasks/get", {"taskId": task_id})).error == NOT_FOUND


# -- refused --------------------------------------------------------------------------------------------


def _now() -> int:
    return int(time.time())


#: case -> the introspection answer for the token (None: the token is not known to the issuer).
INTROSPECTION_REFUSALS: dict[str, Callable[[LocalIssuer, str], dict[str, Any] | None]] = {
    "inactive": lambda iss, res: {"active": False},
    "unknown-to-the-issuer": lambda iss, res: None,
    "active-as-a-string": lambda iss, res: iss.active("alice", "c1", res, active="true"),
    "aud-of-another-resource": lambda iss, res: iss.active("alice", "c1", "https://other.example.com/mcp"),
    "aud-list-without-us": lambda iss, res: iss.active(
        "alice", "c1", res, aud=["https://a.example", "https://b.example"]
    ),
    "aud-trailing-slash": lambda iss, res: iss.active("alice", "c1", res, aud=res + "/"),
    "no-aud": lambda iss, res: iss.active("alice", "c1", res, aud=DROP),
    "another-issuer": lambda iss, res: iss.active("alice", "c1", res, iss="https://evil.example.com"),
    "expired": lambda iss, res: iss.active("alice", "c1", res, exp=_now() - 120),
    "no-client_id": lambda iss, res: iss.active("alice", "c1", res, client_id=DROP),
    "refresh-token-type": lambda iss, res: iss.active("alice", "c1", res, token_type="refresh_token"),
}


@pytest.mark.parametrize("case", list(INTROSPECTION_REFUSALS))
async def test_refused_introspection_answer(
    issuer: LocalIssuer, introspection_server: AuthServer, case: str
) -> None:
    server = introspection_server
    token = issuer.opaque(INTROSPECTION_REFUSALS[case](issuer, server.resource))
    text = marker(f"introspect-{case}")
    assert_refused(await raw_create(server, f"Bearer {token}", text), server)
    assert server.tasks_mentioning(text) == 0
    assert calls_for(issuer, token) == [INTROSPECTION_CLIENT_ID]
    # A refusal is remembered briefly: the same token again is refused without asking again.
    assert_refused(await raw_create(server, f"Bearer {token}", text), server)
    assert len(calls_for(issuer, token)) == 1


async def test_no_token_and_oversize_token_are_refused_without_asking_the_issuer(
    issuer: LocalIssuer, introspection_server: AuthServer
) -> None:
    server = introspection_server
    calls = len(issuer.introspection_calls)
    assert_refused(await raw_create(server, None, marker("introspect-no-header")), server, None)
    oversize = "opq_" + secrets.token_urlsafe(7000)
    issuer.introspection[oversize] = issuer.active("alice", "c1", server.resource)
    issuer.issued.append(oversize)
    assert_refused(await raw_create(server, f"Bearer {oversize}", marker("introspect-oversize")), server)
    assert len(issuer.introspection_calls) == calls


async def test_wrong_client_credentials_fail_closed(
    issuer: LocalIssuer, wrong_credentials_server: AuthServer
) -> None:
    """The issuer refuses the server's own credentials (401 invalid_client): every token is refused."""
    server = wrong_credentials_server
    token = issuer.opaque(issuer.active("alice", "c1", server.resource))
    text = marker("wrong-credentials")
    assert_refused(await raw_create(server, f"Bearer {token}", text), server)
    assert server.tasks_mentioning(text) == 0
    assert calls_for(issuer, token) == [None]  # it asked, and failed to authenticate
