"""The measures every analytics answer is made of: exact sums and counts, plus latency and
time-to-first-token histograms from which percentiles are read.

Histogram bins are log-scale: bin 0 holds values under 8 ms, bins 1..30 split 8 ms .. 10 min
into 30 bins each `BIN_RATIO` (about 1.454) times wider than the one before, bin 31 holds
10 min and more. A percentile is the geometric middle of the bin holding the nearest-rank
value, so between 8 ms and 10 min it is within a factor `sqrt(BIN_RATIO)` (±20.6%) of the
exact nearest-rank percentile; below 8 ms it is reported as 8 ms, from 10 min up as 10 min.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

from .catalog import BIN_HIGH_MS, BIN_LOW_MS, BINS, HISTOGRAMS, INNER_BINS, SUMS

__all__ = [
    "BINS",
    "BIN_LOW_MS",
    "BIN_HIGH_MS",
    "BIN_RATIO",
    "Measures",
    "bin_bounds_ms",
    "bin_of",
    "percentile_ms",
]

BIN_RATIO = (BIN_HIGH_MS / BIN_LOW_MS) ** (1 / INNER_BINS)


# Histograms are replaced, never changed in place, so every empty one can be this tuple.
_EMPTY_HISTOGRAM: tuple[int, ...] = (0,) * BINS


def _zeros() -> Sequence[int]:
    return _EMPTY_HISTOGRAM


@dataclass(slots=True)
class Measures:
    """Sums only, so any two add exactly; averages, rates and percentiles are derived."""

    calls: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost_nano_usd: int = 0
    unpriced_calls: int = 0
    latency_us_sum: int = 0
    latency_count: int = 0
    ttft_us_sum: int = 0
    ttft_count: int = 0
    latency_hist: Sequence[int] = field(default_factory=_zeros)
    ttft_hist: Sequence[int] = field(default_factory=_zeros)

    @classmethod
    def from_row(cls, values: Sequence[object]) -> Measures:
        """From the measure columns of a query, in the catalog's order: the sums, then (unless
        the query left them out) each histogram's bins."""
        numbers = [int(v or 0) for v in values]  # type: ignore[call-overload]
        if len(numbers) == _SUMS:
            return cls(*numbers)
        return cls(*numbers[:_SUMS], *(numbers[part] for part in _HISTOGRAM_PARTS))

    def subtract(self, other: Measures) -> None:
        for f in _SUM_FIELDS:
            setattr(self, f, getattr(self, f) - getattr(other, f))
        self.latency_hist = [a - b for a, b in zip(self.latency_hist, other.latency_hist,
                                                   strict=True)]
        self.ttft_hist = [a - b for a, b in zip(self.ttft_hist, other.ttft_hist, strict=True)]

    def add(self, other: Measures) -> None:
        for f in _SUM_FIELDS:
            setattr(self, f, getattr(self, f) + getattr(other, f))
        if other.latency_hist is not _EMPTY_HISTOGRAM:
            self.latency_hist = [a + b for a, b in zip(self.latency_hist, other.latency_hist,
                                                       strict=True)]
        if other.ttft_hist is not _EMPTY_HISTOGRAM:
            self.ttft_hist = [a + b for a, b in zip(self.ttft_hist, other.ttft_hist, strict=True)]

    @property
    def successes(self) -> int:
        return self.calls - self.errors

    @property
    def total_tokens(self) -> int:
        # input_tokens already includes cached tokens, output_tokens reasoning tokens.
        return self.input_tokens + self.output_tokens


_SUM_FIELDS = tuple(f.name for f in fields(Measures) if not f.name.endswith("_hist"))
# The columns of every query are the catalog's measures in its order: so must the fields be.
assert _SUM_FIELDS == tuple(s.name for s in SUMS), "Measures and catalog.SUMS disagree"
assert tuple(f.name for f in fields(Measures))[len(_SUM_FIELDS):] == tuple(
    f"{h.name}_hist" for h in HISTOGRAMS), "Measures and catalog.HISTOGRAMS disagree"
_SUMS = len(_SUM_FIELDS)
# Where each histogram's bins are among a query's measure columns.
_HISTOGRAM_PARTS = tuple(slice(_SUMS + i * BINS, _SUMS + (i + 1) * BINS)
                         for i in range(len(HISTOGRAMS)))


def bin_of(value_us: int) -> int:
    """The histogram bin of a duration, as the database computes it (width_bucket)."""
    x = math.log(max(value_us, 1) / 1000.0)
    lo, hi = math.log(BIN_LOW_MS), math.log(BIN_HIGH_MS)
    if x < lo:
        return 0
    if x >= hi:
        return BINS - 1
    return int((x - lo) / (hi - lo) * INNER_BINS) + 1


def bin_bounds_ms(index: int) -> tuple[float, float]:
    """[low, high) of a bin in milliseconds (bin 0 from 0, bin 31 to infinity)."""
    if index == 0:
        return 0.0, BIN_LOW_MS
    if index == BINS - 1:
        return BIN_HIGH_MS, math.inf
    return BIN_LOW_MS * BIN_RATIO ** (index - 1), BIN_LOW_MS * BIN_RATIO ** index


def percentile_ms(hist: Sequence[int], percent: int) -> float | None:
    """The `percent`-th percentile (1..100) by nearest rank, read from a histogram; None when
    empty."""
    count = sum(hist)
    if count == 0:
        return None
    rank = max(1, -(-percent * count // 100))
    seen, index = 0, 0
    for index, in_bin in enumerate(hist):  # noqa: B007 - the bin where the loop stops is wanted
        seen += in_bin
        if seen >= rank:
            break
    if index == 0:
        return BIN_LOW_MS
    if index == BINS - 1:
        return BIN_HIGH_MS
    low, high = bin_bounds_ms(index)
    return round(math.sqrt(low * high), 3)
