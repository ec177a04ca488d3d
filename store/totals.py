"""Measures of the calls in a range, grouped by calendar bucket (in any time zone) and by one
dimension, with any filters: the engine under every analytics endpoint.

Where the filters and the dimension are columns of the aggregates, whole days come from
`llm_calls_1d`, whole hours from `llm_calls_1h`, and only partial hours from `llm_calls`. Users
are ranked, without filters, from `llm_calls_user_1d` for whole UTC days and `llm_calls` for
the rest; otherwise the other dimensions (user, session, tags) are answered from `llm_calls`
alone.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from . import queries
from .buckets import Granularity, Segment, segments
from .measures import Measures

__all__ = [
    "DIMENSIONS",
    "Dimension",
    "Filters",
    "Grouped",
    "TAG_PREFIX",
    "dimension_of",
    "grouped_totals",
    "raw_only",
    "raw_span",
]

_UTC = timezone.utc
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)


@dataclass(frozen=True, slots=True)
class Dimension:
    name: str
    column: str
    """Its column in llm_calls."""
    in_aggregates: bool
    daily_sums: str | None = None
    """An aggregate holding its sums (no histograms) per UTC day, for questions without filters."""


DIMENSIONS: dict[str, Dimension] = {d.name: d for d in (
    Dimension("provider", "provider", True),
    Dimension("model", "model", True),
    Dimension("agent", "agent_id", True),
    Dimension("service", "service_name", True),
    Dimension("operation", "operation", True),
    Dimension("status", "status", True),
    Dimension("environment", "environment", True),
    Dimension("error_type", "error_type", True),
    Dimension("user", "user_id", False, daily_sums="llm_calls_user_1d"),
    Dimension("session", "session_id", False),
)}
TAG_PREFIX = "tags."


@dataclass(frozen=True, slots=True)
class Filters:
    """Equality filters, ANDed; `tags` pairs match the tag's value as text."""

    agent_id: str | None = None
    model: str | None = None
    provider: str | None = None
    service: str | None = None
    environment: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    status: str | None = None
    tags: tuple[tuple[str, str], ...] = ()

    _COLUMNS = {"agent_id": ("agent_id", True), "model": ("model", True),
                "provider": ("provider", True), "service": ("service_name", True),
                "environment": ("environment", True), "user_id": ("user_id", False),
                "session_id": ("session_id", False), "status": ("status", True)}

    def _set(self) -> Iterable[tuple[str, str, bool, str]]:
        for name, (column, in_aggregates) in self._COLUMNS.items():
            value = getattr(self, name)
            if value is not None:
                yield name, column, in_aggregates, value

    @property
    def in_aggregates(self) -> bool:
        return not self.tags and all(in_agg for _, _, in_agg, _ in self._set())

    @property
    def indexed(self) -> bool:
        """A filter an index of llm_calls narrows to few rows over any range."""
        return self.user_id is not None or self.session_id is not None

    def sql(self) -> tuple[sql.Composed, dict[str, Any]]:
        """` AND column = %(f_name)s ...` and its parameters."""
        parts: list[sql.Composable] = []
        params: dict[str, Any] = {}
        for name, column, _, value in self._set():
            parts.append(sql.SQL(" AND {} = {}").format(sql.Identifier(column),
                                                       sql.Placeholder(f"f_{name}")))
            params[f"f_{name}"] = value
        for i, (key, value) in enumerate(self.tags):
            parts.append(sql.SQL(" AND tags ->> {} = {}").format(
                sql.Placeholder(f"tag_k{i}"), sql.Placeholder(f"tag_v{i}")))
            params[f"tag_k{i}"], params[f"tag_v{i}"] = key, value
        return sql.Composed(parts), params


def dimension_of(name: str) -> Dimension | None:
    """A dimension by its API name: one of DIMENSIONS, or `tags.<key>`."""
    if name.startswith(TAG_PREFIX) and len(name) > len(TAG_PREFIX):
        return Dimension(name, name[len(TAG_PREFIX):], False)
    return DIMENSIONS.get(name)


def raw_only(filters: Filters, dimension: Dimension | None = None) -> bool:
    """Whether the answer must come from llm_calls alone."""
    return not filters.in_aggregates or (dimension is not None and not dimension.in_aggregates)


@dataclass(slots=True)
class Grouped:
    """Measures per (bucket, key). The bucket is a calendar bucket's name (see
    buckets.bucket_label), or None without a granularity; the key is the dimension's value
    (None: calls without one, or no dimension)."""

    cells: dict[tuple[datetime | None, str | None], Measures]

    def by_key(self) -> dict[str | None, Measures]:
        return _merged((key, measures) for (_, key), measures in self.cells.items())

    def by_bucket(self) -> dict[datetime | None, Measures]:
        return _merged((bucket, measures) for (bucket, _), measures in self.cells.items())

    def total(self) -> Measures:
        total = Measures()
        for measures in self.cells.values():
            total.add(measures)
        return total


K = TypeVar("K")


def _merged(items: Iterable[tuple[K, Measures]]) -> dict[K, Measures]:
    """Measures summed per key. A key seen once keeps its cell's object (a ranking over 10,000
    users would otherwise spend most of its time copying histograms); a new object is made
    only for a key seen twice, so the cells themselves never change."""
    out: dict[K, Measures] = {}
    owned: set[K] = set()
    for key, measures in items:
        seen = out.get(key)
        if seen is None:
            out[key] = measures
        elif key in owned:
            seen.add(measures)
        else:
            merged = Measures()
            merged.add(seen)
            merged.add(measures)
            out[key] = merged
            owned.add(key)
    return out


def _floor(t: datetime, step: timedelta) -> datetime:
    return _EPOCH + ((t - _EPOCH) // step) * step


def _ceil(t: datetime, step: timedelta) -> datetime:
    floored = _floor(t, step)
    return floored if floored == t else floored + step


@dataclass(slots=True)
class _Plan:
    days: list[tuple[datetime, datetime]]
    hours: list[tuple[datetime, datetime]]
    raw: list[tuple[datetime, datetime]]
    raw_buckets: list[datetime | None]


def _append(ranges: list[tuple[datetime, datetime]], lo: datetime, hi: datetime) -> None:
    if lo >= hi:
        return
    if ranges and ranges[-1][1] == lo:  # adjacent: one range, fewer index scans
        ranges[-1] = (ranges[-1][0], hi)
    else:
        ranges.append((lo, hi))


def _plan(parts: list[Segment], use_aggregates: bool, days_only: bool = False) -> _Plan:
    """Which ranges come from the daily and hourly aggregates and which from llm_calls;
    `days_only` when there is no hourly aggregate to read."""
    plan = _Plan([], [], [], [])

    def raw(lo: datetime, hi: datetime, bucket: datetime | None) -> None:
        if lo < hi:
            plan.raw.append((lo, hi))
            plan.raw_buckets.append(bucket)

    for part in parts:
        if days_only:
            day_lo, day_hi = _ceil(part.start, _DAY), _floor(part.end, _DAY)
            if day_lo >= day_hi:
                raw(part.start, part.end, part.bucket)
            else:
                raw(part.start, day_lo, part.bucket)
                _append(plan.days, day_lo, day_hi)
                raw(day_hi, part.end, part.bucket)
            continue
        hour_lo, hour_hi = _ceil(part.start, _HOUR), _floor(part.end, _HOUR)
        if not use_aggregates or hour_lo >= hour_hi:
            raw(part.start, part.end, part.bucket)
            continue
        raw(part.start, hour_lo, part.bucket)
        raw(hour_hi, part.end, part.bucket)
        day_lo, day_hi = _ceil(hour_lo, _DAY), _floor(hour_hi, _DAY)
        if day_lo < day_hi:
            _append(plan.hours, hour_lo, day_lo)
            _append(plan.days, day_lo, day_hi)
            _append(plan.hours, day_hi, hour_hi)
        else:
            _append(plan.hours, hour_lo, hour_hi)
    return plan


def _only_keys(conditions: sql.Composed, params: dict[str, Any], key: sql.Composable,
               keys: list[str | None]) -> tuple[sql.Composed, dict[str, Any]]:
    values = [k for k in keys if k is not None]
    wanted = sql.SQL("{} = ANY(%(only_keys)s)").format(key)
    if None in keys:
        wanted = sql.SQL("({} OR {} IS NULL)").format(wanted, key)
    return (sql.Composed([conditions, sql.SQL(" AND "), wanted]),
            {**params, "only_keys": values})


def _parts(start: datetime, end: datetime, granularity: Granularity | None,
           zone: tzinfo) -> list[Segment]:
    if granularity is None:
        return [Segment(start, end, None)] if start < end else []  # type: ignore[arg-type]
    return segments(start, end, granularity, zone)


def _daily_sums(filters: Filters, dimension: Dimension | None, histograms: bool) -> str | None:
    """The dimension's daily aggregate, when it can answer."""
    if dimension is None or histograms or filters != Filters():
        return None
    return dimension.daily_sums


def _plan_for(parts: list[Segment], filters: Filters, dimension: Dimension | None,
              histograms: bool) -> _Plan:
    if _daily_sums(filters, dimension, histograms):
        return _plan(parts, True, days_only=True)
    return _plan(parts, not raw_only(filters, dimension))


def raw_span(start: datetime, end: datetime, filters: Filters = Filters(),
             dimension: Dimension | None = None, granularity: Granularity | None = None,
             zone: tzinfo = _UTC, histograms: bool = True) -> timedelta:
    """How much time of llm_calls grouped_totals() reads for these arguments (the rest comes
    from the aggregates)."""
    plan = _plan_for(_parts(start, end, granularity, zone), filters, dimension, histograms)
    return sum((hi - lo for lo, hi in plan.raw), timedelta())


async def grouped_totals(
    conn: psycopg.AsyncConnection,
    project_id: int,
    start: datetime,
    end: datetime,
    filters: Filters = Filters(),
    dimension: Dimension | None = None,
    granularity: Granularity | None = None,
    zone: tzinfo = _UTC,
    *,
    histograms: bool = True,
    keys: list[str | None] | None = None,
) -> Grouped:
    """Measures of the calls in [start, end) per (calendar bucket in `zone`, dimension value);
    without `histograms` (cheaper) the histograms stay empty; with `keys`, only those values of
    the dimension."""
    parts = _parts(start, end, granularity, zone)
    plan = _plan_for(parts, filters, dimension, histograms)
    daily_sums = _daily_sums(filters, dimension, histograms)
    conditions, params = filters.sql()
    # Without filters or a dimension, the per-project totals answer with one row per bucket.
    totals_only = dimension is None and not params
    if dimension is None:
        key: sql.Composable = sql.SQL("NULL::text")
    elif dimension.name.startswith(TAG_PREFIX):
        key = sql.SQL("c.tags ->> {}").format(sql.Literal(dimension.column))
    else:
        key = sql.Identifier(dimension.column)
    params["project_id"] = project_id
    if keys is not None and dimension is not None:
        conditions, params = _only_keys(conditions, params, key, keys)
    starts = [part.start for part in parts]

    def bucket_at(moment: datetime) -> datetime | None:
        return parts[bisect.bisect_right(starts, moment) - 1].bucket

    cells: dict[tuple[datetime | None, str | None], Measures] = {}

    def add(bucket: datetime | None, key_value: str | None, values: list[Any]) -> None:
        measures = Measures.from_row(values)
        cell = cells.get((bucket, key_value))
        if cell is None:
            cells[(bucket, key_value)] = measures
        else:
            cell.add(measures)

    daily, hourly = (("llm_calls_total_1d", "llm_calls_total_1h") if totals_only
                     else ("llm_calls_1d", "llm_calls_1h"))
    if daily_sums:
        daily = daily_sums  # and plan.hours is empty
    for table, ranges in ((daily, plan.days), (hourly, plan.hours)):
        if not ranges:
            continue
        cur = await conn.execute(queries.grouped_aggregate(
            table, key, conditions, ranges, histograms, by_bucket=len(parts) > 1), params)
        for moment, key_value, *values in await cur.fetchall():
            add(bucket_at(moment), key_value, values)
    if plan.raw:
        merged: list[tuple[datetime, datetime]] = []
        for lo, hi in plan.raw:
            _append(merged, lo, hi)
        # In one part, every range belongs to its one bucket: grouping by key is enough.
        raw_starts = [lo for lo, _ in plan.raw][:1 if len(parts) == 1 else None]
        raw_params = {**params, "starts": raw_starts}
        cur = await conn.execute(
            queries.grouped_raw(key, conditions, merged, raw_starts, histograms), raw_params)
        for number, key_value, *values in await cur.fetchall():
            add(plan.raw_buckets[number - 1], key_value, values)
    return Grouped(cells)
