"""What every workload records: CPU used in a window, latencies, and errors.

`CpuMeter` reads the server's CPU (and, on PostgreSQL, its backends') at the start and end of a
measurement window, beside the load generator's own, so a result can say both what the server
spent and whether the client was the bottleneck. `ErrorLog` counts failures by message and prints
the first few as they happen, so a refused request shows the server's answer at once.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections import Counter
from dataclasses import dataclass

from procfs import cpu_seconds, self_cpu_seconds
from targets import Target

__all__ = ["CpuMeter", "CpuWindow", "ErrorLog"]

#: Distinct error messages printed as they happen, per log; the rest are only counted.
PRINTED_ERRORS = 5


@dataclass(frozen=True, slots=True)
class CpuWindow:
    """CPU used during one measurement window, in seconds."""

    #: Wall-clock length of the window.
    wall_s: float
    #: The server process (and its replicas), all threads.
    server_s: float
    #: This benchmark process (the load generator).
    client_s: float
    #: PostgreSQL backends connected to the server's database (None for SQLite and the floor).
    db_s: float | None


class CpuMeter:
    """Measures one window: `await start()`, run the load, `await stop()`."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._wall = self._server = self._client = 0.0
        self._db: dict[int, float] = {}

    async def start(self) -> None:
        """Open the window."""
        self._db = await self._db_cpu()
        self._wall = time.perf_counter()
        self._server = self._server_cpu()
        self._client = self_cpu_seconds()

    async def stop(self) -> CpuWindow:
        """Close the window and return what was used in it."""
        wall = time.perf_counter() - self._wall
        server = self._server_cpu() - self._server
        client = self_cpu_seconds() - self._client
        db_s: float | None = None
        if self.target.pg_database is not None:
            # A backend that appeared in the window is counted from its start; one that closed
            # in it is lost (the pool keeps its connections, so both are rare).
            end = await self._db_cpu()
            db_s = sum(used - self._db.get(pid, 0.0) for pid, used in end.items())
        return CpuWindow(wall, server, client, db_s)

    def _server_cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.target.pids)

    async def _db_cpu(self) -> dict[int, float]:
        target = self.target
        if target.pg_database is None or target.pg_admin is None:
            return {}
        used: dict[int, float] = {}
        for pid in await target.pg_admin.backend_pids(target.pg_database):
            # A backend that exits between the query and the read, or lives in another pid
            # namespace (a container), has nothing to read.
            with contextlib.suppress(OSError):
                used[pid] = cpu_seconds(pid)
        return used


class ErrorLog:
    """Failures of one run, counted by message."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.counts: Counter[str] = Counter()

    def add(self, exc: BaseException) -> None:
        """Count `exc`; print it if it is one of the first distinct messages of this run."""
        message = str(exc) or type(exc).__name__
        if message not in self.counts and len(self.counts) < PRINTED_ERRORS:
            print(f"  error in {self.label}: {message}", file=sys.stderr)
        self.counts[message] += 1

    @property
    def total(self) -> int:
        """How many failures were counted."""
        return sum(self.counts.values())

    def top(self, n: int = 10) -> dict[str, int]:
        """The `n` most frequent messages and their counts."""
        return dict(self.counts.most_common(n))
