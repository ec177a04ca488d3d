"""JSON Schemas of the query endpoints' answers (format=json), for the OpenAPI document and the
tests that validate answers against it. Shapes that a shape function builds are derived from
its answer for an empty set, so that a field added there is described here."""

from __future__ import annotations

from typing import Any, Final

from spantally.store import Measures, RunMeasures

from .run_shape import run_measures_row, run_row_columns
from .shape import measures_row

__all__ = ["ANOMALIES", "BREAKDOWN", "CALLS", "COMPARE", "ERROR", "LLM", "RUN", "RUNS",
           "RUNS_BREAKDOWN", "RUNS_SUMMARY", "RUNS_TIMESERIES", "SESSIONS", "SUMMARY",
           "TIMESERIES"]

ERROR: Final = {"type": "object", "required": ["error"], "properties": {
    "error": {"type": "object", "required": ["code", "message"],
              "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}}

_REFERENCE_MEASURES = {
    "calls": {"type": "integer", "minimum": 0},
    "costUsd": {"type": "number", "minimum": 0},
    "inputTokens": {"type": "integer", "minimum": 0},
    "outputTokens": {"type": "integer", "minimum": 0},
    "avgLatencyMs": {"type": "number", "minimum": 0},
    "cost": {"type": "number", "minimum": 0, "description": "In `currency` (when asked)."},
}
def _measures(*extra: str, **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": [*extra, *_MEASURES],
            "properties": {**properties, **_MEASURES,
                           "currency": {"type": "string"},
                           "cost": {"type": "number", "minimum": 0,
                                    "description": "In `currency` (when asked)."}}}


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
    "p50LatencyMs": {"description": "From a log-scale histogram: within ±20.6% of the exact "
                     "value between 8 ms and 10 min."},
}
_MEASURES = {name: {**schema, **_MEASURE_NOTES.get(name, {})} for name, schema in
             _schema_of(measures_row(Measures()))["properties"].items()}
_RUN_MEASURES = _schema_of(run_measures_row(RunMeasures()))
_RUN_MEASURES["properties"].update({"currency": {"type": "string"},
                                    "cost": {"type": "number", "minimum": 0},
                                    "costPerRun": {"type": ["number", "null"], "minimum": 0}})


def _run_measures(*extra: str, **properties: Any) -> dict[str, Any]:
    return {**_RUN_MEASURES, "required": [*extra, *_RUN_MEASURES["required"]],
            "properties": {**properties, **_RUN_MEASURES["properties"]}}


_PERIOD = {"from": {"type": "string"}, "to": {"type": "string"}}
_CHANGE = {"type": "object", "required": ["current", "previous", "change", "changePercent",
                                          "trend"], "properties": {
    "current": {"type": ["number", "null"]}, "previous": {"type": ["number", "null"]},
    "change": {"type": ["number", "null"]}, "changePercent": {"type": ["number", "null"]},
    "trend": {"enum": ["up", "down", "flat", None]}}}
_CHANGES = {"type": "object", "additionalProperties": _CHANGE}
_EXPLAIN = {"type": "object", "description": "With explain=true: the plans and queries."}
_ROLLUP = {"type": "object", "description": "Steps, tokens and cost below the run, "
           "sub-agents' included; `own`: its own steps only."}


def _answer(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required,
            "properties": {**properties, "explain": _EXPLAIN}}


LLM: Final = _answer(["summary", "byModel", "byTime"], summary={
    "type": "object", "required": ["totalCalls", "totalCostUsd", "totalInputTokens",
                                   "totalOutputTokens", "avgLatencyMs", "avgCostPerCall"],
    "properties": {
        "totalCalls": {"type": "integer", "minimum": 0},
        "totalCostUsd": {"type": "number", "minimum": 0},
        "totalInputTokens": {"type": "integer", "minimum": 0},
        "totalOutputTokens": {"type": "integer", "minimum": 0},
        "avgLatencyMs": {"type": "number", "minimum": 0},
        "avgCostPerCall": {"type": "number", "minimum": 0},
        "unpricedCalls": {"type": "integer", "minimum": 0},
        "errorCalls": {"type": "integer", "minimum": 0},
        "currency": {"type": "string"},
        "exchangeRate": {"type": "number"},
        "totalCost": {"type": "number"}}},
    byModel={"type": "array", "items": {"type": "object", "required": [
        "provider", "model", "calls", "costUsd"], "properties": {
        "provider": {"type": ["string", "null"]},
        "model": {"type": ["string", "null"]}, **_REFERENCE_MEASURES}}},
    byTime={"type": "array", "items": {"type": "object", "required": [
        "bucket", "calls", "costUsd"], "properties": {
        "bucket": {"type": "string"}, **_REFERENCE_MEASURES}}})

SUMMARY: Final = {**_measures("from", "to", **_PERIOD, previous={"type": "object"},
                              changes=_CHANGES, explain=_EXPLAIN)}
_SERIES = {**_PERIOD, "granularity": {"type": "string"}, "timeZone": {"type": "string"}}
TIMESERIES: Final = _answer(["from", "to", "granularity", "timeZone", "data"], **_SERIES,
                            data={"type": "array", "items": _measures(
                                "bucket", bucket={"type": "string"})})
BREAKDOWN: Final = _answer(
    ["from", "to", "dimension", "sort", "data", "total"], **_PERIOD,
    dimension={"type": "string"}, sort={"type": "string"}, total=_measures(),
    previous={"type": "object"},
    data={"type": "array", "items": _measures(
        "key", "other", "percentageOfTotal", key={"type": ["string", "null"]},
        other={"type": "boolean"},
        percentageOfTotal={"type": "number", "minimum": 0, "maximum": 100},
        previous=_measures(), changes=_CHANGES)})
COMPARE: Final = _answer(["current", "previous", "changes"],
                         current=_measures("from", "to", **_PERIOD),
                         previous=_measures("from", "to", **_PERIOD), changes=_CHANGES)
SESSIONS: Final = _answer(["from", "to", "data", "summary"], **_PERIOD,
                          summary={"type": "object"},
                          data={"type": "array", "items": {"type": "object", "required": [
                              "sessionId", "startedAt", "endedAt", "calls", "costUsd"]}})
ANOMALIES: Final = _answer(["from", "to", "baselineDays", "data"], **_PERIOD,
                           baselineDays={"type": "integer"},
                           data={"type": "array", "items": {"type": "object", "required": [
                               "id", "hour", "type", "scope", "severity", "expectedValue",
                               "actualValue", "description"], "properties": {
                               "type": {"enum": ["cost_spike", "volume_spike",
                                                 "error_rate_spike", "latency_spike"]},
                               "scope": {"enum": ["project", "agent", "model"]},
                               "severity": {"enum": ["low", "medium", "high"]}}}})
RUNS_SUMMARY: Final = _run_measures("from", "to", **_PERIOD, previous={"type": "object"},
                                    changes=_CHANGES, explain=_EXPLAIN)
RUNS_TIMESERIES: Final = _answer(["from", "to", "granularity", "timeZone", "data"], **_SERIES,
                                 data={"type": "array", "items": _run_measures(
                                     "bucket", bucket={"type": "string"})})
RUNS_BREAKDOWN: Final = _answer(
    ["from", "to", "dimension", "sort", "data", "others"], **_PERIOD,
    dimension={"type": "string"}, sort={"type": "string"},
    others={"type": "integer", "minimum": 0, "description": "Values left out by `limit`."},
    data={"type": "array", "items": _run_measures(
        "key", key={"type": ["string", "null"]}, changes=_CHANGES)})
CALLS: Final = {"type": "object", "required": ["calls"], "properties": {
    "calls": {"type": "array", "items": {"type": "object", "required": [
        "time", "operation", "inputTokens", "outputTokens", "latencyMs", "status"],
        "properties": {
            "time": {"type": "string"},
            "provider": {"type": ["string", "null"]},
            "model": {"type": ["string", "null"]},
            "agentId": {"type": ["string", "null"]},
            "sessionId": {"type": ["string", "null"]},
            "userId": {"type": ["string", "null"]},
            "operation": {"type": "string"},
            "streaming": {"type": ["boolean", "null"]},
            "inputTokens": {"type": "integer"},
            "outputTokens": {"type": "integer"},
            "costUsd": {"type": ["number", "null"]},
            "latencyMs": {"type": "number"},
            "timeToFirstChunkMs": {"type": ["number", "null"]},
            "status": {"enum": ["ok", "error"]},
            "errorType": {"type": ["string", "null"]}}}}}}
_RUN = {"type": "object", "required": ["traceId", "spanId", "kind", "startTime", "durationMs",
                                       "status", "llmCalls", "toolCalls", "own"],
        "properties": {c: {} for c in run_row_columns() if "." not in c} | {
            "traceId": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
            "spanId": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
            "kind": {"enum": ["agent", "workflow"]}, "status": {"enum": ["ok", "error"]},
            "own": _ROLLUP}}
RUNS: Final = _answer(["from", "to", "limit", "offset", "data"], **_PERIOD,
                      limit={"type": "integer"}, offset={"type": "integer"},
                      data={"type": "array", "items": _RUN})
RUN: Final = {**_RUN, "required": [*_RUN["required"], "stepsInOrder"],
              "properties": {**_RUN["properties"], "stepsInOrder": {"type": "array"}}}
