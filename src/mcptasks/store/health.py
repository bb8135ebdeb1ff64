"""`StoreHealth`: one log line when the task store becomes unavailable, one when it is back.

A full disk or an unreachable database fails every request and every write until it is fixed.
Logging each failure (with its traceback) would bury the one thing the operator must read, so a
connector reports each failure and each success here, and this logs per outage episode: a WARNING
when the first failure of an episode happens (naming the condition), and a WARNING when the first
write that succeeds after it happens (how long it lasted, how many operations failed); reads that
work do not end an episode (a full disk still serves reads). Failures in between are
counted, at DEBUG only. Nothing logged here holds SQL or its parameters: only `StoreError.message`,
which names the condition.
"""

from __future__ import annotations

import logging
import time

from mcptasks.core.errors import StoreError

logger = logging.getLogger("mcptasks.store")


class StoreHealth:
    """Tracks storage-outage episodes of one store (see module docstring)."""

    __slots__ = ("_down_since", "_failures", "_reason")

    def __init__(self) -> None:
        #: `time.monotonic()` of the episode's first failure, or None while the store is healthy.
        self._down_since: float | None = None
        self._failures = 0
        self._reason = ""

    @property
    def down(self) -> bool:
        """Whether the last operation of the store failed for a storage reason."""
        return self._down_since is not None

    @property
    def failures(self) -> int:
        """How many operations failed in the current episode (0 while healthy)."""
        return self._failures

    def failed(self, error: StoreError) -> None:
        """An operation failed with `error`: the first failure of an episode is logged as a WARNING.

        Errors that are not storage conditions (`error.unavailable` False: a constraint violated)
        are not an outage and are left to the caller to report.
        """
        if not error.unavailable:
            return
        self._failures += 1
        if self._down_since is None:
            self._down_since = time.monotonic()
            self._reason = error.message
            logger.warning(
                "task store outage: %s; requests are refused with StoreUnavailable and writes "
                "retried until it recovers",
                error.message,
                extra={"action": "store_unavailable"},
            )
        elif logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "task store still unavailable: %s", error.message, extra={"action": "store_unavailable"}
            )

    def succeeded(self) -> None:
        """A write was committed: ends an episode (logged as a WARNING), else costs one attribute read."""
        if self._down_since is None:
            return
        lasted_s = time.monotonic() - self._down_since
        logger.warning(
            "task store outage over after %.1f s (%s; %d operations failed meanwhile)",
            lasted_s,
            self._reason,
            self._failures,
            extra={"action": "store_available"},
        )
        self._down_since = None
        self._failures = 0
        self._reason = ""


__all__ = ["StoreHealth"]
