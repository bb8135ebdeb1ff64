"""Small statistics for latency samples and growth slopes (no numpy: the client stays light)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

__all__ = ["least_squares_slope", "median", "percentile"]


def percentile(samples: Sequence[float], q: float) -> float | None:
    """The `q`-th percentile (0-100) of `samples` by the nearest-rank method, or None when empty.

    Nearest rank keeps p99 an observed value; with fewer than 100 samples p99 is the maximum.
    """
    if not samples:
        return None
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float | None]) -> float | None:
    """The median of the values that are not None, or None when there are none."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def least_squares_slope(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """The slope of the least-squares line through (xs, ys), or None with fewer than two distinct xs."""
    if len(xs) < 2 or len(set(xs)) < 2:
        return None
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    return sxy / sxx
