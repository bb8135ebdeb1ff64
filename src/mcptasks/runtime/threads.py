"""Plain `def` tools run on daemon threads, so a stop never waits for one.

Python cannot stop a thread. anyio's and `asyncio.to_thread`'s worker threads are joined when the
interpreter exits, so a sync tool that ignores its cancellation token would hold a server's stop
for as long as it runs. Here a sync tool runs on a daemon thread instead: a cancelled or
interrupted task stops *waiting* for it at once (its outcome is decided and stored without it),
and the process may exit while the thread still runs; whatever the thread returns afterwards is
dropped. A sync tool that wants to end early polls `task.is_cancelled` (or calls
`task.check_cancelled()`) between steps.

Threads are kept for reuse (`IDLE_TIMEOUT_S`), so a sync tool costs a queue hand-off, not a thread
start; a new thread is started only when none is idle, so a tool stuck forever never delays others.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

#: How long an idle thread waits for more work before it ends, in s.
IDLE_TIMEOUT_S = 30.0

_Job = tuple[Callable[[], Any], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


class DaemonThreads:
    """A pool of daemon threads that grows on demand and shrinks when idle (module docstring)."""

    def __init__(self, name: str = "mcptasks-tool") -> None:
        self._name = name
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._started = 0

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` on a daemon thread (with the caller's context variables) and return
        its value, or raise what it raised.

        Cancelling the caller cancels only the wait: the thread runs on, and its outcome is dropped.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        context = contextvars.copy_context()
        self._jobs.put((lambda: context.run(fn, *args), loop, future))
        with self._lock:
            if self._idle > 0:
                self._idle -= 1  # that thread takes the job
            else:
                self._started += 1
                threading.Thread(target=self._work, name=f"{self._name}-{self._started}", daemon=True).start()
        return await future

    def _work(self) -> None:
        while True:
            try:
                fn, loop, future = self._jobs.get(timeout=IDLE_TIMEOUT_S)
            except queue.Empty:
                with self._lock:
                    if self._idle > 0 and self._jobs.empty():
                        self._idle -= 1
                        return
                continue  # a job was promised to an idle thread: take it
            try:
                value = fn()
            except BaseException as exc:  # handed to the awaiting task, which decides
                _settle(loop, future, None, exc)
            else:
                _settle(loop, future, value, None)
            with self._lock:
                self._idle += 1


def _settle(
    loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], value: Any, exc: BaseException | None
) -> None:
    def settle() -> None:
        if future.done():
            return  # the task stopped waiting (cancelled): the outcome is dropped
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(value)

    with contextlib.suppress(RuntimeError):  # the event loop is closed: nobody waits any more
        loop.call_soon_threadsafe(settle)


#: The process's pool for sync tools.
TOOL_THREADS = DaemonThreads()


async def run_in_daemon_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run `fn(*args)` on one of `TOOL_THREADS` (see `DaemonThreads.run`)."""
    return await TOOL_THREADS.run(fn, *args)


__all__ = ["IDLE_TIMEOUT_S", "TOOL_THREADS", "DaemonThreads", "run_in_daemon_thread"]
