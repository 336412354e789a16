"""The one way the benchmarks summarise timings: median, nearest-rank 95th percentile, maximum."""

from __future__ import annotations

import statistics


def percentiles(samples_ms: list[float], digits: int = 3) -> dict[str, float]:
    """p50/p95/max of ``samples_ms`` (any order), rounded to ``digits``, and how many there were."""
    ordered = sorted(samples_ms)
    return {"p50_ms": round(statistics.median(ordered), digits),
            "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)], digits),
            "max_ms": round(ordered[-1], digits), "runs": len(ordered)}
