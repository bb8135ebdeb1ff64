"""Deadline-bounded waiting: tests poll for a state and fail with what they saw last."""

from __future__ import annotations

import asyncio
import contextlib
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


class StatusTrail:
    """Records a task's status as seen by polling, in the background, with notes in between.

    `probe` answers the current status (or None when it cannot be read: a server restarting) and
    may be replaced while the trail runs (`trail.probe = ...`, e.g. a client of the restarted
    server). `lines()` is the transcript: each status the first time it was seen after another one
    or after a note, and each note (`await mark(text)` also records the status right after the
    note), with seconds since the start.
    """

    def __init__(self, probe: Callable[[], Awaitable[str | None]], *, every_s: float = 0.02) -> None:
        self.probe = probe
        self.every_s = every_s
        self.entries: list[tuple[float, str, str]] = []
        self._last: str | None = None
        self._started = time.monotonic()
        self._runner: asyncio.Task[None] | None = None

    @property
    def statuses(self) -> list[str]:
        """The statuses seen, in order, each change once (notes ignored)."""
        seen: list[str] = []
        for _, kind, text in self.entries:
            if kind == "status" and (not seen or seen[-1] != text):
                seen.append(text)
        return seen

    def note(self, text: str) -> None:
        """Add a note; the next status read is recorded even if unchanged."""
        self.entries.append((time.monotonic() - self._started, "note", text))
        self._last = None

    async def mark(self, text: str) -> None:
        """Add the note, then record the status right after it (unless unreadable)."""
        self.note(text)
        await self.sample()

    async def sample(self) -> str | None:
        """Probe once now and record a change; returns the status (None if unreadable)."""
        try:
            status = await self.probe()
        except Exception:
            return None
        if status is not None and status != self._last:
            self._last = status
            self.entries.append((time.monotonic() - self._started, "status", status))
        return status

    def start(self) -> StatusTrail:
        async def run() -> None:
            while True:
                await self.sample()
                await asyncio.sleep(self.every_s)

        self._runner = asyncio.create_task(run())
        return self

    async def stop(self) -> None:
        """Stop polling (after one last sample)."""
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
            self._runner = None
        await self.sample()

    def lines(self) -> list[str]:
        return [
            f"{at:6.2f}s  {'status ' if kind == 'status' else '-- '}{text}" for at, kind, text in self.entries
        ]


def sync_probe(read: Callable[[], Any]) -> Callable[[], Awaitable[Any]]:
    """Adapt a plain function (a database or file read) into a probe for `until`."""

    async def probe() -> Any:
        return read()

    return probe
