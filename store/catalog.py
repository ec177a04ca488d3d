"""Every aggregate SpanTally keeps, described once, as data.

A *fact* is a relation of one row per span that analytics summarize: LLM calls (`CALLS`,
llm_calls) and agent runs (`RUNS`, agent_runs). Each has its sums and histograms, and the
columns its aggregates can be keyed by. An aggregate holds, per (project, UTC bucket of its
grain, its key columns), the sums and counts of its fact's `sums` over the rows in that cell,
and (when it has them) the bins of every histogram of its fact. Nothing here is an average, so
any set of cells adds up exactly.

Everything that lists aggregates derives from `AGGREGATES`:
- `store.ddl` turns it into SQL: the ingest function that keeps the call aggregates at ingest
  and the statement adding run changes to the run aggregates (`apache`, `postgres`), the
  continuous-aggregate definitions (`timescale`), re-pricing;
- the writer's and re-pricing's refreshes, retention, maintenance, and the planner's choice of
  relation for a question about either fact.
`tests/test_catalog.py` checks that a migrated database holds exactly what this module says.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

__all__ = [
    "AGGREGATES",
    "CALLS",
    "CONTINUOUS_AGGREGATES",
    "RUNS",
    "RUN_HISTOGRAMS",
    "RUN_ROLLUPS",
    "RUN_ELEMENT_KEYS",
    "RUN_KEYS",
    "RUN_SUMS",
    "BIN_HIGH_MS",
    "BIN_LOW_MS",
    "BINS",
    "CALL_KEYS",
    "DIMENSION_KEYS",
    "Aggregate",
    "Fact",
    "Grain",
    "HISTOGRAMS",
    "Histogram",
    "INNER_BINS",
    "RAW",
    "RAW_RELATIONS",
    "SCHEMA_VERSION",
    "SESSIONS",
    "SESSION_MEASURES",
    "Merge",
    "SessionMeasure",
    "TAG_AGGREGATES",
    "TAG_COLUMNS",
    "SUMS",
    "Sum",
    "aggregate",
    "aggregates_of",
    "bin_expression",
    "each_element",
    "tag_elements",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

SCHEMA_VERSION = 23
"""The migration after which the database holds the aggregates as described here. A change to
the catalog comes with a migration that brings the tables along, and raises this."""

RAW = "llm_calls"
"""The relation of one row per call that the call aggregates summarize."""

RAW_RELATIONS = (RAW, "agent_runs", "tool_calls", "span_links")
"""Every relation of one row per span (store/runs.py), each kept for the raw retention."""


class Grain(enum.Enum):
    """The width of an aggregate's buckets, in UTC."""

    FIVE_MINUTES = "5 minutes"
    HOUR = "1 hour"
    DAY = "1 day"

    def __init__(self, interval: str) -> None:
        amount, unit = interval.split()
        # An attribute, not a property looking the member up: planning a range of 720 hours
        # asks for it thousands of times, and hashing an enum member is a Python call.
        self.width: timedelta = timedelta(**{unit.rstrip("s") + "s": int(amount)})

    @property
    def interval(self) -> str:
        """SQL for the width, an interval literal."""
        return f"INTERVAL '{self.value}'"

    def bucket_of(self, column: str) -> str:
        """SQL for the start of the UTC bucket holding the timestamptz `column` (what `floor`
        computes): buckets counted from the epoch, so every grain nests in the coarser ones."""
        return f"date_bin({self.interval}, {column}, TIMESTAMPTZ '1970-01-01 00:00:00+00')"

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
        return timedelta(minutes=10) if self is Grain.DAY else timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Sum:
    """One measure: its column in every aggregate (and field of `store.measures.Measures`),
    and the SQL aggregate computing it from the calls of a cell."""

    name: str
    over_rows: str
    """Over the rows of its fact's relation (calls or runs)."""
    reads: tuple[str, ...] = ()
    """The columns `over_rows` reads."""


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
    """The column of its fact's relation, in microseconds."""
    nullable: bool
    """Rows without a value are in no bin."""
    stored_bin: str | None = None
    """A generated column holding the bin, when there is one."""

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

    def over_rows(self, index: int) -> str:
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
CALL_KEYS = (*DIMENSION_KEYS, "request_model", "user_id")

# Agent runs (store/runs.py): the roll-ups of a run's steps are columns of agent_runs, kept
# exact as steps arrive; an aggregate adds them up over the runs that started in a bucket.
RUN_ROLLUPS = ("llm_calls", "llm_errors", "tool_calls", "tool_errors", "input_tokens",
                "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens",
                "cost_nano_usd", "unpriced_calls")
# In the order of RunMeasures' fields.
RUN_SUMS: tuple[Sum, ...] = (
    Sum("runs", "count(*)"),
    Sum("failed_runs", "count(*) FILTER (WHERE status = 'error')", ("status",)),
    Sum("duration_us_sum", "sum(duration_us)::bigint", ("duration_us",)),
    *(Sum(c, f"sum({c})::bigint", (c,)) for c in RUN_ROLLUPS),
)
RUN_HISTOGRAMS: tuple[Histogram, ...] = (Histogram("duration", "duration_us", nullable=False),)
RUN_KEYS = ("agent_id", "service_name", "environment", "status", "error_type", "kind")
"""The columns of agent_runs a run aggregate can be keyed by, in the order of the keys."""
RUN_ELEMENT_KEYS = ("model",)
"""Keys a run aggregate can hold a row per element of (`Aggregate.each`): each model used."""


@dataclass(frozen=True, slots=True)
class Fact:
    """What one kind of aggregate summarizes: a relation of one row per span."""

    name: str
    raw: str
    """The relation of one row per call or run."""
    sums: tuple[Sum, ...]
    histograms: tuple[Histogram, ...]
    keys: tuple[str, ...]
    """The columns of `raw` an aggregate of it can be keyed by."""
    used: tuple[tuple[str, str], ...] = ()
    """Filters that match a row holding the value in an array column (filter column, array
    column): a run matches `model` when any of its calls used the model."""


CALLS = Fact("calls", RAW, SUMS, HISTOGRAMS, CALL_KEYS)
RUNS = Fact("runs", "agent_runs", RUN_SUMS, RUN_HISTOGRAMS, (*RUN_KEYS, *RUN_ELEMENT_KEYS),
            used=(("model", "models"), ("provider", "providers")))


def each_element(array: str, key: str) -> str:
    """SQL joining, to rows `c`, each element of their `array` as column `key` (of the alias
    `each_<key>`); a row whose array is empty joins once, with NULL."""
    return (f" CROSS JOIN LATERAL unnest(CASE WHEN c.{array} = '{{}}' THEN ARRAY[NULL::text] "
            f"ELSE c.{array} END) AS each_{key} ({key})")


TAG_COLUMNS = ("tag_key", "tag_value")
"""The key columns of a tag aggregate (`Aggregate.per_tag`): a tag's key and its value."""


def tag_elements(keys: str | None = None) -> str:
    """SQL joining, to rows `c` of llm_calls, a row per tag key that the project's tag
    aggregates hold (projects.tag_keys; or the text[] `keys`), as columns `tag_key` and
    `tag_value`: the call's value of that tag as text (`tags ->> key`, what a tag filter
    reads), NULL when it has none. So each call counts once per key, with or without it."""
    project = "" if keys is not None else " JOIN projects p ON p.id = c.project_id"
    return (f"{project} CROSS JOIN LATERAL (SELECT k AS tag_key, c.tags ->> k AS tag_value "
            f"FROM unnest({keys or 'p.tag_keys'}) AS k) AS each_tag")


@dataclass(frozen=True, slots=True)
class Aggregate:
    name: str
    grain: Grain
    keys: tuple[str, ...]
    """Its key columns besides project_id and bucket (columns of its fact's relation)."""
    histograms: bool
    source: str | None = None
    """What it is computed from: None for its fact's relation, or a finer aggregate with at
    least its keys (in `timescale` mode a continuous aggregate on a continuous aggregate)."""
    why: str = ""
    fact: Fact = CALLS
    each: tuple[str, str] | None = None
    """(key, array column): a row per element of the fact's array column, keyed by it (a run
    counted once per model its calls used). Such an aggregate answers only questions that group
    or filter by that key (any other would count a row once per element), and is a table the
    writers keep in every storage mode: a continuous aggregate cannot unnest."""
    per_tag: bool = False
    """Keyed by TAG_COLUMNS: a row per tag key the project declares (`tag_elements`). It answers
    only questions that read one tag, of a declared key, and nothing else; a table the writers
    keep in every storage mode (a continuous aggregate cannot join the project's keys)."""
    expires_with_raw: bool = False
    """Kept as long as raw rows (the raw retention), not as long as the other aggregates: a
    level finer than an hour only saves reading raw rows at a range's edges, where raw rows
    are."""

    @property
    def continuous(self) -> bool:
        """Whether it is a continuous aggregate in `timescale` mode (else a table kept by the
        writers there too)."""
        return self.each is None and not self.per_tag

    def elements(self, keys: str | None = None) -> str:
        """SQL joining, to rows `c` of its fact, the elements it holds a row per (`each`,
        `per_tag`; `keys`: tag keys other than the project's), or nothing."""
        if self.per_tag:
            return tag_elements(keys)
        return each_element(self.each[1], self.each[0]) if self.each is not None else ""

    @property
    def from_raw(self) -> bool:
        return self.source is None

    @property
    def source_relation(self) -> str:
        return self.fact.raw if self.source is None else self.source

    @property
    def columns(self) -> tuple[str, ...]:
        """Every measure column, in order."""
        sums = tuple(s.name for s in self.fact.sums)
        if not self.histograms:
            return sums
        return sums + tuple(c for h in self.fact.histograms for c in h.columns)

    @property
    def key(self) -> tuple[str, ...]:
        """Its unique key, in the order the writers lock rows in."""
        return ("project_id", "bucket", *self.keys)

    def carries(self, keys: frozenset[str], histograms: bool) -> bool:
        """Whether it can answer a question grouped or filtered by `keys`."""
        if self.each is not None and self.each[0] not in keys:
            return False
        if self.per_tag and "tag_key" not in keys:
            return False
        return keys <= set(self.keys) and (self.histograms or not histograms)


AGGREGATES: tuple[Aggregate, ...] = (
    Aggregate("llm_calls_model_5m", Grain.FIVE_MINUTES, ("provider", "model"), histograms=True,
              expires_with_raw=True,
              why="per model and 5 minutes: a range's edges, read from raw rows no further"),
    Aggregate("llm_calls_total_5m", Grain.FIVE_MINUTES, (), histograms=True,
              expires_with_raw=True, why="the totals per 5 minutes, for the same edges"),
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
    Aggregate("llm_calls_request_model_1h", Grain.HOUR,
              ("provider", "request_model", "model", "status", "error_type"), histograms=True,
              why="a model as asked for, its failures (which know only that) beside its "
                  "successes (which know the model that answered), per hour"),
    Aggregate("llm_calls_request_model_1d", Grain.DAY,
              ("provider", "request_model", "model", "status", "error_type"), histograms=True,
              source="llm_calls_request_model_1h", why="the same per day"),
    Aggregate("llm_calls_tag_1h", Grain.HOUR, TAG_COLUMNS, histograms=True, per_tag=True,
              why="per value of each tag key the project declares (projects.tag_keys), per "
                  "hour"),
    Aggregate("llm_calls_tag_1d", Grain.DAY, TAG_COLUMNS, histograms=True, per_tag=True,
              source="llm_calls_tag_1h", why="the same per day"),
    Aggregate("agent_runs_1h", Grain.HOUR, RUN_KEYS, histograms=True, fact=RUNS,
              why="runs by agent, service, environment, status, error type and kind, per hour"),
    Aggregate("agent_runs_1d", Grain.DAY, RUN_KEYS, histograms=True, fact=RUNS,
              source="agent_runs_1h", why="the same per day, for long ranges"),
    Aggregate("agent_runs_model_1h", Grain.HOUR, ("model", "agent_id"), histograms=True,
              fact=RUNS, each=("model", "models"),
              why="runs per model they used (and agent), per hour"),
    Aggregate("agent_runs_model_1d", Grain.DAY, ("model", "agent_id"), histograms=True,
              fact=RUNS, each=("model", "models"), source="agent_runs_model_1h",
              why="the same per day"),
)
"""In dependency order: each after the aggregate it is computed from."""

CONTINUOUS_AGGREGATES = tuple(a for a in AGGREGATES if a.continuous)
"""The aggregates that are continuous aggregates in `timescale` mode (refreshed, with policies),
in dependency order; the others are tables the writers keep in every mode."""

TAG_AGGREGATES = tuple(a for a in AGGREGATES if a.per_tag)
"""The aggregates per declared tag key, in dependency order."""

_BY_NAME = {a.name: a for a in AGGREGATES}


def aggregate(name: str) -> Aggregate:
    return _BY_NAME[name]


def aggregates_of(fact: Fact) -> tuple[Aggregate, ...]:
    """The aggregates of `fact`, in catalog order."""
    return tuple(a for a in AGGREGATES if a.fact is fact)


# -- sessions ------------------------------------------------------------------------------------
# A session is the calls sharing a session id, and they are far fewer than calls (a
# conversation's turns): SESSIONS holds one row per (project, session) with what its calls add up
# to. Unlike an aggregate's cell it is keyed by no bucket, so a list of sessions over any range
# reads one row per session instead of grouping its calls; a session with calls on both sides of
# a range's edge is counted from its raw calls in the range (store/sessions.py).

SESSIONS = "llm_sessions"


class Merge(enum.Enum):
    """How a session's row takes in more calls: their sum, or the least or greatest value."""

    SUM = "sum"
    LEAST = "least"
    GREATEST = "greatest"


@dataclass(frozen=True, slots=True)
class SessionMeasure:
    """A column of SESSIONS: the SQL aggregate computing it from a session's calls, and how two
    rows of one session merge (every one of them is mergeable, none an average)."""

    name: str
    over_calls: str
    merge: Merge
    type: str
    """Its SQL type, as PostgreSQL names it (format_type)."""
    reads: tuple[str, ...]
    """The llm_calls columns `over_calls` reads."""

    @property
    def nullable(self) -> bool:
        """Whether it can be NULL: the least or greatest of a text a session's calls may all
        lack (its user, its agent); times and sums never are."""
        return self.type == "text"

    @classmethod
    def summed(cls, name: str) -> SessionMeasure:
        """The call measure `name` of SUMS, summed."""
        measure = next(s for s in SUMS if s.name == name)
        return cls(name, measure.over_rows, Merge.SUM, "bigint", measure.reads)


_TIME = "timestamp with time zone"
_ENDS = "time + latency_us * INTERVAL '1 microsecond'"

SESSION_MEASURES: tuple[SessionMeasure, ...] = (
    SessionMeasure("started_at", "min(time)", Merge.LEAST, _TIME, ("time",)),
    SessionMeasure("last_call_at", "max(time)", Merge.GREATEST, _TIME, ("time",)),
    SessionMeasure("ended_at", f"max({_ENDS})", Merge.GREATEST, _TIME,
                   ("time", "latency_us")),
    *map(SessionMeasure.summed, ("calls", "errors", "input_tokens", "output_tokens",
                                 "cost_nano_usd", "unpriced_calls")),
    # A session's user (agent) is the one its calls name when they name exactly one: the
    # least and the greatest are then equal.
    SessionMeasure("user_low", "min(user_id)", Merge.LEAST, "text", ("user_id",)),
    SessionMeasure("user_high", "max(user_id)", Merge.GREATEST, "text", ("user_id",)),
    SessionMeasure("agent_low", "min(agent_id)", Merge.LEAST, "text", ("agent_id",)),
    SessionMeasure("agent_high", "max(agent_id)", Merge.GREATEST, "text", ("agent_id",)),
    # The end of the UTC hour of the last call: where the span index ends
    # (ddl.SESSION_SPAN_INDEXED). A session's next call mostly falls in the same hour, which
    # leaves every indexed column as it was, so its row is updated in place (a HOT update)
    # instead of inserting into each index.
    SessionMeasure("last_hour_end", f"max({Grain.HOUR.bucket_of('time')} + {Grain.HOUR.interval})",
                   Merge.GREATEST, _TIME, ("time",)),
)
"""The columns of SESSIONS besides project_id and session_id, in order."""


def _check() -> None:
    for fact in (CALLS, RUNS):
        names = [fact.raw, *(s.name for s in fact.sums), *fact.keys]
        assert all(n.isidentifier() and n == n.lower() for n in names)  # plain SQL identifiers
    assert all(m.name.isidentifier() and set(m.reads) <= set(CALL_KEYS) | {"time", "latency_us"}
               | {c for s in SUMS for c in s.reads} for m in SESSION_MEASURES)
    for a in AGGREGATES:
        assert a.name.isidentifier() and a.name == a.name.lower()
        assert set(a.keys) <= set(TAG_COLUMNS if a.per_tag else a.fact.keys), a.name
        assert not a.per_tag or (a.fact is CALLS and a.each is None), a.name
        if a.each is not None:
            assert a.each[0] in a.keys and a.each in a.fact.used, a.name
        if a.source is not None:
            parent = _BY_NAME[a.source]
            assert parent.fact is a.fact and parent.each == a.each, a.name
            assert parent.per_tag == a.per_tag, a.name
            assert AGGREGATES.index(parent) < AGGREGATES.index(a), a.name
            assert set(a.keys) <= set(parent.keys) and (parent.histograms or not a.histograms)
            ratio = a.grain.width / parent.grain.width
            assert ratio == math.floor(ratio), a.name  # a bucket is whole parent buckets


_check()
