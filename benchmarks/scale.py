"""W3/W4 scale: how memory and latency change as the store fills with completed tasks.

C clients create `echo` tasks without polling them until the store holds the next checkpoint's
number of tasks (0, 10k, 100k, 1M by default; "0" holds in fact the few tasks of a warm-up). At
each checkpoint, once the executor has caught up, the server's resident memory (VmRSS) is read
(W3) and a probe client sends a few hundred sequential creates and then gets of random stored
tasks (W4). Reported: RSS growth per stored task (the least-squares slope over the checkpoints, in
bytes) and the p99 at the largest checkpoint reached divided by the p99 at the first.

A server that keeps every task in memory shows a slope of hundreds of bytes or more; a store that
only indexes rows on disk shows a slope near zero (the page cache is not in VmRSS).
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from dataclasses import dataclass
from typing import Any

from measure import CpuMeter, ErrorLog
from procfs import rss_bytes
from results import Result
from stats import least_squares_slope, percentile
from targets import Target
from wires import TERMINAL, Client2025, WireClient, new_client

__all__ = ["SCALE_SERVE_ARGS", "ScaleConfig", "run_scale"]

#: Task ids kept (a uniform reservoir sample) as targets for probe gets.
SAMPLE_SIZE = 10_000
#: How long the executor may take to finish the tasks of a fill, in seconds.
DRAIN_TIMEOUT_S = 600.0
#: Interval between two checks while draining, in seconds.
DRAIN_POLL_S = 0.05
#: Unmeasured creates and gets before the first checkpoint.
WARM_UP_PROBES = 20
#: The ttl of every task of a scale run, in ms: longer than the longest fill (`--w3-max-s`), so
#: the store really holds every task created (with W1's 60 s ttl the sweeper would keep it small).
#: 2025-11-25 clients ask for it; 2026-07-28 ones cannot, so `mcptasks serve` gets it as its default.
SCALE_TTL_MS = 86_400_000
#: What `mcptasks serve` is started with for a scale run.
SCALE_SERVE_ARGS = ("--default-ttl-ms", str(SCALE_TTL_MS))


@dataclass(frozen=True, slots=True)
class ScaleConfig:
    """One W3/W4 run."""

    #: Stored-task counts at which to measure, ascending.
    checkpoints: tuple[int, ...]
    #: Clients creating tasks during a fill.
    concurrency: int
    #: Sequential creates, then sequential gets, per checkpoint.
    probes: int
    #: Filling stops after this long, in seconds; the checkpoints reached so far are reported.
    max_s: float

    @property
    def label(self) -> str:
        """How the table names this configuration, e.g. "0→100k C=8"."""
        return f"{_count(self.checkpoints[0])}→{_count(self.checkpoints[-1])} C={self.concurrency}"


class _Store:
    """What the benchmark knows of the server's store: how many tasks, and a sample of their ids."""

    def __init__(self, seed: int) -> None:
        self.stored = 0
        self.sample: list[str] = []
        self.last: list[str] = []
        self._rng = random.Random(seed)

    def add(self, task_id: str) -> None:
        self.stored += 1
        # Reservoir sampling (algorithm R): every stored id is equally likely to be probed.
        if len(self.sample) < SAMPLE_SIZE:
            self.sample.append(task_id)
        else:
            slot = self._rng.randrange(self.stored)
            if slot < SAMPLE_SIZE:
                self.sample[slot] = task_id
        self.last.append(task_id)
        del self.last[:-64]

    def pick(self) -> str:
        return self._rng.choice(self.sample)


async def run_scale(target: Target, wire: str, config: ScaleConfig, *, repeat: int) -> Result:
    """Fill the store of `target` up to each checkpoint and measure RSS and probe latency there."""
    errors = ErrorLog(f"W3 {config.label} {wire} {target.name}/{target.engine}")
    result = Result("W3", config.label, wire, target.engine, target.name, repeat)
    owner = new_client(wire, target.host, target.port, ttl_ms=SCALE_TTL_MS)
    store = _Store(seed=repeat)
    points: list[dict[str, Any]] = []
    fillers: list[WireClient] = []
    began = time.monotonic()
    try:
        await owner.open()
        # On 2025-11-25 tasks belong to their session: fillers join the probe's, so it can read them.
        session_id = owner.session_id if isinstance(owner, Client2025) else None
        fillers = [
            new_client(wire, target.host, target.port, session_id=session_id, ttl_ms=SCALE_TTL_MS)
            for _ in range(config.concurrency)
        ]
        # A fresh server answers its first requests slowly (imports, caches, the pool filling):
        # warm it up, so the first checkpoint is not a cold start. These tasks are stored too.
        await _probe(owner, store, WARM_UP_PROBES, errors)
        for checkpoint in config.checkpoints:
            fill_s = config.max_s - (time.monotonic() - began)
            fill = await _fill(target, fillers, store, checkpoint, fill_s, errors)
            await _drain(owner, store, errors)
            point: dict[str, Any] = {"stored": store.stored, "rss_bytes": rss_bytes(target.pid), **fill}
            point.update(await _probe(owner, store, config.probes, errors))
            points.append(point)
            print(f"  W3 {wire} {target.engine}: {_describe(point)}", file=sys.stderr)
            if store.stored < checkpoint:
                break  # out of time: report what was reached
    except Exception as exc:
        errors.add(exc)
    finally:
        await asyncio.gather(owner.close(), *(c.close() for c in fillers))

    result.metrics = _summary(points, config)
    result.errors = errors.top()
    return result


async def _fill(
    target: Target,
    fillers: list[WireClient],
    store: _Store,
    checkpoint: int,
    budget_s: float,
    errors: ErrorLog,
) -> dict[str, Any]:
    """Create tasks until `store` holds `checkpoint` of them or `budget_s` seconds pass."""
    to_create = checkpoint - store.stored
    if to_create <= 0:
        return {"fill_creates": 0}
    meter = CpuMeter(target)
    await meter.start()
    stop_at = time.monotonic() + max(budget_s, 0.0)
    created = 0

    async def fill(client: WireClient) -> None:
        nonlocal to_create, created
        while to_create > 0 and time.monotonic() < stop_at:
            to_create -= 1
            try:
                task = await client.create("echo", {"text": "hi"})
            except Exception as exc:
                errors.add(exc)
                continue
            store.add(str(task["taskId"]))
            created += 1

    await asyncio.gather(*(fill(c) for c in fillers))
    window = await meter.stop()
    return {
        "fill_creates": created,
        "fill_creates_per_s": created / window.wall_s if window.wall_s > 0 else None,
        "fill_server_cpu_ms_per_create": window.server_s * 1000 / created if created else None,
    }


async def _drain(client: WireClient, store: _Store, errors: ErrorLog) -> None:
    """Wait until the most recently created tasks are terminal: the executor has caught up."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    for task_id in list(store.last):
        while True:
            try:
                task = await client.get(task_id)
            except Exception as exc:
                errors.add(exc)
                break
            if task["status"] in TERMINAL:
                break
            if time.monotonic() > deadline:
                errors.add(RuntimeError(f"task still {task['status']} after draining {DRAIN_TIMEOUT_S:g} s"))
                return
            await asyncio.sleep(DRAIN_POLL_S)


async def _probe(client: WireClient, store: _Store, probes: int, errors: ErrorLog) -> dict[str, Any]:
    """Sequential creates, then sequential gets of random stored tasks; latency in ms."""
    creates: list[float] = []
    for _ in range(probes):
        started = time.perf_counter()
        try:
            task = await client.create("echo", {"text": "hi"})
        except Exception as exc:
            errors.add(exc)
            continue
        creates.append(time.perf_counter() - started)
        store.add(str(task["taskId"]))
    gets: list[float] = []
    for _ in range(probes if store.sample else 0):
        task_id = store.pick()
        started = time.perf_counter()
        try:
            await client.get(task_id)
        except Exception as exc:
            errors.add(exc)
            continue
        gets.append(time.perf_counter() - started)
    return {
        "create_p50_ms": _ms(percentile(creates, 50)),
        "create_p99_ms": _ms(percentile(creates, 99)),
        "get_p50_ms": _ms(percentile(gets, 50)),
        "get_p99_ms": _ms(percentile(gets, 99)),
    }


def _summary(points: list[dict[str, Any]], config: ScaleConfig) -> dict[str, Any]:
    summary: dict[str, Any] = {"checkpoints": points, "requested": list(config.checkpoints)}
    if not points:
        return summary
    first, last = points[0], points[-1]
    slope = least_squares_slope([p["stored"] for p in points], [p["rss_bytes"] for p in points])
    fills = [p for p in points if p.get("fill_creates")]
    created = sum(p["fill_creates"] for p in fills)
    summary.update(
        stored=last["stored"],
        rss_bytes_per_task=slope,
        rss_first_bytes=first["rss_bytes"],
        rss_last_bytes=last["rss_bytes"],
        create_p50_ms=last["create_p50_ms"],
        create_p99_ms=last["create_p99_ms"],
        get_p50_ms=last["get_p50_ms"],
        get_p99_ms=last["get_p99_ms"],
        create_p99_ratio=_ratio(last["create_p99_ms"], first["create_p99_ms"]),
        get_p99_ratio=_ratio(last["get_p99_ms"], first["get_p99_ms"]),
        fill_creates_per_s=(
            created / sum(p["fill_creates"] / p["fill_creates_per_s"] for p in fills) if created else None
        ),
        fill_server_cpu_ms_per_create=(
            sum(p["fill_server_cpu_ms_per_create"] * p["fill_creates"] for p in fills) / created
            if created
            else None
        ),
    )
    return summary


def _describe(point: dict[str, Any]) -> str:
    rate = point.get("fill_creates_per_s")
    fill = f", filled at {rate:.0f} creates/s" if rate else ""
    return (
        f"{point['stored']:,} tasks, RSS {point['rss_bytes'] / 2**20:.1f} MiB{fill}; "
        f"create p50/p99 {_fmt(point['create_p50_ms'])}/{_fmt(point['create_p99_ms'])} ms, "
        f"get p50/p99 {_fmt(point['get_p50_ms'])}/{_fmt(point['get_p99_ms'])} ms"
    )


def _fmt(ms: float | None) -> str:
    return "-" if ms is None else f"{ms:.1f}"


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _count(n: int) -> str:
    """1000 → "1k", 1000000 → "1M"."""
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= size and n % size == 0:
            return f"{n // size}{suffix}"
    return str(n)
