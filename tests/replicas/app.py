"""The replica tests' app: tools that leave a trace in files, so the test sees which process ran
what and when (`time.monotonic()`: one clock for every process on the machine)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import anyio

from mcptasks import TaskContext, TaskServer

server = TaskServer("replicas")

ASK = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}


def _note(path: str, event: str) -> None:
    with Path(path).open("a") as out:
        out.write(f"{os.getpid()} {event} {time.monotonic():.6f}\n")


@server.tool(task_support="optional", on_restart="rerun")
async def tick(path: str, task: TaskContext) -> str:
    """Write a tick line to `path` every 20 ms until cancelled; write a `stopped` line then.

    A worker that loses its lease is interrupted (CancelledError): it writes `interrupted`.
    """
    _note(path, f"start attempt={task.attempt}")
    try:
        while True:
            _note(path, "tick")
            try:
                await asyncio.wait_for(task.wait_cancelled(), 0.02)
            except TimeoutError:
                continue
            _note(path, "stopped")
            return "stopped"
    except asyncio.CancelledError:
        _note(path, "interrupted")
        raise


@server.tool(task_support="optional")
async def gate(path: str, done: str) -> str:
    """Wait until the file `path` exists; write a `done` line to `done` just before returning."""
    # The file is written by the test process: there is no in-process event to wait on.
    while not await anyio.Path(path).exists():  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    _note(done, "done")
    return "released"


@server.tool(task_support="optional")
async def ask_twice(task: TaskContext) -> str:
    """Ask two questions at once; answer with both."""
    first, second = await asyncio.gather(task.elicit("first?", ASK), task.elicit("second?", ASK))
    return f"{first.action}/{second.action}"


@server.tool(task_support="optional")
async def echo(text: str = "hi") -> str:
    """Return `text`."""
    return text
