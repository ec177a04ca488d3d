"""The measures every analytics answer is made of: exact sums and counts, plus histograms of
durations (a call's latency and time to first token, a run's duration) from which percentiles
are read.

Histogram bins are log-scale: bin 0 holds values under 8 ms, bins 1..30 split 8 ms .. 10 min
into 30 bins each `BIN_RATIO` (about 1.454) times wider than the one before, bin 31 holds
10 min and more. A percentile is read within the bin holding the nearest-rank value, at the
rank's place in a density that is linear (in log scale) through the neighbouring bins' counts,
so it never leaves that bin (at worst a factor `BIN_RATIO` off) and on smooth distributions
is typically within 1% of the exact nearest-rank percentile (docs/analytics.md has the
measured errors); below 8 ms it is reported as 8 ms, from 10 min up as 10 min.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import ClassVar, TypeVar

from .catalog import BIN_HIGH_MS, BIN_LOW_MS, BINS, CALLS, INNER_BINS, RUNS, Fact

__all__ = [
    "BINS",
    "BIN_LOW_MS",
    "BIN_HIGH_MS",
    "BIN_RATIO",
    "Measures",
    "RunMeasures",
    "Summed",
    "bin_bounds_ms",
    "bin_of",
    "measures_of",
    "percentile_ms",
    "place_in_bin",
]

BIN_RATIO = (BIN_HIGH_MS / BIN_LOW_MS) ** (1 / INNER_BINS)


# Histograms are replaced, never changed in place, so every empty one can be this tuple.
_EMPTY_HISTOGRAM: tuple[int, ...] = (0,) * BINS


def _zeros() -> Sequence[int]:
    return _EMPTY_HISTOGRAM


S = TypeVar("S", bound="Summed")


class Summed:
    """The measures of one fact (store.catalog): its sums, then one field per histogram
    (`<name>_hist`), in the catalog's order. Sums only, so any two add exactly; averages,
    rates and percentiles are derived."""

    __slots__ = ()
    FACT: ClassVar[Fact]
    _SUMS: ClassVar[tuple[str, ...]]
    _HISTOGRAMS: ClassVar[tuple[str, ...]]
    _PARTS: ClassVar[tuple[slice, ...]]

    def __init_subclass__(cls, fact: Fact | None = None, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if fact is None:  # dataclass(slots=True) makes the class anew, without the argument
            return
        cls.FACT = fact
        cls._SUMS = tuple(s.name for s in fact.sums)
        cls._HISTOGRAMS = tuple(f"{h.name}_hist" for h in fact.histograms)
        width = len(cls._SUMS)
        # Where each histogram's bins are among a query's measure columns.
        cls._PARTS = tuple(slice(width + i * BINS, width + (i + 1) * BINS)
                           for i in range(len(cls._HISTOGRAMS)))

    @classmethod
    def _check_fields(cls) -> None:
        # The columns of every query are the catalog's measures in its order: so must the
        # fields be.
        names = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
        assert names == cls._SUMS + cls._HISTOGRAMS, f"{cls.__name__} and the catalog disagree"

    @classmethod
    def from_row(cls: type[S], values: Sequence[object]) -> S:
        """From the measure columns of a query, in the catalog's order: the sums, then (unless
        the query left them out) each histogram's bins."""
        numbers = [int(v or 0) for v in values]  # type: ignore[call-overload]
        if len(numbers) == len(cls._SUMS):
            return cls(*numbers)
        return cls(*numbers[:len(cls._SUMS)], *(numbers[part] for part in cls._PARTS))

    def subtract(self, other: Summed) -> None:
        for f in self._SUMS:
            setattr(self, f, getattr(self, f) - getattr(other, f))
        for h in self._HISTOGRAMS:
            setattr(self, h, [a - b for a, b in zip(getattr(self, h), getattr(other, h),
                                                    strict=True)])

    def add(self, other: Summed) -> None:
        for f in self._SUMS:
            setattr(self, f, getattr(self, f) + getattr(other, f))
        for h in self._HISTOGRAMS:
            theirs = getattr(other, h)
            if theirs is not _EMPTY_HISTOGRAM:
                setattr(self, h, [a + b for a, b in zip(getattr(self, h), theirs, strict=True)])


@dataclass(slots=True)
class Measures(Summed, fact=CALLS):
    """The measures of a set of LLM calls."""

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

    @property
    def successes(self) -> int:
        return self.calls - self.errors

    @property
    def total_tokens(self) -> int:
        # input_tokens already includes cached tokens, output_tokens reasoning tokens.
        return self.input_tokens + self.output_tokens


@dataclass(slots=True)
class RunMeasures(Summed, fact=RUNS):
    """The measures of a set of agent runs; the LLM calls, tools, tokens and cost are the runs'
    inclusive roll-ups (store/runs.py)."""

    runs: int = 0
    failed_runs: int = 0
    duration_us_sum: int = 0
    llm_calls: int = 0
    llm_errors: int = 0
    tool_calls: int = 0
    tool_errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost_nano_usd: int = 0
    unpriced_calls: int = 0
    duration_hist: Sequence[int] = field(default_factory=_zeros)

    @property
    def completed_runs(self) -> int:
        return self.runs - self.failed_runs

    @property
    def steps(self) -> int:
        return self.llm_calls + self.tool_calls

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


Measures._check_fields()
RunMeasures._check_fields()

_OF_FACT: dict[str, type[Summed]] = {m.FACT.name: m for m in (Measures, RunMeasures)}


def measures_of(fact: Fact) -> type[Summed]:
    """The measures class of `fact`."""
    return _OF_FACT[fact.name]


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
    below = 0
    for index, in_bin in enumerate(hist):  # noqa: B007 - the bin where the loop stops is wanted
        if below + in_bin >= rank:
            break
        below += in_bin
    if index == 0:
        return BIN_LOW_MS
    if index == BINS - 1:
        return BIN_HIGH_MS
    low, high = bin_bounds_ms(index)
    return round(low * BIN_RATIO ** place_in_bin(hist, index, rank - below), 3)


def place_in_bin(hist: Sequence[int], index: int, rank: int) -> float:
    """Where (0..1, in log scale) the `rank`-th value of bin `index` lies, taking the density
    within the bin as linear with the slope through its neighbours' counts: a bin's values
    crowd towards its fuller neighbour, which a uniform spread (or the bin's middle) ignores
    and which costs up to a bin's width on the steep flanks of a distribution."""
    count = hist[index]
    fraction = (rank - 0.5) / count  # the rank-th of `count` values, at the middle of its share
    # The edge bins' outer neighbours hold everything below 8 ms or above 10 min: no slope.
    left = hist[index - 1] if index > 1 else count
    right = hist[index + 1] if index < len(hist) - 2 else count
    # Density 1 + slope * (t - 1/2) on t in [0, 1]; |slope| <= 2 keeps it non-negative.
    slope = max(-2.0, min(2.0, (right - left) / (2 * count)))
    if abs(slope) < 1e-9:
        return fraction
    # Solve the density's integral from 0 to t, t + slope * (t*t - t) / 2, for `fraction`.
    linear = 1 - slope / 2
    return (-linear + math.sqrt(linear * linear + 2 * slope * fraction)) / slope
