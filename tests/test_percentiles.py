"""Percentiles read from the log-scale histograms (store.measures): never outside the bin of the
exact nearest-rank value, and within 2% of it on smooth distributions of the sizes a view has at
1M calls (a model's 200k, a day's 33k). No database: the histograms are built with `bin_of`,
the function whose SQL twin fills the aggregates (test_catalog checks they agree)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest

from spantally.store import bin_of, percentile_ms
from spantally.store.measures import BIN_HIGH_MS, BIN_LOW_MS, BINS, bin_bounds_ms

PERCENTS = (50, 95, 99)


def _histogram(values_us: list[int]) -> list[int]:
    hist = [0] * BINS
    for value in values_us:
        hist[bin_of(value)] += 1
    return hist


def _exact_ms(ordered_us: list[int], percent: int) -> float:
    return ordered_us[max(1, math.ceil(percent * len(ordered_us) / 100)) - 1] / 1000


def _draws(rng: random.Random) -> dict[str, Callable[[], float]]:
    """Latencies in ms: as bench/percentiles.py sends them, and a narrower lognormal."""
    return {
        "lognormal": lambda: rng.lognormvariate(math.log(2000), 0.8),
        "lognormal narrow": lambda: rng.lognormvariate(math.log(800), 0.5),
        "bimodal": lambda: (rng.lognormvariate(math.log(400), 0.3) if rng.random() < 0.7
                            else rng.lognormvariate(math.log(6000), 0.4)),
    }


@pytest.mark.parametrize("size", [200_000, 33_000])
@pytest.mark.parametrize("distribution", ["lognormal", "lognormal narrow", "bimodal"])
def test_percentiles_are_within_two_percent_on_smooth_distributions(
        distribution: str, size: int) -> None:
    rng = random.Random(size)
    draw = _draws(rng)[distribution]
    values = sorted(int(draw() * 1000) for _ in range(size))
    hist = _histogram(values)
    for percent in PERCENTS:
        exact, reported = _exact_ms(values, percent), percentile_ms(hist, percent)
        assert reported is not None
        assert abs(reported / exact - 1) <= 0.02, (percent, exact, reported)


def test_a_percentile_never_leaves_the_bin_of_the_exact_value() -> None:
    """Any histogram shape, steep or sparse ones included: the reading stays in the bin that
    holds the nearest-rank value, and rises with the percent."""
    rng = random.Random(5)
    for _ in range(300):
        centre, spread = rng.uniform(1, 21), rng.uniform(0.05, 3)
        values = sorted(max(1, int(math.exp(rng.gauss(centre, spread))))
                        for _ in range(rng.randint(1, 400)))
        hist = _histogram(values)
        readings = []
        for percent in range(1, 101):
            exact, reported = _exact_ms(values, percent), percentile_ms(hist, percent)
            assert reported is not None
            low, high = bin_bounds_ms(bin_of(round(exact * 1000)))
            assert max(low, BIN_LOW_MS) <= reported <= min(high, BIN_HIGH_MS), (
                percent, exact, reported)
            readings.append(reported)
        assert readings == sorted(readings)


def test_an_empty_histogram_has_no_percentile() -> None:
    assert percentile_ms([0] * BINS, 50) is None
