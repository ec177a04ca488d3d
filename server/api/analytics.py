"""/api/analytics/{llm, summary, timeseries, breakdown/{dimension}, compare, sessions,
anomalies}: parse, plan, run the plan, shape. Every endpoint takes the same filters and
`explain=true`; the list-shaped ones also answer as CSV or NDJSON (`format`). One engine
(store.planner, store.executor) answers them all."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
from aiohttp import web

from spantally.common.errors import InvalidArgument
from spantally.store import (
    DIMENSIONS,
    AnomalyRules,
    Breakdown,
    Explain,
    Grain,
    Granularity,
    Measures,
    Plan,
    Question,
    breakdown,
    detect_anomalies,
    execute,
    list_sessions,
    plan,
    sessions_summary,
)

from .analytics_params import (
    Period,
    check_raw_span,
    parse_breakdown_sort,
    parse_compare,
    parse_dimension,
    parse_explain,
    parse_filters,
    parse_format,
    parse_granularity,
    parse_int,
    parse_period,
    parse_series,
    parse_session_order,
)
from .export import flatten, respond
from .services import CONFIG_KEY, money_of, project_of, reading
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
)

__all__ = ["add_analytics_routes", "breakdown_columns", "timeseries_columns"]

_ANOMALY_RULES = AnomalyRules()
_ANOMALY_SCOPES = {"agent": DIMENSIONS["agent"], "model": DIMENSIONS["model"]}
_HOUR = timedelta(hours=1)
_BY_MODEL = (DIMENSIONS["provider"], DIMENSIONS["model"])


def add_analytics_routes(app: web.Application) -> None:
    app.router.add_get("/api/analytics/llm", _llm)
    app.router.add_get("/api/analytics/summary", _summary)
    app.router.add_get("/api/analytics/timeseries", _timeseries)
    app.router.add_get("/api/analytics/breakdown/{dimension}", _breakdown)
    app.router.add_get("/api/analytics/compare", _compare)
    app.router.add_get("/api/analytics/sessions", _sessions)
    app.router.add_get("/api/analytics/anomalies", _anomalies)






def _checked(question: Question, max_raw_days: float, what: str) -> Plan:
    """The plan of `question`, refused when it reads too many raw calls."""
    planned = plan(question)
    check_raw_span(planned, max_raw_days, what)
    return planned


async def _total(conn: psycopg.AsyncConnection, project_id: int, planned: Plan,
                 explain: Explain | None) -> Measures:
    return (await execute(conn, project_id, planned, explain)).total()


async def _llm(request: web.Request) -> web.Response:
    """Reference 003, field for field: summary, byModel and byTime (UTC buckets)."""
    project_id = await project_of(request)
    config = request.app[CONFIG_KEY]
    query = request.query
    period = parse_period(query, config.max_range_days)
    granularity = parse_granularity(query, Granularity.HOUR)
    filters = parse_filters(query)
    explain = parse_explain(query)
    planned = _checked(Question(period.start, period.end, filters, _BY_MODEL, granularity,
                                histograms=False), config.max_raw_range_days, "this query")
    money = await money_of(request, project_id)
    async with reading(request) as conn:
        grouped = await execute(conn, project_id, planned, explain)
    body = llm_json(grouped.total(), grouped.by_key(), grouped.by_bucket(), money)
    return web.json_response(explained(body, explain))


async def _summary(request: web.Request) -> web.StreamResponse:
    project_id = await project_of(request)
    config = request.app[CONFIG_KEY]
    period = parse_period(request.query, config.max_range_days)
    filters = parse_filters(request.query)
    fmt = parse_format(request.query)
    explain = parse_explain(request.query, fmt)
    previous = parse_compare(request.query, period, config.max_range_days)
    plans = [_checked(Question(p.start, p.end, filters), config.max_raw_range_days,
                      "this summary") for p in ((period, previous) if previous else (period,))]
    money = await money_of(request, project_id)
    async with reading(request) as conn:
        current = await _total(conn, project_id, plans[0], explain)
        before = await _total(conn, project_id, plans[1], explain) if previous else None
    body: dict[str, Any] = {**period.as_json(), **measures_row(current, money)}
    if previous is not None and before is not None:
        body["previous"] = {**previous.as_json(), **measures_row(before, money)}
        body["changes"] = changes(current, before)
    rows = [dict(body)]
    return await respond(request, fmt, explained(body, explain), rows=rows,
                         columns=tuple(flatten(rows[0])), name="summary")


def timeseries_columns(money: Money | None = None) -> tuple[str, ...]:
    return ("bucket", *measures_row(Measures(), money))


async def _timeseries(request: web.Request) -> web.StreamResponse:
    project_id = await project_of(request)
    config = request.app[CONFIG_KEY]
    query = request.query
    period = parse_period(query, config.max_range_days)
    filters = parse_filters(query)
    series = parse_series(query)
    fmt = parse_format(query)
    explain = parse_explain(query, fmt)
    planned = _checked(Question(period.start, period.end, filters,
                                granularity=series.granularity, zone=series.zone),
                       config.max_raw_range_days, "this time series")
    money = await money_of(request, project_id)
    async with reading(request) as conn:
        grouped = await execute(conn, project_id, planned, explain)
    by_bucket = grouped.by_bucket()
    rows = [{"bucket": iso_local(b),  # type: ignore[arg-type]
             **measures_row(by_bucket.get(b) or Measures(), money)}
            for b in series.buckets(period, by_bucket)]  # type: ignore[arg-type]
    body = {**period.as_json(), **series.as_json(), "data": rows}
    return await respond(request, fmt, explained(body, explain), rows=rows,
                         columns=timeseries_columns(money), name="timeseries")


def breakdown_columns(compared: bool, money: Money | None = None) -> tuple[str, ...]:
    empty = Breakdown([(None, Measures())], Measures(), False, Measures())
    template = breakdown_rows(empty, "cost", empty if compared else None, money)[0]
    return tuple(flatten(template))


async def _breakdown(request: web.Request) -> web.StreamResponse:
    project_id = await project_of(request)
    config = request.app[CONFIG_KEY]
    query = request.query
    dimension = parse_dimension(request.match_info["dimension"])
    period = parse_period(query, config.max_range_days)
    filters = parse_filters(query)
    sort = parse_breakdown_sort(query)
    limit = parse_int(query, "limit", 10, 1, 1000)
    fmt = parse_format(query)
    explain = parse_explain(query, fmt)
    previous = parse_compare(query, period, config.max_range_days)
    # A breakdown scans the range for sums only; the histograms of its top values come through
    # their index (users, sessions) or in the same pass (tags).
    for checked in (period, previous) if previous else (period,):
        _checked(Question(checked.start, checked.end, filters, (dimension,), histograms=False),
                 config.max_raw_range_days, f"a breakdown by {dimension.name}")
    money = await money_of(request, project_id)
    async with reading(request) as conn:
        current = await breakdown(conn, project_id, period.start, period.end, filters,
                                  dimension, sort, limit, explain=explain)
        before = await breakdown(conn, project_id, previous.start, previous.end, filters,
                                 dimension, sort, limit, [key for key, _ in current.rows],
                                 explain=explain) if previous else None
    rows = breakdown_rows(current, sort, before, money)
    body: dict[str, Any] = {**period.as_json(), "dimension": dimension.name, "sort": sort,
                            "data": rows, "total": measures_row(current.total, money)}
    if previous is not None and before is not None:
        body["previous"] = {**previous.as_json(), "total": measures_row(before.total, money)}
    return await respond(request, fmt, explained(body, explain), rows=rows,
                         columns=breakdown_columns(previous is not None, money),
                         name=f"breakdown-{dimension.name}")


async def _compare(request: web.Request) -> web.Response:
    """Two periods: from..to against compareFrom..compareTo, or against the period of the same
    length just before (the default)."""
    project_id = await project_of(request)
    config = request.app[CONFIG_KEY]
    query = request.query
    period = parse_period(query, config.max_range_days)
    filters = parse_filters(query)
    parse_format(query, ("json",))
    explain = parse_explain(query)
    previous = parse_compare(query, period, config.max_range_days) or period.previous()
    plans = [_checked(Question(p.start, p.end, filters), config.max_raw_range_days,
                      "this comparison") for p in (period, previous)]
    money = await money_of(request, project_id)
    async with reading(request) as conn:
        current = await _total(conn, project_id, plans[0], explain)
        before = await _total(conn, project_id, plans[1], explain)
    return web.json_response(explained({
        "current": {**period.as_json(), **measures_row(current, money)},
        "previous": {**previous.as_json(), **measures_row(before, money)},
        "changes": changes(current, before),
    }, explain))


_SESSION_COLUMNS = ("sessionId", "startedAt", "endedAt", "durationMs", "calls", "errorCalls",
                    "inputTokens", "outputTokens", "totalTokens", "costUsd", "costNanoUsd",
                    "unpricedCalls", "userId", "agentId")


async def _sessions(request: web.Request) -> web.StreamResponse:
    project_id = await project_of(request)
    config = request.app[CONFIG_KEY]
    query = request.query
    period = parse_period(query, config.max_range_days)
    filters = parse_filters(query)
    order = parse_session_order(query)
    fmt = parse_format(query)
    limit = parse_int(query, "limit", 50, 1, 10_000)
    offset = parse_int(query, "offset", 0, 0, 10_000_000)
    explain = parse_explain(query, fmt)
    _checked(Question(period.start, period.end, filters, (DIMENSIONS["session"],)),
             config.max_raw_range_days, "a list of sessions")
    async with reading(request) as conn:
        found = await list_sessions(conn, project_id, period.start, period.end, filters, order,
                                    limit, offset, explain)
        summary = await sessions_summary(conn, project_id, period.start, period.end, filters,
                                         explain)
    rows = [session_row(s) for s in found]
    body = {**period.as_json(), "sort": order, "limit": limit, "offset": offset,
            "data": rows, "summary": sessions_summary_json(summary)}
    return await respond(request, fmt, explained(body, explain), rows=rows,
                         columns=_SESSION_COLUMNS, name="sessions")


_ANOMALY_COLUMNS = ("id", "hour", "detectedAt", "type", "scope", "scopeKey", "severity",
                    "expectedValue", "actualValue", "unit", "baselineDays", "zScore",
                    "description")


_MAX_ANOMALY_DAYS = 31


def _whole_hours(period: Period) -> list[datetime]:
    first = Grain.HOUR.ceil(period.start)
    count = max(0, (period.end - first) // _HOUR)
    return [first + i * _HOUR for i in range(count)]


async def _anomalies(request: web.Request) -> web.StreamResponse:
    """Spikes in the whole UTC hours of from..to (default: the last 24 hours)."""
    project_id = await project_of(request)
    config = request.app[CONFIG_KEY]
    query = request.query
    period = parse_period(query, config.max_range_days)
    filters = parse_filters(query)
    fmt = parse_format(query)
    explain = parse_explain(query, fmt)
    if period.length > timedelta(days=_MAX_ANOMALY_DAYS):
        raise InvalidArgument(f"from..to: anomalies are judged over at most {_MAX_ANOMALY_DAYS}"
                              " days at a time")
    hours = _whole_hours(period)
    rules = _ANOMALY_RULES
    read = Period(hours[0] - timedelta(days=rules.baseline_days), hours[-1] + _HOUR) if hours \
        else None
    hourly: dict[str, dict[str | None, dict[datetime, Measures]]] = {}
    if read is not None:
        # The rules use sums alone: no histograms to add up.
        plans = {scope: plan(Question(read.start, read.end, filters, (dimension,),
                                      Granularity.HOUR, histograms=False))
                 for scope, dimension in _ANOMALY_SCOPES.items()}
        for planned in plans.values():
            check_raw_span(planned, config.max_raw_range_days,
                           f"anomaly detection (with its {rules.baseline_days}-day baseline)")
        project: dict[datetime, Measures] = {}
        hourly["project"] = {None: project}
        async with reading(request) as conn:
            for scope, planned in plans.items():
                grouped = await execute(conn, project_id, planned, explain)
                series = hourly.setdefault(scope, {})
                for (bucket, (key,)), measures in grouped.cells.items():
                    assert bucket is not None
                    hour = bucket.astimezone(timezone.utc)
                    if scope == "agent":  # every call has one agent or none: the project's sum
                        project.setdefault(hour, Measures()).add(measures)
                    if key is not None:  # calls without an agent (model) count for the project
                        series.setdefault(key, {})[hour] = measures
    rows = [anomaly_row(a) for a in detect_anomalies(hourly, hours, rules)]
    body = {**period.as_json(), "baselineDays": rules.baseline_days, "data": rows}
    return await respond(request, fmt, explained(body, explain), rows=rows,
                         columns=_ANOMALY_COLUMNS, name="anomalies")
