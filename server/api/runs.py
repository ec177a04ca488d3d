"""Agent runs: the runs' measures (with compare), their time series and breakdowns, the latest
runs and one run with its steps (for a waterfall). The filters are the other endpoints';
`model` and `provider` select the runs that used them. Parameters are parsed by the spec
(spec.ENDPOINTS); the operations answer HTTP and gRPC alike."""

from __future__ import annotations

from typing import Any

from spantally.common.errors import InvalidArgument, NotFound
from spantally.store import (
    RUN_SORTS,
    Filters,
    RunMeasures,
    find_run,
    list_runs,
    run_dimension_of,
    run_measures,
    run_measures_by,
    run_timeseries,
)

from .analytics_params import compare_of, explain_of, period_of, series_of, span_of
from .export import flatten
from .operation import Answer, Context, Operation
from .run_shape import (
    list_row,
    run_changes,
    run_json,
    run_measures_row,
    run_row_columns,
    step_json,
)
from .shape import Money, explained, iso_local
from .spec import Args

__all__ = ["OPERATIONS"]


def _run_filters(args: Args) -> Filters:
    """The analytics filters, for runs: a run knows the models its calls used, not asked."""
    filters = args.filters()
    if filters.request_model is not None:
        raise InvalidArgument("requestModel: runs are filtered by the models their calls used "
                              "(model), not by the model asked for")
    return filters


async def _summary(ctx: Context, args: Args) -> Answer:
    config = ctx.config
    period = period_of(args, config.max_range_days)
    filters = _run_filters(args)
    explain = explain_of(args)
    previous = compare_of(args, period, config.max_range_days)
    money = await ctx.money(args)
    async with ctx.reading() as conn:
        current = await run_measures(conn, ctx.project_id, period.start, period.end, filters,
                                     explain)
        before = await run_measures(conn, ctx.project_id, previous.start, previous.end,
                                    filters, explain) if previous else None
    body: dict[str, Any] = {**period.as_json(), **run_measures_row(current, money)}
    if previous is not None and before is not None:
        body["previous"] = {**previous.as_json(), **run_measures_row(before, money)}
        body["changes"] = run_changes(current, before)
    rows = [dict(body)]
    return Answer(explained(body, explain), rows, tuple(flatten(rows[0])), "runs-summary")


def _timeseries_columns(money: Money | None) -> tuple[str, ...]:
    return ("bucket", *run_measures_row(RunMeasures(), money))


async def _timeseries(ctx: Context, args: Args) -> Answer:
    config = ctx.config
    period = period_of(args, config.max_range_days)
    filters = _run_filters(args)
    series = series_of(args)
    explain = explain_of(args)
    money = await ctx.money(args)
    async with ctx.reading() as conn:
        by_bucket = await run_timeseries(conn, ctx.project_id, period.start, period.end,
                                         series.granularity, series.zone, filters, explain)
    rows = [{"bucket": iso_local(b), **run_measures_row(by_bucket.get(b) or RunMeasures(), money)}
            for b in series.buckets(period, by_bucket)]
    body = {**period.as_json(), **series.as_json(), "data": rows}
    return Answer(explained(body, explain), rows, _timeseries_columns(money), "runs-timeseries")


def _sort_key(sort: str) -> Any:
    attribute = RUN_SORTS[sort]
    return lambda item: (-getattr(item[1], attribute), item[0] is None, item[0] or "")


async def _breakdown(ctx: Context, args: Args) -> Answer:
    config = ctx.config
    dimension = run_dimension_of(args["dimension"])
    assert dimension is not None  # the spec checked it
    period = period_of(args, config.max_range_days)
    filters = _run_filters(args)
    sort, limit = args["sort"], args["limit"]
    explain = explain_of(args)
    previous = compare_of(args, period, config.max_range_days)
    money = await ctx.money(args)
    async with ctx.reading() as conn:
        current = await run_measures_by(conn, ctx.project_id, period.start, period.end,
                                        dimension, filters, explain)
        before = await run_measures_by(conn, ctx.project_id, previous.start, previous.end,
                                       dimension, filters, explain) if previous else None
    top = sorted(current.items(), key=_sort_key(sort))[:limit]
    rows = []
    for key, measures in top:
        row: dict[str, Any] = {"key": key, **run_measures_row(measures, money)}
        if before is not None:
            row["changes"] = run_changes(measures, before.get(key) or RunMeasures())
        rows.append(row)
    body: dict[str, Any] = {**period.as_json(), "dimension": dimension.name, "sort": sort,
                            "data": rows, "others": max(0, len(current) - len(top))}
    columns = tuple(flatten(rows[0])) if rows else (
        "key", *run_measures_row(RunMeasures(), money))
    return Answer(explained(body, explain), rows, columns, f"runs-breakdown-{dimension.name}")


async def _list(ctx: Context, args: Args) -> Answer:
    """The latest runs in the range (default: the last 24 hours), newest first."""
    period = period_of(args, ctx.config.max_range_days)
    filters = _run_filters(args)
    limit, offset = args["limit"], args["offset"]
    async with ctx.reading() as conn:
        runs = await list_runs(conn, ctx.project_id, period.start, period.end, filters, limit,
                               offset)
    data = [run_json(run) for run in runs]
    body = {**period.as_json(), "limit": limit, "offset": offset, "data": data}
    # CSV rows hold lists (models, tags) as text; NDJSON rows are the JSON's.
    rows = data if args["format"] == "ndjson" else [list_row(run) for run in runs]
    return Answer(body, rows, run_row_columns(), "runs")


async def _one(ctx: Context, args: Args) -> Answer:
    """One run with its steps in start order: LLM calls, tools and sub-agents' runs below it."""
    trace_id, span_id = span_of(args)
    async with ctx.reading() as conn:
        found = await find_run(conn, ctx.project_id, trace_id, span_id)
    if found is None:
        raise NotFound(f"no run {trace_id.hex()}/{span_id.hex()} in this project")
    return Answer({**run_json(found.run),
                   "stepsInOrder": [step_json(s, found.run) for s in found.steps]})


OPERATIONS: dict[str, Operation] = {
    "runs_summary": _summary, "runs_timeseries": _timeseries, "runs_breakdown": _breakdown,
    "runs": _list, "run": _one,
}
"""The operations of this module, by their spec.ENDPOINTS name."""
