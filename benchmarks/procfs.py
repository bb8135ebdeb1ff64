"""What the kernel says about a process: CPU time used and resident memory, from /proc (Linux).

CPU time is read as utime + stime of `/proc/<pid>/stat`, which sums every thread of the process
(aiosqlite's and asyncpg's included), in clock ticks (usually 10 ms each): a measurement window
should last long enough for that grain to vanish, a second or more.
"""

from __future__ import annotations

import os

__all__ = ["cpu_seconds", "rss_bytes", "self_cpu_seconds"]

_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by process `pid` and all its threads, in seconds."""
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
        stat = f.read()
    # The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / _TICKS_PER_S


def rss_bytes(pid: int) -> int:
    """Resident set size (VmRSS) of process `pid`, in bytes."""
    with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024  # the kernel reports kB
    raise ValueError(f"no VmRSS for process {pid} (a zombie?)")


def self_cpu_seconds() -> float:
    """CPU time (user + system) used so far by this process, in seconds: the load generator's cost."""
    times = os.times()
    return times.user + times.system
