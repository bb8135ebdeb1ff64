"""Tasks belong to the authenticated principal: across sessions, wires, token refreshes and restarts,
and to no one else (IDOR).

Issue #5 "Ownership"; storage-and-auth.md §5.8, §5.10 and §6 tests 19-21; MCP 2025-11-25 tasks
"Security Considerations" (bind tasks to the authorization context, reject other contexts, list only
the caller's); SEP-2663 "Security Implications".
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from auth.harness import AuthServer, BearerLegacy, BearerModern, Clients, StartServer, jwt_args
from auth.issuer import LocalIssuer
from support.clients import TASKS_EXTENSION, Reply
from support.polling import wait_status

pytestmark = pytest.mark.slow

#: A 2025-11-25 client that can be asked questions (so `ask` parks in input_required).
LEGACY_ASKABLE: dict[str, Any] = {"tasks": {}, "elicitation": {"form": {}}}
#: A 2026-07-28 client declaring the tasks extension and elicitation.
MODERN_ASKABLE: dict[str, Any] = {"extensions": {TASKS_EXTENSION: {}}, "elicitation": {}}
#: What every `tasks/*` call answers for a task the caller may not see.
NOT_FOUND = {"code": -32602, "message": "Task not found"}
#: The SQL an operator runs to see one principal's tasks (the README's "OAuth-protected deployments").
OPERATOR_SQL = """
SELECT task_id, status, tool_name, created_at
FROM tasks
WHERE owner_issuer = :issuer AND owner_subject = :subject AND owner_client_id = :client_id
ORDER BY created_at DESC, task_id DESC
"""
#: The same for `--owner-scope user`: one person's tasks through every client app.
OPERATOR_SQL_USER = """
SELECT task_id, status, tool_name, owner_client_id, created_at
FROM tasks
WHERE owner_issuer = :issuer AND owner_subject = :subject
ORDER BY created_at DESC, task_id DESC
"""


@pytest.fixture(scope="module")
def user_scope_server(issuer: LocalIssuer, start_server: StartServer) -> AuthServer:
    return start_server("user-scope", jwt_args(issuer, "user-scope", "--owner-scope", "user"))


async def legacy_create(session: BearerLegacy, tool: str, arguments: dict[str, Any]) -> str:
    result = await session.call("tools/call", {"name": tool, "arguments": arguments, "task": {}})
    task_id: str = result["task"]["taskId"]
    return task_id


async def modern_create(
    client: BearerModern, tool: str, arguments: dict[str, Any], capabilities: dict[str, Any] | None = None
) -> str:
    result = await client.call(
        "tools/call", {"name": tool, "arguments": arguments}, capabilities=capabilities
    )
    assert result["resultType"] == "task", result
    task_id: str = result["taskId"]
    return task_id


async def listed(session: BearerLegacy) -> list[str]:
    """Every task id `tasks/list` shows the session, following `nextCursor`."""
    ids: list[str] = []
    cursor: str | None = None
    while True:
        page = await session.call("tasks/list", {"cursor": cursor} if cursor else {})
        ids += [task["taskId"] for task in page["tasks"]]
        cursor = page.get("nextCursor")
        if not cursor:
            return ids


def text_of(result: dict[str, Any]) -> str:
    text: str = result["content"][0]["text"]
    return text


#: HTTP status of a JSON-RPC error answer: 200 on a 2025-11-25 session; the stateless 2026-07-28
#: wire answers errors with 400.
LEGACY_ERROR_STATUS, MODERN_ERROR_STATUS = 200, 400


def assert_hidden(reply: Reply, unknown: Reply, status: int) -> None:
    """Exactly what an unknown id gets: the same HTTP status and the same JSON-RPC error object."""
    assert reply.http_status == unknown.http_status == status
    assert reply.error == unknown.error == NOT_FOUND


# -- one principal, many sessions, both wires -------------------------------------------------------------


async def test_a_principal_finds_its_tasks_from_a_new_session(
    issuer: LocalIssuer, jwt_server: AuthServer, clients: Clients, gate_dir: Path
) -> None:
    first = await clients.legacy(jwt_server, issuer.mint("alice", "c1", jwt_server.resource))
    done = await legacy_create(first, "echo", {"text": "from the first session"})
    await wait_status(first, done, "completed")
    running = await legacy_create(first, "gate", {"path": str(gate_dir / "gate")})
    await clients.close(first)  # DELETE: the session is gone

    # A new session with a new token (new jti, iat, exp) for the same principal.
    second = await clients.legacy(jwt_server, issuer.mint("alice", "c1", jwt_server.resource))
    assert second.session_id != first.session_id
    assert (await second.call("tasks/get", {"taskId": done}))["status"] == "completed"
    assert (await second.call("tasks/get", {"taskId": running}))["status"] == "working"
    assert text_of(await second.call("tasks/result", {"taskId": done})) == "echo: from the first session"
    assert {done, running} <= set(await listed(second))

    # Nobody else sees them.
    bob = await clients.legacy(jwt_server, issuer.mint("bob", "c1", jwt_server.resource))
    assert not {done, running} & set(await listed(bob))

    (gate_dir / "gate").write_text("go")
    assert text_of(await second.call("tasks/result", {"taskId": running})) == "released: go"


async def test_a_2025_task_is_readable_over_2026_and_the_reverse(
    issuer: LocalIssuer, jwt_server: AuthServer, clients: Clients
) -> None:
    session = await clients.legacy(jwt_server, issuer.mint("alice", "c1", jwt_server.resource))
    modern = clients.modern(jwt_server, issuer.mint("alice", "c1", jwt_server.resource))

    legacy_task = await legacy_create(session, "echo", {"text": "made on 2025-11-25"})
    await wait_status(session, legacy_task, "completed")
    seen = await modern.call("tasks/get", {"taskId": legacy_task})
    assert seen["resultType"] == "complete" and seen["status"] == "completed"
    assert text_of(seen["result"]) == "echo: made on 2025-11-25"

    modern_task = await modern_create(modern, "echo", {"text": "made on 2026-07-28"})
    await wait_status(modern, modern_task, "completed")
    # From the existing session and from a new one.
    later = await clients.legacy(jwt_server, issuer.mint("alice", "c1", jwt_server.resource))
    for reader in (session, later):
        got = await reader.call("tasks/get", {"taskId": modern_task})
        assert got["status"] == "completed" and "ttl" in got and "resultType" not in got
        assert modern_task in await listed(reader)
        assert (
            text_of(await reader.call("tasks/result", {"taskId": modern_task})) == "echo: made on 2026-07-28"
        )

    # Another principal gets "not found" on either wire.
    bob = clients.modern(jwt_server, issuer.mint("bob", "c1", jwt_server.resource))
    unknown = await bob.request("tasks/get", {"taskId": "no-such-task-0123456789abcdef"})
    assert_hidden(await bob.request("tasks/get", {"taskId": legacy_task}), unknown, MODERN_ERROR_STATUS)
    assert_hidden(await bob.request("tasks/get", {"taskId": modern_task}), unknown, MODERN_ERROR_STATUS)


async def test_a_token_refresh_or_scope_change_keeps_the_owner(
    issuer: LocalIssuer, jwt_server: AuthServer, clients: Clients, gate_dir: Path
) -> None:
    first_token = issuer.mint("alice", "c1", jwt_server.resource, scope="tasks:read tasks:write")
    session = await clients.legacy(jwt_server, first_token)
    task = await legacy_create(session, "gate", {"path": str(gate_dir / "gate")})
    owner_key = jwt_server.task_row(task)["owner_key"]  # type: ignore[index]

    # Refreshed: new jti, later exp, fewer scopes; used on the same session and on both wires.
    refreshed = issuer.mint(
        "alice", "c1", jwt_server.resource, scope="tasks:read", exp=int(time.time()) + 1800
    )
    assert refreshed != first_token
    session.token = refreshed
    assert (await session.call("tasks/get", {"taskId": task}))["status"] == "working"
    modern = clients.modern(jwt_server, refreshed)
    assert (await modern.call("tasks/get", {"taskId": task}))["status"] == "working"

    # Other scopes again, a new session: same tasks; a task made now has the same owner.
    widened = issuer.mint("alice", "c1", jwt_server.resource, scope="openid profile tasks:admin")
    other = await clients.legacy(jwt_server, widened)
    assert task in await listed(other)
    later = await legacy_create(other, "echo", {"text": "after refresh"})
    assert jwt_server.task_row(later)["owner_key"] == owner_key  # type: ignore[index]
    assert {task, later} <= set(await listed(session))

    (gate_dir / "gate").write_text("go")
    await wait_status(modern, task, "completed")


async def test_the_owner_columns_hold_the_principal_and_the_operator_sql_finds_its_tasks(
    issuer: LocalIssuer, jwt_server: AuthServer, clients: Clients
) -> None:
    alice = await clients.legacy(jwt_server, issuer.mint("alice", "c1", jwt_server.resource))
    bob = clients.modern(jwt_server, issuer.mint("bob", "c2", jwt_server.resource))
    mine = await legacy_create(alice, "echo", {"text": "alice's"})
    theirs = await modern_create(bob, "echo", {"text": "bob's"})
    await wait_status(alice, mine, "completed")

    for task_id, subject, client_id, wire in (
        (mine, "alice", "c1", "2025-11-25"),
        (theirs, "bob", "c2", "sep-2663"),
    ):
        row = jwt_server.task_row(task_id)
        assert row is not None
        assert row["owner_kind"] == "principal" and row["wire"] == wire
        assert (row["owner_issuer"], row["owner_subject"], row["owner_client_id"]) == (
            issuer.issuer,
            subject,
            client_id,
        )

    rows = jwt_server.rows(OPERATOR_SQL, {"issuer": issuer.issuer, "subject": "alice", "client_id": "c1"})
    # Exactly what the principal itself is shown by tasks/list, newest first.
    assert [row["task_id"] for row in rows] == await listed(alice)
    assert rows[0]["task_id"] == mine and rows[0]["tool_name"] == "echo"
    assert theirs not in {row["task_id"] for row in rows}
    bobs = jwt_server.rows(OPERATOR_SQL, {"issuer": issuer.issuer, "subject": "bob", "client_id": "c2"})
    assert theirs in {row["task_id"] for row in bobs} and mine not in {row["task_id"] for row in bobs}


# -- owner scope: client (default) vs user ----------------------------------------------------------------


async def test_by_default_the_same_user_through_another_client_is_another_owner(
    issuer: LocalIssuer, jwt_server: AuthServer, clients: Clients
) -> None:
    c1 = await clients.legacy(jwt_server, issuer.mint("alice", "c1", jwt_server.resource))
    task = await legacy_create(c1, "echo", {"text": "c1 only"})
    c2 = await clients.legacy(jwt_server, issuer.mint("alice", "c2", jwt_server.resource))
    unknown = await c2.request("tasks/get", {"taskId": "no-such-task-0123456789abcdef"})
    for method in ("tasks/get", "tasks/result", "tasks/cancel"):
        assert_hidden(await c2.request(method, {"taskId": task}), unknown, LEGACY_ERROR_STATUS)
    assert task not in await listed(c2)
    c2_modern = clients.modern(jwt_server, issuer.mint("alice", "c2", jwt_server.resource))
    assert (await c2_modern.request("tasks/get", {"taskId": task})).error == NOT_FOUND
    assert (await c1.call("tasks/get", {"taskId": task}))["status"] in {"working", "completed"}


async def test_with_owner_scope_user_the_same_user_sees_its_tasks_through_any_client(
    issuer: LocalIssuer, user_scope_server: AuthServer, clients: Clients, gate_dir: Path
) -> None:
    server = user_scope_server
    c1 = await clients.legacy(server, issuer.mint("alice", "c1", server.resource))
    legacy_task = await legacy_create(c1, "echo", {"text": "via c1"})
    await wait_status(c1, legacy_task, "completed")
    c1_modern = clients.modern(server, issuer.mint("alice", "c1", server.resource))
    modern_task = await modern_create(c1_modern, "gate", {"path": str(gate_dir / "gate")})

    c2 = await clients.legacy(server, issuer.mint("alice", "c2", server.resource))
    assert (await c2.call("tasks/get", {"taskId": legacy_task}))["status"] == "completed"
    assert (await c2.call("tasks/get", {"taskId": modern_task}))["status"] == "working"
    assert text_of(await c2.call("tasks/result", {"taskId": legacy_task})) == "echo: via c1"
    assert {legacy_task, modern_task} <= set(await listed(c2))
    c2_modern = clients.modern(server, issuer.mint("alice", "c2", server.resource))
    assert (await c2_modern.call("tasks/get", {"taskId": legacy_task}))["status"] == "completed"

    # The owner is (issuer, subject); the creating client is still recorded.
    via_c2 = await legacy_create(c2, "echo", {"text": "via c2"})
    rows = {task_id: server.task_row(task_id) for task_id in (legacy_task, modern_task, via_c2)}
    assert {row["owner_key"] for row in rows.values()} == {f'principal:["{issuer.issuer}","alice"]'}  # type: ignore[index]
    assert [rows[t]["owner_client_id"] for t in (legacy_task, modern_task, via_c2)] == ["c1", "c1", "c2"]  # type: ignore[index]
    found = server.rows(OPERATOR_SQL_USER, {"issuer": issuer.issuer, "subject": "alice"})
    assert [row["task_id"] for row in found] == await listed(c1)

    # Bob is still someone else.
    bob = await clients.legacy(server, issuer.mint("bob", "c2", server.resource))
    assert (await bob.request("tasks/get", {"taskId": legacy_task})).error == NOT_FOUND
    assert not {legacy_task, modern_task, via_c2} & set(await listed(bob))

    (gate_dir / "gate").write_text("go")
    await wait_status(c2_modern, modern_task, "completed")


# -- restart ------------------------------------------------------------------------------------------------


async def test_tasks_survive_a_restart_for_their_owner(
    issuer: LocalIssuer, start_server: StartServer, clients: Clients, gate_dir: Path
) -> None:
    server = start_server("restart", jwt_args(issuer, "restart"))
    session = await clients.legacy(server, issuer.mint("alice", "c1", server.resource))
    modern = clients.modern(server, issuer.mint("alice", "c1", server.resource))
    legacy_task = await legacy_create(session, "echo", {"text": "before restart (2025)"})
    modern_task = await modern_create(modern, "echo", {"text": "before restart (2026)"})
    await wait_status(session, legacy_task, "completed")
    await wait_status(modern, modern_task, "completed")
    await clients.close(session)
    await clients.close(modern)

    server.restart()

    after = await clients.legacy(server, issuer.mint("alice", "c1", server.resource))
    assert {legacy_task, modern_task} <= set(await listed(after))
    assert text_of(await after.call("tasks/result", {"taskId": legacy_task})) == "echo: before restart (2025)"
    assert (await after.call("tasks/get", {"taskId": modern_task}))["status"] == "completed"
    modern_after = clients.modern(server, issuer.mint("alice", "c1", server.resource))
    got = await modern_after.call("tasks/get", {"taskId": legacy_task})
    assert text_of(got["result"]) == "echo: before restart (2025)"
    bob = clients.modern(server, issuer.mint("bob", "c1", server.resource))
    for task_id in (legacy_task, modern_task):
        assert (await bob.request("tasks/get", {"taskId": task_id})).error == NOT_FOUND


async def test_a_session_is_usable_only_by_the_principal_that_opened_it(
    issuer: LocalIssuer, jwt_server: AuthServer, clients: Clients
) -> None:
    """§6 test 22: bob presents alice's `Mcp-Session-Id` with his own valid token: 404, as for an
    unknown session; so does alice through another client."""
    alice = await clients.legacy(jwt_server, issuer.mint("alice", "c1", jwt_server.resource))
    task = await legacy_create(alice, "echo", {"text": "alice's session"})
    for user, client in (("bob", "c1"), ("alice", "c2")):
        intruder = BearerLegacy(jwt_server.base_url, issuer.mint(user, client, jwt_server.resource))
        intruder.session_id = alice.session_id
        try:
            for method, params in (("tasks/list", {}), ("tasks/get", {"taskId": task})):
                reply = await intruder.request(method, params)
                assert reply.http_status == 404, (user, client, method, reply)
                assert reply.error == {"code": -32600, "message": "Session not found"}
                assert task not in reply.raw
        finally:
            intruder.session_id = None  # do not DELETE alice's session on close
            await intruder.aclose()
    assert task in await listed(alice)


# -- IDOR ---------------------------------------------------------------------------------------------------


async def test_idor_on_the_2025_wire(
    issuer: LocalIssuer, jwt_server: AuthServer, clients: Clients, gate_dir: Path
) -> None:
    """§6 tests 19-20: bob calls get/result/cancel/list on alice's working and parked tasks."""
    alice = await clients.legacy(
        jwt_server, issuer.mint("alice", "c1", jwt_server.resource), capabilities=LEGACY_ASKABLE
    )
    working = await legacy_create(alice, "gate", {"path": str(gate_dir / "gate")})
    parked = await legacy_create(alice, "ask", {"question": "Delete everything?"})
    await wait_status(alice, parked, "input_required")

    bob = await clients.legacy(
        jwt_server, issuer.mint("bob", "c1", jwt_server.resource), capabilities=LEGACY_ASKABLE
    )
    unknown = await bob.request("tasks/get", {"taskId": "no-such-task-0123456789abcdef"})
    for method in ("tasks/get", "tasks/result", "tasks/cancel"):
        assert_hidden(
            await bob.request(method, {"taskId": "no-such-task-0123456789abcdef"}),
            unknown,
            LEGACY_ERROR_STATUS,
        )
        for task_id in (working, parked):
            assert_hidden(await bob.request(method, {"taskId": task_id}), unknown, LEGACY_ERROR_STATUS)
    assert not {working, parked} & set(await listed(bob))

    # Alice's tasks are untouched.
    assert (await alice.call("tasks/get", {"taskId": working}))["status"] == "working"
    assert (await alice.call("tasks/get", {"taskId": parked}))["status"] == "input_required"
    assert {working, parked} <= set(await listed(alice))

    (gate_dir / "gate").write_text("go")
    await wait_status(alice, working, "completed")
    assert (await alice.call("tasks/cancel", {"taskId": parked}))["status"] == "cancelled"


async def test_idor_on_the_2026_wire(
    issuer: LocalIssuer, jwt_server: AuthServer, clients: Clients, gate_dir: Path
) -> None:
    """§6 tests 19 and 23: bob calls get/update/cancel on alice's working and parked tasks."""
    alice = clients.modern(jwt_server, issuer.mint("alice", "c1", jwt_server.resource))
    working = await modern_create(alice, "gate", {"path": str(gate_dir / "gate")}, MODERN_ASKABLE)
    parked = await modern_create(alice, "ask", {"question": "Wire the money?"}, MODERN_ASKABLE)
    before = await wait_status(alice, parked, "input_required")
    (key,) = before["inputRequests"]

    bob = clients.modern(jwt_server, issuer.mint("bob", "c1", jwt_server.resource))
    answer = {"inputResponses": {key: {"action": "accept", "content": {"confirm": True}}}}
    calls: list[tuple[str, dict[str, Any]]] = [
        ("tasks/get", {}),
        ("tasks/update", answer),
        ("tasks/cancel", {}),
    ]
    for method, extra in calls:
        unknown = await bob.request(method, {"taskId": "no-such-task-0123456789abcdef", **extra})
        assert unknown.error == NOT_FOUND, method
        for task_id in (working, parked):
            reply = await bob.request(method, {"taskId": task_id, **extra}, capabilities=MODERN_ASKABLE)
            assert_hidden(reply, unknown, MODERN_ERROR_STATUS)

    # Alice's tasks are untouched: still working, still parked on the same unanswered question.
    assert (await alice.call("tasks/get", {"taskId": working}))["status"] == "working"
    after = await alice.call("tasks/get", {"taskId": parked})
    assert after["status"] == "input_required"
    assert after["inputRequests"] == before["inputRequests"]
    assert after["lastUpdatedAt"] == before["lastUpdatedAt"]

    # Alice herself can answer it.
    await alice.call("tasks/update", {"taskId": parked, **answer}, capabilities=MODERN_ASKABLE)
    done = await wait_status(alice, parked, "completed")
    assert text_of(done["result"]) == "answered: accept"
    (gate_dir / "gate").write_text("go")
    await wait_status(alice, working, "completed")
