"""W1 lifecycle: C clients each loop create → poll until terminal → result.

A lifecycle is `tools/call` as a task, `tasks/get` at once and then every `POLL_INTERVAL_S` until
the task is terminal, then the CallToolResult (2025-11-25: `tasks/result`; 2026-07-28: inlined in
the terminal `tasks/get`). It is the whole cost of one task to a client that polls, which is how
most clients use tasks. Reported: lifecycles/s, create and lifecycle latency, `tasks/get` per task
(how long tasks stay unfinished under load) and server CPU per task.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from measure import CpuMeter, ErrorLog
from results import Result
from stats import percentile
from targets import Target
from wires import TERMINAL, WireClient, new_client

__all__ = ["LifecycleConfig", "lifecycle", "run_lifecycle"]

#: Interval between two `tasks/get` of an unfinished task, in seconds.
POLL_INTERVAL_S = 0.010
#: A lifecycle still unfinished after this long counts as an error, in seconds.
LIFECYCLE_TIMEOUT_S = 120.0
#: A run stops early once this many lifecycles failed: the server is down or refusing everything.
MAX_ERRORS = 200


@dataclass(frozen=True, slots=True)
class LifecycleConfig:
    """One W1 configuration."""

    #: "echo" (returns at once) or "sleep" (waits `sleep_ms`).
    tool: str
    #: Simulated clients, each on its own connection (and, on 2025-11-25, its own session).
    concurrency: int
    #: Lifecycles to complete (more if `min_s` is not reached yet).
    tasks: int
    #: How long `sleep` sleeps, in ms.
    sleep_ms: int = 50

    @property
    def label(self) -> str:
        """How the table names this configuration, e.g. "sleep50 C=32"."""
        tool = f"sleep{self.sleep_ms}" if self.tool == "sleep" else self.tool
        return f"{tool} C={self.concurrency}"

    @property
    def arguments(self) -> dict[str, Any]:
        """The tool's arguments."""
        return {"ms": self.sleep_ms} if self.tool == "sleep" else {"text": "hi"}


@dataclass(slots=True)
class _Tally:
    done: int = 0
    started: int = 0
    gets: int = 0
    create_s: list[float] = field(default_factory=list)
    lifecycle_s: list[float] = field(default_factory=list)


async def lifecycle(client: WireClient, tool: str, arguments: dict[str, Any]) -> tuple[float, float, int]:
    """Run one lifecycle; return (create latency in s, lifecycle latency in s, `tasks/get` sent).

    Raises RpcError when a request is refused, RuntimeError when the task does not complete.
    """
    started = time.perf_counter()
    task = await client.create(tool, arguments)
    created = time.perf_counter()
    task_id = str(task["taskId"])
    gets = 0
    while True:
        task = await client.get(task_id)
        gets += 1
        if task["status"] in TERMINAL:
            break
        if time.perf_counter() - started > LIFECYCLE_TIMEOUT_S:
            raise RuntimeError(f"task still {task['status']} after {LIFECYCLE_TIMEOUT_S:g} s")
        await asyncio.sleep(POLL_INTERVAL_S)
    if task["status"] != "completed":
        raise RuntimeError(f"task {task['status']}: {task.get('statusMessage', '')}")
    result = await client.result(task)
    if result.get("isError") or not isinstance(result.get("content"), list):
        raise RuntimeError(f"tool result is an error or has no content: {str(result)[:300]}")
    return created - started, time.perf_counter() - started, gets


async def run_lifecycle(
    target: Target,
    wire: str,
    config: LifecycleConfig,
    *,
    repeat: int,
    min_s: float,
    max_s: float,
) -> Result:
    """Measure one W1 configuration against `target` on `wire`.

    Runs until `config.tasks` lifecycles are done and `min_s` seconds have passed, or `max_s`
    seconds have passed, after one unmeasured warm-up lifecycle per client.
    """
    errors = ErrorLog(f"W1 {config.label} {wire} {target.name}/{target.engine}")
    result = Result("W1", config.label, wire, target.engine, target.name, repeat)
    clients = [new_client(wire, *target.endpoint(i)) for i in range(config.concurrency)]
    tally = _Tally()
    try:
        opened = await asyncio.gather(*(c.open() for c in clients), return_exceptions=True)
        for outcome in opened:
            if isinstance(outcome, BaseException):
                errors.add(outcome)
        if errors.total:
            result.errors = errors.top()
            return result

        async def warm_up(client: WireClient) -> None:
            try:
                await lifecycle(client, config.tool, config.arguments)
            except Exception as exc:
                errors.add(exc)

        await asyncio.gather(*(warm_up(c) for c in clients))

        meter = CpuMeter(target)
        await meter.start()
        began = time.perf_counter()

        def more() -> bool:
            elapsed = time.perf_counter() - began
            if elapsed >= max_s or errors.total >= MAX_ERRORS:
                return False
            return tally.started < config.tasks or elapsed < min_s

        async def drive(client: WireClient) -> None:
            while more():
                tally.started += 1
                try:
                    create_s, lifecycle_s, gets = await lifecycle(client, config.tool, config.arguments)
                except Exception as exc:
                    errors.add(exc)
                    continue
                tally.done += 1
                tally.gets += gets
                tally.create_s.append(create_s)
                tally.lifecycle_s.append(lifecycle_s)

        await asyncio.gather(*(drive(c) for c in clients))
        window = await meter.stop()
    finally:
        await asyncio.gather(*(c.close() for c in clients))

    done = tally.done
    result.metrics = {
        "lifecycles": done,
        "wall_s": window.wall_s,
        "lifecycles_per_s": done / window.wall_s if window.wall_s > 0 else None,
        "create_p50_ms": _ms(percentile(tally.create_s, 50)),
        "create_p99_ms": _ms(percentile(tally.create_s, 99)),
        "lifecycle_p50_ms": _ms(percentile(tally.lifecycle_s, 50)),
        "lifecycle_p99_ms": _ms(percentile(tally.lifecycle_s, 99)),
        "gets_per_task": tally.gets / done if done else None,
        "server_cpu_ms_per_task": window.server_s * 1000 / done if done else None,
        "client_cpu_ms_per_task": window.client_s * 1000 / done if done else None,
        "db_cpu_ms_per_task": window.db_s * 1000 / done if done and window.db_s is not None else None,
        "server_cpu_share": window.server_s / window.wall_s if window.wall_s > 0 else None,
        "client_cpu_share": window.client_s / window.wall_s if window.wall_s > 0 else None,
    }
    result.errors = errors.top()
    return result


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000
