"""Small helpers shared by the benchmarks: percentiles and peak memory."""

from __future__ import annotations

import resource
import statistics


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile (0..100) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary_ms(values_s: list[float]) -> str:
    """``p50 … p99 … mean …`` in milliseconds."""
    ms = [v * 1000 for v in values_s]
    return f"p50 {percentile(ms, 50):.3f} ms  p99 {percentile(ms, 99):.3f} ms  mean {statistics.fmean(ms) if ms else 0:.3f} ms"


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
