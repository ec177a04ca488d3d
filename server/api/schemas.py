"""JSON Schemas of the query endpoints' answers (format=json): the OpenAPI document's, the gRPC
answer messages' (generate.py writes them from these), and what the tests validate every real
answer against (objects closed: no field undescribed). Measures that a shape function builds
are derived from its answer for an empty set, so that a field added there is described here."""

from __future__ import annotations

from typing import Any, Final

from spantally.store import Measures, RunMeasures
from spantally.store.runs import Rollup

from .run_shape import rollup_json, run_measures_row
from .shape import measures_row

__all__ = ["ANOMALIES", "BREAKDOWN", "CALL", "CALLS", "COMPARE", "ERROR", "LLM", "RUN", "RUNS",
           "RUNS_BREAKDOWN", "RUNS_SUMMARY", "RUNS_TIMESERIES", "SESSIONS", "SUMMARY",
           "TAGS", "TIMESERIES"]

ERROR: Final = {"type": "object", "required": ["error"], "properties": {
    "error": {"type": "object", "required": ["code", "message"],
              "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}}

def _closed(required: list[str], **properties: Any) -> dict[str, Any]:
    """An object of exactly these properties (the tests validate real answers against it)."""
    return {"type": "object", "required": required, "properties": properties,
            "additionalProperties": False}


_MONEY = {"currency": {"type": "string"},
          "cost": {"type": "number", "minimum": 0, "description": "In `currency` (when asked)."}}


def _measures(*extra: str, **properties: Any) -> dict[str, Any]:
    return _closed([*extra, *_MEASURES], **properties, **_MEASURES, **_MONEY)


def _schema_of(example: dict[str, Any]) -> dict[str, Any]:
    """The schema of a body shaped like `example` (the shape function's answer for an empty
    set): counts are integers, figures that are None without data nullable numbers."""
    properties: dict[str, Any] = {}
    for key, value in example.items():
        if isinstance(value, bool):
            properties[key] = {"type": "boolean"}
        elif isinstance(value, int):
            properties[key] = {"type": "integer", "minimum": 0}
        elif isinstance(value, float):
            properties[key] = {"type": "number", "minimum": 0}
        else:
            properties[key] = {"type": ["number", "null"], "minimum": 0}
    return {"type": "object", "required": list(properties), "properties": properties}


# What the template cannot tell (it holds None where a figure needs calls).
_MEASURE_NOTES: dict[str, dict[str, Any]] = {
    "successRate": {"maximum": 1},
    "costNanoUsd": {"description": "Exact cost in 1e-9 USD."},
    "p50LatencyMs": {"description": "From a log-scale histogram, read within the bin of the "
                     "exact value: typically within 1% of it over thousands of calls, never more "
                     "than a factor 1.454 off between 8 ms and 10 min."},
}
_MEASURES = {name: {**schema, **_MEASURE_NOTES.get(name, {})} for name, schema in
             _schema_of(measures_row(Measures()))["properties"].items()}
_RUN_MEASURES = _schema_of(run_measures_row(RunMeasures()))["properties"]


def _run_measures(*extra: str, **properties: Any) -> dict[str, Any]:
    return _closed([*extra, *_RUN_MEASURES], **properties, **_RUN_MEASURES, **_MONEY,
                   costPerRun={"type": ["number", "null"], "minimum": 0})


_TEXT = {"type": "string"}
_NULLABLE_TEXT = {"type": ["string", "null"]}
_COUNT = {"type": "integer", "minimum": 0}
_NUMBER = {"type": "number", "minimum": 0}
_NULLABLE_NUMBER = {"type": ["number", "null"], "minimum": 0}
_PERIOD = {"from": _TEXT, "to": _TEXT}
_CHANGE = _closed(["current", "previous", "change", "changePercent", "trend"],
                  current={"type": ["number", "null"]}, previous={"type": ["number", "null"]},
                  change={"type": ["number", "null"]},
                  changePercent={"type": ["number", "null"]},
                  trend={"enum": ["up", "down", "flat", None]})
_CHANGES = {"type": "object", "additionalProperties": _CHANGE}
_EXPLAIN = {"type": "object", "description": "With explain=true: the plans and queries."}


def _answer(required: list[str], **properties: Any) -> dict[str, Any]:
    return _closed(required, **properties, explain=_EXPLAIN)


def _list(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


# The reference's figures (reference 003): avgLatencyMs is 0, not null, without calls.
_REFERENCE_MEASURES = {"calls": _COUNT, "costUsd": _NUMBER, "inputTokens": _COUNT,
                       "outputTokens": _COUNT, "avgLatencyMs": _NUMBER,
                       "cost": _MONEY["cost"]}
LLM: Final = _answer(
    ["summary", "byModel", "byTime"],
    summary=_closed(["totalCalls", "totalCostUsd", "totalInputTokens", "totalOutputTokens",
                     "avgLatencyMs", "avgCostPerCall", "unpricedCalls", "errorCalls"],
                    totalCalls=_COUNT, totalCostUsd=_NUMBER, totalInputTokens=_COUNT,
                    totalOutputTokens=_COUNT, avgLatencyMs=_NUMBER, avgCostPerCall=_NUMBER,
                    unpricedCalls=_COUNT, errorCalls=_COUNT, currency=_TEXT,
                    exchangeRate={"type": "number"}, totalCost=_NUMBER),
    byModel=_list(_closed(["provider", "model", "calls", "costUsd", "inputTokens",
                           "outputTokens", "avgLatencyMs"], provider=_NULLABLE_TEXT,
                          model=_NULLABLE_TEXT, **_REFERENCE_MEASURES)),
    byTime=_list(_closed(["bucket", "calls", "costUsd", "inputTokens", "outputTokens",
                          "avgLatencyMs"], bucket=_TEXT, **_REFERENCE_MEASURES)))

SUMMARY: Final = _measures("from", "to", **_PERIOD, previous=_measures("from", "to", **_PERIOD),
                           changes=_CHANGES, explain=_EXPLAIN)
_SERIES = {**_PERIOD, "granularity": _TEXT, "timeZone": _TEXT}
TIMESERIES: Final = _answer(["from", "to", "granularity", "timeZone", "data"], **_SERIES,
                            data=_list(_measures("bucket", bucket=_TEXT)))
BREAKDOWN: Final = _answer(
    ["from", "to", "dimension", "sort", "order", "data", "total"], **_PERIOD,
    dimension=_TEXT, sort=_TEXT, order={"enum": ["desc", "asc"]}, total=_measures(),
    previous=_closed(["from", "to", "total"], **_PERIOD, total=_measures()),
    data=_list(_measures(
        "key", "other", "rank", "percentageOfTotal", key=_NULLABLE_TEXT,
        other={"type": "boolean"},
        rank={"type": ["integer", "null"], "minimum": 1,
              "description": "Its place in `order`, from 1 (null: the `other` row)."},
        percentageOfTotal={"type": "number", "minimum": 0, "maximum": 100},
        previous=_measures(), changes=_CHANGES)))
COMPARE: Final = _answer(["current", "previous", "changes"],
                         current=_measures("from", "to", **_PERIOD),
                         previous=_measures("from", "to", **_PERIOD), changes=_CHANGES)
_SESSION = _closed(
    ["sessionId", "startedAt", "endedAt", "durationMs", "calls", "errorCalls", "inputTokens",
     "outputTokens", "totalTokens", "costUsd", "costNanoUsd", "unpricedCalls", "userId",
     "agentId"],
    sessionId=_TEXT, startedAt=_TEXT, endedAt=_TEXT, durationMs=_NUMBER, calls=_COUNT,
    errorCalls=_COUNT, inputTokens=_COUNT, outputTokens=_COUNT, totalTokens=_COUNT,
    costUsd=_NUMBER, costNanoUsd=_COUNT, unpricedCalls=_COUNT, userId=_NULLABLE_TEXT,
    agentId=_NULLABLE_TEXT)
_SESSIONS_SUMMARY = _closed(
    ["totalSessions", "totalCalls", "totalTokens", "totalCostUsd", "totalCostNanoUsd",
     "avgCallsPerSession", "avgTokensPerSession", "avgCostPerSessionUsd", "avgDurationMs"],
    totalSessions=_COUNT, totalCalls=_COUNT, totalTokens=_COUNT, totalCostUsd=_NUMBER,
    totalCostNanoUsd=_COUNT, avgCallsPerSession=_NULLABLE_NUMBER,
    avgTokensPerSession=_NULLABLE_NUMBER, avgCostPerSessionUsd=_NULLABLE_NUMBER,
    avgDurationMs=_NULLABLE_NUMBER)
SESSIONS: Final = _answer(["from", "to", "sort", "limit", "offset", "data", "summary"],
                          **_PERIOD, sort=_TEXT, limit=_COUNT, offset=_COUNT,
                          data=_list(_SESSION), summary=_SESSIONS_SUMMARY)
_ANOMALY = _closed(
    ["id", "hour", "detectedAt", "type", "scope", "scopeKey", "severity", "expectedValue",
     "actualValue", "unit", "baselineDays", "zScore", "description"],
    id=_TEXT, hour=_TEXT, detectedAt=_TEXT,
    type={"enum": ["cost_spike", "volume_spike", "error_rate_spike", "latency_spike"]},
    scope={"enum": ["project", "agent", "model"]}, scopeKey=_NULLABLE_TEXT,
    severity={"enum": ["low", "medium", "high"]}, expectedValue={"type": "number"},
    actualValue={"type": "number"}, unit={"enum": ["usd", "calls", "ratio", "ms"]},
    baselineDays=_COUNT, zScore={"type": ["number", "null"]}, description=_TEXT,
    # A stored anomaly's (with `status`): where its lifecycle stands.
    status={"enum": ["active", "resolved", "dismissed"]},
    lastHour={**_TEXT, "description": "The last hour that showed it."},
    resolvedAt={**_NULLABLE_TEXT, "description": "The first hour that no longer showed it."},
    dismissedAt=_NULLABLE_TEXT)
ANOMALIES: Final = _answer(["from", "to", "baselineDays", "data"], **_PERIOD,
                           baselineDays=_COUNT,
                           status={"enum": ["active", "resolved", "dismissed", "any"]},
                           data=_list(_ANOMALY))
RUNS_SUMMARY: Final = _run_measures("from", "to", **_PERIOD,
                                    previous=_run_measures("from", "to", **_PERIOD),
                                    changes=_CHANGES, explain=_EXPLAIN)
RUNS_TIMESERIES: Final = _answer(["from", "to", "granularity", "timeZone", "data"], **_SERIES,
                                 data=_list(_run_measures("bucket", bucket=_TEXT)))
RUNS_BREAKDOWN: Final = _answer(
    ["from", "to", "dimension", "sort", "data", "others"], **_PERIOD,
    dimension=_TEXT, sort=_TEXT,
    others={**_COUNT, "description": "Values left out by `limit`."},
    data=_list(_run_measures("key", key=_NULLABLE_TEXT, changes=_CHANGES)))
_HEX = {32: {"type": "string", "pattern": "^[0-9a-f]{32}$"},
        16: {"type": "string", "pattern": "^[0-9a-f]{16}$"}}
_NULLABLE_SPAN = {"type": ["string", "null"], "pattern": "^[0-9a-f]{16}$"}
_CALL_ROW = dict(
    time=_TEXT, traceId=_HEX[32], spanId=_HEX[16], provider=_NULLABLE_TEXT,
    model=_NULLABLE_TEXT, agentId=_NULLABLE_TEXT, sessionId=_NULLABLE_TEXT,
    userId=_NULLABLE_TEXT, operation=_TEXT, streaming={"type": ["boolean", "null"]},
    inputTokens=_COUNT, outputTokens=_COUNT, costUsd=_NULLABLE_NUMBER, latencyMs=_NUMBER,
    timeToFirstChunkMs=_NULLABLE_NUMBER, status={"enum": ["ok", "error"]},
    errorType=_NULLABLE_TEXT)
CALLS: Final = _closed(["calls"], calls=_list(_closed(list(_CALL_ROW), **_CALL_ROW)))
_CALL_DETAIL = dict(
    _CALL_ROW, parentSpanId=_NULLABLE_SPAN, service=_NULLABLE_TEXT,
    environment=_NULLABLE_TEXT, agentName=_NULLABLE_TEXT, requestModel=_NULLABLE_TEXT,
    responseModel=_NULLABLE_TEXT, cacheReadTokens=_COUNT, cacheWriteTokens=_COUNT,
    reasoningTokens=_COUNT, costNanoUsd={"type": ["integer", "null"], "minimum": 0},
    costSource={"enum": ["reported", "catalog", "custom", None]},
    responseId={**_NULLABLE_TEXT, "description": "The provider's id of the response."},
    instrumentation={**_NULLABLE_TEXT,
                     "description": "The family of instrumentation that sent it."},
    tags={"type": "object", "description": "Its attributes no convention maps."})
CALL: Final = _closed(list(_CALL_DETAIL), **_CALL_DETAIL)
TAGS: Final = _answer(["from", "to", "data"], **_PERIOD, data=_list(_closed(
    ["key", "calls", "values"], key=_TEXT,
    calls={**_COUNT, "description": "Calls in the range carrying it."},
    values={**_COUNT, "description": "Its distinct values among them."})))
_ROLLUP = _schema_of(rollup_json(Rollup()))["properties"]
_RUN_FIELDS = {
    "traceId": _HEX[32], "spanId": _HEX[16], "parentSpanId": _NULLABLE_SPAN,
    "parentRunSpanId": _NULLABLE_SPAN, "kind": {"enum": ["agent", "workflow"]},
    "agentId": _NULLABLE_TEXT, "agentName": _NULLABLE_TEXT, "service": _NULLABLE_TEXT,
    "environment": _NULLABLE_TEXT, "userId": _NULLABLE_TEXT, "sessionId": _NULLABLE_TEXT,
    "startTime": _TEXT, "durationMs": _NULLABLE_NUMBER, "status": {"enum": ["ok", "error"]},
    "errorType": _NULLABLE_TEXT, **_ROLLUP,
    "models": _list(_TEXT), "providers": _list(_TEXT),
    "tags": {"type": ["object", "null"], "additionalProperties": _TEXT},
    "own": {**_closed(list(_ROLLUP), **_ROLLUP),
            "description": "Its own steps only; the run's other figures include its "
                           "sub-agents'."},
}
_RUN = _closed(list(_RUN_FIELDS), **_RUN_FIELDS)
_STEP = _closed(
    ["type", "spanId", "parentSpanId", "runSpanId", "depth", "name", "startTime", "offsetMs",
     "durationMs", "status", "errorType"],
    type={"enum": ["call", "tool", "run"]}, spanId=_HEX[16], parentSpanId=_NULLABLE_SPAN,
    runSpanId=_HEX[16], depth=_COUNT, name=_NULLABLE_TEXT, startTime=_TEXT,
    offsetMs={"type": ["number", "null"]}, durationMs=_NULLABLE_NUMBER,
    status={"enum": ["ok", "error"]}, errorType=_NULLABLE_TEXT,
    # LLM calls only:
    provider=_NULLABLE_TEXT, operation=_NULLABLE_TEXT, inputTokens=_COUNT,
    outputTokens=_COUNT, cacheReadTokens=_COUNT, cacheWriteTokens=_COUNT,
    reasoningTokens=_COUNT, costUsd=_NULLABLE_NUMBER, costNanoUsd={"type": ["integer", "null"]},
    ttftMs=_NULLABLE_NUMBER)
RUNS: Final = _closed(["from", "to", "limit", "offset", "data"], **_PERIOD, limit=_COUNT,
                      offset=_COUNT, data=_list(_RUN))
RUN: Final = _closed([*_RUN_FIELDS, "stepsInOrder"], **_RUN_FIELDS,
                     stepsInOrder=_list(_STEP))
