"""LLM call analytics over any time range, exact and in time proportional to the number of
buckets: whole days come from `llm_calls_1d`, whole hours from `llm_calls_1h`, and only the
partial hours at the edges of the range from the raw `llm_calls`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
from psycopg.rows import class_row

from . import queries
from .buckets import Granularity
from .totals import Filters, raw_only

__all__ = [
    "Granularity",
    "LlmAnalytics",
    "ModelTotals",
    "RangePlan",
    "RecentCall",
    "TimeTotals",
    "Totals",
    "llm_analytics",
    "plan_range",
    "recent_calls",
]

_NO_FILTERS = Filters()
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(slots=True)
class Totals:
    """Sums only, so any two can be added exactly; averages are derived when presenting."""

    calls: int = 0
    cost_nano_usd: int = 0
    unpriced_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    latency_us_sum: int = 0
    latency_count: int = 0
    errors: int = 0

    def add(self, other: Totals) -> None:
        self.calls += other.calls
        self.cost_nano_usd += other.cost_nano_usd
        self.unpriced_calls += other.unpriced_calls
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.latency_us_sum += other.latency_us_sum
        self.latency_count += other.latency_count
        self.errors += other.errors


@dataclass(slots=True)
class ModelTotals:
    provider: str | None
    model: str | None
    totals: Totals = field(default_factory=Totals)


@dataclass(slots=True)
class TimeTotals:
    bucket: datetime
    totals: Totals = field(default_factory=Totals)


@dataclass(slots=True)
class LlmAnalytics:
    summary: Totals
    by_model: list[ModelTotals]
    by_time: list[TimeTotals]


@dataclass(frozen=True, slots=True)
class RangePlan:
    """Half-open ranges per source; an unused one is empty (lo == hi)."""

    days: tuple[datetime, datetime]
    hours: tuple[tuple[datetime, datetime], tuple[datetime, datetime]]
    raw: tuple[tuple[datetime, datetime], tuple[datetime, datetime]]


def _floor(t: datetime, step: timedelta) -> datetime:
    return _EPOCH + ((t - _EPOCH) // step) * step


def _ceil(t: datetime, step: timedelta) -> datetime:
    floored = _floor(t, step)
    return floored if floored == t else floored + step


def plan_range(start: datetime, end: datetime, granularity: Granularity) -> RangePlan:
    """Split [start, end) into whole days (only when the answer is per day or week), whole
    hours, and raw edges, so that together they cover the range exactly once."""
    empty = (start, start)
    hour_lo, hour_hi = _ceil(start, _HOUR), _floor(end, _HOUR)
    if hour_lo >= hour_hi:
        return RangePlan(days=empty, hours=(empty, empty), raw=((start, end), empty))
    raw = ((start, hour_lo), (hour_hi, end))
    if granularity is not Granularity.HOUR:
        day_lo, day_hi = _ceil(hour_lo, _DAY), _floor(hour_hi, _DAY)
        if day_lo < day_hi:
            return RangePlan(days=(day_lo, day_hi), hours=((hour_lo, day_lo), (day_hi, hour_hi)), raw=raw)
    return RangePlan(days=empty, hours=((hour_lo, hour_hi), empty), raw=raw)


async def llm_analytics(
    conn: psycopg.AsyncConnection,
    project_id: int,
    start: datetime,
    end: datetime,
    granularity: Granularity,
    filters: Filters = _NO_FILTERS,
) -> LlmAnalytics:
    """Summary, per-model and per-bucket totals of the calls in [start, end). Filters on what
    the aggregates do not hold (user, session, tags) make it read llm_calls alone."""
    only_raw = raw_only(filters)
    if only_raw:
        empty = (start, start)
        plan = RangePlan(days=empty, hours=(empty, empty), raw=((start, end), empty))
    else:
        plan = plan_range(start, end, granularity)
    conditions, filter_params = filters.sql()
    params: dict[str, object] = {
        "project_id": project_id,
        "day_lo": plan.days[0],
        "day_hi": plan.days[1],
        "hour_lo_1": plan.hours[0][0],
        "hour_hi_1": plan.hours[0][1],
        "hour_lo_2": plan.hours[1][0],
        "hour_hi_2": plan.hours[1][1],
        "raw_lo_1": plan.raw[0][0],
        "raw_hi_1": plan.raw[0][1],
        "raw_lo_2": plan.raw[1][0],
        "raw_hi_2": plan.raw[1][1],
        **filter_params,
    }
    query = queries.llm_analytics(granularity.value, conditions, raw_only=only_raw)
    rows = await (await conn.execute(query, params)).fetchall()

    summary = Totals()
    by_model: dict[tuple[str | None, str | None], ModelTotals] = {}
    by_time: dict[datetime, TimeTotals] = {}
    for bucket, provider, model, *measures in rows:
        totals = Totals(*(int(m or 0) for m in measures))
        summary.add(totals)
        key = (provider, model)
        by_model.setdefault(key, ModelTotals(provider, model)).totals.add(totals)
        by_time.setdefault(bucket, TimeTotals(bucket)).totals.add(totals)
    models = sorted(
        by_model.values(),
        key=lambda m: (-m.totals.cost_nano_usd, -m.totals.calls, m.provider or "", m.model or ""),
    )
    times = sorted(by_time.values(), key=lambda t: t.bucket)
    return LlmAnalytics(summary=summary, by_model=models, by_time=times)


@dataclass(frozen=True, slots=True)
class RecentCall:
    time: datetime
    provider: str | None
    model: str | None
    agent_id: str | None
    session_id: str | None
    user_id: str | None
    operation: str
    streaming: bool | None
    input_tokens: int
    output_tokens: int
    cost_nano_usd: int | None
    latency_us: int
    ttft_us: int | None
    status: str
    error_type: str | None


async def recent_calls(
    conn: psycopg.AsyncConnection, project_id: int, start: datetime, end: datetime,
    filters: Filters, limit: int,
) -> list[RecentCall]:
    """The newest calls in [start, end), newest first."""
    conditions, filter_params = filters.sql()
    params: dict[str, Any] = {"project_id": project_id, "start": start, "end": end,
                              "limit": limit, **filter_params}
    async with conn.cursor(row_factory=class_row(RecentCall)) as cur:
        await cur.execute(queries.recent_calls(conditions), params)
        return await cur.fetchall()
