"""Resuming 2025-11-25 tasks from a new session, which takes an authenticated principal.

Without authentication a 2025-11-25 task belongs to its session; with OAuth it belongs to the
principal, which any new session (and the other wire) of the same principal can resume. The
server is `mcptasks serve tests/auth/app.py:server` with JWT access tokens from the OAuth tests'
local issuer; the client sends its token with an SDK transport of its own. A task is resumed
from another process (`resume_child.py`) holding the same user's token.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp.client.streamable_http import streamable_http_client
from mcp_types import TextContent

from auth.harness import AuthServer, jwt_args
from auth.issuer import LocalIssuer
from mcptasks.client import ElicitationHandler, TaskClient, TaskNotFoundError, Wire
from mcptasks.core.status import TaskStatus

from .test_resume import resume_in_child

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    local = LocalIssuer().start()
    try:
        yield local
    finally:
        local.close()


@pytest.fixture(scope="module")
def server(issuer: LocalIssuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    running = AuthServer(tmp_path_factory.mktemp("oauth"), jwt_args(issuer, "client-tests"), name="client")
    running.start()
    try:
        yield running
    finally:
        running.stop()


@asynccontextmanager
async def bearer_client(
    server: AuthServer,
    token: str,
    *,
    wire: Wire = "2025-11-25",
    on_elicitation: ElicitationHandler | None = None,
    elicitation: bool | None = None,
) -> AsyncIterator[TaskClient]:
    """A `TaskClient` whose every request carries `Authorization: Bearer <token>`."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=300.0)) as http:
        transport = streamable_http_client(server.url, http_client=http)
        client = TaskClient(transport, wire=wire, on_elicitation=on_elicitation, elicitation=elicitation)
        async with client:
            yield client


async def test_a_new_session_of_the_same_user_answers_and_reads_the_task(
    issuer: LocalIssuer, server: AuthServer
) -> None:
    alice = issuer.mint("alice", "c1", server.resource)
    async with bearer_client(server, alice, elicitation=True) as first:
        handle = await first.call_tool_as_task("ask", {"question": "Ship it?"})
        task_id = handle.task_id
        assert task_id is not None
    # The first session is closed; its question waits on the server.

    # Another process, with the same user's token, resumes it: tasks/result, and the server asks
    # that process's session the question.
    done = await anyio.to_thread.run_sync(
        resume_in_child, task_id, "2025-11-25", "--url", server.url, "--token", alice
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "status": "completed",
        "text": "answered: accept",
        "answered": ["elicitation/create"],
    }

    async with bearer_client(server, alice) as second:
        assert task_id in [task.task_id for task in (await second.list_tasks()).tasks]
        block = (await second.task(task_id).result()).content[0]
        assert isinstance(block, TextContent) and block.text == "answered: accept"

    async with bearer_client(server, alice, wire="2026-07-28") as other_wire:
        assert (await other_wire.task(task_id).status()).status is TaskStatus.COMPLETED

    bob = issuer.mint("bob", "c1", server.resource)
    async with bearer_client(server, bob) as stranger:
        with pytest.raises(TaskNotFoundError):
            await stranger.task(task_id).status()


async def test_a_task_made_on_2026_is_resumed_on_2025(
    issuer: LocalIssuer, server: AuthServer, tmp_path: Path
) -> None:
    alice = issuer.mint("alice", "c2", server.resource)
    gate = tmp_path / "gate"
    async with bearer_client(server, alice, wire="2026-07-28") as modern:
        handle = await modern.call_tool_as_task("gate", {"path": str(gate)})
        assert handle.task_id is not None
    gate.write_text("open")
    async with bearer_client(server, alice) as legacy:
        with anyio.fail_after(20):
            result = await legacy.task(handle.task_id).result()
    block = result.content[0]
    assert isinstance(block, TextContent) and block.text == "released: open"
