"""Durability across server restarts: a graceful stop (SIGINT) and a crash (SIGKILL).

Issue #2 "What a user can do" 5: every task and result is still there for its owner after a restart;
a task that was running is not left `working` forever but `failed` as interrupted by a server stop.

Owners: 2026-07-28 anonymous tasks are capability-owned, so the same ids are readable after the
restart; 2025-11-25 tasks belong to a session that does not survive the restart, so they are checked
in the database itself (and are "Task not found" to any new session). Clients are
`mcptasks.client`'s, except where a test needs a raw stream held open across the stop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from mcp_types import TextContent

from mcptasks.client import TaskFailedError, TaskNotFoundError
from mcptasks.core.status import TaskStatus
from support.clients import LegacyHttpClient
from support.db import task_events, task_rows
from support.polling import read_counter, wait_counter_at_least
from support.process import TEST_LEASES, HttpServer
from support.task_clients import http_endpoint, task_client

pytestmark = pytest.mark.slow

INTERRUPTED = "Task interrupted: the server stopped while it was running"
#: A graceful stop takes the shutdown grace (1 s) plus the hard cancel; far less than this.
STOP_LIMIT_S = 6.0
#: The longest a test waits for a task's result, in seconds.
RESULT_LIMIT_S = 20
#: How often the task client polls, in ms (the server answers a poll at the task's next change).
POLL_MS = 50


ServerFactory = Callable[[], HttpServer]


@pytest.fixture
def servers(server_db: Path | str, tmp_path: Path) -> Iterator[ServerFactory]:
    """Make `HttpServer`s on the test's database (`server_db`); every one is stopped after the test."""
    started: list[HttpServer] = []

    def make() -> HttpServer:
        server = HttpServer(server_db, tmp_path / "server.log")
        started.append(server)
        return server.start()

    try:
        yield make
    finally:
        for server in started:
            server.stop()


async def test_graceful_stop_fails_running_tasks_and_keeps_the_rest(
    servers: ServerFactory, server_db: Path | str, tmp_path: Path
) -> None:
    db = server_db
    marker = tmp_path / "counter"
    server = servers()
    async with (
        task_client(http_endpoint(server), "2026-07-28") as modern,
        task_client(http_endpoint(server), "2025-11-25") as legacy,
    ):
        completed = await modern.call_tool_as_task("echo", {"text": "durable"})
        with anyio.fail_after(RESULT_LIMIT_S):
            before_result = await completed.result(poll_ms=POLL_MS)
        before = completed.last_snapshot
        assert before is not None
        running = await modern.call_tool_as_task(
            "slow", {"steps": 10_000, "delay_ms": 50, "marker": str(marker)}
        )
        legacy_done = await legacy.call_tool_as_task("echo", {"text": "2025"})
        with anyio.fail_after(RESULT_LIMIT_S):
            await legacy_done.result(poll_ms=POLL_MS)
        legacy_running = await legacy.call_tool_as_task("stubborn", {"marker": str(tmp_path / "s")})
        await wait_counter_at_least(marker, 2)
        assert (await running.status()).status is TaskStatus.WORKING
    ids = [handle.task_id for handle in (completed, running, legacy_done, legacy_running)]
    assert all(isinstance(task_id, str) for task_id in ids)
    completed_id, running_id, legacy_done_id, legacy_running_id = (str(task_id) for task_id in ids)

    started = time.monotonic()
    assert server.stop() == 0, server.log()
    # The shutdown grace (1 s) and the hard cancel bound the stop.
    assert time.monotonic() - started < 10

    # Failed by the stopping server itself, before any restart: straight from the database.
    stored = task_rows(db, *ids)
    for task_id in (running_id, legacy_running_id):
        assert stored[task_id]["status"] == "failed", stored[task_id]
        assert "server stopped" in stored[task_id]["status_message"]
        assert stored[task_id]["lease_node"] is None
        assert task_events(db, task_id)[-1][:2] == ("working", "failed")
    for task_id in (completed_id, legacy_done_id):
        assert stored[task_id]["status"] == "completed"
        assert stored[task_id]["result"] is not None
    assert stored[legacy_done_id]["owner_kind"] == "session"
    assert stored[completed_id]["owner_kind"] == "capability"
    counter_at_stop = read_counter(marker)

    server = servers()
    async with (
        task_client(http_endpoint(server), "2026-07-28") as modern,
        task_client(http_endpoint(server), "2025-11-25") as legacy,
    ):
        # 2026-07-28 tasks are read by id from the new process.
        again = modern.task(completed_id)
        after = await again.status()
        assert after.status is TaskStatus.COMPLETED
        assert (after.created_at, after.last_updated_at) == (before.created_at, before.last_updated_at)
        assert await again.result() == before_result

        with pytest.raises(TaskFailedError) as raised:
            await modern.task(running_id).result()
        assert raised.value.code == -32603
        interrupted = await modern.task(running_id).status()
        assert interrupted.status is TaskStatus.FAILED and interrupted.status_message == INTERRUPTED

        # The 2025 session died with the server: a new session cannot see its tasks.
        for task_id in (legacy_done_id, legacy_running_id):
            with pytest.raises(TaskNotFoundError):
                await legacy.task(task_id).status()
        assert (await legacy.list_tasks()).tasks == []

        # Nothing was run again, and the restarted server serves new tasks.
        assert read_counter(marker) == counter_at_stop
        with anyio.fail_after(RESULT_LIMIT_S):
            fresh = await modern.call_tool("echo", {"text": "new"})
        [block] = fresh.content
        assert isinstance(block, TextContent) and block.text == "echo: new"


async def test_crash_leaves_a_lease_that_recovery_fails_as_interrupted(
    servers: ServerFactory, server_db: Path | str, tmp_path: Path
) -> None:
    db = server_db
    marker = tmp_path / "counter"
    server = servers()
    async with task_client(http_endpoint(server), "2026-07-28") as client:
        completed = await client.call_tool_as_task("echo", {"text": "synced"})
        with anyio.fail_after(RESULT_LIMIT_S):
            before = await completed.result(poll_ms=POLL_MS)
        running = await client.call_tool_as_task(
            "slow", {"steps": 10_000, "delay_ms": 50, "marker": str(marker)}
        )
        await wait_counter_at_least(marker, 2)
    assert completed.task_id is not None and running.task_id is not None
    completed_id, running_id = completed.task_id, running.task_id

    server.kill()
    stored = task_rows(db, completed_id, running_id)
    # A crash writes nothing: the task is still working under the dead process's lease.
    assert stored[running_id]["status"] == "working"
    assert stored[running_id]["lease_node"] is not None
    assert stored[completed_id]["status"] == "completed"
    counter_at_crash = read_counter(marker)

    server = servers()
    restarted = time.monotonic()
    async with task_client(http_endpoint(server), "2026-07-28") as client:
        # Committed before the crash, so still there.
        assert await client.task(completed_id).result() == before

        # Within the lease (2 s) plus one recovery interval (0.5 s), plus scheduling slack.
        deadline = TEST_LEASES["duration_s"] + TEST_LEASES["recover_interval_s"] + 2.0
        with anyio.fail_after(deadline):
            failed = await client.task(running_id).wait(poll_ms=POLL_MS)
        assert time.monotonic() - restarted <= deadline + 1
        assert failed.status is TaskStatus.FAILED
        assert failed.status_message == INTERRUPTED
        with pytest.raises(TaskFailedError) as raised:
            await client.task(running_id).result()
        assert raised.value.code == -32603
    assert task_events(db, running_id)[-1] == ("working", "failed", INTERRUPTED)
    assert task_rows(db, running_id)[running_id]["lease_node"] is None
    # The tool was not run again after the crash.
    assert read_counter(marker) == counter_at_crash


async def test_graceful_stop_does_not_wait_for_connected_clients(
    servers: ServerFactory, server_db: Path | str, tmp_path: Path
) -> None:
    """Ctrl-C while a 2025-11-25 client is connected: its standalone GET stream is open and a
    `tasks/result` is pending on a running task. The server still stops within its grace period
    and fails the running task as interrupted."""
    db = server_db
    marker = tmp_path / "counter"
    server = servers()
    client = LegacyHttpClient(server.base_url)
    outcome: object = None
    try:
        await client.open(listen=True)
        task_id = (
            await client.call(
                "tools/call",
                {
                    "name": "slow",
                    "arguments": {"steps": 10_000, "delay_ms": 50, "marker": str(marker)},
                    "task": {},
                },
            )
        )["task"]["taskId"]
        await wait_counter_at_least(marker, 2)
        pending = asyncio.create_task(client.request("tasks/result", {"taskId": task_id}))
        assert (await client.call("tasks/get", {"taskId": task_id}))["status"] == "working"
        assert not pending.done()

        started = time.monotonic()
        code = await asyncio.to_thread(server.stop, STOP_LIMIT_S)  # SIGINT, SIGKILL after the limit
        elapsed = time.monotonic() - started
        try:
            outcome = (await asyncio.wait_for(pending, 5)).message
        except httpx.HTTPError as exc:  # the connection closed under the pending request
            outcome = exc
    finally:
        await client.aclose()

    stored = task_rows(db, task_id)[task_id]
    assert code == 0 and elapsed < STOP_LIMIT_S, (
        f"SIGINT did not stop the server within {STOP_LIMIT_S}s (exit code {code} after {elapsed:.1f}s; "
        f"a negative code is the SIGKILL that followed); the task was left {stored['status']!r}"
    )
    assert stored["status"] == "failed"
    assert stored["status_message"] == INTERRUPTED
    assert outcome is not None
