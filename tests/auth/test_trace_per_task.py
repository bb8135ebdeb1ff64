"""One trace per task through a real `mcptasks serve` over Streamable HTTP, on both wires, with
bearer tokens: the spans the server exports (OpenTelemetry SDK installed by `support/traced_serve.py`,
spans written as JSON lines) are read back after the server stopped.

A task that asks a question, is answered and completes: the creating `tools/call` span, the tool's
run, the question and the outcome write are one trace. Later `tasks/*` requests join that trace when
the client propagates it in `params._meta` (one client trace around the whole exchange); when it
does not, each is a trace of its own that links to the creating span (README "Traces"). No span
carries the bearer token, the session id or the principal's id.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
from pathlib import Path
from typing import Any

import pytest

from auth.harness import CLI, AuthServer, BearerLegacy, BearerModern, jwt_args
from auth.issuer import LocalIssuer
from support.clients import RELATED_TASK
from support.polling import until

pytestmark = pytest.mark.slow

TRACED_SERVE = Path(__file__).resolve().parents[1] / "support" / "traced_serve.py"
LEGACY_ASKABLE: dict[str, Any] = {"tasks": {}, "elicitation": {"form": {}}}
MODERN_ASKABLE: dict[str, Any] = {"extensions": {"io.modelcontextprotocol/tasks": {}}, "elicitation": {}}
ANSWER = {"action": "accept", "content": {"confirm": True}}
#: Longest to wait for the task to reach a status, in s.
WAIT_S = 30.0


class TracedServer(AuthServer):
    """`AuthServer` run under `traced_serve.py`: its spans go to `spans_path`."""

    def __init__(self, directory: Path, auth_args: list[str]) -> None:
        super().__init__(directory, auth_args, name="traced")
        self.spans_path = directory / "spans.jsonl"

    def command(self) -> list[str]:
        plain = super().command()
        assert plain[: len(CLI)] == CLI
        return [sys.executable, str(TRACED_SERVE), str(self.spans_path), *plain[len(CLI) :]]

    def spans(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.spans_path.read_text().splitlines() if line.strip()]


def _traceparent() -> tuple[str, str]:
    """A client's W3C traceparent and its trace id (as the SDK's JSON writes it, `0x...`)."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{span_id}-01", f"0x{trace_id}"


def _meta(traceparent: str | None) -> dict[str, Any]:
    return {"_meta": {"traceparent": traceparent}} if traceparent else {}


async def _legacy_task(server: AuthServer, token: str, traceparent: str | None) -> tuple[str, str]:
    """Create, poll, answer (on the tasks/result stream), then get and result again; (task id, session)."""
    client = BearerLegacy(server.base_url, token)
    try:
        await client.open(capabilities=LEGACY_ASKABLE)
        created = await client.call(
            "tools/call",
            {"name": "ask", "arguments": {"question": "Ship it?"}, "task": {}, **_meta(traceparent)},
        )
        task_id: str = created["task"]["taskId"]

        async def get() -> dict[str, Any]:
            return await client.call("tasks/get", {"taskId": task_id, **_meta(traceparent)})

        await until(get, lambda t: t["status"] == "input_required", within_s=WAIT_S, what="input_required")
        questions: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        result = asyncio.create_task(
            client.request(
                "tasks/result", {"taskId": task_id, **_meta(traceparent)}, on_message=questions.put
            )
        )
        question = await asyncio.wait_for(questions.get(), WAIT_S)
        assert question["method"] == "elicitation/create", question
        answer = {**ANSWER, "_meta": {RELATED_TASK: {"taskId": task_id}}}
        assert await client.respond(question["id"], answer) == 202
        assert (await asyncio.wait_for(result, WAIT_S)).unwrap()["content"][0]["text"] == "answered: accept"
        # Later: one more poll and one more result.
        assert (await get())["status"] == "completed"
        await client.call("tasks/result", {"taskId": task_id, **_meta(traceparent)})
        assert client.session_id is not None
        return task_id, client.session_id
    finally:
        await client.aclose()


async def _modern_task(server: AuthServer, token: str, traceparent: str | None) -> tuple[str, str]:
    """Create, poll, answer (tasks/update), poll to completion, then get again; (task id, "")."""
    client = BearerModern(server.base_url, token)
    try:
        created = await client.call(
            "tools/call",
            {"name": "ask", "arguments": {"question": "Ship it?"}, **_meta(traceparent)},
            capabilities=MODERN_ASKABLE,
        )
        assert created["resultType"] == "task", created
        task_id: str = created["taskId"]

        async def get() -> dict[str, Any]:
            params = {"taskId": task_id, **_meta(traceparent)}
            return await client.call("tasks/get", params, capabilities=MODERN_ASKABLE)

        parked = await until(get, lambda t: t["status"] == "input_required", within_s=WAIT_S, what="asked")
        (key,) = parked["inputRequests"]
        await client.call(
            "tasks/update",
            {"taskId": task_id, "inputResponses": {key: ANSWER}, **_meta(traceparent)},
            capabilities=MODERN_ASKABLE,
        )
        done = await until(get, lambda t: t["status"] == "completed", within_s=WAIT_S, what="completed")
        assert done["result"]["content"][0]["text"] == "answered: accept"
        await get()  # later: the result again
        return task_id, ""
    finally:
        await client.aclose()


@pytest.mark.parametrize("wire", ["2025-11-25", "2026-07-28"])
@pytest.mark.parametrize("propagate", [True, False], ids=["client-trace", "no-client-trace"])
async def test_one_trace_per_task_over_http(
    issuer: LocalIssuer, started_servers: list[AuthServer], tmp_path: Path, wire: str, propagate: bool
) -> None:
    server = TracedServer(tmp_path, jwt_args(issuer, f"traced-{wire}-{propagate}"))
    started_servers.append(server)  # the secrets check also greps its database and logs
    await asyncio.to_thread(server.start)
    token = issuer.mint("alice", "c1", server.resource)
    traceparent, client_trace = _traceparent() if propagate else (None, None)
    try:
        run = _legacy_task if wire == "2025-11-25" else _modern_task
        task_id, session_id = await run(server, token, traceparent)
    finally:
        code = await asyncio.to_thread(server.stop)
    assert code == 0, server.stderr()
    spans = server.spans()

    def one(name: str) -> dict[str, Any]:
        found = [s for s in spans if s["name"] == name]
        assert len(found) == 1, (name, [s["name"] for s in spans])
        return found[0]

    creating, tool_run = one("tools/call ask"), one("task.run ask")
    question, outcome = one("task.input elicitation/create"), one("task.outcome")
    trace_id = creating["context"]["trace_id"]
    assert tool_run["parent_id"] == creating["context"]["span_id"]
    assert question["parent_id"] == tool_run["context"]["span_id"]
    assert outcome["parent_id"] == tool_run["context"]["span_id"]
    assert {s["context"]["trace_id"] for s in (creating, tool_run, question, outcome)} == {trace_id}
    assert tool_run["attributes"]["mcp.task.id"] == task_id
    assert tool_run["attributes"]["mcp.task.status"] == "completed"
    assert tool_run["attributes"]["mcp.task.owner_kind"] == "principal"

    # The later requests about the task: polls, the result, the answer (tasks/update on 2026-07-28).
    later = [s for s in spans if s["name"].startswith("tasks/")]
    names = {s["name"] for s in later}
    assert names == ({"tasks/get", "tasks/result"} if wire == "2025-11-25" else {"tasks/get", "tasks/update"})
    for span in later:
        assert span["attributes"]["mcp.task.id"] == task_id, span
        # One link to the creating span, however often the request read its task.
        assert [link["context"]["span_id"] for link in span["links"]] == [creating["context"]["span_id"]]
    if propagate:
        # One client trace: creation, run, question, outcome and every later request.
        assert trace_id == client_trace
        assert {s["context"]["trace_id"] for s in later} == {trace_id}
    else:
        assert all(s["context"]["trace_id"] != trace_id for s in later)  # own traces, linked

    # Nothing identifying the caller: no token, no session id, no principal id in any span.
    exported = server.spans_path.read_text()
    assert token not in exported and token.split(".")[2] not in exported
    assert "Bearer" not in exported
    if session_id:
        assert session_id not in exported
    attributes = json.dumps([s["attributes"] for s in spans] + [s["resource"] for s in spans])
    assert "alice" not in attributes and issuer.issuer not in attributes
