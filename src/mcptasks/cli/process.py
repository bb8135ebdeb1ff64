"""Process-wide choices of `mcptasks serve`: the event loop, the garbage collector, stop signals.

An application that embeds `TaskServer` makes these choices itself; only the command line makes
them for the whole process, and this is the only module of mcptasks that installs signal handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

logger = logging.getLogger("mcptasks.cli")

T = TypeVar("T")


def run_event_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` on uvloop where it is installed (Linux, macOS), else on asyncio's own loop.

    uvloop (libuv, in C) serves the same requests with about a third less CPU than the default loop
    (measured in `benchmarks/`); nothing in mcptasks depends on which loop runs it.
    """
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows, or not installed
        return asyncio.run(main)
    return uvloop.run(main)


#: Allocations between two young-generation collections (CPython's default is 700).
GC_YOUNG_THRESHOLD = 10_000


def tune_garbage_collector() -> None:
    """Keep the cyclic garbage collector out of the way of a long-running server.

    Everything loaded until now (the SDK, the tools, their schemas) lives as long as the process:
    `gc.freeze()` moves it out of the collector's sight, so a full collection no longer walks it
    (it took 100-130 ms, the worst latency of a request under load); young collections run every
    `GC_YOUNG_THRESHOLD` allocations instead of 700. Measured with `benchmarks/` (sleep-50 ms at
    C=32: lifecycle p99 190 -> 77 ms, 441 -> 539 lifecycles/s). A process-wide choice, so the
    command line makes it; an application embedding `TaskServer` keeps its own.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


@contextlib.contextmanager
def on_stop_signals(*, first: Callable[[], None], again: Callable[[], Any]) -> Iterator[None]:
    """Call `first()` on the first SIGINT or SIGTERM, `again()` on any later one (procrastinate's rule).

    `TaskServer.request_stop()` stops the transport; leaving `async with server:` then gives running
    tools their shutdown grace. A second signal does not wait for it. Without a handler, SIGTERM
    would end the process at once, skipping the shutdown (leases stay held until they expire).
    """
    loop = asyncio.get_running_loop()
    received = 0

    def on_signal(signum: signal.Signals) -> None:
        nonlocal received
        received += 1
        if received == 1:
            # `first` tells the user what the stop waits for; this is only the record of why.
            logger.info("%s received: stopping (send it again to stop at once)", signum.name)
            first()
        else:
            logger.warning("%s received again: stopping without the shutdown grace", signum.name)
            again()

    installed: list[signal.Signals] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows; not the main thread
            loop.add_signal_handler(signum, on_signal, signum)
            installed.append(signum)
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
