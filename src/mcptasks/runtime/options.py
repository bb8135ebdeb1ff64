"""Runtime settings, as small frozen value objects whose field names carry their unit."""

from __future__ import annotations

from dataclasses import dataclass

#: Retention of a task when the client asks for none, in ms (1 hour).
DEFAULT_TTL_MS = 3_600_000
#: Largest retention a client may ask for, in ms (7 days); larger requests are capped.
MAX_TTL_MS = 7 * 86_400_000
#: Suggested polling interval returned with every task, in ms.
DEFAULT_POLL_INTERVAL_MS = 1_000
#: How long a worker's lease lasts unless its heartbeat renews it, in seconds.
LEASE_DURATION_S = 30.0
#: How often a worker renews its leases, in seconds.
HEARTBEAT_INTERVAL_S = 10.0
#: How often expired leases (workers that died) are looked for, in seconds.
RECOVER_INTERVAL_S = 5.0
#: How long a cancelled tool may ignore its cancellation token before it is cancelled hard, in seconds.
CANCEL_GRACE_S = 5.0
#: How long running tools may take to finish when the server stops, in seconds.
SHUTDOWN_GRACE_S = 5.0
#: How often the ttl sweeper runs, in seconds.
SWEEP_INTERVAL_S = 10.0
#: Most rows the sweeper changes or deletes in one transaction.
SWEEP_BATCH = 500
#: How long a task failed by ttl expiry stays readable before it is deleted, in seconds.
EXPIRED_KEEP_S = 600.0
#: Largest page `tasks/list` returns.
LIST_PAGE_SIZE = 50


@dataclass(frozen=True, slots=True, kw_only=True)
class Retention:
    """Task retention: ttl default and cap (ms), polling hint (ms), sweeper cadence (s)."""

    default_ttl_ms: int = DEFAULT_TTL_MS
    max_ttl_ms: int = MAX_TTL_MS
    poll_interval_ms: int = DEFAULT_POLL_INTERVAL_MS
    sweep_interval_s: float = SWEEP_INTERVAL_S
    sweep_batch: int = SWEEP_BATCH
    expired_keep_s: float = EXPIRED_KEEP_S

    def __post_init__(self) -> None:
        if not 0 < self.default_ttl_ms <= self.max_ttl_ms:
            raise ValueError("Retention needs 0 < default_ttl_ms <= max_ttl_ms")

    def ttl_for(self, requested_ms: int | None) -> int:
        """The ttl granted for a request: the default when none is asked, else capped at the max."""
        if requested_ms is None:
            return self.default_ttl_ms
        return max(1, min(requested_ms, self.max_ttl_ms))


@dataclass(frozen=True, slots=True, kw_only=True)
class Leases:
    """Worker leases: lease length, heartbeat period, recovery period and grace periods (s)."""

    duration_s: float = LEASE_DURATION_S
    heartbeat_s: float = HEARTBEAT_INTERVAL_S
    recover_interval_s: float = RECOVER_INTERVAL_S
    cancel_grace_s: float = CANCEL_GRACE_S
    shutdown_grace_s: float = SHUTDOWN_GRACE_S

    def __post_init__(self) -> None:
        if not 0 < self.heartbeat_s < self.duration_s:
            raise ValueError("Leases needs 0 < heartbeat_s < duration_s")
