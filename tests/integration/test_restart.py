"""Durability across server restarts: a graceful stop (SIGINT) and a crash (SIGKILL).

Issue #2 "What a user can do" 5: every task and result is still there for its owner after a restart;
a task that was running is not left `working` forever but `failed` as interrupted by a server stop.

Owners: 2026-07-28 anonymous tasks are capability-owned, so the same ids are readable after the
restart; 2025-11-25 tasks belong to a session that does not survive the restart, so they are checked
in the database itself (and are "Task not found" to any new session).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from support.clients import LegacyHttpClient, ModernHttpClient
from support.db import task_events, task_rows
from support.polling import read_counter, wait_counter_at_least, wait_status, wait_terminal
from support.process import TEST_LEASES, HttpServer

pytestmark = pytest.mark.slow

INTERRUPTED = "Task interrupted: the server stopped while it was running"
#: A graceful stop takes the shutdown grace (1 s) plus the hard cancel; far less than this.
STOP_LIMIT_S = 6.0


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
    modern = ModernHttpClient(server.base_url)
    legacy = LegacyHttpClient(server.base_url)
    try:
        completed = (await modern.call("tools/call", {"name": "echo", "arguments": {"text": "durable"}}))[
            "taskId"
        ]
        before = await wait_status(modern, completed, "completed")
        running = (
            await modern.call(
                "tools/call",
                {"name": "slow", "arguments": {"steps": 10_000, "delay_ms": 50, "marker": str(marker)}},
            )
        )["taskId"]
        await legacy.open()
        legacy_done = (
            await legacy.call("tools/call", {"name": "echo", "arguments": {"text": "2025"}, "task": {}})
        )["task"]["taskId"]
        await wait_status(legacy, legacy_done, "completed")
        legacy_running = (
            await legacy.call(
                "tools/call", {"name": "stubborn", "arguments": {"marker": str(tmp_path / "s")}, "task": {}}
            )
        )["task"]["taskId"]
        await wait_counter_at_least(marker, 2)
        assert (await modern.call("tasks/get", {"taskId": running}))["status"] == "working"
    finally:
        await modern.aclose()
        await legacy.aclose()

    started = time.monotonic()
    assert server.stop() == 0, server.log()
    # The shutdown grace (1 s) and the hard cancel bound the stop.
    assert time.monotonic() - started < 10

    # Failed by the stopping server itself, before any restart: straight from the database.
    stored = task_rows(db, completed, running, legacy_done, legacy_running)
    for task_id in (running, legacy_running):
        assert stored[task_id]["status"] == "failed", stored[task_id]
        assert "server stopped" in stored[task_id]["status_message"]
        assert stored[task_id]["lease_node"] is None
        assert task_events(db, task_id)[-1][:2] == ("working", "failed")
    for task_id in (completed, legacy_done):
        assert stored[task_id]["status"] == "completed"
        assert stored[task_id]["result"] is not None
    assert stored[legacy_done]["owner_kind"] == "session"
    assert stored[completed]["owner_kind"] == "capability"
    counter_at_stop = read_counter(marker)

    server = servers()
    modern = ModernHttpClient(server.base_url)
    legacy = LegacyHttpClient(server.base_url)
    try:
        after = await modern.call("tasks/get", {"taskId": completed})
        assert after["status"] == "completed"
        assert after["result"] == before["result"]
        assert after["createdAt"] == before["createdAt"]
        assert after["lastUpdatedAt"] == before["lastUpdatedAt"]

        interrupted = await modern.call("tasks/get", {"taskId": running})
        assert interrupted["status"] == "failed"
        assert interrupted["statusMessage"] == INTERRUPTED
        assert interrupted["error"]["code"] == -32603

        # The 2025 session died with the server: a new session cannot see its tasks.
        await legacy.open()
        for task_id in (legacy_done, legacy_running):
            reply = await legacy.request("tasks/get", {"taskId": task_id})
            assert reply.error == {"code": -32602, "message": "Task not found"}
        assert (await legacy.call("tasks/list", {}))["tasks"] == []

        # Nothing was run again, and the restarted server serves new tasks.
        assert read_counter(marker) == counter_at_stop
        fresh = (await modern.call("tools/call", {"name": "echo", "arguments": {"text": "new"}}))["taskId"]
        assert (await wait_status(modern, fresh, "completed"))["result"]["content"][0]["text"] == "echo: new"
    finally:
        await modern.aclose()
        await legacy.aclose()


async def test_crash_leaves_a_lease_that_recovery_fails_as_interrupted(
    servers: ServerFactory, server_db: Path | str, tmp_path: Path
) -> None:
    db = server_db
    marker = tmp_path / "counter"
    server = servers()
    modern = ModernHttpClient(server.base_url)
    try:
        completed = (await modern.call("tools/call", {"name": "echo", "arguments": {"text": "synced"}}))[
            "taskId"
        ]
        before = await wait_status(modern, completed, "completed")
        running = (
            await modern.call(
                "tools/call",
                {"name": "slow", "arguments": {"steps": 10_000, "delay_ms": 50, "marker": str(marker)}},
            )
        )["taskId"]
        await wait_counter_at_least(marker, 2)
    finally:
        await modern.aclose()

    server.kill()
    stored = task_rows(db, completed, running)
    # A crash writes nothing: the task is still working under the dead process's lease.
    assert stored[running]["status"] == "working"
    assert stored[running]["lease_node"] is not None
    assert stored[completed]["status"] == "completed"
    counter_at_crash = read_counter(marker)

    server = servers()
    restarted = time.monotonic()
    modern = ModernHttpClient(server.base_url)
    try:
        # Committed before the crash, so still there.
        after = await modern.call("tasks/get", {"taskId": completed})
        assert after["status"] == "completed" and after["result"] == before["result"]

        # Within the lease (2 s) plus one recovery interval (0.5 s), plus scheduling slack.
        deadline = TEST_LEASES["duration_s"] + TEST_LEASES["recover_interval_s"] + 2.0
        failed = await wait_terminal(modern, running, within_s=deadline)
        assert time.monotonic() - restarted <= deadline + 1
        assert failed["status"] == "failed"
        assert failed["statusMessage"] == INTERRUPTED
        assert failed["error"]["code"] == -32603
    finally:
        await modern.aclose()
    assert task_events(db, running)[-1] == ("working", "failed", INTERRUPTED)
    assert task_rows(db, running)[running]["lease_node"] is None
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
