"""Agent runs: /api/analytics/runs (measures, with compare), /api/analytics/runs/timeseries,
/api/analytics/runs/breakdown/{dimension}, /api/runs (the latest runs) and
/api/runs/{traceId}/{spanId} (one run with its steps, for a waterfall). The filters are the
other endpoints'; `model` and `provider` select the runs that used them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from aiohttp import web

from spantally.common.errors import InvalidArgument, NotFound
from spantally.store import (
    RUN_DIMENSIONS,
    RUN_SORTS,
    Filters,
    RunMeasures,
    RunRecord,
    RunStep,
    find_run,
    list_runs,
    percentile_ms,
    run_dimension_of,
    run_measures,
    run_measures_by,
    run_timeseries,
)
from spantally.store.runs import Rollup

from .analytics_params import (
    parse_choice,
    parse_compare,
    parse_explain,
    parse_filters,
    parse_format,
    parse_int,
    parse_period,
    parse_series,
)
from .export import flatten, respond
from .services import CONFIG_KEY, money_of, project_of, reading
from .shape import Money, change, converted, explained, iso_local, iso_micro, usd

__all__ = ["RUN_CHANGE_MEASURES", "add_run_routes", "run_json", "run_measures_row",
           "run_row_columns"]


def add_run_routes(app: web.Application) -> None:
    app.router.add_get("/api/analytics/runs", _summary)
    app.router.add_get("/api/analytics/runs/timeseries", _timeseries)
    app.router.add_get("/api/analytics/runs/breakdown/{dimension}", _breakdown)
    app.router.add_get("/api/runs", _list)
    app.router.add_get("/api/runs/{traceId}/{spanId}", _one)


# -- shapes ------------------------------------------------------------------------------------

def _run_filters(query: Mapping[str, str]) -> Filters:
    """The analytics filters, for runs: a run knows the models its calls used, not asked."""
    filters = parse_filters(query)
    if filters.request_model is not None:
        raise InvalidArgument("requestModel: runs are filtered by the models their calls used "
                              "(model), not by the model asked for")
    return filters


def _per_run(total: int, runs: int, places: int = 3) -> float | None:
    return round(total / runs, places) if runs else None


def _ms(us: int | None) -> float | None:
    return None if us is None else round(us / 1000, 3)


def run_measures_row(m: RunMeasures, money: Money | None = None) -> dict[str, Any]:
    """The measures of a set of runs; per-run figures are averages over its runs."""
    minutes = m.duration_us_sum / 60_000_000
    row: dict[str, Any] = {
        "runs": m.runs,
        "completedRuns": m.completed_runs,
        "failedRuns": m.failed_runs,
        "successRate": round(m.completed_runs / m.runs, 6) if m.runs else None,
        "avgDurationMs": _ms(round(m.duration_us_sum / m.runs)) if m.runs else None,
        "p50DurationMs": percentile_ms(m.duration_hist, 50),
        "p95DurationMs": percentile_ms(m.duration_hist, 95),
        "steps": m.steps,
        "avgSteps": _per_run(m.steps, m.runs),
        "failedSteps": m.llm_errors + m.tool_errors,
        "llmCalls": m.llm_calls,
        "failedLlmCalls": m.llm_errors,
        "llmCallsPerRun": _per_run(m.llm_calls, m.runs),
        "toolCalls": m.tool_calls,
        "failedToolCalls": m.tool_errors,
        "toolCallsPerRun": _per_run(m.tool_calls, m.runs),
        "inputTokens": m.input_tokens,
        "outputTokens": m.output_tokens,
        "cacheReadTokens": m.cache_read_tokens,
        "cacheWriteTokens": m.cache_write_tokens,
        "reasoningTokens": m.reasoning_tokens,
        "totalTokens": m.total_tokens,
        "tokensPerRun": _per_run(m.total_tokens, m.runs),
        "tokensPerMinute": round(m.total_tokens / minutes, 3) if minutes else None,
        "costUsd": usd(m.cost_nano_usd),
        "costNanoUsd": m.cost_nano_usd,
        "costPerRunUsd": usd(round(m.cost_nano_usd / m.runs)) if m.runs else None,
        "unpricedCalls": m.unpriced_calls,
    }
    if money is not None:
        row["currency"] = money.currency
        row["cost"] = converted(m.cost_nano_usd, money.per_usd)
        row["costPerRun"] = converted(round(m.cost_nano_usd / m.runs),
                                      money.per_usd) if m.runs else None
    return row


RUN_CHANGE_MEASURES: Final = ("runs", "failedRuns", "successRate", "avgDurationMs",
                              "p95DurationMs", "avgSteps", "tokensPerRun", "costUsd",
                              "costPerRunUsd")


def _changes(current: RunMeasures, previous: RunMeasures) -> dict[str, Any]:
    now, before = run_measures_row(current), run_measures_row(previous)
    out = {name: change(now[name], before[name]) for name in RUN_CHANGE_MEASURES}
    out["costUsd"]["change"] = usd(current.cost_nano_usd - previous.cost_nano_usd)
    return out


def _rollup_json(r: Rollup) -> dict[str, Any]:
    return {"llmCalls": r.llm_calls, "failedLlmCalls": r.llm_errors, "toolCalls": r.tool_calls,
            "failedToolCalls": r.tool_errors, "steps": r.llm_calls + r.tool_calls,
            "inputTokens": r.input_tokens, "outputTokens": r.output_tokens,
            "cacheReadTokens": r.cache_read_tokens, "cacheWriteTokens": r.cache_write_tokens,
            "reasoningTokens": r.reasoning_tokens,
            "totalTokens": r.input_tokens + r.output_tokens, "costUsd": usd(r.cost_nano_usd),
            "costNanoUsd": r.cost_nano_usd, "unpricedCalls": r.unpriced_calls}


def _hex(value: bytes | None) -> str | None:
    return None if value is None else value.hex()


def run_json(run: RunRecord) -> dict[str, Any]:
    """One run: its span, and its roll-ups inclusive of sub-agents (`own`: its own steps)."""
    return {
        "traceId": run.trace_id.hex(), "spanId": run.span_id.hex(),
        "parentSpanId": _hex(run.parent_span_id), "parentRunSpanId": _hex(run.parent_run_span_id),
        "kind": run.kind, "agentId": run.agent_id, "agentName": run.agent_name,
        "service": run.service_name, "environment": run.environment, "userId": run.user_id,
        "sessionId": run.session_id, "startTime": iso_micro(run.time),
        "durationMs": _ms(run.duration_us), "status": run.status, "errorType": run.error_type,
        **_rollup_json(run.inclusive),
        "models": list(run.models), "providers": list(run.providers), "tags": run.tags,
        "own": _rollup_json(run.own),
    }


def _list_row(run: RunRecord) -> dict[str, Any]:
    """A run as a row of a list: lists (models, tags) as text, for CSV."""
    row = run_json(run)
    row["models"] = ",".join(run.models)
    row["providers"] = ",".join(run.providers)
    row["tags"] = None if run.tags is None else ",".join(f"{k}:{v}" for k, v in run.tags.items())
    return row


def run_row_columns() -> tuple[str, ...]:
    template = run_json(RunRecord(datetime(2026, 1, 1).astimezone(), b"\0" * 16, b"\0" * 8, None,
                                  None, "agent", None, None, None, None, None, None, 0, "ok",
                                  None, None, Rollup(), Rollup(), (), ()))
    return tuple(flatten(template))


def _step_json(step: RunStep, run: RunRecord) -> dict[str, Any]:
    row: dict[str, Any] = {
        "type": step.kind, "spanId": step.span_id.hex(), "parentSpanId": _hex(step.parent_span_id),
        "runSpanId": step.run_span_id.hex(), "depth": step.depth, "name": step.name,
        "startTime": iso_micro(step.time),
        "offsetMs": _ms(int((step.time - run.time).total_seconds() * 1_000_000)),
        "durationMs": _ms(step.duration_us), "status": step.status, "errorType": step.error_type,
    }
    if step.kind == "call":
        d = step.details
        cost = d["cost_nano_usd"]
        row.update({"provider": d["provider"], "operation": d["operation"],
                    "inputTokens": d["input_tokens"], "outputTokens": d["output_tokens"],
                    "cacheReadTokens": d["cache_read_tokens"],
                    "cacheWriteTokens": d["cache_write_tokens"],
                    "reasoningTokens": d["reasoning_tokens"],
                    "costUsd": None if cost is None else usd(cost), "costNanoUsd": cost,
                    "ttftMs": _ms(d["ttft_us"])})
    return row


# -- handlers ----------------------------------------------------------------------------------






async def _summary(request: web.Request) -> web.StreamResponse:
    project_id = await project_of(request)
    config = request.app[CONFIG_KEY]
    query = request.query
    period = parse_period(query, config.max_range_days)
    filters = _run_filters(query)
    fmt = parse_format(query)
    explain = parse_explain(query, fmt)
    previous = parse_compare(query, period, config.max_range_days)
    money = await money_of(request, project_id)
    async with reading(request) as conn:
        current = await run_measures(conn, project_id, period.start, period.end, filters,
                                     explain)
        before = await run_measures(conn, project_id, previous.start, previous.end,
                                    filters, explain) if previous else None
    body: dict[str, Any] = {**period.as_json(), **run_measures_row(current, money)}
    if previous is not None and before is not None:
        body["previous"] = {**previous.as_json(), **run_measures_row(before, money)}
        body["changes"] = _changes(current, before)
    rows = [dict(body)]
    return await respond(request, fmt, explained(body, explain), rows=rows,
                         columns=tuple(flatten(rows[0])), name="runs-summary")


def _timeseries_columns(money: Money | None) -> tuple[str, ...]:
    return ("bucket", *run_measures_row(RunMeasures(), money))


async def _timeseries(request: web.Request) -> web.StreamResponse:
    project_id = await project_of(request)
    config = request.app[CONFIG_KEY]
    query = request.query
    period = parse_period(query, config.max_range_days)
    filters = _run_filters(query)
    series = parse_series(query)
    fmt = parse_format(query)
    explain = parse_explain(query, fmt)
    money = await money_of(request, project_id)
    async with reading(request) as conn:
        by_bucket = await run_timeseries(conn, project_id, period.start, period.end,
                                         series.granularity, series.zone, filters, explain)
    rows = [{"bucket": iso_local(b), **run_measures_row(by_bucket.get(b) or RunMeasures(), money)}
            for b in series.buckets(period, by_bucket)]
    body = {**period.as_json(), **series.as_json(), "data": rows}
    return await respond(request, fmt, explained(body, explain), rows=rows,
                         columns=_timeseries_columns(money), name="runs-timeseries")


def _sort_key(sort: str) -> Any:
    attribute = RUN_SORTS[sort]
    return lambda item: (-getattr(item[1], attribute), item[0] is None, item[0] or "")


async def _breakdown(request: web.Request) -> web.StreamResponse:
    project_id = await project_of(request)
    config = request.app[CONFIG_KEY]
    query = request.query
    name = request.match_info["dimension"]
    dimension = run_dimension_of(name)
    if dimension is None:
        raise InvalidArgument(f"dimension: {name!r} is not one of {', '.join(RUN_DIMENSIONS)} "
                              "or tags.<key>")
    period = parse_period(query, config.max_range_days)
    filters = _run_filters(query)
    sort = parse_choice(query, "sort", tuple(RUN_SORTS), "runs")
    limit = parse_int(query, "limit", 10, 1, 1000)
    fmt = parse_format(query)
    explain = parse_explain(query, fmt)
    previous = parse_compare(query, period, config.max_range_days)
    money = await money_of(request, project_id)
    async with reading(request) as conn:
        current = await run_measures_by(conn, project_id, period.start, period.end, dimension,
                                        filters, explain)
        before = await run_measures_by(conn, project_id, previous.start, previous.end,
                                       dimension, filters, explain) if previous else None
    top = sorted(current.items(), key=_sort_key(sort))[:limit]
    rows = []
    for key, measures in top:
        row: dict[str, Any] = {"key": key, **run_measures_row(measures, money)}
        if before is not None:
            row["changes"] = _changes(measures, before.get(key) or RunMeasures())
        rows.append(row)
    body: dict[str, Any] = {**period.as_json(), "dimension": dimension.name, "sort": sort,
                            "data": rows, "others": max(0, len(current) - len(top))}
    columns = tuple(flatten(rows[0])) if rows else (
        "key", *run_measures_row(RunMeasures(), money))
    return await respond(request, fmt, explained(body, explain), rows=rows, columns=columns,
                         name=f"runs-breakdown-{dimension.name}")


async def _list(request: web.Request) -> web.StreamResponse:
    """The latest runs in the range (default: the last 24 hours), newest first."""
    project_id = await project_of(request)
    config = request.app[CONFIG_KEY]
    query = request.query
    period = parse_period(query, config.max_range_days)
    filters = _run_filters(query)
    limit = parse_int(query, "limit", 50, 1, 1000)
    offset = parse_int(query, "offset", 0, 0, 10_000_000)
    fmt = parse_format(query)
    async with reading(request) as conn:
        runs = await list_runs(conn, project_id, period.start, period.end, filters, limit,
                               offset)
    data = [run_json(run) for run in runs]
    body = {**period.as_json(), "limit": limit, "offset": offset, "data": data}
    return await respond(request, fmt, body,
                         rows=data if fmt == "ndjson" else [_list_row(run) for run in runs],
                         columns=run_row_columns(), name="runs")


def _span_id(name: str, value: str, size: int) -> bytes:
    try:
        if len(value) != 2 * size:
            raise ValueError(value)
        raw = bytes.fromhex(value)
    except ValueError:
        raise InvalidArgument(f"{name}: {value[:80]!r} is not {2 * size} hexadecimal digits"
                              ) from None
    return raw


async def _one(request: web.Request) -> web.Response:
    """One run with its steps in start order: LLM calls, tools and sub-agents' runs below it."""
    project_id = await project_of(request)
    trace_id = _span_id("traceId", request.match_info["traceId"], 16)
    span_id = _span_id("spanId", request.match_info["spanId"], 8)
    async with reading(request) as conn:
        found = await find_run(conn, project_id, trace_id, span_id)
    if found is None:
        raise NotFound(f"no run {trace_id.hex()}/{span_id.hex()} in this project")
    return web.json_response({**run_json(found.run),
                              "stepsInOrder": [_step_json(s, found.run) for s in found.steps]})
