"""The API's OpenAPI 3.1 document, served at /api/openapi.json (and checked by schemathesis)."""

from __future__ import annotations

from typing import Any

from spantally import __version__
from spantally.store import DIMENSIONS, RUN_DIMENSIONS, RUN_SORTS, SCOPES, RunMeasures

from .runs import run_measures_row, run_row_columns
from .services import scope_for

__all__ = ["openapi_document"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {
    "400": {"$ref": "#/components/responses/InvalidArgument"},
    "401": {"$ref": "#/components/responses/Unauthenticated"},
    "403": {"$ref": "#/components/responses/PermissionDenied"},
    "503": {"$ref": "#/components/responses/Unavailable"},
}

_TIME = {"type": "string", "anyOf": [{"format": "date"}, {"format": "date-time"}],
         # years 1901 to 8998: any offset keeps them within what the API accepts (1900 to 8999)
         "pattern": "^(190[1-9]|19[1-9][0-9]|[2-7][0-9]{3}|8[0-8][0-9]{2}|89[0-8][0-9]|899[0-8])-",
         "description": "ISO 8601 date or date-time; UTC unless it has an offset. A date is its "
         "midnight UTC. Years 1900 to 8999.", "examples": ["2026-02-01", "2026-02-01T10:00:00Z"]}
_TEXT = {"type": "string", "minLength": 1, "maxLength": 512, "pattern": "^[^\\x00]*$"}
# A name SpanTally trims: something besides blanks.
_NAME = {**_TEXT, "pattern": "^[^\\x00]*[^\\s\\x00][^\\x00]*$"}
_RANGE_AND_FILTERS = [
    {"name": "from", "in": "query", "schema": _TIME,
     "description": "Start (inclusive); default: `to` minus 24 hours."},
    {"name": "to", "in": "query", "schema": _TIME, "description": "End (exclusive); default: now."},
    {"name": "agentId", "in": "query", "schema": _TEXT},
    {"name": "model", "in": "query", "schema": _TEXT,
     "description": "The model that answered, else the model asked for."},
    {"name": "requestModel", "in": "query", "schema": _TEXT,
     "description": "The model asked for (what failed calls know)."},
    {"name": "provider", "in": "query", "schema": _TEXT},
]
_MEASURES = {
    "calls": {"type": "integer", "minimum": 0},
    "costUsd": {"type": "number", "minimum": 0},
    "inputTokens": {"type": "integer", "minimum": 0},
    "outputTokens": {"type": "integer", "minimum": 0},
    "avgLatencyMs": {"type": "number", "minimum": 0},
    "cost": {"type": "number", "minimum": 0, "description": "In `currency` (when asked)."},
}
_FILTERS = [
    *_RANGE_AND_FILTERS,
    {"name": "service", "in": "query", "schema": _TEXT},
    {"name": "environment", "in": "query", "schema": _TEXT},
    {"name": "userId", "in": "query", "schema": _TEXT},
    {"name": "sessionId", "in": "query", "schema": _TEXT},
    {"name": "status", "in": "query", "schema": {"enum": ["ok", "error"]}},
    {"name": "tags", "in": "query",
     "schema": {"type": "string", "maxLength": 512,
                "pattern": "^[^:,\\x00]*[^:,\\s\\x00][^:,\\x00]*:[^,\\x00]*[^,\\s\\x00][^,\\x00]*"
                           "(,[^:,\\x00]*[^:,\\s\\x00][^:,\\x00]*:[^,\\x00]*[^,\\s\\x00][^,\\x00]*)*$"},
     "description": "key:value pairs, comma-separated, all of which a call's tags must have."},
]
_FORMAT = {"name": "format", "in": "query", "schema": {"enum": ["json", "csv", "ndjson"],
                                                       "default": "json"},
           "description": "json, or the list as CSV (columns: the row's fields, nested ones "
                          "dotted) or NDJSON (one row a line), streamed."}
_EXPLAIN = {"name": "explain", "in": "query", "schema": {"enum": ["true", "false"],
                                                         "default": "false"},
            "description": "true: the answer also has `explain`, each plan (which relation "
                           "answers which part of the range) and each query with its SQL and "
                           "the rows it read. JSON answers only."}
_COMPARE = [
    {"name": "compare", "in": "query", "schema": {"const": "previous_period"},
     "description": "Also the period of the same length just before from..to."},
    {"name": "compareFrom", "in": "query", "schema": _TIME},
    {"name": "compareTo", "in": "query", "schema": _TIME},
]
_CURRENCY = {"name": "currency", "in": "query",
             "schema": {"type": "string", "pattern": "^[A-Za-z]{3}$"},
             "description": "Also show costs (`cost`) in this currency (a rate must be set)."}
_NULLABLE_MS = {"type": ["number", "null"], "minimum": 0}
_ANALYTICS_MEASURES = {
    "calls": {"type": "integer", "minimum": 0},
    "successCalls": {"type": "integer", "minimum": 0},
    "errorCalls": {"type": "integer", "minimum": 0},
    "successRate": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
    "inputTokens": {"type": "integer", "minimum": 0},
    "outputTokens": {"type": "integer", "minimum": 0},
    "cacheReadTokens": {"type": "integer", "minimum": 0},
    "cacheWriteTokens": {"type": "integer", "minimum": 0},
    "reasoningTokens": {"type": "integer", "minimum": 0},
    "totalTokens": {"type": "integer", "minimum": 0},
    "costUsd": {"type": "number", "minimum": 0},
    "costNanoUsd": {"type": "integer", "minimum": 0, "description": "Exact cost in 1e-9 USD."},
    "unpricedCalls": {"type": "integer", "minimum": 0},
    "avgLatencyMs": _NULLABLE_MS,
    "p50LatencyMs": {**_NULLABLE_MS, "description": "From a log-scale histogram: within "
                     "±20.6% of the exact value between 8 ms and 10 min."},
    "p95LatencyMs": _NULLABLE_MS,
    "p99LatencyMs": _NULLABLE_MS,
    "avgTtftMs": _NULLABLE_MS,
    "p95TtftMs": _NULLABLE_MS,
}


def _measures(*extra: str, **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": [*extra, *_ANALYTICS_MEASURES],
            "properties": {**properties, **_ANALYTICS_MEASURES,
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


_RUN_MEASURES = _schema_of(run_measures_row(RunMeasures()))
_RUN_MEASURES["properties"].update({"currency": {"type": "string"},
                                    "cost": {"type": "number", "minimum": 0},
                                    "costPerRun": {"type": ["number", "null"], "minimum": 0}})
_RUN_ROLLUP = {"type": "object", "description": "Steps, tokens and cost below the run, "
               "sub-agents' included; `own`: its own steps only."}


def _run_measures(*extra: str, **properties: Any) -> dict[str, Any]:
    return {**_RUN_MEASURES, "required": [*extra, *_RUN_MEASURES["required"]],
            "properties": {**properties, **_RUN_MEASURES["properties"]}}


_RUN = {"type": "object", "required": ["traceId", "spanId", "kind", "startTime", "durationMs",
                                       "status", "llmCalls", "toolCalls", "own"],
        "properties": {c: {} for c in run_row_columns() if "." not in c} | {
            "traceId": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
            "spanId": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
            "kind": {"enum": ["agent", "workflow"]}, "status": {"enum": ["ok", "error"]},
            "own": _RUN_ROLLUP}}
_HEX_ID = {"trace": 32, "span": 16}


def _listing(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {
        "application/json": {"schema": schema},
        "text/csv": {"schema": {"type": "string"}},
        "application/x-ndjson": {"schema": {"type": "string"}},
    }}


_PERIOD = {"from": {"type": "string"}, "to": {"type": "string"}}
_CHANGE = {"type": "object", "required": ["current", "previous", "change", "changePercent",
                                          "trend"], "properties": {
    "current": {"type": ["number", "null"]}, "previous": {"type": ["number", "null"]},
    "change": {"type": ["number", "null"]}, "changePercent": {"type": ["number", "null"]},
    "trend": {"enum": ["up", "down", "flat", None]}}}
_CHANGES = {"type": "object", "additionalProperties": _CHANGE}
_DECIMAL = r"^0*[0-9]{1,6}(\.[0-9]+)?$"  # under 1,000,000
# A rate: positive after rounding to 12 places, under 1,000,000,000.
_POSITIVE_DECIMAL = r"^(0*[1-9][0-9]{0,8}(\.[0-9]+)?|0*\.[0-9]{0,11}[1-9][0-9]*)$"
_NUMBER_TEXT = {"anyOf": [{"type": "number", "minimum": 0, "maximum": 1_000_000},
                          {"type": "string", "pattern": _DECIMAL}],
                "description": "A number, or a decimal string (exact): zero or more, at most "
                "1,000,000; kept to 12 decimal places."}
_CODE = {"name": "code", "in": "path", "required": True,
         "schema": {"type": "string", "pattern": "^[A-Za-z]{3}$"},
         "description": "ISO 4217 currency code (not USD)."}


def openapi_document() -> dict[str, Any]:
    price = {
        "type": "object",
        "required": ["id", "model", "inputPerMTok", "outputPerMTok", "currency",
                     "effectiveFrom", "createdAt"],
        "properties": {
            "id": {"type": "integer"},
            "provider": {"type": ["string", "null"]},
            "model": {"type": "string"},
            "inputPerMTok": {"type": "number"},
            "outputPerMTok": {"type": "number"},
            "cacheReadPerMTok": {"type": ["number", "null"]},
            "cacheWritePerMTok": {"type": ["number", "null"]},
            "perCall": {"type": "number"},
            "currency": {"const": "USD"},
            "effectiveFrom": {"type": "string"},
            "effectiveTo": {"type": ["string", "null"]},
            "createdAt": {"type": "string"},
        },
    }
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "SpanTally API", "version": __version__,
                 "description": "LLM call analytics, recent calls, prices and currencies. "
                                "Every error is JSON {\"error\": {\"code\", \"message\"}}."},
        "security": [{"bearerAuth": []}],
        "paths": {
            "/api/analytics/llm": {"get": {
                "summary": "Summary, per model and per time bucket",
                "parameters": [
                    *_FILTERS,
                    {"name": "granularity", "in": "query",
                     "schema": {"enum": ["hour", "day", "week"], "default": "hour"}},
                    {"name": "currency", "in": "query",
                     "schema": {"type": "string", "pattern": "^[A-Za-z]{3}$"},
                     "description": "Also show costs in this currency (a rate must be set)."},
                ],
                "responses": {"200": _json(_ref("LlmAnalytics"), "The analytics"), **_ERRORS},
            }},
            "/api/analytics/summary": {"get": {
                "summary": "Calls, outcomes, tokens, cost, latency and time to first token",
                "parameters": [*_FILTERS, *_COMPARE, _FORMAT, _CURRENCY],
                "responses": {"200": _listing(_measures("from", "to", **_PERIOD, previous={
                    "type": "object"}, changes=_CHANGES), "The summary"), **_ERRORS},
            }},
            "/api/analytics/timeseries": {"get": {
                "summary": "The summary's measures per calendar bucket in a time zone",
                "parameters": [
                    *_FILTERS, _FORMAT, _CURRENCY,
                    {"name": "granularity", "in": "query",
                     "schema": {"enum": ["hour", "day", "week", "month"], "default": "day"}},
                    {"name": "tz", "in": "query",
                     "schema": {"type": "string", "default": "UTC", "maxLength": 64},
                     "description": "IANA time zone (Area/City) the buckets follow."},
                    {"name": "fill", "in": "query",
                     "schema": {"enum": ["none", "zero"], "default": "none"},
                     "description": "zero: also the buckets without calls."},
                ],
                "responses": {"200": _listing({"type": "object", "required": [
                    "from", "to", "granularity", "timeZone", "data"], "properties": {
                    **_PERIOD, "granularity": {"type": "string"}, "timeZone": {"type": "string"},
                    "data": {"type": "array", "items": _measures(
                        "bucket", bucket={"type": "string"})}}}, "Buckets, oldest first"),
                    **_ERRORS},
            }},
            "/api/analytics/breakdown/{dimension}": {"get": {
                "summary": "The measures per value of a dimension, largest first",
                "parameters": [
                    {"name": "dimension", "in": "path", "required": True,
                     "schema": {"anyOf": [
                         {"enum": list(DIMENSIONS)},
                         {"type": "string", "pattern": "^tags\\.[^\x00/]+$",
                          "maxLength": 200}]}},
                    *_FILTERS, *_COMPARE, _FORMAT, _CURRENCY,
                    {"name": "sort", "in": "query",
                     "schema": {"enum": ["cost", "calls", "tokens", "errors"],
                                "default": "cost"}},
                    {"name": "limit", "in": "query",
                     "schema": {"type": "integer", "minimum": 1, "maximum": 1000,
                                "default": 10},
                     "description": "Rows before the `other` row that holds the rest."},
                ],
                "responses": {"200": _listing({"type": "object", "required": [
                    "from", "to", "dimension", "sort", "data", "total"], "properties": {
                    **_PERIOD, "dimension": {"type": "string"}, "sort": {"type": "string"},
                    "total": _measures(), "previous": {"type": "object"},
                    "data": {"type": "array", "items": _measures(
                        "key", "other", "percentageOfTotal", key={"type": ["string", "null"]},
                        other={"type": "boolean"},
                        percentageOfTotal={"type": "number", "minimum": 0, "maximum": 100},
                        previous=_measures(), changes=_CHANGES)}}}, "Rows"), **_ERRORS},
            }},
            "/api/analytics/runs": {"get": {
                "summary": "Agent runs: how many, how many failed, duration, steps, tokens and "
                           "cost per run",
                "description": "Runs that started in from..to (docs/analytics.md, \"Agent "
                               "runs\"). Steps, tokens and cost include sub-agents'; `model` "
                               "and `provider` select the runs that used them. Durations' "
                               "percentiles are exact.",
                "parameters": [*_FILTERS, *_COMPARE, _FORMAT, _CURRENCY],
                "responses": {"200": _listing(_run_measures(
                    "from", "to", **_PERIOD, previous={"type": "object"}, changes=_CHANGES),
                    "The runs' measures"), **_ERRORS},
            }},
            "/api/analytics/runs/timeseries": {"get": {
                "summary": "The runs' measures per calendar bucket in a time zone",
                "parameters": [
                    *_FILTERS, _FORMAT, _CURRENCY,
                    {"name": "granularity", "in": "query",
                     "schema": {"enum": ["hour", "day", "week", "month"], "default": "day"}},
                    {"name": "tz", "in": "query",
                     "schema": {"type": "string", "default": "UTC", "maxLength": 64}},
                    {"name": "fill", "in": "query",
                     "schema": {"enum": ["none", "zero"], "default": "none"}},
                ],
                "responses": {"200": _listing({"type": "object", "required": [
                    "from", "to", "granularity", "timeZone", "data"], "properties": {
                    **_PERIOD, "granularity": {"type": "string"}, "timeZone": {"type": "string"},
                    "data": {"type": "array", "items": _run_measures(
                        "bucket", bucket={"type": "string"})}}}, "Buckets, oldest first"),
                    **_ERRORS},
            }},
            "/api/analytics/runs/breakdown/{dimension}": {"get": {
                "summary": "The runs' measures per agent, service, user, model (runs that used "
                           "it), ..., largest first",
                "parameters": [
                    {"name": "dimension", "in": "path", "required": True,
                     "schema": {"anyOf": [
                         {"enum": list(RUN_DIMENSIONS)},
                         {"type": "string", "pattern": "^tags\\.[^\x00/]+$",
                          "maxLength": 200}]}},
                    *_FILTERS, *_COMPARE, _FORMAT, _CURRENCY,
                    {"name": "sort", "in": "query",
                     "schema": {"enum": list(RUN_SORTS), "default": "runs"}},
                    {"name": "limit", "in": "query",
                     "schema": {"type": "integer", "minimum": 1, "maximum": 1000,
                                "default": 10}},
                ],
                "responses": {"200": _listing({"type": "object", "required": [
                    "from", "to", "dimension", "sort", "data", "others"], "properties": {
                    **_PERIOD, "dimension": {"type": "string"}, "sort": {"type": "string"},
                    "others": {"type": "integer", "minimum": 0,
                               "description": "Values left out by `limit`."},
                    "data": {"type": "array", "items": _run_measures(
                        "key", key={"type": ["string", "null"]}, changes=_CHANGES)}}},
                    "Rows"), **_ERRORS},
            }},
            "/api/runs": {"get": {
                "summary": "The latest runs, newest first",
                "parameters": [
                    *_FILTERS, _FORMAT,
                    {"name": "limit", "in": "query",
                     "schema": {"type": "integer", "minimum": 1, "maximum": 1000,
                                "default": 50}},
                    {"name": "offset", "in": "query",
                     "schema": {"type": "integer", "minimum": 0, "maximum": 10_000_000,
                                "default": 0}},
                ],
                "responses": {"200": _listing({"type": "object", "required": [
                    "from", "to", "limit", "offset", "data"], "properties": {
                    **_PERIOD, "limit": {"type": "integer"}, "offset": {"type": "integer"},
                    "data": {"type": "array", "items": _RUN}}}, "Runs"), **_ERRORS},
            }},
            "/api/runs/{traceId}/{spanId}": {"get": {
                "summary": "One run with its steps in start order (for a waterfall)",
                "parameters": [
                    {"name": f"{kind}Id", "in": "path", "required": True,
                     "schema": {"type": "string", "pattern": f"^[0-9a-f]{{{digits}}}$"}}
                    for kind, digits in _HEX_ID.items()],
                "responses": {"200": _json({**_RUN, "required": [*_RUN["required"],
                                                                  "stepsInOrder"],
                                            "properties": {**_RUN["properties"],
                                                           "stepsInOrder": {"type": "array"}}},
                                           "The run"),
                              "404": {"$ref": "#/components/responses/NotFound"}, **_ERRORS},
            }},
            "/api/analytics/compare": {"get": {
                "summary": "Two periods side by side, with changes and trends",
                "parameters": [*_FILTERS, *_COMPARE, _CURRENCY,
                               {"name": "format", "in": "query", "schema": {"const": "json"}}],
                "responses": {"200": _json({"type": "object", "required": [
                    "current", "previous", "changes"], "properties": {
                    "current": _measures("from", "to", **_PERIOD),
                    "previous": _measures("from", "to", **_PERIOD),
                    "changes": _CHANGES}}, "The comparison"), **_ERRORS},
            }},
            "/api/analytics/sessions": {"get": {
                "summary": "Sessions with calls in the range, and their summary",
                "parameters": [
                    *_FILTERS, _FORMAT,
                    {"name": "sort", "in": "query",
                     "schema": {"enum": ["startedAt", "cost", "calls", "tokens"],
                                "default": "startedAt"}},
                    {"name": "limit", "in": "query",
                     "schema": {"type": "integer", "minimum": 1, "maximum": 10000,
                                "default": 50}},
                    {"name": "offset", "in": "query",
                     "schema": {"type": "integer", "minimum": 0, "maximum": 10000000,
                                "default": 0}},
                ],
                "responses": {"200": _listing({"type": "object", "required": [
                    "from", "to", "data", "summary"], "properties": {
                    **_PERIOD, "summary": {"type": "object"},
                    "data": {"type": "array", "items": {"type": "object", "required": [
                        "sessionId", "startedAt", "endedAt", "calls", "costUsd"]}}}},
                    "Sessions"), **_ERRORS},
            }},
            "/api/analytics/anomalies": {"get": {
                "summary": "Cost, volume, error-rate and latency spikes per hour",
                "parameters": [*_FILTERS, _FORMAT],
                "responses": {"200": _listing({"type": "object", "required": [
                    "from", "to", "baselineDays", "data"], "properties": {
                    **_PERIOD, "baselineDays": {"type": "integer"},
                    "data": {"type": "array", "items": {"type": "object", "required": [
                        "id", "hour", "type", "scope", "severity", "expectedValue",
                        "actualValue", "description"], "properties": {
                        "type": {"enum": ["cost_spike", "volume_spike", "error_rate_spike",
                                          "latency_spike"]},
                        "scope": {"enum": ["project", "agent", "model"]},
                        "severity": {"enum": ["low", "medium", "high"]}}}}}},
                    "Anomalies, newest first"), **_ERRORS},
            }},
            "/api/calls": {"get": {
                "summary": "The newest calls first",
                "parameters": [
                    *_FILTERS, _FORMAT,
                    {"name": "limit", "in": "query",
                     "schema": {"type": "integer", "minimum": 1, "maximum": 1000,
                                "default": 50}},
                ],
                "responses": {"200": _listing(_ref("RecentCalls"), "Calls"), **_ERRORS},
            }},
            "/api/prices": {
                "get": {"summary": "The project's custom prices",
                        "responses": {"200": _json({"type": "object", "required": ["prices"],
                                                    "properties": {"prices": {
                                                        "type": "array",
                                                        "items": _ref("Price")}}}, "Prices"),
                                      **_ERRORS}},
                "post": {"summary": "Add a custom price",
                         "requestBody": {"required": True, "content": {
                             "application/json": {"schema": _ref("NewPrice")}}},
                         "responses": {"201": _json(_ref("Price"), "The price"),
                                       "409": {"$ref": "#/components/responses/Conflict"},
                                       **_ERRORS}},
            },
            "/api/prices/resolve": {"get": {
                "summary": "Which price a call gets, and why",
                "parameters": [
                    {"name": "model", "in": "query", "required": True,
                     "schema": {**_NAME, "maxLength": 256}},
                    {"name": "provider", "in": "query",
                     "schema": {"type": "string", "pattern": "^[^\\x00]*$"}},
                    {"name": "at", "in": "query", "schema": _TIME},
                ],
                "responses": {"200": _json(_ref("PriceResolution"), "The applicable price"),
                              **_ERRORS},
            }},
            "/api/prices/{id}": {"delete": {
                "summary": "Delete a custom price",
                "parameters": [{"name": "id", "in": "path", "required": True,
                                "schema": {"type": "integer", "minimum": 1,
                                           "maximum": 999_999_999_999_999_999}}],
                "responses": {"204": {"description": "Deleted"},
                              "404": {"$ref": "#/components/responses/NotFound"}, **_ERRORS},
            }},
            "/api/currencies": {"get": {
                "summary": "The project's currency rates",
                "responses": {"200": _json(_ref("Rates"), "Rates"), **_ERRORS},
            }},
            "/api/currencies/{code}": {
                "put": {"summary": "Set a currency's rate (units per USD)",
                        "parameters": [_CODE],
                        "requestBody": {"required": True, "content": {"application/json": {
                            "schema": {"type": "object", "required": ["perUsd"],
                                       "additionalProperties": False,
                                       "properties": {"perUsd": {"anyOf": [
                                           {"type": "number", "minimum": 1e-12,
                                            "maximum": 1_000_000_000},
                                           {"type": "string",
                                            "pattern": _POSITIVE_DECIMAL}]}}}}}},
                        "responses": {"200": _json(_ref("Rate"), "The rate"), **_ERRORS}},
                "delete": {"summary": "Remove a currency's rate", "parameters": [_CODE],
                           "responses": {"204": {"description": "Removed"},
                                         "404": {"$ref": "#/components/responses/NotFound"},
                                         **_ERRORS}},
            },
            "/api/admin/projects": {
                "get": {"summary": "Every project (the server's admin token, not a key)",
                        "security": [{"adminToken": []}],
                        "responses": {"200": _json({"type": "object", "required": ["projects"],
                                                    "properties": {"projects": {
                                                        "type": "array"}}},
                                                   "The projects"), **_ERRORS}},
                "post": {"summary": "Create a project and its first key, with every scope "
                                    "(the server's admin token, not a key)",
                         "security": [{"adminToken": []}],
                         "requestBody": {"required": True, "content": {"application/json": {
                             "schema": {"type": "object", "required": ["name"],
                                        "additionalProperties": False,
                                        "properties": {"name": {
                                            "type": "string", "minLength": 1, "maxLength": 200,
                                            "pattern": "^[^\\x00]*[^\\s\\x00][^\\x00]*$"}}}}}},
                         "responses": {"201": _json({"type": "object",
                                                     "required": ["id", "name", "key"],
                                                     "properties": {
                                                         "id": {"type": "integer"},
                                                         "name": {"type": "string"},
                                                         "key": {"type": "string"}}},
                                                    "The project and its first key"),
                                       "409": _json(_ref("Error"), "The name is taken"),
                                       **_ERRORS}},
            },
            "/api/admin/project": {"get": {
                "summary": "The key's project (admin scope)",
                "responses": {"200": _json({"type": "object", "required": ["id", "name"],
                                            "properties": {"id": {"type": "integer"},
                                                           "name": {"type": "string"}}},
                                           "The project"), **_ERRORS}}},
            "/api/admin/keys": {
                "get": {"summary": "The project's keys, never their secrets (admin scope)",
                        "responses": {"200": _json({"type": "object", "required": ["keys"],
                                                    "properties": {"keys": {
                                                        "type": "array",
                                                        "items": _ref("ApiKey")}}},
                                                   "The keys"), **_ERRORS}},
                "post": {"summary": "Create a key of the project; its secret is in this "
                                    "answer only (admin scope)",
                         "requestBody": {"required": True, "content": {"application/json": {
                             "schema": {"type": "object", "additionalProperties": False,
                                        "properties": {
                                            "name": {"type": "string", "maxLength": 200,
                                                     "pattern": "^[^\\x00]*$"},
                                            "scopes": {"type": "array", "minItems": 1,
                                                       "items": {"enum": list(SCOPES)}}}}}}},
                         "responses": {"201": _json({"type": "object",
                                                     "required": ["key", "keyId", "scopes"],
                                                     "properties": {
                                                         "key": {"type": "string"},
                                                         "keyId": {"type": "string"},
                                                         "scopes": {"type": "array"}}},
                                                    "The new key"), **_ERRORS}},
            },
            "/api/admin/keys/{keyId}": {"delete": {
                "summary": "Revoke a key of the project; every collector refuses it within a "
                           "second (admin scope)",
                "parameters": [{"name": "keyId", "in": "path", "required": True,
                                "schema": {"type": "string", "pattern": "^[0-9a-f]{1,64}$"}}],
                "responses": {"204": {"description": "Revoked"},
                              "404": {"$ref": "#/components/responses/NotFound"}, **_ERRORS}}},
            "/api/admin/limits": {
                "get": {"summary": "The project's own rate limits and the defaults (admin "
                                   "scope)",
                        "responses": {"200": _json(_ref("Limits"), "The limits"), **_ERRORS}},
                "put": {"summary": "Set the project's own rate limits; null: the default "
                                   "(admin scope)",
                        "requestBody": {"required": True, "content": {"application/json": {
                            "schema": {"type": "object", "additionalProperties": False,
                                       "properties": {
                                           "spansPerMinute": {"type": ["integer", "null"],
                                                              "minimum": 1},
                                           "apiRequestsPerSecond": {
                                               "type": ["number", "null"],
                                               "exclusiveMinimum": 0}}}}}},
                        "responses": {"200": _json(_ref("Limits"), "The limits"), **_ERRORS}},
            },
            "/healthz": {"get": {
                "summary": "Database reachability, storage mode and maintenance",
                "description": "`maintenance`: the TimescaleDB version and edition; in "
                               "`timescale` mode every policy with its last runs (by "
                               "TimescaleDB's scheduler or by SpanTally), the aggregates' "
                               "watermarks and the columnstore's chunks "
                               "(docs/operations.md, \"Background jobs\").",
                "security": [],
                "responses": {"200": _json({"type": "object"}, "Healthy"),
                              "503": _json({"type": "object"}, "The database is unreachable")},
            }},
        },
        "components": {
            "securitySchemes": {
                "adminToken": {"type": "http", "scheme": "bearer",
                               "description": "The server's admin token (--admin-token)"},
                "bearerAuth": {"type": "http", "scheme": "bearer",
                                               "description": "A project API key, st_...; "
                                               "each operation names the scope it needs "
                                               "(x-spantally-scope)"}},
            "responses": {
                name: _json(_ref("Error"), text) for name, text in (
                    ("InvalidArgument", "A parameter or the body is invalid (400)"),
                    ("Unauthenticated", "No API key (401)"),
                    ("PermissionDenied", "Unknown or revoked API key, or one without the "
                                         "scope the operation needs (403)"),
                    ("NotFound", "No such thing in this project (404)"),
                    ("Conflict", "Overlaps what is stored (409)"),
                    ("Unavailable", "The database is unreachable; see Retry-After (503)"),
                )
            },
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {
                    "error": {"type": "object", "required": ["code", "message"],
                              "properties": {"code": {"type": "string"},
                                             "message": {"type": "string"}}}}},
                "LlmAnalytics": {"type": "object", "required": ["summary", "byModel", "byTime"],
                                 "properties": {
                    "summary": {"type": "object", "required": [
                        "totalCalls", "totalCostUsd", "totalInputTokens", "totalOutputTokens",
                        "avgLatencyMs", "avgCostPerCall"], "properties": {
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
                    "byModel": {"type": "array", "items": {"type": "object", "required": [
                        "provider", "model", "calls", "costUsd"], "properties": {
                        "provider": {"type": ["string", "null"]},
                        "model": {"type": ["string", "null"]}, **_MEASURES}}},
                    "byTime": {"type": "array", "items": {"type": "object", "required": [
                        "bucket", "calls", "costUsd"], "properties": {
                        "bucket": {"type": "string"}, **_MEASURES}}},
                }},
                "RecentCalls": {"type": "object", "required": ["calls"], "properties": {
                    "calls": {"type": "array", "items": {"type": "object", "required": [
                        "time", "operation", "inputTokens", "outputTokens", "latencyMs",
                        "status"], "properties": {
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
                        "errorType": {"type": ["string", "null"]}}}}}},
                "Price": price,
                "NewPrice": {"type": "object", "required": ["model", "inputPerMTok",
                                                            "outputPerMTok"],
                             "additionalProperties": False, "properties": {
                    "provider": {"anyOf": [{**_NAME, "maxLength": 100}, {"type": "null"}]},
                    "model": {**_NAME, "maxLength": 256,
                              "description": "A model id, or a pattern with *"},
                    "inputPerMTok": _NUMBER_TEXT, "outputPerMTok": _NUMBER_TEXT,
                    "cacheReadPerMTok": {"anyOf": [_NUMBER_TEXT, {"type": "null"}]},
                    "cacheWritePerMTok": {"anyOf": [_NUMBER_TEXT, {"type": "null"}]},
                    "perCall": {"anyOf": [_NUMBER_TEXT, {"type": "null"}]},
                    "currency": {"const": "USD"},
                    "effectiveFrom": {"anyOf": [_TIME, {"type": "null"}]},
                    "effectiveTo": {"anyOf": [_TIME, {"type": "null"}]}}},
                "PriceResolution": {"type": "object", "required": ["model", "source"],
                                    "properties": {
                    "provider": {"type": ["string", "null"]}, "model": {"type": "string"},
                    "at": {"type": "string"},
                    "source": {"enum": ["custom", "catalog", None]},
                    "custom": {"oneOf": [price, {"type": "null"}]},
                    "catalog": {"type": ["object", "null"]}}},
                "ApiKey": {"type": "object", "required": ["keyId", "name", "scopes"],
                           "properties": {"keyId": {"type": "string"},
                                          "name": {"type": "string"},
                                          "scopes": {"type": "array",
                                                     "items": {"enum": list(SCOPES)}},
                                          "createdAt": {"type": "string"},
                                          "lastUsedAt": {"type": ["string", "null"]},
                                          "revokedAt": {"type": ["string", "null"]}}},
                "Limits": {"type": "object",
                           "required": ["spansPerMinute", "apiRequestsPerSecond", "defaults"],
                           "properties": {
                               "spansPerMinute": {"type": ["integer", "null"]},
                               "apiRequestsPerSecond": {"type": ["number", "null"]},
                               "defaults": {"type": "object"}}},
                "Rate": {"type": "object", "required": ["currency", "perUsd"], "properties": {
                    "currency": {"type": "string"}, "perUsd": {"type": "number"},
                    "updatedAt": {"type": "string"}}},
                "Rates": {"type": "object", "required": ["base", "rates"], "properties": {
                    "base": {"const": "USD"},
                    "rates": {"type": "array", "items": _ref("Rate")}}},
            },
        },
    }
    # Every analytics endpoint can say how it answered (docs/analytics.md, "explain=true").
    for path, item in document["paths"].items():
        if path.startswith("/api/analytics/"):
            item["get"]["parameters"].append(_EXPLAIN)
    # The scope of the key each operation needs (docs/security.md).
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if operation.get("security") != []:
                operation["x-spantally-scope"] = scope_for(method.upper(), path)
    return document
