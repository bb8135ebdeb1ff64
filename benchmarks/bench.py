"""mcptasks' load benchmark: mcptasks beside a bare floor endpoint, on both task wires.

Run with the interpreter of an environment where mcptasks is installed (it finds `mcptasks` beside
itself), e.g. after `scripts/test` made `.venv`:

    .venv/bin/python benchmarks/bench.py --quick          # a smoke run, a few minutes
    .venv/bin/python benchmarks/bench.py --pg --out r.jsonl
    .venv/bin/python benchmarks/bench.py --scale --workloads w3 --checkpoints 0,10000,100000

Every measurement of mcptasks gets a fresh store (a new SQLite file, or with `--pg` a new
PostgreSQL database dropped afterwards). The floor runs for the whole benchmark and is measured
with the same workload, configuration and wire in the same repetition, right before (or, on odd
repetitions, right after) mcptasks. The end is one markdown table; `--out` adds every raw result
as JSON lines. The exit status is 1 when any measurement had errors, 2 when the benchmark could not
go on (a server that would not start). See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from lifecycle import LifecycleConfig, run_lifecycle
from measure import ErrorLog
from pgdb import DEFAULT_ADMIN_URL, PgAdmin
from polling import fill_pool, run_polling
from report import table
from results import Result
from scale import SCALE_SERVE_ARGS, ScaleConfig, run_scale
from targets import ENGINES, Target, start_floor, start_mcptasks, stop
from wires import WIRES

WORKLOADS = ("w1", "w2", "w3")
#: Server log lines that are part of a normal start and stop, not worth reporting.
EXPECTED_LOG = re.compile(r"SIGINT received")
#: Server log lines that count as errors of the measurement they end.
ERROR_LOG = re.compile(r"\b(ERROR|CRITICAL)\b|Traceback")

#: Defaults of a full run, then of `--quick`; an option given on the command line wins over both.
DEFAULTS: dict[str, Any] = {
    "w1_tasks": 500,
    "w1_min_s": 3.0,
    "w1_max_s": 60.0,
    "w2_pool": 1000,
    "w2_seconds": 10.0,
    "checkpoints": "0,10000,100000,1000000",
    "w3_probes": 200,
    "w3_max_s": 4 * 3600.0,
}
QUICK: dict[str, Any] = {
    "w1_tasks": 60,
    "w1_min_s": 1.5,
    "w1_max_s": 15.0,
    "w2_pool": 200,
    "w2_seconds": 3.0,
    "checkpoints": "0,1000,3000",
    "w3_probes": 50,
    "w3_max_s": 300.0,
}


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Load benchmark of mcptasks against a bare HTTP floor, on both MCP task wires.",
        epilog="Figures move with the machine's load; compare the ratios to the floor (README.md).",
    )
    p.add_argument("--wire", default="2025,2026", help="wires to drive, comma-separated: 2025, 2026")
    engines = p.add_mutually_exclusive_group()
    engines.add_argument(
        "--engines", default=None, help="stores, comma-separated: sqlite, pg (default sqlite)"
    )
    engines.add_argument("--pg", action="store_true", help="PostgreSQL beside SQLite (--engines sqlite,pg)")
    engines.add_argument("--only-pg", action="store_true", help="PostgreSQL only (--engines pg)")
    p.add_argument(
        "--pg-url",
        default=DEFAULT_ADMIN_URL,
        help="an existing database to run CREATE/DROP DATABASE from (default %(default)s)",
    )
    p.add_argument(
        "--workloads", default=None, help="comma-separated: w1, w2, w3 (default w1,w2; w3 with --scale)"
    )
    p.add_argument("--scale", action="store_true", help="also run W3/W4 (long: fills the store)")
    p.add_argument("--quick", action="store_true", help="fewer tasks and shorter windows: a smoke run")
    p.add_argument("--repeat", type=int, default=1, help="repetitions of everything (default 1)")
    p.add_argument(
        "--replicas",
        default="1",
        help="W1 on PostgreSQL with this many `mcptasks serve` processes on one database, "
        "comma-separated (e.g. 1,2,3; clients spread over them); default 1",
    )
    p.add_argument("--out", type=Path, help="write every raw result to this file as JSON lines")

    w1 = p.add_argument_group("W1 lifecycle")
    w1.add_argument(
        "--w1-configs",
        default="echo:1,echo:8,echo:32,sleep:32",
        help="TOOL:CLIENTS, comma-separated; TOOL is echo or sleep (default %(default)s)",
    )
    w1.add_argument(
        "--sleep-ms", type=int, default=50, help="how long the sleep tool sleeps, in ms (default 50)"
    )
    w1.add_argument("--w1-tasks", type=int, help=f"lifecycles per run (default {DEFAULTS['w1_tasks']})")
    w1.add_argument("--w1-min-s", type=float, help=f"shortest run, in s (default {DEFAULTS['w1_min_s']:g})")
    w1.add_argument("--w1-max-s", type=float, help=f"longest run, in s (default {DEFAULTS['w1_max_s']:g})")

    w2 = p.add_argument_group("W2 poll load")
    w2.add_argument("--w2-concurrency", default="8,32", help="pollers, comma-separated (default %(default)s)")
    w2.add_argument("--w2-pool", type=int, help=f"completed tasks to poll (default {DEFAULTS['w2_pool']})")
    w2.add_argument(
        "--w2-seconds", type=float, help=f"polling time per run, in s (default {DEFAULTS['w2_seconds']:g})"
    )

    w3 = p.add_argument_group("W3/W4 scale")
    w3.add_argument("--checkpoints", help=f"stored tasks to measure at (default {DEFAULTS['checkpoints']})")
    w3.add_argument("--w3-concurrency", type=int, default=8, help="clients filling the store (default 8)")
    w3.add_argument(
        "--w3-probes",
        type=int,
        help=f"sequential creates and gets per checkpoint (default {DEFAULTS['w3_probes']})",
    )
    w3.add_argument(
        "--w3-max-s", type=float, help=f"filling time limit per run, in s (default {DEFAULTS['w3_max_s']:g})"
    )
    args = p.parse_args(argv)

    for name, full in DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, QUICK[name] if args.quick else full)
    args.wires = _csv(args.wire)
    args.engine_list = (
        ["sqlite", "pg"] if args.pg else ["pg"] if args.only_pg else _csv(args.engines or "sqlite")
    )
    args.workload_list = _csv(args.workloads or ("w1,w2,w3" if args.scale else "w1,w2"))
    for label, values, allowed in (
        ("wire", args.wires, WIRES),
        ("engine", args.engine_list, ENGINES),
        ("workload", args.workload_list, WORKLOADS),
    ):
        unknown = sorted(set(values) - set(allowed))
        if unknown or not values:
            p.error(f"{label}: {', '.join(unknown) or 'none given'}; choose from {', '.join(allowed)}")
    args.lifecycles = [_lifecycle_config(item, args, p) for item in _csv(args.w1_configs)]
    args.pollers = [int(c) for c in _csv(args.w2_concurrency)]
    if not all(n.isdigit() and int(n) >= 1 for n in _csv(args.replicas)):
        p.error(f"--replicas: {args.replicas!r} is not a list of counts")
    args.replica_counts = [int(n) for n in _csv(args.replicas)]
    if args.replica_counts != [1] and "pg" not in args.engine_list:
        p.error("--replicas needs PostgreSQL (--pg or --only-pg): replicas share one database")
    args.checkpoint_list = tuple(sorted({int(c) for c in _csv(args.checkpoints)}))
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    return args


def _lifecycle_config(item: str, args: argparse.Namespace, p: argparse.ArgumentParser) -> LifecycleConfig:
    tool, _, clients = item.partition(":")
    if tool not in ("echo", "sleep") or not clients.isdigit() or int(clients) < 1:
        p.error(f"--w1-configs: {item!r} is not TOOL:CLIENTS with TOOL echo or sleep")
    return LifecycleConfig(tool, int(clients), args.w1_tasks, args.sleep_ms)


class Bench:
    """Runs the selected workloads and collects their results."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.pg = PgAdmin(args.pg_url) if "pg" in args.engine_list else None
        self.results: list[Result] = []
        self.floor: Target | None = None

    async def run(self) -> None:
        """Every workload, wire and engine, `--repeat` times."""
        self.floor = await start_floor(self.workdir)
        try:
            for repeat in range(self.args.repeat):
                if "w1" in self.args.workload_list:
                    await self._w1(repeat)
                if "w2" in self.args.workload_list:
                    await self._w2(repeat)
                if "w3" in self.args.workload_list:
                    await self._w3(repeat)
        finally:
            floor, self.floor = self.floor, None
            code = await stop(floor)
            if code not in (0, -2):
                print(f"the floor exited with {code}:\n{floor.log()[-2000:]}", file=sys.stderr)

    def _order(self, repeat: int) -> list[str]:
        # The floor before mcptasks on even repetitions and after on odd ones, so a drift in the
        # machine's load does not always favour the same side.
        order = ["floor", *self.args.engine_list]
        return order if repeat % 2 == 0 else order[::-1]

    async def _w1(self, repeat: int) -> None:
        for config in self.args.lifecycles:
            for wire in self.args.wires:
                for who in self._order(repeat):

                    async def measure(
                        target: Target, wire: str = wire, config: LifecycleConfig = config
                    ) -> None:
                        self._add(
                            await run_lifecycle(
                                target,
                                wire,
                                config,
                                repeat=repeat,
                                min_s=self.args.w1_min_s,
                                max_s=self.args.w1_max_s,
                            )
                        )

                    for replicas in self.args.replica_counts if who == "pg" else [1]:
                        await self._on(who, measure, replicas=replicas)

    async def _w2(self, repeat: int) -> None:
        for wire in self.args.wires:
            for who in self._order(repeat):

                async def measure(target: Target, wire: str = wire) -> None:
                    errors = ErrorLog(f"W2 pool {wire} {target.name}/{target.engine}")
                    began = time.monotonic()
                    pool = await fill_pool(target, wire, self.args.w2_pool, errors)
                    print(
                        f"  W2 pool {wire} {target.name}/{target.engine}: {len(pool.task_ids)} tasks "
                        f"in {time.monotonic() - began:.1f} s",
                        file=sys.stderr,
                    )
                    for i, concurrency in enumerate(self.args.pollers):
                        result = await run_polling(
                            target, pool, concurrency, repeat=repeat, seconds=self.args.w2_seconds
                        )
                        if i == 0:
                            # Failures while making the pool belong to the first run that reads it.
                            for message, n in errors.counts.items():
                                result.errors[f"pool: {message}"] = n
                        self._add(result)

                await self._on(who, measure)

    async def _w3(self, repeat: int) -> None:
        config = ScaleConfig(
            self.args.checkpoint_list, self.args.w3_concurrency, self.args.w3_probes, self.args.w3_max_s
        )
        for wire in self.args.wires:
            for engine in self.args.engine_list:

                async def measure(target: Target, wire: str = wire) -> None:
                    self._add(await run_scale(target, wire, config, repeat=repeat))

                await self._on(engine, measure, serve_args=SCALE_SERVE_ARGS)

    async def _on(
        self,
        who: str,
        measure: Callable[[Target], Awaitable[None]],
        *,
        replicas: int = 1,
        serve_args: Sequence[str] = (),
    ) -> None:
        """Run `measure` on the floor, or on a fresh mcptasks with engine `who` (`replicas`
        processes on one database, each started with `serve_args` added), then stop it."""
        if who == "floor":
            assert self.floor is not None
            await measure(self.floor)
            return
        first = len(self.results)
        target = await start_mcptasks(who, self.workdir, self.pg, replicas=replicas, serve_args=serve_args)
        try:
            await measure(target)
        finally:
            code = await stop(target)
            self._check_log(target, code, self.results[first:])

    def _check_log(self, target: Target, code: int | None, results: list[Result]) -> None:
        """Report what the server logged beyond a normal start and stop; errors count as errors."""
        logs = "\n".join(server.log() for server in [target, *target.replicas])
        lines = [line for line in logs.splitlines() if line.strip() and not EXPECTED_LOG.search(line)]
        if code != 0:
            lines.append(f"server exit status {code}")
        if not lines or not results:
            return
        print(f"  mcptasks/{target.engine} logged {len(lines)} line(s):", file=sys.stderr)
        for line in lines[:10]:
            print(f"    {line}", file=sys.stderr)
        last = results[-1]
        last.metrics["server_log"] = lines[:50]
        for line in lines:
            if ERROR_LOG.search(line) or line.startswith("server exit status"):
                key = f"server log: {line[:200]}"
                last.errors[key] = last.errors.get(key, 0) + 1

    def _add(self, result: Result) -> None:
        self.results.append(result)
        print(f"{_progress(result)}", file=sys.stderr, flush=True)


def _progress(r: Result) -> str:
    m = r.metrics
    head = f"{r.workload} {r.config:<14} {r.wire} {r.target}/{r.engine:<6}"
    if r.workload == "W1":
        body = (
            f"{_f(m.get('lifecycles_per_s'))} lifecycles/s, {_f(m.get('gets_per_task'))} gets/task, "
            f"CPU {_f(m.get('server_cpu_ms_per_task'))} ms/task"
        )
    elif r.workload == "W2":
        body = f"{_f(m.get('gets_per_s'))} gets/s, CPU {_f(m.get('server_cpu_us_per_get'))} µs/get"
    else:
        body = f"{m.get('stored', 0):,} stored, RSS {_f(m.get('rss_bytes_per_task'))} B/task"
    return f"{head} {body}, {r.error_count} errors"


def _f(value: Any) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _run_info() -> dict[str, Any]:
    """Where and on what the run happened, recorded in every JSON line."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "commit": commit,
        "cpus": os.cpu_count(),
        "loadavg": os.getloadavg(),
        "python": sys.version.split()[0],
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the exit status: 0, 1 when a measurement had errors, 2 when it stopped."""
    args = _parse_args(argv)
    info = _run_info()
    workdir = Path(tempfile.mkdtemp(prefix="mcptasks-bench-"))
    bench = Bench(args, workdir)
    failed = False
    try:
        asyncio.run(bench.run())
    except KeyboardInterrupt:
        print("interrupted: reporting what was measured", file=sys.stderr)
    except Exception as exc:
        # A target that would not start, or PostgreSQL out of reach: say why, keep what was measured.
        print(f"benchmark stopped: {type(exc).__name__}: {exc}", file=sys.stderr)
        failed = True
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    if args.out is not None:
        with args.out.open("w", encoding="utf-8") as out:
            for result in bench.results:
                out.write(json.dumps({"run": info, **result.to_json()}) + "\n")
    print()
    print(table(bench.results))
    errors = sum(r.error_count for r in bench.results)
    if errors:
        print(f"\n{errors} error(s): see the messages above and the errors column.", file=sys.stderr)
    return 2 if failed else 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
