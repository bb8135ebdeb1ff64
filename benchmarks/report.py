"""The summary table: one markdown row per (workload, config, wire, engine) of mcptasks.

Each mcptasks figure is set beside the floor's for the same workload, configuration, wire and
repetition, and the ratio is taken within that repetition, so load that comes and goes on a shared
machine touches both sides of it alike. With `--repeat N` a cell is the median over the
repetitions, and a ratio is the median of the per-repetition ratios.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from results import Result
from stats import median

__all__ = ["COLUMNS", "table"]

COLUMNS = (
    "workload",
    "config",
    "wire",
    "engine",
    "throughput /s",
    "floor /s",
    "x floor",
    "create p50 / p99",
    "p50 / p99",
    "gets/task",
    "server CPU /op",
    "floor CPU /op",
    "CPU x floor",
    "errors",
    "notes",
)


@dataclass(frozen=True, slots=True)
class _Shape:
    """Which metrics fill the generic columns for one workload."""

    rate: str
    p50: str
    p99: str
    cpu: str
    #: Display unit of `cpu`, and the factor from the metric's unit to it.
    cpu_unit: str
    db_cpu: str | None = None
    create_p50: str | None = None
    create_p99: str | None = None
    gets: str | None = None


_SHAPES = {
    "W1": _Shape(
        "lifecycles_per_s",
        "lifecycle_p50_ms",
        "lifecycle_p99_ms",
        "server_cpu_ms_per_task",
        "ms",
        "db_cpu_ms_per_task",
        "create_p50_ms",
        "create_p99_ms",
        "gets_per_task",
    ),
    "W2": _Shape(
        "gets_per_s", "get_p50_ms", "get_p99_ms", "server_cpu_us_per_get", "µs", "db_cpu_us_per_get"
    ),
    "W3": _Shape(
        "fill_creates_per_s",
        "get_p50_ms",
        "get_p99_ms",
        "fill_server_cpu_ms_per_create",
        "ms",
        None,
        "create_p50_ms",
        "create_p99_ms",
    ),
}


def table(results: Iterable[Result]) -> str:
    """Render the results as one markdown table (mcptasks rows; the floor appears in its columns)."""
    results = list(results)
    floor = {(r.workload, r.config, r.wire, r.repeat): r for r in results if r.target == "floor"}
    groups: dict[tuple[str, str, str, str], list[Result]] = {}
    for r in results:
        if r.target == "mcptasks":
            groups.setdefault((r.workload, r.config, r.wire, r.engine), []).append(r)
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for (workload, config, wire, engine), runs in groups.items():
        pairs = [(r, floor.get((r.workload, r.config, r.wire, r.repeat))) for r in runs]
        lines.append("| " + " | ".join([workload, config, wire, engine, *_cells(workload, pairs)]) + " |")
    return "\n".join(lines)


def _cells(workload: str, pairs: list[tuple[Result, Result | None]]) -> list[str]:
    shape = _SHAPES[workload]
    runs = [r for r, _ in pairs]

    def mid(
        metric: str | None, source: Callable[[tuple[Result, Result | None]], Result | None]
    ) -> float | None:
        if metric is None:
            return None
        values = []
        for pair in pairs:
            r = source(pair)
            values.append(None if r is None else r.metrics.get(metric))
        return median(values)

    def ratio(metric: str) -> float | None:
        return median(
            [_div(r.metrics.get(metric), f.metrics.get(metric)) if f is not None else None for r, f in pairs]
        )

    def ours(pair: tuple[Result, Result | None]) -> Result | None:
        return pair[0]

    def floors(pair: tuple[Result, Result | None]) -> Result | None:
        return pair[1]

    errors = sum(r.error_count for r in runs)
    return [
        _num(mid(shape.rate, ours)),
        _num(mid(shape.rate, floors)),
        _times(ratio(shape.rate)),
        _pair(mid(shape.create_p50, ours), mid(shape.create_p99, ours), "ms"),
        _pair(mid(shape.p50, ours), mid(shape.p99, ours), "ms"),
        _num(mid(shape.gets, ours)),
        _unit(mid(shape.cpu, ours), shape.cpu_unit),
        _unit(mid(shape.cpu, floors), shape.cpu_unit),
        _times(ratio(shape.cpu)),
        str(errors),
        _notes(workload, shape, runs, mid(shape.db_cpu, ours)),
    ]


def _notes(workload: str, shape: _Shape, runs: list[Result], db_cpu: float | None) -> str:
    notes: list[str] = []
    if db_cpu is not None:
        notes.append(f"PostgreSQL backends {_unit(db_cpu, shape.cpu_unit)}/op")
    if workload == "W3":
        slope = median([r.metrics.get("rss_bytes_per_task") for r in runs])
        stored = median([r.metrics.get("stored") for r in runs])
        points = runs[0].metrics.get("checkpoints") or []
        first = points[0]["stored"] if points else None
        if slope is not None:
            notes.append(f"RSS {slope:+,.0f} B/task")
        create = median([r.metrics.get("create_p99_ratio") for r in runs])
        get = median([r.metrics.get("get_p99_ratio") for r in runs])
        if stored is not None and first is not None:
            notes.append(
                f"p99 at {_count(stored)} vs {_count(first)}: create {_times(create)}, get {_times(get)}"
            )
    return "; ".join(notes)


def _div(a: Any, b: Any) -> float | None:
    return a / b if isinstance(a, int | float) and isinstance(b, int | float) and b else None


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if value >= 1 else f"{value:.2g}"


def _unit(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{_num(value)} {unit}"


def _pair(p50: float | None, p99: float | None, unit: str) -> str:
    if p50 is None and p99 is None:
        return "-"
    return f"{_num(p50)} / {_num(p99)} {unit}"


def _times(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2g}x" if ratio < 10 else f"{ratio:,.0f}x"


def _count(n: float) -> str:
    n = int(n)
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= size:
            return f"{n / size:.3g}{suffix}"
    return str(n)
