"""A parked 2025-11-25 task of an `on_restart="rerun"` tool survives a restart and is answered after it.

Issue #3 "Restarts", the 2025-11-25 leg (the 2026-07-28 leg is tests/integration/test_input_restart.py).
A 2025-11-25 task without OAuth belongs to its session, which dies with the server; with OAuth it
belongs to the principal (issuer, subject, client), who can reach it again from a new session.

The test prints a transcript (run with `pytest -s`): the statuses seen by polling with the stop, the
start and the question's round trip in between, then the `task_events` and `task_input_requests` rows.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from auth.app import CONFIRM_SCHEMA
from auth.harness import AuthServer, BearerLegacy, Clients, StartServer, jwt_args
from auth.issuer import LocalIssuer
from support.clients import RELATED_TASK, RpcError
from support.polling import StatusTrail, get_task, sync_probe, until, wait_status

pytestmark = pytest.mark.slow

#: A 2025-11-25 client that can be asked questions.
LEGACY_ASKABLE: dict[str, Any] = {"tasks": {}, "elicitation": {"form": {}}}
NOT_FOUND = {"code": -32602, "message": "Task not found"}
QUESTION = "Delete the archive?"
ACCEPT = {"action": "accept", "content": {"confirm": True}}
#: A graceful stop with one parked task takes far less than this (shutdown grace 0.5 s).
STOP_LIMIT_S = 6.0


def events(server: AuthServer, task_id: str) -> list[dict[str, Any]]:
    return server.rows(
        "SELECT from_status, to_status, attempt, message FROM task_events "
        "WHERE task_id = ? ORDER BY event_id",
        (task_id,),
    )


def input_rows(server: AuthServer, task_id: str) -> list[dict[str, Any]]:
    rows = server.rows(
        "SELECT request_key, method, response, answered_at FROM task_input_requests "
        "WHERE task_id = ? ORDER BY created_at, request_key",
        (task_id,),
    )
    for row in rows:
        if row["response"] is not None:
            row["response"] = json.loads(row["response"])
    return rows


def wire_status(session: BearerLegacy, task_id: str) -> Callable[[], Awaitable[str | None]]:
    """A trail probe polling `tasks/get` on `session` ("gone" once the task is not found)."""

    async def probe() -> str | None:
        try:
            status: str = (await get_task(session, task_id))["status"]
        except RpcError:
            return "gone"
        return status

    return probe


def db_status(server: AuthServer, task_id: str) -> Callable[[], Awaitable[str | None]]:
    """A trail probe reading the status from the database (while the server is down)."""

    async def probe() -> str | None:
        row = server.task_row(task_id)
        return None if row is None else str(row["status"])

    return probe


def transcript(trail: StatusTrail, server: AuthServer, task_id: str) -> str:
    lines = [
        f"=== transcript: rerun tool, SIGINT while input_required (2025-11-25 HTTP, OAuth owner) "
        f"(task {task_id})",
        "statuses seen by polling:",
        *(f"  {line}" for line in trail.lines()),
        "task_events rows (from -> to, attempt, message):",
    ]
    for event in events(server, task_id):
        change = f"{event['from_status'] or '(new)'} -> {event['to_status']}"
        message = f"  {event['message']!r}" if event["message"] else ""
        lines.append(f"  {change}  attempt {event['attempt']}{message}")
    lines.append("task_input_requests rows (key, answered):")
    for row in input_rows(server, task_id):
        answer = "unanswered" if row["response"] is None else f"{row['response']} at {row['answered_at']}"
        lines.append(f"  {row['request_key']}: {answer}")
    return "\n".join(lines)


def seen(trail: StatusTrail, *, since: str | None = None) -> list[str]:
    """The statuses seen (after the note starting with `since`), each change once, without `working`
    (a tool that continues at once can pass through it between two polls)."""
    entries = trail.entries
    if since is not None:
        start = next(
            i for i, (_, kind, text) in enumerate(entries) if kind == "note" and text.startswith(since)
        )
        entries = entries[start:]
    statuses: list[str] = []
    for _, kind, text in entries:
        if kind == "status" and text != "working" and (not statuses or statuses[-1] != text):
            statuses.append(text)
    return statuses


async def test_2025_rerun_task_parked_at_a_stop_is_answered_by_its_principal_from_a_new_session(
    issuer: LocalIssuer, start_server: StartServer, clients: Clients
) -> None:
    server = start_server("input-restart-2025", jwt_args(issuer, "input-restart-2025"))

    def alice() -> str:
        return issuer.mint("alice", "c1", server.resource)

    first = await clients.legacy(server, alice(), capabilities=LEGACY_ASKABLE)
    created = await first.call(
        "tools/call", {"name": "ask_rerun", "arguments": {"question": QUESTION}, "task": {}}
    )
    task_id: str = created["task"]["taskId"]
    trail = StatusTrail(wire_status(first, task_id)).start()
    try:
        # Nobody can be asked (no GET stream, no tasks/result): the question waits, the task parks.
        await wait_status(first, task_id, "input_required")
        row = server.task_row(task_id)
        assert row is not None and row["owner_kind"] == "principal" and row["wire"] == "2025-11-25", row

        await trail.mark("SIGINT: server stops")
        trail.probe = db_status(server, task_id)  # the old session dies with the server
        code = await asyncio.to_thread(server.stop, STOP_LIMIT_S)
        stopped_at = datetime.now(UTC)
        assert code == 0, f"the server did not stop cleanly (exit code {code}):\n{server.stderr()}"
        await trail.mark("server stopped; status read from the database")

        # Still parked, its lease released, the question outstanding; nothing failed. A released lease
        # keeps the time it was released (SQLite text, UTC): no later than the stop.
        at_stop = server.task_row(task_id)
        assert at_stop is not None
        assert at_stop["status"] == "input_required", at_stop
        assert at_stop["lease_node"] is None and at_stop["lease_expires_at"] is not None, at_stop
        released = datetime.fromisoformat(at_stop["lease_expires_at"]).replace(tzinfo=UTC)
        assert released <= stopped_at, at_stop
        assert at_stop["attempt"] == 1, at_stop
        assert [(r["request_key"], r["response"]) for r in input_rows(server, task_id)] == [("input-1", None)]

        await asyncio.to_thread(server.start)
        # Recovery at start-up claims the task for attempt 2, which asks the same question again.
        claimed = await until(
            sync_probe(lambda: server.task_row(task_id)),
            lambda r: r is not None and r["attempt"] == 2 and r["lease_node"] is not None,
            what="attempt 2 running",
        )
        assert claimed["status"] == "input_required", claimed

        # A new session of the same principal (new token); the old session is gone.
        second = await clients.legacy(server, alice(), capabilities=LEGACY_ASKABLE)
        assert second.session_id != first.session_id
        trail.probe = wire_status(second, task_id)
        await trail.mark("server started again on the same database; alice polls from a new session")
        assert (await second.call("tasks/get", {"taskId": task_id}))["status"] == "input_required"

        # Another principal is told the task does not exist, as for an unknown id.
        bob = await clients.legacy(
            server, issuer.mint("bob", "c1", server.resource), capabilities=LEGACY_ASKABLE
        )
        unknown = await bob.request("tasks/get", {"taskId": "no-such-task-0123456789abcdef"})
        assert unknown.error == NOT_FOUND
        for method in ("tasks/get", "tasks/result", "tasks/cancel"):
            reply = await bob.request(method, {"taskId": task_id})
            assert reply.http_status == unknown.http_status == 200, (method, reply)
            assert reply.error == NOT_FOUND, (method, reply)
        await trail.mark("bob: tasks/get, tasks/result, tasks/cancel -> -32602 Task not found")
        assert (await second.call("tasks/get", {"taskId": task_id}))["status"] == "input_required"

        # tasks/result: the question rides its response stream; the answer completes the task.
        asked: list[dict[str, Any]] = []

        async def on_message(message: dict[str, Any]) -> None:
            if message.get("method") != "elicitation/create" or "id" not in message:
                return
            asked.append(message)
            trail.note("elicitation/create arrived on the tasks/result stream; answered accept")
            assert await second.respond(message["id"], ACCEPT) == 202

        await trail.mark("alice opens tasks/result")
        reply = await second.request("tasks/result", {"taskId": task_id}, on_message=on_message)
        await trail.mark("tasks/result returned the CallToolResult")
        await trail.stop()
        print("\n" + transcript(trail, server, task_id))

        (question,) = asked
        assert question in reply.notifications  # on this request's own response stream
        params = question["params"]
        assert params["message"] == QUESTION and params["requestedSchema"] == CONFIRM_SCHEMA
        assert params["_meta"][RELATED_TASK] == {"taskId": task_id}

        result = reply.result
        assert result["content"] == [{"type": "text", "text": 'attempt 2: accept {"confirm": true}'}]
        assert result.get("isError") is not True
        assert result["_meta"][RELATED_TASK] == {"taskId": task_id}
        assert (await second.call("tasks/get", {"taskId": task_id}))["status"] == "completed"

        assert [(e["from_status"], e["to_status"], e["attempt"]) for e in events(server, task_id)] == [
            (None, "working", 1),
            ("working", "input_required", 1),
            ("input_required", "working", 2),
            ("working", "completed", 2),
        ]
        assert [(r["request_key"], r["response"]) for r in input_rows(server, task_id)] == [
            ("input-1", ACCEPT)
        ]
        assert seen(trail) == ["input_required", "completed"]
        assert seen(trail, since="server started again") == ["input_required", "completed"]
    finally:
        await trail.stop()
