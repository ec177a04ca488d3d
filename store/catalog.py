"""Every aggregate SpanTally keeps, described once, as data.

An aggregate holds, per (project, UTC bucket of its grain, its key columns), the sums and
counts of `SUMS` over the calls in that cell, and (when it has them) the bins of every
histogram of `HISTOGRAMS`. Nothing here is an average, so any set of cells adds up exactly.

Everything that lists aggregates derives from `AGGREGATES`:
- `store.ddl` turns it into SQL: the rollup function that keeps the aggregates at ingest
  (`apache`, `postgres`), the continuous-aggregate definitions (`timescale`), re-pricing;
- the writer's and re-pricing's refreshes, retention, and the planner's choice of relation.
`tests/test_catalog.py` checks that a migrated database holds exactly what this module says.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

__all__ = [
    "AGGREGATES",
    "BIN_HIGH_MS",
    "BIN_LOW_MS",
    "BINS",
    "CALL_KEYS",
    "DIMENSION_KEYS",
    "Aggregate",
    "Grain",
    "HISTOGRAMS",
    "Histogram",
    "INNER_BINS",
    "RAW",
    "RAW_RELATIONS",
    "SCHEMA_VERSION",
    "SUMS",
    "Sum",
    "aggregate",
    "bin_expression",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

SCHEMA_VERSION = 7
"""The migration after which the database holds the aggregates as described here. A change to
the catalog comes with a migration that brings the tables along, and raises this."""

RAW = "llm_calls"
"""The relation of one row per call that every aggregate summarizes."""

RAW_RELATIONS = (RAW, "agent_runs", "tool_calls", "span_links")
"""Every relation of one row per span (store/runs.py), each kept for the raw retention."""


class Grain(enum.Enum):
    """The width of an aggregate's buckets, in UTC."""

    HOUR = "hour"
    DAY = "day"

    @property
    def width(self) -> timedelta:
        return timedelta(hours=1) if self is Grain.HOUR else timedelta(days=1)

    def floor(self, moment: datetime) -> datetime:
        """The start of the UTC bucket holding `moment`."""
        return _EPOCH + ((moment - _EPOCH) // self.width) * self.width

    def ceil(self, moment: datetime) -> datetime:
        """The start of the first UTC bucket at or after `moment`."""
        floored = self.floor(moment)
        return floored if floored == moment else floored + self.width

    def refresh_end(self, now: datetime) -> datetime:
        """Where a `timescale` refresh policy stops: one bucket before `now`'s (end_offset),
        the newest bucket being left to real-time aggregation."""
        return self.floor(now - self.width)

    @property
    def refresh_every(self) -> timedelta:
        """How often a `timescale` refresh policy materializes an aggregate of this grain."""
        return timedelta(minutes=1) if self is Grain.HOUR else timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Sum:
    """One measure: its column in every aggregate (and field of `store.measures.Measures`),
    and the SQL aggregate computing it from the calls of a cell."""

    name: str
    over_calls: str
    reads: tuple[str, ...] = ()
    """The llm_calls columns `over_calls` reads."""


# In the order of Measures' fields. Every one adds up across cells with sum().
SUMS: tuple[Sum, ...] = (
    Sum("calls", "count(*)"),
    Sum("errors", "count(*) FILTER (WHERE status = 'error')", ("status",)),
    Sum("input_tokens", "sum(input_tokens)::bigint", ("input_tokens",)),
    Sum("output_tokens", "sum(output_tokens)::bigint", ("output_tokens",)),
    Sum("cache_read_tokens", "sum(cache_read_tokens)::bigint", ("cache_read_tokens",)),
    Sum("cache_write_tokens", "sum(cache_write_tokens)::bigint", ("cache_write_tokens",)),
    Sum("reasoning_tokens", "sum(reasoning_tokens)::bigint", ("reasoning_tokens",)),
    Sum("cost_nano_usd", "coalesce(sum(cost_nano_usd), 0)::bigint", ("cost_nano_usd",)),
    Sum("unpriced_calls", "count(*) FILTER (WHERE cost_nano_usd IS NULL)",
        ("cost_nano_usd",)),
    Sum("latency_us_sum", "sum(latency_us)::bigint", ("latency_us",)),
    Sum("latency_count", "count(latency_us)", ("latency_us",)),
    Sum("ttft_us_sum", "coalesce(sum(ttft_us), 0)::bigint", ("ttft_us",)),
    Sum("ttft_count", "count(ttft_us)", ("ttft_us",)),
)

# Histogram bins, log-scale: bin 0 below BIN_LOW_MS, bins 1..INNER_BINS each the same factor
# wider than the one before up to BIN_HIGH_MS, the last bin from BIN_HIGH_MS up.
BINS = 32
BIN_LOW_MS = 8.0
BIN_HIGH_MS = 600_000.0
INNER_BINS = BINS - 2


def bin_expression(value_us: str) -> str:
    """SQL for the bin of a duration column in microseconds (what `measures.bin_of` computes)."""
    return (f"width_bucket(ln(greatest({value_us}, 1)::double precision / 1000.0), "
            f"ln({BIN_LOW_MS!r}), ln({BIN_HIGH_MS!r}), {INNER_BINS})")


@dataclass(frozen=True, slots=True)
class Histogram:
    """A histogram of a duration: one column per bin, `<name>_h00` .. `<name>_h31`."""

    name: str
    value: str
    """The llm_calls column, in microseconds."""
    nullable: bool
    """Calls without a value are in no bin."""
    stored_bin: str | None = None
    """A generated llm_calls column holding the bin, when there is one."""

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(f"{self.name}_h{i:02d}" for i in range(BINS))

    @property
    def bin_of_value(self) -> str:
        """SQL computing a call's bin from its value."""
        return bin_expression(self.value)

    @property
    def row_bin(self) -> str:
        """SQL for a call's bin, NULL for a call without a value: the stored bin where there
        is one, else computed (and not for calls without a value)."""
        if self.stored_bin is not None:
            return self.stored_bin
        if self.nullable:
            return f"CASE WHEN {self.value} IS NOT NULL THEN {self.bin_of_value} END"
        return self.bin_of_value

    def over_calls(self, index: int) -> str:
        """The SQL aggregate counting a cell's calls in bin `index`, as a continuous aggregate
        computes it from llm_calls."""
        counted = self.value if self.nullable else "*"
        return f"count({counted}) FILTER (WHERE {self.stored_bin or self.bin_of_value} = {index})"

    @staticmethod
    def in_bin(index: int, bin_column: str) -> str:
        """The SQL aggregate counting rows whose `bin_column` (a `row_bin`) is `index`."""
        return f"count(*) FILTER (WHERE {bin_column} = {index})"


HISTOGRAMS: tuple[Histogram, ...] = (
    Histogram("latency", "latency_us", nullable=False, stored_bin="latency_bin"),
    Histogram("ttft", "ttft_us", nullable=True),
)

# The columns of llm_calls an aggregate can be keyed by, in the order of the keys.
DIMENSION_KEYS = ("provider", "model", "agent_id", "service_name", "operation", "status",
                  "environment", "error_type")
CALL_KEYS = (*DIMENSION_KEYS, "user_id")


@dataclass(frozen=True, slots=True)
class Aggregate:
    name: str
    grain: Grain
    keys: tuple[str, ...]
    """Its key columns besides project_id and bucket (columns of llm_calls)."""
    histograms: bool
    source: str = RAW
    """What it is computed from: llm_calls, or a finer aggregate with at least its keys (in
    `timescale` mode a continuous aggregate on a continuous aggregate)."""
    why: str = ""

    @property
    def columns(self) -> tuple[str, ...]:
        """Every measure column, in order."""
        sums = tuple(s.name for s in SUMS)
        if not self.histograms:
            return sums
        return sums + tuple(c for h in HISTOGRAMS for c in h.columns)

    @property
    def key(self) -> tuple[str, ...]:
        """Its unique key, in the order the writers lock rows in."""
        return ("project_id", "bucket", *self.keys)

    def carries(self, keys: frozenset[str], histograms: bool) -> bool:
        """Whether it can answer a question grouped or filtered by `keys`."""
        return keys <= set(self.keys) and (self.histograms or not histograms)


AGGREGATES: tuple[Aggregate, ...] = (
    Aggregate("llm_calls_1h", Grain.HOUR, DIMENSION_KEYS, histograms=True,
              why="every dimension but users, sessions and tags, per hour"),
    Aggregate("llm_calls_1d", Grain.DAY, DIMENSION_KEYS, histograms=True,
              source="llm_calls_1h", why="the same per day, for long ranges"),
    Aggregate("llm_calls_total_1h", Grain.HOUR, (), histograms=True,
              why="questions without filter or breakdown: one row per hour"),
    Aggregate("llm_calls_total_1d", Grain.DAY, (), histograms=True,
              source="llm_calls_total_1h", why="the same per day"),
    Aggregate("llm_calls_user_1d", Grain.DAY, ("user_id",), histograms=False,
              why="ranking users: one row per user and day (sums only)"),
)
"""In dependency order: each after the aggregate it is computed from."""

_BY_NAME = {a.name: a for a in AGGREGATES}


def aggregate(name: str) -> Aggregate:
    return _BY_NAME[name]


def _check() -> None:
    names = [a.name for a in AGGREGATES] + [RAW] + [s.name for s in SUMS] + list(CALL_KEYS)
    assert all(n.isidentifier() and n == n.lower() for n in names)  # plain SQL identifiers
    for a in AGGREGATES:
        assert set(a.keys) <= set(CALL_KEYS), a.name
        if a.source != RAW:
            parent = _BY_NAME[a.source]
            assert AGGREGATES.index(parent) < AGGREGATES.index(a), a.name
            assert set(a.keys) <= set(parent.keys) and (parent.histograms or not a.histograms)
            ratio = a.grain.width / parent.grain.width
            assert ratio == math.floor(ratio), a.name  # a bucket is whole parent buckets


_check()
