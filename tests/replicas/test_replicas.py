"""Two and three `mcptasks serve` processes on one PostgreSQL database.

The same OAuth principal is the same owner on every replica; anonymous 2026-07-28 tasks are read by
id on any replica. Changes cross replicas by LISTEN/NOTIFY: a cancel stops the tool where it runs,
a completion wakes a `tasks/result` waiting elsewhere. A replica killed with SIGKILL has its tasks
recovered by another once their lease runs out; a replica cut off from the database stops its
tools before another takes them over. The tools leave a trace in files (`app.py`): which process
ran what, and when (`time.monotonic()`, one clock for every process).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL
from tests.replicas.conftest import LEASE_MS, Cluster, Replica, database_url

from auth.harness import BearerLegacy, BearerModern
from support.clients import TASKS_EXTENSION, ModernHttpClient
from support.polling import sync_probe, until, wait_status, wait_terminal
from support.proxy import pausable_proxy

pytestmark = pytest.mark.slow

#: Client capabilities of a 2026-07-28 client that declares the tasks extension and elicitation.
ASKABLE: dict[str, Any] = {"extensions": {TASKS_EXTENSION: {}}, "elicitation": {}}
#: Trials of the latency measurements.
TRIALS = 50


def trace(path: Path) -> list[tuple[int, str, float]]:
    """The lines a tool wrote: (pid, event, monotonic time)."""
    if not path.exists():
        return []
    lines = []
    for line in path.read_text().splitlines():
        pid, *event, at = line.split(" ")
        lines.append((int(pid), " ".join(event), float(at)))
    return lines


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def create_2026(client: ModernHttpClient, name: str, arguments: dict[str, Any], **kw: Any) -> str:
    created = await client.call("tools/call", {"name": name, "arguments": arguments}, **kw)
    assert created["resultType"] == "task", created
    return str(created["taskId"])


async def test_a_task_made_on_one_replica_is_read_and_answered_on_another(
    cluster: Cluster, token: str, tmp_path: Path
) -> None:
    a, b = cluster.start("a"), cluster.start("b")
    # 2025-11-25, one principal: created in a session on A, read and waited for in a session on B.
    on_a = await BearerLegacy(a.base_url, token).open()
    on_b = await BearerLegacy(b.base_url, token).open()
    gate = tmp_path / "gate"
    created = await on_a.call(
        "tools/call",
        {"name": "gate", "arguments": {"path": str(gate), "done": str(tmp_path / "d")}, "task": {}},
    )
    task_id = created["task"]["taskId"]
    assert (await on_b.call("tasks/get", {"taskId": task_id}))["status"] == "working"
    waiting = asyncio.ensure_future(on_b.call("tasks/result", {"taskId": task_id}))
    await asyncio.sleep(0.2)
    gate.write_text("go")
    result = await asyncio.wait_for(waiting, 10)
    assert result["content"][0]["text"] == "released"
    assert {t["taskId"] for t in (await on_b.call("tasks/list", {}))["tasks"]} == {task_id}
    # 2026-07-28 without a token is refused by every replica; with it, any replica reads the task.
    modern_a, modern_b = BearerModern(a.base_url, token), BearerModern(b.base_url, token)
    echoed = await create_2026(modern_a, "echo", {"text": "x"})
    final = await wait_terminal(modern_b, echoed)
    assert final["status"] == "completed" and final["result"]["content"][0]["text"] == "x"
    for client in (on_a, on_b, modern_a, modern_b):
        await client.aclose()


async def test_a_cancel_sent_to_one_replica_stops_the_tool_on_another(
    cluster: Cluster, token: str, tmp_path: Path
) -> None:
    a, b = cluster.start("a"), cluster.start("b")
    on_a, on_b = BearerModern(a.base_url, token), BearerModern(b.base_url, token)
    latencies: list[float] = []
    for trial in range(TRIALS):
        marker = tmp_path / f"tick-{trial}"
        task_id = await create_2026(on_a, "tick", {"path": str(marker)})
        await until(
            sync_probe(lambda marker=marker: trace(marker)),
            lambda lines: any(event == "tick" for _, event, _ in lines),
            what="the tool ticking",
        )
        sent = time.monotonic()
        await on_b.call("tasks/cancel", {"taskId": task_id})
        lines = await until(
            sync_probe(lambda marker=marker: trace(marker)),
            lambda lines: any(event == "stopped" for _, event, _ in lines),
            what="the tool stopping",
        )
        stopped = next(at for _, event, at in lines if event == "stopped")
        assert {pid for pid, _, _ in lines} == {a.pid}  # it ran on A only
        latencies.append(stopped - sent)
        assert (await on_a.call("tasks/get", {"taskId": task_id}))["status"] == "cancelled"
    p50, p99 = statistics.median(latencies), percentile(latencies, 0.99)
    print(f"cancel on B -> tool stopped on A: p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, n={TRIALS}")
    assert p99 < 1.0, latencies
    await on_a.aclose()
    await on_b.aclose()


async def test_a_completion_on_one_replica_wakes_tasks_result_on_another(
    cluster: Cluster, token: str, tmp_path: Path
) -> None:
    a, b = cluster.start("a"), cluster.start("b")
    on_a = await BearerLegacy(a.base_url, token).open()
    on_b = await BearerLegacy(b.base_url, token).open()
    latencies: list[float] = []
    for trial in range(TRIALS):
        gate, done = tmp_path / f"gate-{trial}", tmp_path / f"done-{trial}"
        created = await on_a.call(
            "tools/call", {"name": "gate", "arguments": {"path": str(gate), "done": str(done)}, "task": {}}
        )
        task_id = created["task"]["taskId"]
        waiting = asyncio.ensure_future(on_b.call("tasks/result", {"taskId": task_id}))
        await asyncio.sleep(0.05)
        gate.write_text("go")
        await asyncio.wait_for(waiting, 10)
        answered = time.monotonic()
        finished = next(at for _, event, at in trace(done) if event == "done")
        latencies.append(answered - finished)
    p50, p99 = statistics.median(latencies), percentile(latencies, 0.99)
    print(
        f"completion on A -> tasks/result on B: p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, n={TRIALS}"
    )
    assert p99 < 0.25, latencies
    await on_a.aclose()
    await on_b.aclose()


async def test_a_killed_replicas_tasks_are_recovered_by_another_one_at_a_time(
    cluster: Cluster, token: str, tmp_path: Path
) -> None:
    a, b = cluster.start("a"), cluster.start("b")
    on_a, on_b = BearerModern(a.base_url, token), BearerModern(b.base_url, token)
    markers = [tmp_path / f"tick-{n}" for n in range(4)]
    task_ids = [await create_2026(on_a, "tick", {"path": str(marker)}) for marker in markers]
    # A "fail" tool (the default `on_restart`): B fails it once A's lease ran out.
    gated = await create_2026(on_a, "gate", {"path": str(tmp_path / "never"), "done": str(tmp_path / "d")})
    for marker in markers:
        await until(sync_probe(lambda m=marker: trace(m)), lambda lines: len(lines) > 2, what="ticking")
    a_pid = a.pid
    a.kill()
    killed = time.monotonic()
    # "rerun" tools: B takes each over as attempt 2 once A's lease ran out.
    for task_id in task_ids:
        await until(
            lambda t=task_id: on_b.call("tasks/get", {"taskId": t}),
            lambda task: task["status"] == "working",
            what="still working",
        )
    for marker in markers:
        lines = await until(
            sync_probe(lambda m=marker: trace(m)),
            lambda lines: any(pid != a_pid for pid, _, _ in lines),
            within_s=LEASE_MS / 1000 + 5,
            what="the task running again on B",
        )
        last_a = max(at for pid, _, at in lines if pid == a_pid)
        first_b = min(at for pid, _, at in lines if pid != a_pid)
        assert last_a < killed < first_b  # never two runners at once
        assert first_b - killed < LEASE_MS / 1000 + 5
        print(f"killed A -> rerun on B after {(first_b - killed) * 1000:.0f} ms (lease {LEASE_MS} ms)")
        assert any(event == "start attempt=2" for pid, event, _ in lines if pid == b.pid)
    failed = await wait_terminal(on_b, gated)
    assert failed["status"] == "failed" and "interrupted" in failed["statusMessage"], failed
    assert time.monotonic() - killed < LEASE_MS / 1000 + 5
    for task_id in task_ids:
        await on_b.call("tasks/cancel", {"taskId": task_id})
        assert (await wait_terminal(on_b, task_id))["status"] == "cancelled"
    await on_a.aclose()
    await on_b.aclose()


async def test_concurrent_answers_on_two_replicas_resume_the_task_once(cluster: Cluster, token: str) -> None:
    a, b = cluster.start("a"), cluster.start("b")
    on_a, on_b = BearerModern(a.base_url, token), BearerModern(b.base_url, token)
    accept = {"action": "accept", "content": {"ok": True}}
    for _ in range(10):
        task_id = await create_2026(on_a, "ask_twice", {}, capabilities=ASKABLE)
        await wait_status(on_b, task_id, "input_required")
        parked = await until(
            lambda t=task_id: on_b.call("tasks/get", {"taskId": t}),
            lambda task: len(task.get("inputRequests", {})) == 2,
            what="two questions",
        )
        keys = sorted(parked["inputRequests"])
        await asyncio.gather(
            on_a.call("tasks/update", {"taskId": task_id, "inputResponses": {keys[0]: accept}}),
            on_b.call("tasks/update", {"taskId": task_id, "inputResponses": {keys[1]: accept}}),
        )
        now = await on_b.call("tasks/get", {"taskId": task_id})
        assert not (now["status"] == "input_required" and not now.get("inputRequests")), now
        final = await wait_terminal(on_a, task_id)
        assert final["status"] == "completed" and final["result"]["content"][0]["text"] == "accept/accept"
    await on_a.aclose()
    await on_b.aclose()


async def test_three_replicas_create_cancel_and_read_on_different_ones(
    cluster: Cluster, token: str, tmp_path: Path
) -> None:
    a, b, c = cluster.start("a"), cluster.start("b"), cluster.start("c")
    clients = [BearerModern(replica.base_url, token) for replica in (a, b, c)]
    marker = tmp_path / "tick"
    task_id = await create_2026(clients[0], "tick", {"path": str(marker)})
    await until(sync_probe(lambda: trace(marker)), lambda lines: len(lines) > 1, what="ticking")
    await clients[2].call("tasks/cancel", {"taskId": task_id})
    assert (await wait_terminal(clients[1], task_id))["status"] == "cancelled"
    lines = await until(
        sync_probe(lambda: trace(marker)),
        lambda lines: any(event == "stopped" for _, event, _ in lines),
        what="the tool stopping",
    )
    assert {pid for pid, _, _ in lines} == {a.pid}
    for client in clients:
        await client.aclose()


async def test_a_replica_cut_off_from_the_database_stops_its_tool_before_another_reruns_it(
    cluster: Cluster, pg_database: URL, token: str, tmp_path: Path
) -> None:
    assert pg_database.host is not None and pg_database.port is not None
    async with pausable_proxy(pg_database.host, pg_database.port) as proxy:
        a: Replica = await cluster.start_off_loop("a", db=database_url(pg_database.set(port=proxy.port)))
        b = cluster.start("b")
        on_a, on_b = BearerModern(a.base_url, token), BearerModern(b.base_url, token)
        marker = tmp_path / "tick"
        task_id = await create_2026(on_a, "tick", {"path": str(marker)})
        await until(sync_probe(lambda: trace(marker)), lambda lines: len(lines) > 2, what="ticking")
        proxy.pause()  # A can no longer renew its lease
        cut = time.monotonic()
        lines = await until(
            sync_probe(lambda: trace(marker)),
            lambda lines: any(pid == b.pid for pid, _, _ in lines),
            within_s=LEASE_MS / 1000 + 5,
            what="the task running again on B",
        )
        a_lines = [at for pid, event, at in lines if pid == a.pid]
        first_b = min(at for pid, _, at in lines if pid == b.pid)
        # A fenced itself: the tool saw its token fire (or was cancelled hard) before B began.
        assert any(event in ("stopped", "interrupted") for pid, event, _ in lines if pid == a.pid)
        assert max(a_lines) < first_b  # one runner at a time
        print(
            f"cut A off -> A's tool stopped after {(max(a_lines) - cut) * 1000:.0f} ms, "
            f"B ran it after {(first_b - cut) * 1000:.0f} ms (lease {LEASE_MS} ms)"
        )
        await on_b.call("tasks/cancel", {"taskId": task_id})
        proxy.resume()
        await on_a.aclose()
        await on_b.aclose()


async def test_a_cancel_on_one_replica_is_notified_to_the_2025_session_on_another(
    cluster: Cluster, token: str, tmp_path: Path
) -> None:
    a, b = cluster.start("a"), cluster.start("b")
    on_a = await BearerLegacy(a.base_url, token).open(listen=True)
    on_b = await BearerLegacy(b.base_url, token).open()
    marker = tmp_path / "tick"
    created = await on_a.call("tools/call", {"name": "tick", "arguments": {"path": str(marker)}, "task": {}})
    task_id = created["task"]["taskId"]
    await until(sync_probe(lambda: trace(marker)), lambda lines: len(lines) > 1, what="ticking")
    await on_b.call("tasks/cancel", {"taskId": task_id})
    # The session lives on A; the cancel was stored through B: A hears it and tells its session.
    notified = await on_a.notifications.wait_for(
        "notifications/tasks/status",
        lambda params: params.get("taskId") == task_id and params.get("status") == "cancelled",
        within_s=2,
    )
    assert notified["params"]["status"] == "cancelled"
    await on_a.aclose()
    await on_b.aclose()


async def test_anonymous_2026_callers_reach_a_task_by_its_id_on_any_replica(
    anonymous_cluster: Cluster, tmp_path: Path
) -> None:
    a, b = anonymous_cluster.start("a"), anonymous_cluster.start("b")
    on_a, on_b = ModernHttpClient(a.base_url), ModernHttpClient(b.base_url)
    echoed = await create_2026(on_a, "echo", {"text": "anonymous"})
    final = await wait_terminal(on_b, echoed)
    assert final["status"] == "completed" and final["result"]["content"][0]["text"] == "anonymous"
    # Cancelled through B, the tool stops on A.
    marker = tmp_path / "tick"
    task_id = await create_2026(on_a, "tick", {"path": str(marker)})
    await until(sync_probe(lambda: trace(marker)), lambda lines: len(lines) > 1, what="ticking")
    await on_b.call("tasks/cancel", {"taskId": task_id})
    lines = await until(
        sync_probe(lambda: trace(marker)),
        lambda lines: any(event == "stopped" for _, event, _ in lines),
        what="the tool stopping",
    )
    assert {pid for pid, _, _ in lines} == {a.pid}
    assert (await on_a.call("tasks/get", {"taskId": task_id}))["status"] == "cancelled"
    await on_a.aclose()
    await on_b.aclose()
