"""`kill -9` under load, round after round, on both wires and both engines.

Each round, a real `mcptasks serve` (short leases from its flags) takes tasks from 12 concurrent
clients, half on the 2025-11-25 wire (a session each, `task` in `tools/call`) and half on the
2026-07-28 wire (stateless, SEP-2663): quick `echo` tasks, `slow` tasks (on_restart "fail") and
`slow_rerun` tasks (on_restart "rerun"). The test records every CreateTaskResult it received (the
task is acknowledged) and every terminal status it saw, then SIGKILLs the server mid-load (after
1.5 s, or once each wire has 5 tasks acknowledged in the round if that takes longer) and starts it
again on the same database. The restarted server is the next round's server. After each round:

- lost: acknowledged tasks without a row (must be 0);
- changed: tasks whose terminal status differs from one seen before, or that left a terminal status
  in their history (must be 0);
- stuck: tasks still active once the dead server's leases ran out and the restarted server had a
  few seconds to recover them (must be 0): a "fail" tool's orphan ends failed as interrupted, a
  "rerun" tool's orphan runs again and completes;
- SQLite: `PRAGMA integrity_check` is "ok".

Each engine prints one summary line (rounds, acknowledged, lost, changed, stuck, and how many
orphans were failed and rerun).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from mcptasks.runtime.outcomes import INTERRUPTED_MESSAGE
from support.clients import LegacyHttpClient, ModernHttpClient, RpcError
from support.db import integrity_check, is_postgres, query
from support.polling import TERMINAL
from support.process import ServeProcess

pytestmark = pytest.mark.slow

#: Kill-and-restart rounds per engine.
ROUNDS = 5
#: Concurrent clients per wire (so twice as many in all).
CLIENTS_PER_WIRE = 6
#: How long the clients load a server before it is killed, in s.
LOAD_S = 1.5
#: Longest the load may last, in s, while a wire has fewer than MIN_PER_WIRE tasks in the round.
LOAD_MAX_S = 10.0
#: Tasks each wire must have acknowledged in a round before the kill.
MIN_PER_WIRE = 5
#: The wires, as the ledger names them.
WIRES = ("2025-11-25", "2026-07-28")
#: Lease of the servers, in ms: renewed every third of it, expired ones looked for every sixth.
LEASE_MS = 1500
#: How long after the restarted server listens every task must be terminal, in s: the dead
#: server's leases, one recovery period, the longest rerun, and room for a loaded machine.
SETTLE_S = LEASE_MS / 1000 + 4.0
#: Statuses that may still change.
ACTIVE = ("working", "input_required")
#: The servers' `--poll-interval-ms`: a client polling a task sooner is held back that long.
POLL_INTERVAL_MS = 100
#: Step length of the slow tools, in ms.
STEP_MS = 50


@dataclass
class Ledger:
    """What the clients were told: acknowledged tasks and the terminal statuses they saw."""

    #: task id -> (wire, tool) of every CreateTaskResult received.
    acked: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: task id -> the terminal status seen first.
    terminal: dict[str, str] = field(default_factory=dict)
    #: (task id, seen before, seen now) when one task showed two terminal statuses.
    flips: list[tuple[str, str, str]] = field(default_factory=list)
    #: Errors a client met while the server was meant to be up (there must be none).
    unexpected: list[str] = field(default_factory=list)
    #: Tasks acknowledged in this round, per wire.
    this_round: Counter[str] = field(default_factory=Counter)
    #: Set once every wire has MIN_PER_WIRE tasks acknowledged in this round.
    enough: asyncio.Event = field(default_factory=asyncio.Event)

    def new_round(self) -> None:
        """Count the next round's acknowledgements from zero."""
        self.this_round.clear()
        self.enough.clear()

    def ack(self, task_id: str, wire: str, tool: str, status: str) -> None:
        """A CreateTaskResult was received: the task is acknowledged (with the status it had)."""
        self.acked[task_id] = (wire, tool)
        self.this_round[wire] += 1
        if all(self.this_round[each] >= MIN_PER_WIRE for each in WIRES):
            self.enough.set()
        self.saw(task_id, status)

    def saw(self, task_id: str, status: str) -> None:
        """A client was told `status`; a terminal one must never change afterwards."""
        if status not in TERMINAL:
            return
        before = self.terminal.setdefault(task_id, status)
        if before != status:
            self.flips.append((task_id, before, status))


def pick(rng: random.Random) -> tuple[str, dict[str, Any]]:
    """A tool call of the mix: quick, slow ("fail"), slow ("rerun")."""
    roll = rng.random()
    if roll < 0.4:
        return "echo", {"text": f"e{rng.randrange(10**6)}"}
    if roll < 0.75:
        return "slow", {"steps": rng.randint(2, 20), "delay_ms": STEP_MS}
    return "slow_rerun", {"steps": rng.randint(2, 10), "delay_ms": STEP_MS}


async def legacy_client(base_url: str, ledger: Ledger, rng: random.Random, killing: asyncio.Event) -> None:
    """A 2025-11-25 session: create a task, read one of its tasks, again, until the server dies."""
    client = LegacyHttpClient(base_url)
    mine: list[str] = []
    try:
        await client.open()
        while not killing.is_set():
            tool, arguments = pick(rng)
            created = await client.call("tools/call", {"name": tool, "arguments": arguments, "task": {}})
            task = created["task"]
            ledger.ack(task["taskId"], "2025-11-25", tool, task["status"])
            mine.append(task["taskId"])
            probe = rng.choice(mine)
            ledger.saw(probe, (await client.call("tasks/get", {"taskId": probe}))["status"])
    except (httpx.HTTPError, RpcError, AssertionError, KeyError) as exc:
        if not killing.is_set():
            ledger.unexpected.append(f"2025-11-25: {type(exc).__name__}: {exc}")
    finally:
        await client.aclose()


async def modern_client(base_url: str, ledger: Ledger, rng: random.Random, killing: asyncio.Event) -> None:
    """A stateless 2026-07-28 client: create a task, read one of its tasks, again, until the server dies."""
    client = ModernHttpClient(base_url)
    mine: list[str] = []
    try:
        while not killing.is_set():
            tool, arguments = pick(rng)
            created = await client.call("tools/call", {"name": tool, "arguments": arguments})
            assert created["resultType"] == "task", created
            ledger.ack(created["taskId"], "2026-07-28", tool, created["status"])
            mine.append(created["taskId"])
            probe = rng.choice(mine)
            ledger.saw(probe, (await client.call("tasks/get", {"taskId": probe}))["status"])
    except (httpx.HTTPError, RpcError, AssertionError, KeyError) as exc:
        if not killing.is_set():
            ledger.unexpected.append(f"2026-07-28: {type(exc).__name__}: {exc}")
    finally:
        await client.aclose()


async def load_then_kill(server: ServeProcess, ledger: Ledger, rng: random.Random) -> None:
    """Run the clients against `server` for LOAD_S (longer, up to LOAD_MAX_S, until each wire has
    MIN_PER_WIRE tasks acknowledged in this round), then SIGKILL it mid-load."""
    ledger.new_round()
    killing = asyncio.Event()
    clients = [
        asyncio.create_task(make(server.base_url, ledger, random.Random(rng.random()), killing))
        for make in (legacy_client, modern_client)
        for _ in range(CLIENTS_PER_WIRE)
    ]
    await asyncio.sleep(LOAD_S)
    # A loaded machine may start slowly: load on until each wire has had its share of tasks.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(ledger.enough.wait(), LOAD_MAX_S)
    killing.set()
    server.kill()
    await asyncio.wait_for(asyncio.gather(*clients), 30)


def active_ids(db: Path | str) -> list[str]:
    """Ids of the tasks whose status may still change."""
    marks = ",".join("?" * len(ACTIVE))
    return [
        row["task_id"] for row in query(db, f"SELECT task_id FROM tasks WHERE status IN ({marks})", *ACTIVE)
    ]


async def settle(db: Path | str) -> list[str]:
    """Wait up to SETTLE_S for every task to be terminal; returns those still active."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        still = await asyncio.to_thread(active_ids, db)
        if not still or time.monotonic() >= deadline:
            return still
        await asyncio.sleep(0.1)


@dataclass
class Figures:
    """What one engine's rounds found."""

    acked: int = 0
    lost: int = 0
    changed: int = 0
    stuck: int = 0
    failed_orphans: int = 0
    reruns: int = 0


def check(db: Path | str, ledger: Ledger, stuck: list[str]) -> Figures:
    """Compare what the clients were told with the rows (see module docstring)."""
    rows = {
        row["task_id"]: row
        for row in query(
            db,
            "SELECT t.task_id, t.tool_name, t.status, t.status_message, t.attempt, r.result "
            "FROM tasks t LEFT JOIN task_results r USING (task_id)",
        )
    }
    left_terminal = query(
        db,
        "SELECT task_id FROM task_events WHERE from_status IN ('completed', 'failed', 'cancelled')",
    )
    figures = Figures(acked=len(ledger.acked), stuck=len(stuck))
    figures.lost = sum(1 for task_id in ledger.acked if task_id not in rows)
    changed = {task_id for task_id, _, _ in ledger.flips} | {row["task_id"] for row in left_terminal}
    changed |= {
        task_id
        for task_id, status in ledger.terminal.items()
        if task_id in rows and rows[task_id]["status"] != status
    }
    figures.changed = len(changed)
    for row in rows.values():
        if row["status"] == "failed" and row["status_message"] == INTERRUPTED_MESSAGE:
            figures.failed_orphans += 1
        if row["tool_name"] == "slow_rerun":
            # A "rerun" tool never ends failed: its orphans run again, and the last attempt answers.
            assert row["status"] in ("completed", *ACTIVE), row
            if row["status"] == "completed":
                assert f"attempt {row['attempt']} counted to" in row["result"], row
            if row["attempt"] > 1:
                figures.reruns += 1
    return figures


async def test_kill_9_under_load_loses_nothing(
    engine: str, server_db: Path | str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = server_db
    ledger = Ledger()
    rng = random.Random(f"kill-{engine}")
    log = tmp_path / "server.log"
    started = time.monotonic()
    server = await asyncio.to_thread(
        ServeProcess(db, log, lease_ms=LEASE_MS, poll_interval_ms=POLL_INTERVAL_MS).start
    )
    figures = Figures()
    try:
        for round_no in range(1, ROUNDS + 1):
            await load_then_kill(server, ledger, rng)
            assert not ledger.unexpected, (round_no, ledger.unexpected[:5], server.log()[-3000:])
            assert set(ledger.this_round) == set(WIRES), (round_no, ledger.this_round)
            # Restart on the same database; it is the next round's server.
            server = await asyncio.to_thread(
                ServeProcess(db, log, lease_ms=LEASE_MS, poll_interval_ms=POLL_INTERVAL_MS).start
            )
            stuck = await settle(db)
            figures = await asyncio.to_thread(check, db, ledger, stuck)
            assert (figures.lost, figures.changed, figures.stuck) == (0, 0, 0), (round_no, figures, stuck[:5])
            if not is_postgres(db):
                assert await asyncio.to_thread(integrity_check, db) == "ok"
        assert server.stop() == 0
        if not is_postgres(db):
            assert integrity_check(db) == "ok"
    finally:
        server.stop()
    wires = {wire: sum(1 for w, _ in ledger.acked.values() if w == wire) for wire in WIRES}
    with capsys.disabled():
        print(
            f"\nkill -9 under load, {engine}: {ROUNDS} rounds, {figures.acked} tasks acknowledged "
            f"({wires['2025-11-25']} on 2025-11-25, {wires['2026-07-28']} on 2026-07-28; "
            f"{len(ledger.terminal)} terminal statuses seen), "
            f"lost {figures.lost}, changed {figures.changed}, stuck {figures.stuck}; "
            f"orphans failed as interrupted {figures.failed_orphans}, rerun {figures.reruns}; "
            f"{time.monotonic() - started:.1f}s"
        )
    # The kills hit running work: some tasks were orphaned and recovered both ways.
    assert figures.failed_orphans > 0 and figures.reruns > 0, figures
