"""W2 poll load: C clients send `tasks/get` for random completed tasks for a fixed time.

A pool of tasks is created first and waited on until all are `completed`; then the pollers run.
This isolates the read path (look up a task, render it, inline its result on 2026-07-28) from task
execution. Reported: gets/s, `tasks/get` latency and server CPU per get.

On 2025-11-25 a task belongs to the session that created it, so the pool is created in one session
and every poller joins that session over its own connection (`Mcp-Session-Id` shared); on
2026-07-28 the task id alone is the right to read a task.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque

from measure import CpuMeter, ErrorLog
from results import Result
from stats import percentile
from targets import Target
from wires import TERMINAL, Client2025, WireClient, new_client

__all__ = ["TaskPool", "fill_pool", "run_polling"]

#: Clients creating the pool.
FILL_CONCURRENCY = 8
#: Interval between two checks of a pool task that is not finished yet, in seconds.
RECHECK_INTERVAL_S = 0.010
#: How long the pool may take to finish once created, in seconds.
SETTLE_TIMEOUT_S = 300.0


class TaskPool:
    """Completed tasks to read, and the session that may read them (2025-11-25)."""

    def __init__(self, wire: str, session_id: str | None) -> None:
        self.wire = wire
        #: The session that owns the tasks (2025-11-25), None on 2026-07-28.
        self.session_id = session_id
        #: Ids of the tasks that completed.
        self.task_ids: list[str] = []

    def client(self, target: Target) -> WireClient:
        """A new client on its own connection, able to read the pool's tasks."""
        return new_client(self.wire, target.host, target.port, session_id=self.session_id)


async def fill_pool(target: Target, wire: str, size: int, errors: ErrorLog) -> TaskPool:
    """Create `size` `echo` tasks and wait until every one is terminal; return the completed ones."""
    owner = new_client(wire, target.host, target.port)
    await owner.open()
    pool = TaskPool(wire, owner.session_id if isinstance(owner, Client2025) else None)
    clients = [owner] + [pool.client(target) for _ in range(FILL_CONCURRENCY - 1)]
    created: list[str] = []
    remaining = size

    async def create(client: WireClient) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            try:
                created.append(str((await client.create("echo", {"text": "hi"}))["taskId"]))
            except Exception as exc:
                errors.add(exc)

    pending = deque[str]()
    deadline = 0.0

    async def settle(client: WireClient) -> None:
        while pending:
            task_id = pending.popleft()
            try:
                task = await client.get(task_id)
            except Exception as exc:
                errors.add(exc)
                continue
            if task["status"] == "completed":
                pool.task_ids.append(task_id)
            elif task["status"] in TERMINAL:
                errors.add(RuntimeError(f"pool task {task['status']}: {task.get('statusMessage', '')}"))
            elif time.monotonic() > deadline:
                errors.add(RuntimeError(f"pool task still {task['status']} after {SETTLE_TIMEOUT_S:g} s"))
            else:
                pending.append(task_id)
                await asyncio.sleep(RECHECK_INTERVAL_S)

    try:
        await asyncio.gather(*(create(c) for c in clients))
        pending.extend(created)
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        await asyncio.gather(*(settle(c) for c in clients))
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    return pool


async def run_polling(
    target: Target, pool: TaskPool, concurrency: int, *, repeat: int, seconds: float
) -> Result:
    """Measure `concurrency` clients polling random tasks of `pool` for `seconds` seconds."""
    label = f"C={concurrency}"
    errors = ErrorLog(f"W2 {label} {pool.wire} {target.name}/{target.engine}")
    result = Result("W2", label, pool.wire, target.engine, target.name, repeat)
    if not pool.task_ids:
        errors.add(RuntimeError("no completed task to poll"))
        result.errors = errors.top()
        return result
    clients = [pool.client(target) for _ in range(concurrency)]
    latencies: list[float] = []
    # Seeded per run: every target reads the same sequence of pool positions.
    rng = random.Random(repeat * 1000 + concurrency)
    try:
        await asyncio.gather(*(c.open() for c in clients))
        # Warm-up: one get per connection, so connection set-up is outside the window.
        for outcome in await asyncio.gather(
            *(c.get(pool.task_ids[0]) for c in clients), return_exceptions=True
        ):
            if isinstance(outcome, BaseException):
                errors.add(outcome)

        meter = CpuMeter(target)
        await meter.start()
        stop_at = time.perf_counter() + seconds

        async def poll(client: WireClient) -> None:
            while time.perf_counter() < stop_at:
                task_id = rng.choice(pool.task_ids)
                started = time.perf_counter()
                try:
                    task = await client.get(task_id)
                except Exception as exc:
                    errors.add(exc)
                    continue
                latencies.append(time.perf_counter() - started)
                if task["status"] != "completed":
                    errors.add(RuntimeError(f"pool task read as {task['status']}"))

        await asyncio.gather(*(poll(c) for c in clients))
        window = await meter.stop()
    finally:
        await asyncio.gather(*(c.close() for c in clients))

    gets = len(latencies)
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    result.metrics = {
        "gets": gets,
        "pool": len(pool.task_ids),
        "wall_s": window.wall_s,
        "gets_per_s": gets / window.wall_s if window.wall_s > 0 else None,
        "get_p50_ms": None if p50 is None else p50 * 1000,
        "get_p99_ms": None if p99 is None else p99 * 1000,
        "server_cpu_us_per_get": window.server_s * 1e6 / gets if gets else None,
        "client_cpu_us_per_get": window.client_s * 1e6 / gets if gets else None,
        "db_cpu_us_per_get": window.db_s * 1e6 / gets if gets and window.db_s is not None else None,
        "server_cpu_share": window.server_s / window.wall_s if window.wall_s > 0 else None,
        "client_cpu_share": window.client_s / window.wall_s if window.wall_s > 0 else None,
    }
    result.errors = errors.top()
    return result
