"""Reference 001 (Umbraco.AI's analytics API) under /compat/umbraco-ai: summary, time series
and breakdowns by provider, model, profile (the `profile` tag) and user, from the native
summary, timeseries and breakdown operations. docs/compat.md tells what differs."""

from __future__ import annotations

from typing import Any, Final

from ..operation import Answer, Context
from ..spec import GRANULARITIES, Args, Endpoint, Kind, Param
from .common import Asker, Product, closed

__all__ = ["PRODUCT"]

_FROM = Param("from", Kind.TIME, "Start of the period (inclusive): an ISO 8601 date or "
              "date-time (UTC without an offset).", required=True)
_TO = Param("to", Kind.UNTIL, "End of the period (inclusive); a date means its whole day.",
            required=True)
_GRANULARITY = Param("granularity", Kind.CHOICE, "Data granularity (UTC buckets); the "
                     "summary takes it and has one figure for the whole period.",
                     default="day", choices=GRANULARITIES)
_DIMENSIONS: Final = {"provider": "provider", "model": "model", "profile": "tags.profile",
                      "user": "user"}
_DIMENSION = Param("dimension", Kind.CHOICE, "What to break usage down by (a profile is the "
                   "`profile` tag: spantally.tags(profile=...)).", in_path=True,
                   choices=tuple(_DIMENSIONS))
_RENAMES: Final[dict[str, str]] = {}

_COUNT = {"type": "integer", "minimum": 0}
_MEASURES: Final = {
    "totalRequests": _COUNT, "inputTokens": _COUNT, "outputTokens": _COUNT,
    "totalTokens": _COUNT, "successCount": _COUNT, "failureCount": _COUNT,
    "successRate": {"type": "number", "minimum": 0, "maximum": 1},
    "averageDurationMs": {"type": "number", "minimum": 0},
}


SUMMARY: Final = closed(**_MEASURES)
"""AIUsageSummary: the document's eight summary metrics."""
TIME_SERIES_POINT: Final = closed(timestamp={"type": "string", "format": "date-time"},
                                   **_MEASURES)
"""AIUsageTimeSeriesPoint: a bucket's start (UTC) and the summary's metrics."""
BREAKDOWN_ITEM: Final = closed(
    dimension={"type": ["string", "null"]}, dimensionName={"type": "string"},
    **_MEASURES, percentage={"type": "number", "minimum": 0, "maximum": 1})
"""AIUsageBreakdownItem: the value, its name, the metrics and its share of the requests."""


def _usage(row: dict[str, Any]) -> dict[str, Any]:
    """The document's metrics from a native measures row (no calls: rates and durations 0)."""
    return {"totalRequests": row["calls"], "inputTokens": row["inputTokens"],
            "outputTokens": row["outputTokens"], "totalTokens": row["totalTokens"],
            "successCount": row["successCalls"], "failureCount": row["errorCalls"],
            "successRate": row["successRate"] or 0.0,
            "averageDurationMs": row["avgLatencyMs"] or 0.0}


def _period(args: Args) -> dict[str, Any]:
    return {"from": args["from"], "to": args["to"]}


async def _summary(ctx: Context, args: Args) -> Answer:
    body = await Asker(ctx, _RENAMES).ask("summary", **_period(args))
    return Answer(_usage(body))


async def _timeseries(ctx: Context, args: Args) -> Answer:
    body = await Asker(ctx, _RENAMES).ask("timeseries", **_period(args),
                                          granularity=args["granularity"], fill="zero")
    return Answer([{"timestamp": row["bucket"], **_usage(row)} for row in body["data"]])


_MAX_ITEMS: Final = 1000


async def _breakdown(ctx: Context, args: Args) -> Answer:
    """Every value by requests, most first (past 1,000 values, one item holds the rest)."""
    body = await Asker(ctx, _RENAMES).ask("breakdown", **_period(args),
                                          dimension=_DIMENSIONS[args["dimension"]],
                                          sort="calls", limit=_MAX_ITEMS)
    return Answer([{"dimension": row["key"],
                    "dimensionName": "(others)" if row["other"] else row["key"] or "(none)",
                    **_usage(row), "percentage": round(row["percentageOfTotal"] / 100, 4)}
                   for row in body["data"]])


_ENDPOINTS: Final = (
    Endpoint("summary", "/analytics/summary", "Usage summary for a period",
             (_FROM, _TO, _GRANULARITY), SUMMARY, listing=False),
    Endpoint("timeseries", "/analytics/timeseries", "Usage over time (every bucket)",
             (_FROM, _TO, _GRANULARITY), {"type": "array", "items": TIME_SERIES_POINT},
             listing=False),
    Endpoint("breakdown", "/analytics/breakdown/{dimension}",
             "Usage by provider, model, profile or user, most requests first",
             (_DIMENSION, _FROM, _TO, _GRANULARITY),
             {"type": "array", "items": BREAKDOWN_ITEM}, listing=False),
)

PRODUCT: Final = Product(
    name="umbraco-ai", title="Umbraco.AI analytics", reference="001",
    prefix="/compat/umbraco-ai", endpoints=_ENDPOINTS,
    operations={"summary": _summary, "timeseries": _timeseries, "breakdown": _breakdown},
    error_body=lambda code, message: {"error": {"code": code, "message": message}},
)
