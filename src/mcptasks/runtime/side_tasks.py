"""`SideTasks`: the executor's background loops (heartbeat, lease recovery, ttl sweep, change watch).

Each is one step repeated at an interval. A step that fails is logged and tried at the next turn:
a store outage is logged once by the store (`StoreHealth`) and only at DEBUG here; any other store
error once at ERROR without the driver's text (which may quote a statement's values); anything
else with its traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from mcptasks.core.errors import StoreError

logger = logging.getLogger("mcptasks.runtime")

#: One turn of a side task (its value, if any, is ignored).
Step = Callable[[], Awaitable[object]]


class SideTasks:
    """Named asyncio tasks, each repeating one step, cancelled together by `stop()`."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, name: str, step: Step, interval_s: float, *, retry_s: float | None = None) -> None:
        """Run `step()` every `interval_s` seconds (the first after one interval) as the asyncio
        task `mcptasks.<name>`; after a store error, the next try comes after `retry_s` when given."""
        loop = _repeat(name, step, interval_s, interval_s if retry_s is None else retry_s)
        self._tasks.append(asyncio.create_task(loop, name=f"mcptasks.{name}"))

    async def stop(self) -> None:
        """Cancel every side task and wait until each has ended."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()


async def _repeat(name: str, step: Step, interval_s: float, retry_s: float) -> None:
    delay = interval_s
    while True:
        await asyncio.sleep(delay)
        delay = interval_s
        try:
            await step()
        except StoreError as exc:
            log_store_error(name, exc)
            delay = retry_s
        except Exception:
            logger.exception("%s failed", name, extra={"action": name})


def log_store_error(what: str, exc: StoreError) -> None:
    """Log a store error met by background work `what` (see the module docstring)."""
    if exc.unavailable:
        logger.debug("%s: %s", what, exc.message, extra={"action": what})
    else:
        logger.error(
            "%s failed: %s (%s)", what, exc.message, type(exc.__cause__).__name__, extra={"action": what}
        )


__all__ = ["SideTasks", "log_store_error"]
