"""Pure statistics over the clients' ledgers: percentiles, per-op summaries, ratios."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation; NaN for no values."""
    if not sorted_values:
        return math.nan
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = (len(sorted_values) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (pos - low)


def summarize(latencies_s: Iterable[float], wall_s: float) -> dict[str, float]:
    """Count, rate and latency percentiles (ms) of one op kind."""
    values = sorted(latencies_s)
    return {
        "count": len(values),
        "per_s": round(len(values) / wall_s, 2) if wall_s > 0 else 0.0,
        "p50_ms": round(percentile(values, 50) * 1000, 2),
        "p95_ms": round(percentile(values, 95) * 1000, 2),
        "p99_ms": round(percentile(values, 99) * 1000, 2),
        "max_ms": round(values[-1] * 1000, 2) if values else math.nan,
    }


def per_op(records: Iterable[dict[str, Any]], wall_s: float) -> dict[str, dict[str, float]]:
    """Summaries by op kind of the records that completed (any outcome but a lost one)."""
    by_kind: dict[str, list[float]] = {}
    for record in records:
        if record["outcome"] in ("ok", "duplicate", "not_found"):
            by_kind.setdefault(record["op"], []).append(record["latency_s"])
    return {kind: summarize(values, wall_s) for kind, values in sorted(by_kind.items())}


def ratio(numerator: float, denominator: float) -> float:
    if denominator == 0 or math.isnan(denominator) or math.isnan(numerator):
        return math.nan
    return round(numerator / denominator, 3)
