"""One measurement's outcome, as printed in the table and written as one JSON line."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Result"]


@dataclass
class Result:
    """The figures of one workload configuration against one target, in one repetition."""

    #: "W1" (lifecycle), "W2" (poll load) or "W3" (scale).
    workload: str
    #: The configuration, e.g. "echo C=8" or "C=32".
    config: str
    #: "2025" or "2026".
    wire: str
    #: "sqlite" or "pg" for mcptasks, "-" for the floor.
    engine: str
    #: "mcptasks" or "floor".
    target: str
    #: Repetition number, from 0.
    repeat: int
    #: Figures by name; names carry their unit (`_ms`, `_us`, `_s`, `_per_s`, `_bytes`).
    metrics: dict[str, Any] = field(default_factory=dict)
    #: Failures by message.
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def error_count(self) -> int:
        """How many failures this measurement had."""
        return sum(self.errors.values())

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON-ready mapping."""
        return asdict(self)
