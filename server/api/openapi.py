"""The API's OpenAPI 3.1 document, served at /api/openapi.json (and checked by schemathesis).
The query operations' paths come from spec.ENDPOINTS; the others (prices, currencies, admin,
health), which take JSON bodies, are described here."""

from __future__ import annotations

from typing import Any

from spantally import __version__
from spantally.store import SCOPES

from . import schemas
from .services import scope_for
from .spec import ENDPOINTS, MAX_TEXT, Endpoint, Kind, Param

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


_TAG_PAIR = "[^:,\\x00]*[^:,\\s\\x00][^:,\\x00]*:[^,\\x00]*[^,\\s\\x00][^,\\x00]*"


def _param_schema(param: Param) -> dict[str, Any]:
    """The JSON Schema of what `param` accepts (what spec.Param.parse takes)."""
    kind = param.kind
    schema: dict[str, Any]
    if kind is Kind.TIME:
        schema = dict(_TIME)
    elif kind is Kind.INTEGER:
        schema = {"type": "integer", "minimum": param.minimum, "maximum": param.maximum}
    elif kind is Kind.CHOICE:
        schema = {"enum": list(param.choices)}
    elif kind is Kind.ZONE:
        schema = {"type": "string", "maxLength": param.max_length}
    elif kind is Kind.CURRENCY:
        schema = {"type": "string", "pattern": "^[A-Za-z]{3}$"}
    elif kind is Kind.TAGS:
        schema = {"type": "string", "maxLength": param.max_length,
                  "pattern": f"^{_TAG_PAIR}(,{_TAG_PAIR})*$"}
    elif kind is Kind.DIMENSION:
        schema = {"anyOf": [{"enum": list(param.choices)},
                            {"type": "string", "pattern": "^tags\\.[^\x00/]+$",
                             "maxLength": param.max_length}]}
    elif kind is Kind.HEX:
        schema = {"type": "string", "pattern": f"^[0-9a-fA-F]{{{param.max_length}}}$"}
    else:
        schema = {**_TEXT, "maxLength": param.max_length or MAX_TEXT}
    if param.default is not None:
        schema["default"] = param.default
    return schema


def _parameter(param: Param) -> dict[str, Any]:
    out: dict[str, Any] = {"name": param.name, "in": "path" if param.in_path else "query",
                           "schema": _param_schema(param), "description": param.describe()}
    if param.in_path:
        out["required"] = True
    return out


def _listing(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {
        "application/json": {"schema": schema},
        "text/csv": {"schema": {"type": "string"}},
        "application/x-ndjson": {"schema": {"type": "string"}},
    }}


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    """A query operation's OpenAPI description, from its spec."""
    body = (_listing if endpoint.listing else _json)(dict(endpoint.response), "The answer")
    responses: dict[str, Any] = {"200": body, **_ERRORS}
    if endpoint.not_found:
        responses["404"] = {"$ref": "#/components/responses/NotFound"}
    out: dict[str, Any] = {"operationId": endpoint.operation, "summary": endpoint.summary,
                           "parameters": [_parameter(p) for p in endpoint.params],
                           "responses": responses}
    if endpoint.description:
        out["description"] = endpoint.description
    return out


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
            **{endpoint.path: {"get": _operation(endpoint)} for endpoint in ENDPOINTS},
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
                "Error": schemas.ERROR,
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
    # The scope of the key each operation needs (docs/security.md).
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if operation.get("security") != []:
                operation["x-spantally-scope"] = scope_for(method.upper(), path)
    return document
