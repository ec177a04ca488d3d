"""Reference 000 (Dispersl's analytics API) under /compat/dispersl/v1/analytics: usage,
performance and costs, each also as an export (CSV or JSON), in the document's
{"status", "message", "data"} envelope. Tasks are agent runs (sub-agents' runs too, as
/api/analytics/runs counts them), steps their LLM and tool calls; `total_api_calls` and
`total_tokens` are the LLM calls'. The period is `from_date`..`to_date`, or the `period` (day,
week, month, year: 1, 7, 30, 365 days) up to now; `current`/`previous` compare it with the
period of the same length just before. docs/compat.md tells what differs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Final

from spantally.common.errors import InvalidArgument

from ..operation import Answer, Context
from ..shape import change, iso_utc
from ..spec import Args, Endpoint, Kind, Param
from .common import Asker, Product, closed

__all__ = ["COSTS", "PERFORMANCE", "PERIOD_DAYS", "PRODUCT", "USAGE", "human_duration"]

PERIOD_DAYS: Final = {"day": 1, "week": 7, "month": 30, "year": 365}
_PERIOD = Param("period", Kind.CHOICE, "The period up to now: day, week, month, year (1, 7, "
                "30, 365 days); with from_date and to_date, only its name.", default="month",
                choices=tuple(PERIOD_DAYS))
_FROM = Param("from_date", Kind.TIME, "Start of a custom period (ISO 8601; with to_date).")
_TO = Param("to_date", Kind.UNTIL, "End of a custom period (ISO 8601, inclusive: a date means "
            "its whole day).")
_METRIC = Param("metric", Kind.CHOICE, "Only this metric in `metrics`.",
                choices=("duration", "success_rate", "token_efficiency"))
_CURRENCY = Param("currency", Kind.CHOICE, "Currency of the costs (the project's exchange "
                  "rates: PUT /api/currencies/{code}).", default="USD",
                  choices=("USD", "EUR", "GBP"))
_EXPORT_FORMAT = Param("format", Kind.CHOICE, "csv (the report's table) or json (the whole "
                       "answer), as a download.", default="csv", choices=("csv", "json"))
_RENAMES: Final = {"from..to": "from_date..to_date", "from": "from_date", "to": "to_date"}


def human_duration(ms: float | None) -> str | None:
    """A duration as the document writes it: "2h 30m", "45m", "12s", "850ms"."""
    if ms is None:
        return None
    sign, ms = ("-" if ms < 0 else ""), abs(ms)
    if ms < 1000:
        return f"{sign}{round(ms)}ms"
    seconds = round(ms / 1000)
    if seconds < 60:
        return f"{sign}{seconds}s"
    hours, minutes = divmod(round(seconds / 60), 60)
    if not hours:
        return f"{sign}{minutes}m"
    return f"{sign}{hours}h {minutes}m" if minutes else f"{sign}{hours}h"


def _percent(rate: float | None) -> float:
    """A rate 0..1 as the document's percentage, to one decimal (no runs: 0)."""
    return round((rate or 0.0) * 100, 1)


def _percent_or_none(rate: float | None) -> float | None:
    """As _percent, None without runs (a period to compare with may have none)."""
    return None if rate is None else _percent(rate)


@dataclass(frozen=True, slots=True)
class _Window:
    name: str
    start: datetime
    end: datetime

    @property
    def previous(self) -> _Window:
        return _Window(self.name, self.start - (self.end - self.start), self.start)

    def range(self) -> dict[str, datetime]:
        return {"from": self.start, "to": self.end}

    def as_json(self) -> dict[str, str]:
        return {"period": self.name, "from_date": iso_utc(self.start),
                # the last second in it, as the document shows it
                "to_date": iso_utc(self.end - timedelta(microseconds=1))}


def _window(args: Args) -> _Window:
    start, end = args["from_date"], args["to_date"]
    if (start is None) != (end is None):
        raise InvalidArgument("from_date and to_date go together (or give period alone)")
    if start is None:
        end = datetime.now(timezone.utc)
        start = end - timedelta(days=PERIOD_DAYS[args["period"]])
    elif start >= end:
        raise InvalidArgument(f"from_date: {start.isoformat()} is not before to_date")
    return _Window(args["period"], start, end)


def _key(value: str | None, none: str) -> str:
    return none if value is None else value


_NO_AGENT: Final = "(no agent)"
_NO_MODEL: Final = "(no model)"


# -- usage -------------------------------------------------------------------------------------

async def _usage(asker: Asker, window: _Window) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    runs = await asker.ask("runs_summary", **window.range())
    calls = await asker.ask("summary", **window.range())
    agents = await asker.ask("runs_breakdown", **window.range(), dimension="agent",
                             sort="runs", limit=1000)
    models = await asker.ask("runs_breakdown", **window.range(), dimension="model",
                             sort="runs", limit=1000)
    daily_runs = await asker.ask("runs_timeseries", **window.range(), granularity="day",
                                 fill="zero")
    daily_calls = await asker.ask("timeseries", **window.range(), granularity="day",
                                  fill="zero")
    runs_of_day = {row["bucket"]: row["runs"] for row in daily_runs["data"]}
    daily = [{"date": row["bucket"][:10], "tasks": runs_of_day.get(row["bucket"], 0),
              "tokens": row["totalTokens"], "api_calls": row["calls"]}
             for row in daily_calls["data"]]
    data = {
        **window.as_json(),
        "summary": {
            "total_tasks": runs["runs"], "completed_tasks": runs["completedRuns"],
            "failed_tasks": runs["failedRuns"], "success_rate": _percent(runs["successRate"]),
            "total_steps": runs["steps"], "total_tokens": calls["totalTokens"],
            "total_api_calls": calls["calls"],
            "average_task_duration": human_duration(runs["avgDurationMs"]),
        },
        "by_agent": {_key(row["key"], _NO_AGENT): {
            "tasks": row["runs"], "steps": row["steps"], "tokens": row["totalTokens"],
            "success_rate": _percent(row["successRate"])} for row in agents["data"]},
        "by_model": {_key(row["key"], _NO_MODEL): {
            "tasks": row["runs"], "tokens": row["totalTokens"],
            "average_tokens_per_task": row["tokensPerRun"] or 0,
            "success_rate": _percent(row["successRate"])} for row in models["data"]},
        "daily_breakdown": daily,
    }
    return data, daily


# -- performance -------------------------------------------------------------------------------

def _trend(current: float | None, previous: float | None) -> dict[str, Any]:
    """current, previous, trend (up, down, flat within 1%) and change, the native way."""
    moved = change(current, previous)
    return {"current": current, "previous": previous, "trend": moved["trend"],
            "change": None if moved["change"] is None else round(moved["change"], 3)}


def _error_rate(row: dict[str, Any]) -> float | None:
    return round(row["failedRuns"] / row["runs"] * 100, 1) if row["runs"] else None


_METRICS: Final = {"success_rate": ("task_completion_rate",),
                   "duration": ("average_task_duration",),
                   "token_efficiency": ("token_efficiency",)}


async def _performance(asker: Asker, window: _Window,
                       metric: str | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    runs = await asker.ask("runs_summary", **window.range(), compare="previous_period")
    now, before = runs, runs["previous"]
    agents = await asker.ask("runs_breakdown", **window.range(), dimension="agent",
                             sort="runs", limit=1000)
    duration = _trend(now["avgDurationMs"], before["avgDurationMs"])
    metrics = {
        "task_completion_rate": _trend(_percent_or_none(now["successRate"]),
                                       _percent_or_none(before["successRate"])),
        "average_task_duration": {
            "current": human_duration(now["avgDurationMs"]),
            "previous": human_duration(before["avgDurationMs"]),
            "trend": duration["trend"], "change": human_duration(duration["change"])},
        "token_efficiency": {**_trend(now["tokensPerMinute"], before["tokensPerMinute"]),
                             "unit": "tokens_per_minute"},
        "error_rate": _trend(_error_rate(now), _error_rate(before)),
    }
    if metric is not None:
        metrics = {name: metrics[name] for name in _METRICS[metric]}
    by_agent = {_key(row["key"], _NO_AGENT): {
        "avg_duration": human_duration(row["avgDurationMs"]),
        "success_rate": _percent(row["successRate"]),
        "token_efficiency": row["tokensPerMinute"] or 0.0} for row in agents["data"]}
    data = {"period": window.name, "from_date": window.as_json()["from_date"],
            "to_date": window.as_json()["to_date"], "metrics": metrics,
            "performance_by_agent": by_agent}
    return data, [{"agent": agent, **row} for agent, row in by_agent.items()]


# -- costs -------------------------------------------------------------------------------------

def _cost(row: dict[str, Any], currency: str) -> float:
    return row["costUsd"] if currency == "USD" else row["cost"]


async def _costs(asker: Asker, window: _Window,
                 currency: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    money = {} if currency == "USD" else {"currency": currency}
    calls = await asker.ask("summary", **window.range(), **money)
    runs = await asker.ask("runs_summary", **window.range(), **money)
    models = await asker.ask("breakdown", **window.range(), **money, dimension="model",
                             sort="cost", limit=1000)
    agents = await asker.ask("breakdown", **window.range(), **money, dimension="agent",
                             sort="cost", limit=1000)
    daily = await asker.ask("timeseries", **window.range(), **money, granularity="day",
                            fill="zero")
    per_task = runs["costPerRunUsd"] if currency == "USD" else runs.get("costPerRun")
    daily_costs = [{"date": row["bucket"][:10], "cost": _cost(row, currency),
                    "tokens": row["totalTokens"]} for row in daily["data"]]

    def name(row: dict[str, Any], none: str) -> str:
        return "(others)" if row["other"] else _key(row["key"], none)

    data = {
        "period": window.name, "from_date": window.as_json()["from_date"],
        "to_date": window.as_json()["to_date"], "currency": currency,
        "total_cost": _cost(calls, currency), "total_tokens": calls["totalTokens"],
        "average_cost_per_task": per_task or 0.0,
        "cost_by_model": {name(row, _NO_MODEL): {
            "tokens": row["totalTokens"], "cost": _cost(row, currency),
            "cost_per_token": (round(_cost(row, currency) / row["totalTokens"], 12)
                               if row["totalTokens"] else 0.0),
            "percentage": row["percentageOfTotal"]} for row in models["data"]},
        "cost_by_agent": {name(row, _NO_AGENT): {
            "cost": _cost(row, currency), "percentage": row["percentageOfTotal"]}
            for row in agents["data"]},
        "daily_costs": daily_costs,
    }
    return data, daily_costs


# -- the answers' schemas, from the document ---------------------------------------------------

def _by_name(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": item}


_COUNT = {"type": "integer", "minimum": 0}
_NUMBER = {"type": "number", "minimum": 0}
_PERCENT = {"type": "number", "minimum": 0, "maximum": 100}
_NULLABLE_PERCENT = {**_PERCENT, "type": ["number", "null"]}
_TEXT = {"type": "string"}
_DURATION = {"type": ["string", "null"], "pattern": "^-?([0-9]+h( [0-9]+m)?|[0-9]+(m|s|ms))$"}
_DAY = {"type": "string", "format": "date"}
_WINDOW = {"period": {"enum": list(PERIOD_DAYS)}, "from_date": _TEXT, "to_date": _TEXT}
_TREND = {"enum": ["up", "down", "flat", None]}


def _metric(value: dict[str, Any], change: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return closed(current=value, previous=value, trend=_TREND, change=change, **extra)


_SIGNED = {"type": ["number", "null"]}
USAGE: Final = closed(**_WINDOW, summary=closed(
    total_tasks=_COUNT, completed_tasks=_COUNT, failed_tasks=_COUNT, success_rate=_PERCENT,
    total_steps=_COUNT, total_tokens=_COUNT, total_api_calls=_COUNT,
    average_task_duration=_DURATION),
    by_agent=_by_name(closed(tasks=_COUNT, steps=_COUNT, tokens=_COUNT,
                              success_rate=_PERCENT)),
    by_model=_by_name(closed(tasks=_COUNT, tokens=_COUNT, average_tokens_per_task=_NUMBER,
                              success_rate=_PERCENT)),
    daily_breakdown={"type": "array", "items": closed(date=_DAY, tasks=_COUNT, tokens=_COUNT,
                                                       api_calls=_COUNT)})
_METRICS_SCHEMA = {
    "task_completion_rate": _metric(_NULLABLE_PERCENT, _SIGNED),
    "average_task_duration": _metric(_DURATION, _DURATION),
    "token_efficiency": _metric({"type": ["number", "null"], "minimum": 0}, _SIGNED,
                                unit={"const": "tokens_per_minute"}),
    "error_rate": _metric(_NULLABLE_PERCENT, _SIGNED),
}
PERFORMANCE: Final = closed(
    **_WINDOW,
    metrics={"type": "object", "properties": _METRICS_SCHEMA, "additionalProperties": False,
             "minProperties": 1},
    performance_by_agent=_by_name(closed(avg_duration=_DURATION, success_rate=_PERCENT,
                                          token_efficiency=_NUMBER)))
COSTS: Final = closed(
    **_WINDOW, currency={"enum": ["USD", "EUR", "GBP"]}, total_cost=_NUMBER,
    total_tokens=_COUNT, average_cost_per_task=_NUMBER,
    cost_by_model=_by_name(closed(tokens=_COUNT, cost=_NUMBER, cost_per_token=_NUMBER,
                                   percentage=_PERCENT)),
    cost_by_agent=_by_name(closed(cost=_NUMBER, percentage=_PERCENT)),
    daily_costs={"type": "array", "items": closed(date=_DAY, cost=_NUMBER, tokens=_COUNT)})


def _envelope_schema(data: dict[str, Any]) -> dict[str, Any]:
    return closed(status={"const": "success"}, message=_TEXT, data=data)


# -- the endpoints -----------------------------------------------------------------------------

Report = Callable[[Asker, _Window, Args], Awaitable[tuple[dict[str, Any], list[dict[str, Any]]]]]


async def _usage_report(asker: Asker, window: _Window, args: Args) -> Any:
    return await _usage(asker, window)


async def _performance_report(asker: Asker, window: _Window, args: Args) -> Any:
    return await _performance(asker, window, args["metric"])


async def _costs_report(asker: Asker, window: _Window, args: Args) -> Any:
    return await _costs(asker, window, args["currency"])


@dataclass(frozen=True, slots=True)
class _Kind:
    name: str
    what: str
    schema: dict[str, Any]
    """Of its `data`."""
    report: Report
    params: tuple[Param, ...]
    table: tuple[str, ...]
    """The export's CSV columns: the report's table."""


_REPORTS: Final = (
    _Kind("usage", "Usage statistics", USAGE, _usage_report, (_PERIOD, _FROM, _TO),
          ("date", "tasks", "tokens", "api_calls")),
    _Kind("performance", "Performance metrics", PERFORMANCE, _performance_report,
          (_PERIOD, _FROM, _TO, _METRIC),
          ("agent", "avg_duration", "success_rate", "token_efficiency")),
    _Kind("costs", "Cost analysis", COSTS, _costs_report, (_PERIOD, _FROM, _TO, _CURRENCY),
          ("date", "cost", "tokens")),
)


def envelope(message: str, data: Any) -> dict[str, Any]:
    return {"status": "success", "message": message, "data": data}


def _operation(kind: _Kind, export: bool) -> Callable[[Context, Args], Awaitable[Answer]]:
    async def operate(ctx: Context, args: Args) -> Answer:
        data, table = await kind.report(Asker(ctx, _RENAMES), _window(args), args)
        body = envelope(f"{kind.what} retrieved successfully", data)
        name = f"{kind.name}_analytics"
        return Answer(body, table, kind.table, name) if export else Answer(body)

    return operate


def _error_body(code: str, message: str) -> dict[str, Any]:
    # The document's envelope, with SpanTally's error object beside it.
    return {"status": "error", "message": message, "data": None,
            "error": {"code": code, "message": message}}


_ENDPOINTS: Final = tuple(
    endpoint for kind in _REPORTS for endpoint in (
        Endpoint(kind.name, f"/v1/analytics/{kind.name}", kind.what, kind.params,
                 _envelope_schema(kind.schema), listing=False),
        Endpoint(f"{kind.name}_export", f"/v1/analytics/{kind.name}/export",
                 f"{kind.what}, as a CSV or JSON download", (*kind.params, _EXPORT_FORMAT),
                 _envelope_schema(kind.schema), download=True)))

PRODUCT: Final = Product(
    name="dispersl", title="Dispersl analytics", reference="000",
    prefix="/compat/dispersl", endpoints=_ENDPOINTS,
    operations={**{kind.name: _operation(kind, False) for kind in _REPORTS},
                **{f"{kind.name}_export": _operation(kind, True) for kind in _REPORTS}},
    error_body=_error_body,
)
