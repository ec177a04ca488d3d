"""The call analytics operations (llm, summary, timeseries, breakdown, compare, sessions,
anomalies, tag keys) and the calls themselves (a page, one call): plan, run the plan, shape. Their parameters are parsed by the
spec (spec.ENDPOINTS) and they answer HTTP and gRPC alike (operation.Context in, Answer out).
One engine (store.planner, store.executor) answers them all."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg

from spantally.common.errors import InvalidArgument, NotFound
from spantally.store import (
    ANOMALY_STATUSES,
    DIMENSIONS,
    AnomalyRules,
    Breakdown,
    Dimension,
    Explain,
    Filters,
    Grain,
    Granularity,
    Measures,
    Plan,
    Question,
    breakdown,
    dimension_of,
    execute,
    find_anomalies,
    find_call,
    list_stored_anomalies,
    plan,
    recent_calls,
    sessions_page,
    sessions_stored,
    tag_keys,
)

from .analytics_params import (
    Period,
    check_raw_span,
    compare_of,
    explain_of,
    period_of,
    series_of,
    span_of,
)
from .call_shape import CALL_COLUMNS, TAG_KEY_COLUMNS, call_json, call_row, tag_key_row
from .export import flatten
from .operation import Answer, Context, Operation
from .shape import (
    Money,
    anomaly_row,
    breakdown_rows,
    changes,
    explained,
    iso_local,
    llm_json,
    measures_row,
    session_row,
    sessions_summary_json,
    stored_anomaly_row,
)
from .spec import Args

__all__ = ["OPERATIONS", "breakdown_columns", "timeseries_columns"]

_HOUR = timedelta(hours=1)
_NO_FILTERS = Filters()
_BY_MODEL = (DIMENSIONS["provider"], DIMENSIONS["model"])
# What a list of tag keys reads: every tag of the raw calls (planned as a tag dimension is).
_ANY_TAG = Dimension("tags.*", "*", tag=True)


def _checked(question: Question, max_raw_days: float, what: str) -> Plan:
    """The plan of `question`, refused when it reads too many raw calls."""
    planned = plan(question)
    check_raw_span(planned, max_raw_days, what)
    return planned


async def _total(conn: psycopg.AsyncConnection, project_id: int, planned: Plan,
                 explain: Explain | None) -> Measures:
    return (await execute(conn, project_id, planned, explain)).total()


async def _llm(ctx: Context, args: Args) -> Answer:
    """Reference 003, field for field: summary, byModel and byTime (UTC buckets)."""
    config = ctx.config
    period = period_of(args, config.max_range_days)
    explain = explain_of(args)
    filters = args.filters()
    planned = _checked(Question(period.start, period.end, filters, _BY_MODEL,
                                Granularity(args["granularity"]), histograms=False,
                                tag_keys=await ctx.tag_keys(filters)),
                       config.max_raw_range_days, "this query")
    money = await ctx.money(args)
    async with ctx.reading() as conn:
        grouped = await execute(conn, ctx.project_id, planned, explain)
    body = llm_json(grouped.total(), grouped.by_key(), grouped.by_bucket(), money)
    return Answer(explained(body, explain))


async def _summary(ctx: Context, args: Args) -> Answer:
    config = ctx.config
    period = period_of(args, config.max_range_days)
    filters = args.filters()
    explain = explain_of(args)
    previous = compare_of(args, period, config.max_range_days)
    tag_keys = await ctx.tag_keys(filters)
    plans = [_checked(Question(p.start, p.end, filters, tag_keys=tag_keys),
                      config.max_raw_range_days, "this summary")
             for p in ((period, previous) if previous else (period,))]
    money = await ctx.money(args)
    async with ctx.reading() as conn:
        current = await _total(conn, ctx.project_id, plans[0], explain)
        before = await _total(conn, ctx.project_id, plans[1], explain) if previous else None
    body: dict[str, Any] = {**period.as_json(), **measures_row(current, money)}
    if previous is not None and before is not None:
        body["previous"] = {**previous.as_json(), **measures_row(before, money)}
        body["changes"] = changes(current, before)
    rows = [dict(body)]
    return Answer(explained(body, explain), rows, tuple(flatten(rows[0])), "summary")


def timeseries_columns(money: Money | None = None) -> tuple[str, ...]:
    return ("bucket", *measures_row(Measures(), money))


async def _timeseries(ctx: Context, args: Args) -> Answer:
    config = ctx.config
    period = period_of(args, config.max_range_days)
    series = series_of(args)
    explain = explain_of(args)
    filters = args.filters()
    planned = _checked(Question(period.start, period.end, filters,
                                granularity=series.granularity, zone=series.zone,
                                tag_keys=await ctx.tag_keys(filters)),
                       config.max_raw_range_days, "this time series")
    money = await ctx.money(args)
    async with ctx.reading() as conn:
        grouped = await execute(conn, ctx.project_id, planned, explain)
    by_bucket = grouped.by_bucket()
    rows = [{"bucket": iso_local(b),  # type: ignore[arg-type]
             **measures_row(by_bucket.get(b) or Measures(), money)}
            for b in series.buckets(period, by_bucket)]  # type: ignore[arg-type]
    body = {**period.as_json(), **series.as_json(), "data": rows}
    return Answer(explained(body, explain), rows, timeseries_columns(money), "timeseries")


def breakdown_columns(compared: bool, money: Money | None = None) -> tuple[str, ...]:
    empty = Breakdown([(None, Measures())], Measures(), False, Measures())
    template = breakdown_rows(empty, "cost", empty if compared else None, money)[0]
    return tuple(flatten(template))


async def _breakdown(ctx: Context, args: Args) -> Answer:
    config = ctx.config
    dimension = dimension_of(args["dimension"])
    assert dimension is not None  # the spec checked it
    period = period_of(args, config.max_range_days)
    filters = args.filters()
    sort, order, limit = args["sort"], args["order"], args["limit"]
    explain = explain_of(args)
    previous = compare_of(args, period, config.max_range_days)
    tag_keys = await ctx.tag_keys(filters, dimension)
    # A breakdown scans the range for sums only; the histograms of its top values come through
    # their index (users, sessions) or in the same pass (tags).
    for checked in (period, previous) if previous else (period,):
        _checked(Question(checked.start, checked.end, filters, (dimension,), histograms=False,
                          tag_keys=tag_keys),
                 config.max_raw_range_days, f"a breakdown by {dimension.name}")
    money = await ctx.money(args)
    async with ctx.reading() as conn:
        current = await breakdown(conn, ctx.project_id, period.start, period.end, filters,
                                  dimension, sort, limit, explain=explain, order=order,
                                  tag_keys=tag_keys)
        before = await breakdown(conn, ctx.project_id, previous.start, previous.end, filters,
                                 dimension, sort, limit, [key for key, _ in current.rows],
                                 explain=explain, tag_keys=tag_keys) if previous else None
    rows = breakdown_rows(current, sort, before, money)
    body: dict[str, Any] = {**period.as_json(), "dimension": dimension.name, "sort": sort,
                            "order": order, "data": rows,
                            "total": measures_row(current.total, money)}
    if previous is not None and before is not None:
        body["previous"] = {**previous.as_json(), "total": measures_row(before.total, money)}
    return Answer(explained(body, explain), rows,
                  breakdown_columns(previous is not None, money), f"breakdown-{dimension.name}")


async def _compare(ctx: Context, args: Args) -> Answer:
    """Two periods: from..to against compareFrom..compareTo, or against the period of the same
    length just before (the default)."""
    config = ctx.config
    period = period_of(args, config.max_range_days)
    filters = args.filters()
    explain = explain_of(args)
    previous = compare_of(args, period, config.max_range_days) or period.previous()
    tag_keys = await ctx.tag_keys(filters)
    plans = [_checked(Question(p.start, p.end, filters, tag_keys=tag_keys),
                      config.max_raw_range_days, "this comparison") for p in (period, previous)]
    money = await ctx.money(args)
    async with ctx.reading() as conn:
        current = await _total(conn, ctx.project_id, plans[0], explain)
        before = await _total(conn, ctx.project_id, plans[1], explain)
    return Answer(explained({
        "current": {**period.as_json(), **measures_row(current, money)},
        "previous": {**previous.as_json(), **measures_row(before, money)},
        "changes": changes(current, before),
    }, explain))


_SESSION_COLUMNS = ("sessionId", "startedAt", "endedAt", "durationMs", "calls", "errorCalls",
                    "inputTokens", "outputTokens", "totalTokens", "costUsd", "costNanoUsd",
                    "unpricedCalls", "userId", "agentId")


async def _sessions(ctx: Context, args: Args) -> Answer:
    config = ctx.config
    period = period_of(args, config.max_range_days)
    filters = args.filters()
    order, limit, offset = args["sort"], args["limit"], args["offset"]
    explain = explain_of(args)
    if not sessions_stored(filters):  # else read from llm_sessions, over any range
        _checked(Question(period.start, period.end, filters, (DIMENSIONS["session"],)),
                 config.max_raw_range_days, "a list of sessions under a filter")
    async with ctx.reading() as conn:
        found, summary = await sessions_page(conn, ctx.project_id, period.start, period.end,
                                             filters, order, limit, offset, explain)
    rows = [session_row(s) for s in found]
    body = {**period.as_json(), "sort": order, "limit": limit, "offset": offset,
            "data": rows, "summary": sessions_summary_json(summary)}
    return Answer(explained(body, explain), rows, _SESSION_COLUMNS, "sessions")


_ANOMALY_COLUMNS = ("id", "hour", "detectedAt", "type", "scope", "scopeKey", "severity",
                    "expectedValue", "actualValue", "unit", "baselineDays", "zScore",
                    "description")
_STORED_ANOMALY_COLUMNS = (*_ANOMALY_COLUMNS, "status", "lastHour", "resolvedAt",
                           "dismissedAt")


_MAX_ANOMALY_DAYS = 31


def _whole_hours(period: Period) -> list[datetime]:
    first = Grain.HOUR.ceil(period.start)
    count = max(0, (period.end - first) // _HOUR)
    return [first + i * _HOUR for i in range(count)]


async def _anomalies(ctx: Context, args: Args) -> Answer:
    """Spikes in the whole UTC hours of from..to (default: the last 24 hours), judged now; or
    with `status`, those the hourly detector stored that held in from..to."""
    config = ctx.config
    period = period_of(args, config.max_range_days)
    filters = args.filters()
    status = args["status"]
    if status is not None:
        return await _stored_anomalies(ctx, args, period, status)
    explain = explain_of(args)
    if period.length > timedelta(days=_MAX_ANOMALY_DAYS):
        raise InvalidArgument(f"from..to: anomalies are judged over at most {_MAX_ANOMALY_DAYS}"
                              " days at a time")
    rules = AnomalyRules(min_calls=config.anomaly_min_calls)

    def check(planned: Plan) -> None:
        check_raw_span(planned, config.max_raw_range_days,
                       f"anomaly detection (with its {rules.baseline_days}-day baseline)")

    async with ctx.reading() as conn:
        found = await find_anomalies(conn, ctx.project_id, _whole_hours(period), filters, rules,
                                     explain, check)
    rows = [anomaly_row(a) for a in found]
    body = {**period.as_json(), "baselineDays": rules.baseline_days, "data": rows}
    return Answer(explained(body, explain), rows, _ANOMALY_COLUMNS, "anomalies")


async def _stored_anomalies(ctx: Context, args: Args, period: Period, status: str) -> Answer:
    if args.filters() != _NO_FILTERS:
        raise InvalidArgument("status: the detector judges all of a project's calls; filters "
                              "apply to anomalies judged on request (without status)")
    if args["explain"] == "true":
        raise InvalidArgument("explain: stored anomalies are read as they are; explain applies "
                              "to anomalies judged on request (without status)")
    statuses = ANOMALY_STATUSES if status == "any" else (status,)
    async with ctx.reading() as conn:
        found = await list_stored_anomalies(conn, ctx.project_id, period.start, period.end,
                                            statuses)
    rows = [stored_anomaly_row(a) for a in found]
    body = {**period.as_json(), "baselineDays": AnomalyRules().baseline_days, "status": status,
            "data": rows}
    return Answer(body, rows, _STORED_ANOMALY_COLUMNS, f"anomalies-{status}")


async def _calls(ctx: Context, args: Args) -> Answer:
    """The newest calls in the range (default: the last 24 hours), with the analytics filters,
    a page at a time."""
    period = period_of(args, ctx.config.max_range_days)
    async with ctx.reading() as conn:
        calls = await recent_calls(conn, ctx.project_id, period.start, period.end,
                                   args.filters(), args["limit"], args["offset"])
    rows = [call_row(c) for c in calls]
    return Answer({"calls": rows}, rows, CALL_COLUMNS, "calls")


async def _call(ctx: Context, args: Args) -> Answer:
    """One call, everything stored about it."""
    trace_id, span_id = span_of(args)
    async with ctx.reading() as conn:
        found = await find_call(conn, ctx.project_id, trace_id, span_id)
    if found is None:
        raise NotFound(f"no call {trace_id.hex()}/{span_id.hex()} in this project")
    return Answer(call_json(found))


async def _tags(ctx: Context, args: Args) -> Answer:
    """The tag keys of the calls in the range: what `tags.<key>` breakdowns and `tags`
    filters can name."""
    config = ctx.config
    period = period_of(args, config.max_range_days)
    filters = args.filters()
    # Tags are in the raw calls only: the same limit as a breakdown by a tag's values.
    _checked(Question(period.start, period.end, filters, (_ANY_TAG,)),
             config.max_raw_range_days, "a list of tag keys")
    async with ctx.reading() as conn:
        found = await tag_keys(conn, ctx.project_id, period.start, period.end, filters,
                               args["limit"])
    rows = [tag_key_row(t) for t in found]
    return Answer({**period.as_json(), "data": rows}, rows, TAG_KEY_COLUMNS, "tags")


OPERATIONS: dict[str, Operation] = {
    "llm": _llm, "summary": _summary, "timeseries": _timeseries, "breakdown": _breakdown,
    "compare": _compare, "sessions": _sessions, "anomalies": _anomalies, "calls": _calls,
    "call": _call, "tags": _tags,
}
"""The operations of this module, by their spec.ENDPOINTS name."""
