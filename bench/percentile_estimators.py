"""Which histogram would give percentiles within 2%: a model of the candidates, no database.

    python bench/percentile_estimators.py [--seeds 4]

Samples drawn like bench/percentiles.py's latencies are put in log-scale bins between 8 ms and
10 min (as store/catalog.py's histograms), and each candidate estimator reads p50/p95/p99 back;
the baseline is the exact nearest-rank percentile of the same sample. Sample sizes are those of
the views at 1M calls over 30 days: the summary (1M), a model of five (200k), a day (33k), an
hour (1,400). Reported: the largest relative error over seeds, distributions and percentiles.

Estimators:
- `midpoint`: the bin's geometric middle (what SpanTally reports today);
- `log-interpolated`: the rank's place within the bin, uniform in log scale (counts only);
- `mean-corrected`: a linear density within the bin whose mean is the bin's mean, which needs
  each bin's sum of values beside its count (twice the columns, still mergeable by addition).
"""

from __future__ import annotations

import argparse
import bisect
import math
import random
from collections.abc import Callable

LOW_MS, HIGH_MS = 8.0, 600_000.0
SIZES = {"summary": 1_000_000, "model": 200_000, "day": 33_000, "hour": 1_400}
CANDIDATES = [("midpoint", 30), ("log-interpolated", 30), ("mean-corrected", 30),
              ("log-interpolated", 60), ("log-interpolated", 120), ("mean-corrected", 45),
              ("mean-corrected", 60)]


def _distributions(rng: random.Random) -> dict[str, Callable[[], float]]:
    return {
        "lognormal": lambda: rng.lognormvariate(math.log(2000), 1.0),
        "lognormal narrow": lambda: rng.lognormvariate(math.log(800), 0.5),
        "bimodal": lambda: (rng.lognormvariate(math.log(400), 0.3) if rng.random() < 0.7
                            else rng.lognormvariate(math.log(6000), 0.4)),
    }


def _estimate(counts: list[int], sums: list[float], edges: list[float], rank: int,
              estimator: str) -> float:
    seen = 0
    for index, count in enumerate(counts):  # noqa: B007 - the bin where it stops is wanted
        if seen + count >= rank:
            break
        seen += count
    if index == 0 or index == len(counts) - 1:  # below 8 ms or from 10 min: the bound
        return edges[0] if index == 0 else edges[-1]
    low, high = edges[index - 1], edges[index]
    fraction = (rank - seen - 0.5) / count
    if estimator == "midpoint":
        return math.sqrt(low * high)
    if estimator == "log-interpolated":
        return low * (high / low) ** fraction
    # mean-corrected: density a + b*t on t in [0, 1] with mean x, clamped to stay >= 0
    x = (sums[index] / count - low) / (high - low)
    b = 12 * x - 6
    a = 1 - b / 2
    if a < 0:
        a, b = 0.0, 2.0
    elif a + b < 0:
        a, b = 2.0, -2.0
    t = fraction if abs(b) < 1e-9 else (-a + math.sqrt(max(a * a + 2 * b * fraction, 0))) / b
    return low + (high - low) * t


def worst_errors(seeds: int) -> dict[tuple[str, int, str], float]:
    worst: dict[tuple[str, int, str], float] = {}
    for seed in range(seeds):
        rng = random.Random(seed)
        for view, n in SIZES.items():
            for draw in _distributions(rng).values():
                values = sorted(draw() for _ in range(n))
                for estimator, inner in CANDIDATES:
                    edges = [LOW_MS * (HIGH_MS / LOW_MS) ** (i / inner) for i in range(inner + 1)]
                    counts, sums = [0] * (inner + 2), [0.0] * (inner + 2)
                    for value in values:
                        index = bisect.bisect_right(edges, value)
                        counts[index] += 1
                        sums[index] += value
                    for percent in (50, 95, 99):
                        rank = max(1, math.ceil(percent * n / 100))
                        exact = values[rank - 1]
                        got = _estimate(counts, sums, edges, rank, estimator)
                        key = (estimator, inner, view)
                        worst[key] = max(worst.get(key, 0.0), abs(got / exact - 1))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    args = parser.parse_args()
    worst = worst_errors(args.seeds)
    print(f"{'estimator, inner bins':<26}{'columns':>8}" + "".join(f"{v:>10}" for v in SIZES))
    for estimator, inner in CANDIDATES:
        columns = (inner + 2) * (2 if estimator == "mean-corrected" else 1)
        print(f"{f'{estimator}, {inner}':<26}{columns:>8}" + "".join(
            f"{worst[estimator, inner, view] * 100:>9.2f}%" for view in SIZES))


if __name__ == "__main__":
    main()
