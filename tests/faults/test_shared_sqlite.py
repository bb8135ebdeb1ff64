"""Two `mcptasks serve` processes on one SQLite file.

Each process has its own executor, node id and leases; a task is leased to the process running its
tool and renewed by that process's heartbeat, and every lease change is a compare-and-set measured
on the one clock both processes share (this host's). So:

- a task created through A is read, waited for and cancelled through B (2026-07-28 tasks are
  reached by id on any server; the cancel stops the tool where it runs);
- a task running on A is neither recovered nor failed by B while A lives, at B's start-up or later
  (B looks for expired leases every lease/6);
- after `kill -9` of A, B recovers A's tasks once their lease has run out: a "rerun" tool runs again
  on B as attempt 2, any other tool's task fails as interrupted;
- both serving at once, under concurrent writes through both, lose nothing and leave the file
  intact (`PRAGMA integrity_check`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mcptasks.runtime.outcomes import INTERRUPTED_MESSAGE
from support.clients import ModernHttpClient
from support.db import integrity_check, query, task_rows
from support.polling import read_counter, wait_counter_at_least, wait_counter_stopped, wait_terminal
from support.process import ServeProcess

pytestmark = pytest.mark.slow

#: Lease of the test servers, in ms (renewed every third of it, expired ones looked for every sixth).
LEASE_MS = 1500
#: Lease where a test checks that a live server's tasks are left alone, in ms: a heartbeat late by
#: more than a lease is a real expiry, so a loaded machine needs more room than LEASE_MS gives.
LONG_LEASE_MS = 3000
#: How long after a crash its tasks must be recovered by the other server, in s: the lease, one
#: recovery period, and room for a loaded machine.
RECOVERY_LIMIT_S = LEASE_MS / 1000 + 3.0


class Pair:
    """Servers on one SQLite file, all stopped at the end."""

    def __init__(self, db: Path, directory: Path) -> None:
        self.db = db
        self.directory = directory
        self.servers: list[ServeProcess] = []

    async def start(self, *names: str, lease_ms: int = LEASE_MS) -> list[ServeProcess]:
        """Start one server per name, at the same time (each logs to `<name>.log`)."""
        made = [ServeProcess(self.db, self.directory / f"{name}.log", lease_ms=lease_ms) for name in names]
        self.servers += made
        await asyncio.gather(*(asyncio.to_thread(server.start) for server in made))
        return made

    def stop(self) -> None:
        """Stop every server started (SIGINT, then SIGKILL after a timeout)."""
        for server in self.servers:
            server.stop()


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    """Servers on a new SQLite file of the test's own."""
    made = Pair(tmp_path / "tasks.db", tmp_path)
    try:
        yield made
    finally:
        made.stop()


async def create(client: ModernHttpClient, name: str, arguments: dict[str, Any]) -> str:
    """Create a 2026-07-28 task; returns its id."""
    created = await client.call("tools/call", {"name": name, "arguments": arguments})
    assert created["resultType"] == "task", created
    return str(created["taskId"])


def holder(db: Path, task_id: str) -> tuple[str, str | None, int]:
    """(status, lease node, attempt) of a task, read from the file."""
    row = task_rows(db, task_id)[task_id]
    return row["status"], row["lease_node"], row["attempt"]


async def test_a_task_created_on_one_server_is_read_and_cancelled_through_the_other(
    pair: Pair, tmp_path: Path
) -> None:
    a, b = await pair.start("a", "b")
    on_a, on_b = ModernHttpClient(a.base_url), ModernHttpClient(b.base_url)
    try:
        echoed = await create(on_a, "echo", {"text": "shared"})
        final = await wait_terminal(on_b, echoed)
        assert final["status"] == "completed", final
        assert final["result"]["content"][0]["text"] == "echo: shared"

        marker = tmp_path / "counter"
        running = await create(on_a, "slow", {"steps": 10_000, "delay_ms": 50, "marker": str(marker)})
        await wait_counter_at_least(marker, 2)
        assert (await on_b.call("tasks/get", {"taskId": running}))["status"] == "working"
        status, node, _ = holder(pair.db, running)
        assert status == "working" and node is not None and f":{a.pid}:" in node
        await on_b.call("tasks/cancel", {"taskId": running})
        # The tool stops on A, where it runs (A notices B's commit within 0.1 s).
        stopped_at = await wait_counter_stopped(marker, quiet_s=0.5, within_s=5)
        await asyncio.sleep(0.3)
        assert read_counter(marker) == stopped_at
        for client in (on_a, on_b):
            assert (await client.call("tasks/get", {"taskId": running}))["status"] == "cancelled"
    finally:
        await on_a.aclose()
        await on_b.aclose()


async def test_a_task_running_on_one_server_is_left_alone_by_the_other(pair: Pair, tmp_path: Path) -> None:
    a, b = await pair.start("a", "b", lease_ms=LONG_LEASE_MS)
    on_a, on_b = ModernHttpClient(a.base_url), ModernHttpClient(b.base_url)
    try:
        # Both run for more than two leases: B looks for expired leases every lease / 6 meanwhile.
        markers = {"slow": tmp_path / "slow", "slow_rerun": tmp_path / "rerun"}
        ids = {
            tool: await create(on_a, tool, {"steps": 140, "delay_ms": 50, "marker": str(marker)})
            for tool, marker in markers.items()
        }
        watched_until = time.monotonic() + 2 * LONG_LEASE_MS / 1000
        while time.monotonic() < watched_until:
            for task_id in ids.values():
                assert (await on_b.call("tasks/get", {"taskId": task_id}))["status"] == "working"
                status, node, attempt = holder(pair.db, task_id)
                assert (status, attempt) == ("working", 1)
                assert node is not None and f":{a.pid}:" in node, node
            await asyncio.sleep(0.2)
        finals = {tool: await wait_terminal(on_b, task_id, within_s=10) for tool, task_id in ids.items()}
        assert {final["status"] for final in finals.values()} == {"completed"}, finals
        assert finals["slow_rerun"]["result"]["content"][0]["text"] == "attempt 1 counted to 140"
        for task_id in ids.values():
            events = query(
                pair.db, "SELECT to_status, attempt, node FROM task_events WHERE task_id = ?", task_id
            )
            assert [e["to_status"] for e in events] == ["working", "completed"], events
            assert all(e["attempt"] == 1 for e in events), events
            assert all(e["node"] is None or f":{a.pid}:" in e["node"] for e in events), events
    finally:
        await on_a.aclose()
        await on_b.aclose()


async def test_after_kill_9_the_other_server_recovers_the_dead_ones_tasks(pair: Pair, tmp_path: Path) -> None:
    (a,) = await pair.start("a")
    on_a = ModernHttpClient(a.base_url)
    markers = {"slow": tmp_path / "slow", "slow_rerun": tmp_path / "rerun"}
    ids = {
        tool: await create(on_a, tool, {"steps": 400, "delay_ms": 50, "marker": str(marker)})
        for tool, marker in markers.items()
    }
    await on_a.aclose()
    # B starts while A's tasks run: its start-up recovery must leave their live leases alone.
    (b,) = await pair.start("b")
    on_b = ModernHttpClient(b.base_url)
    try:
        await asyncio.sleep(0.5)
        for task_id in ids.values():
            status, node, attempt = holder(pair.db, task_id)
            assert (status, attempt) == ("working", 1) and node is not None and f":{a.pid}:" in node
        a.kill()
        killed = time.monotonic()
        markers["slow_rerun"].unlink()  # from now on, only a rerun writes it
        failed = await wait_terminal(on_b, ids["slow"], within_s=RECOVERY_LIMIT_S)
        assert failed["status"] == "failed" and failed["statusMessage"] == INTERRUPTED_MESSAGE, failed
        recovered_after = time.monotonic() - killed
        # Not before the lease ran out (A renewed it at most LEASE_MS / 3 before the kill).
        assert recovered_after >= (LEASE_MS * 2 / 3) / 1000 - 0.1, recovered_after
        status, node, attempt = holder(pair.db, ids["slow_rerun"])
        rerun_deadline = time.monotonic() + RECOVERY_LIMIT_S
        while attempt != 2 and time.monotonic() < rerun_deadline:
            await asyncio.sleep(0.05)
            status, node, attempt = holder(pair.db, ids["slow_rerun"])
        assert (status, attempt) == ("working", 2) and node is not None and f":{b.pid}:" in node
        # The rerun counts again from 1, on B.
        await wait_counter_at_least(markers["slow_rerun"], 10)
        assert (await on_b.call("tasks/get", {"taskId": ids["slow_rerun"]}))["status"] == "working"
        print(
            f"shared sqlite: B recovered A's tasks {recovered_after:.2f}s after kill -9 (lease {LEASE_MS} ms)"
        )
    finally:
        await on_b.aclose()


async def test_two_servers_writing_at_once_lose_nothing(pair: Pair) -> None:
    a, b = await pair.start("a", "b")
    clients = [ModernHttpClient(server.base_url) for server in (a, b) for _ in range(4)]
    per_client = 10

    async def work(index: int, client: ModernHttpClient) -> list[str]:
        other = clients[(index + 4) % len(clients)]  # a client of the other server
        made = []
        for n in range(per_client):
            task_id = await create(client, "echo", {"text": f"{index}-{n}"})
            made.append(task_id)
            await other.call("tasks/get", {"taskId": task_id})
        return made

    try:
        made = [
            task_id
            for ids in await asyncio.gather(*(work(i, c) for i, c in enumerate(clients)))
            for task_id in ids
        ]
        assert len(set(made)) == len(clients) * per_client
        for index, task_id in enumerate(made):
            final = await wait_terminal(clients[index % len(clients)], task_id)
            assert final["status"] == "completed", final
        rows = task_rows(pair.db, *made)
        assert set(rows) == set(made) and {row["status"] for row in rows.values()} == {"completed"}
    finally:
        for client in clients:
            await client.aclose()
    pair.stop()
    assert integrity_check(pair.db) == "ok"
