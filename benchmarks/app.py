"""The tools the benchmark serves with `mcptasks serve benchmarks/app.py:server`.

Two tools, both callable as tasks (`task_support="optional"`):

- `echo` returns at once, so a lifecycle measures the server's own cost per task;
- `sleep` awaits `asyncio.sleep`, so a lifecycle also holds a task open while clients poll it.

The module holds nothing else: what is measured is the server's task path, not a tool.
"""

# No `from __future__ import annotations`: mcptasks reads the tools' annotations at registration.

import asyncio

from mcptasks import TaskServer

__all__ = ["server"]

server = TaskServer("mcptasks-bench")


@server.tool(task_support="optional")
async def echo(text: str = "hi") -> str:
    """Return `text` unchanged, at once."""
    return text


@server.tool(task_support="optional")
async def sleep(ms: int = 50) -> str:
    """Wait `ms` milliseconds without using the CPU, then say how long it slept."""
    await asyncio.sleep(ms / 1000)
    return f"slept {ms} ms"
