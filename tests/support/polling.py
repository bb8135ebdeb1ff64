"""Deadline-bounded waiting: tests poll for a state and fail with what they saw last."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from .clients import RpcError

TERMINAL = frozenset({"completed", "failed", "cancelled"})
#: Pause between two polls, in seconds.
POLL_S = 0.05


class _Caller(Protocol):
    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]: ...


async def until(
    probe: Callable[[], Awaitable[Any]],
    predicate: Callable[[Any], bool],
    *,
    within_s: float = 10.0,
    what: str = "condition",
) -> Any:
    """Call `probe` until `predicate(value)` holds; return that value, or fail after `within_s` s."""
    deadline = time.monotonic() + within_s
    last: Any = None
    while True:
        last = await probe()
        if predicate(last):
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not reached within {within_s}s; last seen: {last!r}")
        await asyncio.sleep(POLL_S)


async def get_task(client: _Caller, task_id: str) -> dict[str, Any]:
    return await client.call("tasks/get", {"taskId": task_id})


async def wait_status(
    client: _Caller, task_id: str, statuses: str | frozenset[str] | set[str], *, within_s: float = 10.0
) -> dict[str, Any]:
    """Poll `tasks/get` until the task's status is one of `statuses`."""
    wanted = {statuses} if isinstance(statuses, str) else set(statuses)
    task: dict[str, Any] = await until(
        lambda: get_task(client, task_id),
        lambda t: t["status"] in wanted,
        within_s=within_s,
        what=f"task {task_id} in {sorted(wanted)}",
    )
    return task


async def wait_terminal(client: _Caller, task_id: str, *, within_s: float = 10.0) -> dict[str, Any]:
    return await wait_status(client, task_id, TERMINAL, within_s=within_s)


async def wait_gone(client: _Caller, task_id: str, *, within_s: float = 10.0) -> RpcError:
    """Poll `tasks/get` until it answers an error; return that error."""

    async def probe() -> RpcError | dict[str, Any]:
        try:
            return await get_task(client, task_id)
        except RpcError as exc:
            return exc

    error: RpcError = await until(
        probe, lambda v: isinstance(v, RpcError), within_s=within_s, what=f"task {task_id} gone"
    )
    return error


def read_counter(path: Path) -> int:
    """The counter a tool writes to its marker file (0 before the first write)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return 0
    return int(text) if text.strip() else 0


async def wait_counter_at_least(path: Path, value: int, *, within_s: float = 10.0) -> int:
    async def probe() -> int:
        return read_counter(path)

    result: int = await until(probe, lambda v: v >= value, within_s=within_s, what=f"{path.name} >= {value}")
    return result


async def wait_counter_stopped(path: Path, *, quiet_s: float = 0.5, within_s: float = 10.0) -> int:
    """Wait until the counter has not moved for `quiet_s` (the tool stopped); return its value.

    The tools advance their counter every 50 ms, so a quiet window of 10 steps means stopped.
    """
    deadline = time.monotonic() + within_s
    value = read_counter(path)
    quiet_since = time.monotonic()
    while True:
        await asyncio.sleep(POLL_S)
        now = time.monotonic()
        current = read_counter(path)
        if current != value:
            value, quiet_since = current, now
        elif now - quiet_since >= quiet_s:
            return value
        if now >= deadline:
            raise AssertionError(f"{path.name} still advancing after {within_s}s (at {value})")
