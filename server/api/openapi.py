"""The API's OpenAPI 3.1 document, served at /api/openapi.json (and checked by schemathesis),
written from the descriptions: the query operations' from spec.ENDPOINTS, the management
routes' from their Route tables (prices.ROUTES, admin.ROUTES, health.ROUTES), with the
schemas of their bodies and answers from their pydantic models (models.py)."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from spantally import __version__

from . import admin, anomalies, health, prices, schemas
from .compat import PRODUCTS
from .models import TIME_SCHEMA
from .route import Route
from .services import scope_for
from .spec import ENDPOINTS, MAX_TEXT, Endpoint, Kind, Param

__all__ = ["MANAGEMENT", "openapi_document"]


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
_MORE_ERRORS = {404: ("NotFound", "No such thing in this project (404)"),
                409: ("Conflict", "Overlaps or repeats what is stored (409)")}
MANAGEMENT: tuple[Route, ...] = (*prices.ROUTES, *anomalies.ROUTES, *admin.ROUTES,
                                 *health.ROUTES)

_TEXT = {"type": "string", "minLength": 1, "maxLength": 512, "pattern": "^[^\\x00]*$"}
_TAG_PAIR = "[^:,\\x00]*[^:,\\s\\x00][^:,\\x00]*:[^,\\x00]*[^,\\s\\x00][^,\\x00]*"


def _param_schema(param: Param) -> dict[str, Any]:
    """The JSON Schema of what `param` accepts (what spec.Param.parse takes)."""
    kind = param.kind
    schema: dict[str, Any]
    if kind in (Kind.TIME, Kind.UNTIL):
        schema = dict(TIME_SCHEMA)
    elif kind is Kind.DATE:
        # No `format`: a pattern alone generates dates without filtering most away (a few,
        # as 2026-02-31, are refused: 400, as a range's order is).
        schema = {"type": "string", "pattern": TIME_SCHEMA["pattern"]
                  + "(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$",
                  "description": "YYYY-MM-DD"}
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
    if param.in_path or param.required:
        out["required"] = True
    return out


_MEDIA_TYPES = {"json": "application/json", "csv": "text/csv", "ndjson": "application/x-ndjson"}


def _body(endpoint: Endpoint) -> dict[str, Any]:
    """The answer in each `format` the endpoint offers (JSON alone without one)."""
    formats = next((p.choices for p in endpoint.params if p.name == "format"), ("json",))
    return {"description": "The answer", "content": {
        _MEDIA_TYPES[fmt]: {"schema": dict(endpoint.response) if fmt == "json"
                            else {"type": "string"}} for fmt in formats}}


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    """A query operation's OpenAPI description, from its spec."""
    body = _body(endpoint)
    responses: dict[str, Any] = {"200": body, **_ERRORS}
    if endpoint.not_found:
        responses["404"] = {"$ref": "#/components/responses/NotFound"}
    out: dict[str, Any] = {"operationId": endpoint.operation, "summary": endpoint.summary,
                           "parameters": [_parameter(p) for p in endpoint.params],
                           "responses": responses}
    if endpoint.description:
        out["description"] = endpoint.description
    return out


def _route_operation(route: Route) -> dict[str, Any]:
    """A management route's OpenAPI description, from its Route and models."""
    answer = (_json(_ref(route.answer.__name__), route.summary) if route.answer is not None
              else {"description": route.summary})
    responses: dict[str, Any] = {str(route.status): answer, **_ERRORS}
    for status in route.errors:
        responses[str(status)] = {"$ref": f"#/components/responses/{_MORE_ERRORS[status][0]}"}
    out: dict[str, Any] = {"summary": route.summary, "responses": responses}
    if route.description:
        out["description"] = route.description
    if route.parameters:
        out["parameters"] = list(route.parameters)
    if route.body is not None:
        out["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": _ref(route.body.__name__)}}}
    if route.auth == "admin_token":
        out["security"] = [{"adminToken": []}]
    elif route.auth == "none":
        out["security"] = []
        for status in ("400", "401", "403"):
            del responses[status]
    if route.unavailable_answer and route.answer is not None:
        responses["503"] = _json(_ref(route.answer.__name__), "Something it needs is down")
    return out


def _model_schemas() -> dict[str, Any]:
    """The JSON Schemas of every body (as clients send it) and answer (as the API writes it),
    with $refs between them into components.schemas."""
    models: list[tuple[type[BaseModel], Any]] = []
    for route in MANAGEMENT:
        if route.body is not None:
            models.append((route.body, "validation"))
        if route.answer is not None:
            models.append((route.answer, "serialization"))
    _, top = models_json_schema(list(dict.fromkeys(models)),
                                ref_template="#/components/schemas/{model}")
    return {name: _untitled(schema) for name, schema in top.get("$defs", {}).items()}


def _untitled(schema: Any) -> Any:
    """`schema` without pydantic's generated titles ("Inputpermtok"): names say enough."""
    if isinstance(schema, dict):
        return {key: ({name: _untitled(s) for name, s in value.items()}
                      if key == "properties" else _untitled(value))
                for key, value in schema.items() if key != "title"}
    if isinstance(schema, list):
        return [_untitled(item) for item in schema]
    return schema


@cache
def openapi_document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {endpoint.path: {"get": _operation(endpoint)}
                                        for endpoint in ENDPOINTS}
    for product in PRODUCTS:
        for endpoint in product.endpoints:
            operation = _operation(endpoint)
            operation["operationId"] = f"{product.name.replace('-', '_')}_{endpoint.operation}"
            operation["tags"] = [f"{product.title} (reference {product.reference})"]
            paths[product.path(endpoint)] = {"get": operation}
    for route in MANAGEMENT:
        paths.setdefault(route.path, {})[route.method.lower()] = _route_operation(route)
    # The scope of the key each operation needs (docs/security.md).
    for path, item in paths.items():
        for method, operation in item.items():
            if operation.get("security") != []:
                operation["x-spantally-scope"] = scope_for(method.upper(), path)
    return {
        "openapi": "3.1.0",
        "info": {"title": "SpanTally API", "version": __version__,
                 "description": "LLM call analytics, recent calls, agent runs, prices, "
                                "currencies and administration. Every error is JSON "
                                "{\"error\": {\"code\", \"message\"}}."},
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "adminToken": {"type": "http", "scheme": "bearer",
                               "description": "The server's admin token (--admin-token)"},
                "bearerAuth": {"type": "http", "scheme": "bearer",
                               "description": "A project API key, st_...; each operation "
                                              "names the scope it needs (x-spantally-scope)"}},
            "responses": {
                name: _json(_ref("Error"), text) for name, text in (
                    ("InvalidArgument", "A parameter or the body is invalid (400)"),
                    ("Unauthenticated", "No API key (401)"),
                    ("PermissionDenied", "Unknown or revoked API key, or one without the "
                                         "scope the operation needs (403)"),
                    ("Unavailable", "The database is unreachable; see Retry-After (503)"),
                    *_MORE_ERRORS.values(),
                )
            },
            "schemas": {"Error": schemas.ERROR, **_model_schemas()},
        },
    }
