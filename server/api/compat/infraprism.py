"""Reference 002 (InfraPrism's analytics API) under /compat/infraprism/v1/analytics: costs
grouped by entity, model, day, week, month or a tag; the cost time series; models with their
share; the entity leaderboard; sessions; the stored anomalies; two periods compared. Dates are
whole UTC days, both ends included. docs/compat.md tells what differs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from spantally.common.errors import InvalidArgument
from spantally.store import ANOMALY_STATUSES, Entity, Filters

from ..operation import Answer, Context
from ..shape import shares
from ..spec import GRANULARITIES, Args, Endpoint, Kind, Param
from .common import Asker, Product, closed, day_range, entity_of, native_filters

__all__ = ["PRODUCT"]

_START = Param("start_date", Kind.DATE, "First day (YYYY-MM-DD, UTC), included.",
               required=True)
_END = Param("end_date", Kind.DATE, "Last day (YYYY-MM-DD, UTC), included.", required=True)
_ENTITY_TYPE = Param("entity_type", Kind.TEXT, "Filter by entity type: user, session, agent, "
                     "service, environment, or a tag key (customer, team, ...).",
                     max_length=200)
_ENTITY_ID = Param("entity_id", Kind.TEXT, "Filter by entity id (with entity_type).")
_MODEL = Param("model", Kind.TEXT, "Filter by model.")
_TAGS = Param("tags", Kind.TAGS, "Filter by tags (key:value,key:value: every pair).")
_FORMAT = Param("format", Kind.CHOICE, "json, or csv: the list (`data`) as CSV.",
                default="json", choices=("json", "csv"))
_GROUP_BY = Param("group_by", Kind.DIMENSION, "Group results by entity (needs entity_type), "
                  "model, day, week, month, or tags.<key>.",
                  choices=("entity", "model", "day", "week", "month"), max_length=200)
_INTERVAL = Param("interval", Kind.CHOICE, "Interval (UTC buckets).", default="day",
                  choices=GRANULARITIES)
_LIMIT = Param("limit", Kind.INTEGER, "Number of results.", default=10, minimum=1,
               maximum=100)
_SESSION_LIMIT = Param("limit", Kind.INTEGER, "Number of results (newest first).", default=50,
                       minimum=1, maximum=10_000)
_ORDER = Param("order", Kind.CHOICE, "desc (the largest cost first) or asc.", default="desc",
               choices=("desc", "asc"))
_TOP_ENTITY_TYPE = Param("entity_type", Kind.TEXT, "The entity type to rank (default: user).",
                         default="user", max_length=200)
_STATUS = Param("status", Kind.CHOICE, "Only anomalies with this status (default: all).",
                choices=ANOMALY_STATUSES)
_ANOMALY_ENTITY = Param("entity_type", Kind.CHOICE, "Only anomalies of the whole project, "
                        "an agent or a model.", choices=("project", "agent", "model"))
_PERIODS: Final = tuple(Param(f"period{n}_{end}", Kind.DATE, f"{'First' if n == 1 else 'Second'}"
                              f" period's {'first' if end == 'start' else 'last'} day "
                              "(YYYY-MM-DD), included.", required=True)
                        for n in (1, 2) for end in ("start", "end"))

_RENAMES: Final = {"from..to": "start_date..end_date", "from": "start_date",
                   "to": "end_date", "compareFrom": "period2_start",
                   "compareTo": "period2_end"}
_FILTERED: Final = (_ENTITY_TYPE, _ENTITY_ID, _MODEL, _TAGS)


# -- the answers' schemas, from the document ---------------------------------------------------

_COUNT = {"type": "integer", "minimum": 0}
_MONEY = {"type": "number", "minimum": 0}
_TEXT = {"type": "string"}
_NULLABLE_TEXT = {"type": ["string", "null"]}
_DAY = {"type": "string", "format": "date"}
_COSTS = {"total_cost": _MONEY, "total_events": _COUNT, "total_input_tokens": _COUNT,
          "total_output_tokens": _COUNT, "avg_latency_ms": {"type": ["number", "null"]}}
_GROUPS = {"entity_type": _TEXT, "entity_id": _NULLABLE_TEXT, "model": _NULLABLE_TEXT,
           "date": _DAY, "tag_key": _TEXT, "tag_value": _NULLABLE_TEXT}
COSTS: Final = closed(
    data={"type": "array", "items": closed(list(_COSTS), **_GROUPS, **_COSTS)},
    summary=closed(total_cost=_MONEY, total_events=_COUNT,
                    period=closed(start=_DAY, end=_DAY)),
    group_by={"type": ["string", "null"]})
COST_TIMESERIES: Final = closed(
    data={"type": "array", "items": closed(timestamp={"type": "string", "format": "date-time"},
                                            cost=_MONEY, events=_COUNT)},
    interval={"enum": list(GRANULARITIES)})
MODELS: Final = closed(data={"type": "array", "items": closed(
    model=_NULLABLE_TEXT, provider=_NULLABLE_TEXT, **_COSTS,
    percentage_of_total={"type": "number", "minimum": 0, "maximum": 100})})
TOP_ENTITIES: Final = closed(data={"type": "array", "items": closed(
    entity_type=_TEXT, entity_id=_NULLABLE_TEXT, total_cost=_MONEY, total_events=_COUNT,
    rank={"type": "integer", "minimum": 1})})
SESSIONS: Final = closed(
    data={"type": "array", "items": closed(
        session_id=_TEXT, entity_type=_NULLABLE_TEXT, entity_id=_NULLABLE_TEXT,
        started_at=_TEXT, ended_at=_TEXT, turn_count=_COUNT, total_cost=_MONEY,
        total_tokens=_COUNT)},
    summary=closed(total_sessions=_COUNT,
                    avg_turns_per_session={"type": "number", "minimum": 0},
                    avg_cost_per_session={"type": "number", "minimum": 0}))
ANOMALIES: Final = closed(data={"type": "array", "items": closed(
    id={"type": "string", "pattern": "^anomaly_[0-9a-f]{16}$"}, detected_at=_TEXT,
    entity_type={"enum": ["project", "agent", "model"]}, entity_id=_NULLABLE_TEXT,
    type={"enum": ["cost_spike", "volume_spike", "error_rate_spike", "latency_spike"]},
    severity={"enum": ["low", "medium", "high"]}, description=_TEXT,
    expected_value={"type": "number"}, actual_value={"type": "number"},
    status={"enum": list(ANOMALY_STATUSES)})})
_PERIOD_TOTALS = closed(start=_DAY, end=_DAY, total_cost=_MONEY, total_events=_COUNT)
_NULLABLE_NUMBER = {"type": ["number", "null"]}
COMPARE: Final = closed(period1=_PERIOD_TOTALS, period2=_PERIOD_TOTALS, changes=closed(
    cost_change={"type": "number"}, cost_change_percent=_NULLABLE_NUMBER,
    events_change={"type": "integer"}, events_change_percent=_NULLABLE_NUMBER))


# -- the operations ----------------------------------------------------------------------------

def _range(args: Args) -> dict[str, datetime]:
    start, end = day_range(args["start_date"], args["end_date"], "start_date", "end_date")
    return {"from": start, "to": end}


def _filters(args: Args) -> tuple[Entity | None, dict[str, Any]]:
    """The entity named, and every filter as the native operations' arguments."""
    entity = entity_of(args)
    filters = Filters(model=args.get("model"), tags=args.get("tags") or ())
    if entity is not None:
        filters = entity.narrow(filters)
    return entity, native_filters(filters)


def _costs(row: dict[str, Any]) -> dict[str, Any]:
    return {"total_cost": row["costUsd"], "total_events": row["calls"],
            "total_input_tokens": row["inputTokens"], "total_output_tokens": row["outputTokens"],
            "avg_latency_ms": row["avgLatencyMs"]}


_BY_TIME: Final = ("day", "week", "month")
_MAX_GROUPS: Final = 1000


async def _grouped_costs(asker: Asker, args: Args, entity: Entity | None,
                         filters: dict[str, Any]) -> list[dict[str, Any]]:
    group_by = args["group_by"]
    if group_by is None:
        return []
    if group_by in _BY_TIME:
        body = await asker.ask("timeseries", **_range(args), **filters, granularity=group_by,
                               fill="zero")
        return [{"date": row["bucket"][:10], **_costs(row)} for row in body["data"]]
    if group_by == "entity":
        if entity is None:
            raise InvalidArgument("group_by: entity needs entity_type (user, session, agent, "
                                  "service, environment, or a tag key such as customer)")
        dimension = entity.dimension.name
    else:
        dimension = group_by
    body = await asker.ask("breakdown", **_range(args), **filters, dimension=dimension,
                           sort="cost", limit=_MAX_GROUPS)
    rows = []
    for row in body["data"]:
        key = None if row["other"] else row["key"]
        if group_by == "entity":
            assert entity is not None
            group = {"entity_type": entity.type, "entity_id": key}
        elif group_by == "model":
            group = {"model": key}
        else:
            group = {"tag_key": group_by.removeprefix("tags."), "tag_value": key}
        rows.append({**group, **_costs(row)})
    return rows


async def _cost_summary(ctx: Context, args: Args) -> Answer:
    asker = Asker(ctx, _RENAMES)
    entity, filters = _filters(args)
    rows = await _grouped_costs(asker, args, entity, filters)
    total = await asker.ask("summary", **_range(args), **filters)
    body = {"data": rows, "group_by": args["group_by"],
            "summary": {"total_cost": total["costUsd"], "total_events": total["calls"],
                        "period": {"start": args["start_date"].isoformat(),
                                   "end": args["end_date"].isoformat()}}}
    return Answer(body, rows, _columns(rows, (*_GROUPS, *_COSTS)), "costs")


def _columns(rows: list[dict[str, Any]], every: tuple[str, ...]) -> tuple[str, ...]:
    """The columns of a CSV of `rows`: those of `every` the rows have."""
    present = set().union(*(row.keys() for row in rows)) if rows else set(every)
    return tuple(name for name in every if name in present)


async def _cost_timeseries(ctx: Context, args: Args) -> Answer:
    _, filters = _filters(args)
    body = await Asker(ctx, _RENAMES).ask("timeseries", **_range(args), **filters,
                                          granularity=args["interval"], fill="zero")
    rows = [{"timestamp": row["bucket"], "cost": row["costUsd"], "events": row["calls"]}
            for row in body["data"]]
    return Answer({"data": rows, "interval": args["interval"]}, rows,
                  ("timestamp", "cost", "events"), "costs-timeseries")


_MODEL_COLUMNS: Final = ("model", "provider", *_COSTS, "percentage_of_total")


async def _models(ctx: Context, args: Args) -> Answer:
    """Every (provider, model), the largest cost first, from the native /api/analytics/llm's
    byModel; `percentage_of_total` of the cost, adding up to 100."""
    _, filters = _filters(args)
    body = await Asker(ctx, _RENAMES).ask("llm", **_range(args), **filters, granularity="day")
    by_model = sorted(body["byModel"], key=lambda r: (-r["costUsd"], -r["calls"],
                                                      r["model"] or "", r["provider"] or ""))
    share = shares([round(row["costUsd"] * 1e9) for row in by_model])
    rows = [{"model": row["model"], "provider": row["provider"],
             "total_cost": row["costUsd"], "total_events": row["calls"],
             "total_input_tokens": row["inputTokens"],
             "total_output_tokens": row["outputTokens"],
             "avg_latency_ms": row["avgLatencyMs"], "percentage_of_total": percent}
            for row, percent in zip(by_model, share, strict=True)]
    return Answer({"data": rows}, rows, _MODEL_COLUMNS, "models")


async def _top_entities(ctx: Context, args: Args) -> Answer:
    entity = Entity(args["entity_type"])
    body = await Asker(ctx, _RENAMES).ask("breakdown", **_range(args),
                                          dimension=entity.dimension.name, sort="cost",
                                          order=args["order"], limit=args["limit"])
    rows = [{"entity_type": entity.type, "entity_id": row["key"], "total_cost": row["costUsd"],
             "total_events": row["calls"], "rank": row["rank"]}
            for row in body["data"] if not row["other"]]
    return Answer({"data": rows}, rows,
                  ("entity_type", "entity_id", "total_cost", "total_events", "rank"),
                  "entities-top")


_SESSION_COLUMNS: Final = ("session_id", "entity_type", "entity_id", "started_at", "ended_at",
                           "turn_count", "total_cost", "total_tokens")


async def _sessions(ctx: Context, args: Args) -> Answer:
    entity, filters = _filters(args)
    body = await Asker(ctx, _RENAMES).ask("sessions", **_range(args), **filters,
                                          limit=args["limit"])
    rows = []
    for row in body["data"]:
        if entity is not None and entity.id is not None:
            who = {"entity_type": entity.type, "entity_id": entity.id}
        else:  # the session's user, when its calls name one
            who = {"entity_type": "user" if row["userId"] else None, "entity_id": row["userId"]}
        rows.append({"session_id": row["sessionId"], **who, "started_at": row["startedAt"],
                     "ended_at": row["endedAt"], "turn_count": row["calls"],
                     "total_cost": row["costUsd"], "total_tokens": row["totalTokens"]})
    summary = body["summary"]
    return Answer({"data": rows, "summary": {
        "total_sessions": summary["totalSessions"],
        "avg_turns_per_session": summary["avgCallsPerSession"] or 0.0,
        "avg_cost_per_session": summary["avgCostPerSessionUsd"] or 0.0,
    }}, rows, _SESSION_COLUMNS, "sessions")


_ANOMALY_COLUMNS: Final = ("id", "detected_at", "entity_type", "entity_id", "type", "severity",
                           "description", "expected_value", "actual_value", "status")


async def _anomalies(ctx: Context, args: Args) -> Answer:
    body = await Asker(ctx, _RENAMES).ask("anomalies", **_range(args),
                                          status=args["status"] or "any")
    scope = args["entity_type"]
    rows = [{"id": row["id"], "detected_at": row["detectedAt"], "entity_type": row["scope"],
             "entity_id": row["scopeKey"], "type": row["type"], "severity": row["severity"],
             "description": row["description"], "expected_value": row["expectedValue"],
             "actual_value": row["actualValue"], "status": row["status"]}
            for row in body["data"] if scope is None or row["scope"] == scope]
    return Answer({"data": rows}, rows, _ANOMALY_COLUMNS, "anomalies")


async def _compare(ctx: Context, args: Args) -> Answer:
    _, filters = _filters(args)
    first = day_range(args["period1_start"], args["period1_end"], "period1_start",
                      "period1_end")
    second = day_range(args["period2_start"], args["period2_end"], "period2_start",
                       "period2_end")
    renames = {**_RENAMES, "from..to": "period1_start..period1_end",
               "from": "period1_start", "to": "period1_end",
               "compareFrom..compareTo": "period2_start..period2_end"}
    body = await Asker(ctx, renames).ask("compare", **{"from": first[0], "to": first[1]},
                                         compareFrom=second[0], compareTo=second[1], **filters)

    def totals(n: int, side: dict[str, Any]) -> dict[str, Any]:
        return {"start": args[f"period{n}_start"].isoformat(),
                "end": args[f"period{n}_end"].isoformat(),
                "total_cost": side["costUsd"], "total_events": side["calls"]}

    changes = body["changes"]
    return Answer({
        "period1": totals(1, body["current"]), "period2": totals(2, body["previous"]),
        "changes": {
            "cost_change": round(body["current"]["costUsd"] - body["previous"]["costUsd"], 9),
            "cost_change_percent": changes["costUsd"]["changePercent"],
            "events_change": body["current"]["calls"] - body["previous"]["calls"],
            "events_change_percent": changes["calls"]["changePercent"],
        },
    })


_RANGE: Final = (_START, _END)
_ENDPOINTS: Final = (
    Endpoint("costs", "/v1/analytics/costs", "Aggregated costs over a period",
             (*_RANGE, *_FILTERED, _GROUP_BY, _FORMAT), COSTS),
    Endpoint("costs_timeseries", "/v1/analytics/costs/timeseries", "Costs over time",
             (*_RANGE, _INTERVAL, _ENTITY_TYPE, _ENTITY_ID, _MODEL, _TAGS, _FORMAT),
             COST_TIMESERIES),
    Endpoint("models", "/v1/analytics/models", "Usage by model, with its share of the cost",
             (*_RANGE, *_FILTERED, _FORMAT), MODELS),
    Endpoint("entities_top", "/v1/analytics/entities/top", "Top entities by cost",
             (*_RANGE, _TOP_ENTITY_TYPE, _LIMIT, _ORDER, _FORMAT), TOP_ENTITIES),
    Endpoint("sessions", "/v1/analytics/sessions", "Session-level analytics, newest first",
             (*_RANGE, *_FILTERED, _SESSION_LIMIT, _FORMAT), SESSIONS),
    Endpoint("anomalies", "/v1/analytics/anomalies", "Detected anomalies (stored hourly)",
             (*_RANGE, _ANOMALY_ENTITY, _STATUS, _FORMAT), ANOMALIES),
    Endpoint("compare", "/v1/analytics/compare", "Two periods compared (period1 - period2)",
             (*_PERIODS, *_FILTERED), COMPARE, listing=False),
)

PRODUCT: Final = Product(
    name="infraprism", title="InfraPrism analytics", reference="002",
    prefix="/compat/infraprism", endpoints=_ENDPOINTS,
    operations={"costs": _cost_summary, "costs_timeseries": _cost_timeseries,
                "models": _models, "entities_top": _top_entities, "sessions": _sessions,
                "anomalies": _anomalies, "compare": _compare},
    error_body=lambda code, message: {"error": {"code": code, "message": message}},
)
