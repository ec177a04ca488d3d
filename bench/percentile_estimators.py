"""Which histogram would give percentiles within 2%: a model of the candidates, no database.

    python bench/percentile_estimators.py [--seeds 4]

Samples drawn like bench/percentiles.py's latencies are put in log-scale bins between 8 ms and
10 min (as store/catalog.py's histograms), and each candidate estimator reads p50/p95/p99 back;
the baseline is the exact nearest-rank percentile of the same sample. Sample sizes are those of
the views at 1M calls over 30 days: the summary (1M), a model of five (200k), a day (33k), an
hour (1,400). Reported: the largest relative error over seeds, distributions and percentiles;
then, over `--hours` hours of 1,400 values per distribution, the share of each percentile more
than 2% off (an hour's worst case is what a time series by hour shows).

Estimators:
- `midpoint`: the bin's geometric middle (what SpanTally reported before);
- `log-interpolated`: the rank's place within the bin, uniform in log scale (counts only);
- `neighbour-slope`: the rank's place in a density linear in log scale, sloping through the
  neighbouring bins' counts (counts only; what SpanTally reports: `store.measures.place_in_bin`);
- `mean-corrected`: a linear density within the bin whose mean is the bin's mean, which needs
  each bin's sum of values beside its count (twice the columns, still mergeable by addition).
"""

from __future__ import annotations

import argparse
import bisect
import math
import random
from collections.abc import Callable

from spantally.store.catalog import BIN_HIGH_MS, BIN_LOW_MS
from spantally.store.measures import place_in_bin

LOW_MS, HIGH_MS = BIN_LOW_MS, BIN_HIGH_MS
SIZES = {"summary": 1_000_000, "model": 200_000, "day": 33_000, "hour": 1_400}
CANDIDATES = [("midpoint", 30), ("log-interpolated", 30), ("neighbour-slope", 30),
              ("mean-corrected", 30), ("neighbour-slope", 45),
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
    if estimator == "neighbour-slope":
        return low * (high / low) ** place_in_bin(counts, index, rank - seen)
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


PERCENTS = (50, 95, 99)


def _errors(values: list[float], estimator: str, inner: int) -> list[float]:
    """The relative error of each of PERCENTS read back from `values` (sorted) in bins."""
    edges = [LOW_MS * (HIGH_MS / LOW_MS) ** (i / inner) for i in range(inner + 1)]
    counts, sums = [0] * (inner + 2), [0.0] * (inner + 2)
    for value in values:
        index = bisect.bisect_right(edges, value)
        counts[index] += 1
        sums[index] += value
    ranks = [max(1, math.ceil(percent * len(values) / 100)) for percent in PERCENTS]
    return [abs(_estimate(counts, sums, edges, rank, estimator) / values[rank - 1] - 1)
            for rank in ranks]


def worst_errors(seeds: int) -> dict[tuple[str, int, str], float]:
    worst: dict[tuple[str, int, str], float] = {}
    for seed in range(seeds):
        rng = random.Random(seed)
        for view, n in SIZES.items():
            for draw in _distributions(rng).values():
                values = sorted(draw() for _ in range(n))
                for estimator, inner in CANDIDATES:
                    key = (estimator, inner, view)
                    worst[key] = max(worst.get(key, 0.0), *_errors(values, estimator, inner))
    return worst


def hours_over_two_percent(hours: int) -> dict[tuple[str, int], list[float]]:
    """Per candidate, the share of hours (1,400 values each) whose p50, p95, p99 is > 2% off."""
    rng = random.Random(1)
    over = {candidate: [0] * len(PERCENTS) for candidate in CANDIDATES}
    draws = _distributions(rng).values()
    for _ in range(hours):
        for draw in draws:
            values = sorted(draw() for _ in range(SIZES["hour"]))
            for candidate in CANDIDATES:
                for i, error in enumerate(_errors(values, *candidate)):
                    over[candidate][i] += error > 0.02
    return {candidate: [n / (hours * len(draws)) for n in counts]
            for candidate, counts in over.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--hours", type=int, default=100)
    args = parser.parse_args()
    worst = worst_errors(args.seeds)
    hours = hours_over_two_percent(args.hours)
    print(f"{'estimator, inner bins':<26}{'columns':>8}" + "".join(f"{v:>10}" for v in SIZES)
          + "".join(f"{f'hour p{p} >2%':>14}" for p in PERCENTS))
    for estimator, inner in CANDIDATES:
        columns = (inner + 2) * (2 if estimator == "mean-corrected" else 1)
        print(f"{f'{estimator}, {inner}':<26}{columns:>8}" + "".join(
            f"{worst[estimator, inner, view] * 100:>9.2f}%" for view in SIZES) + "".join(
            f"{share * 100:>13.0f}%" for share in hours[estimator, inner]))


if __name__ == "__main__":
    main()
