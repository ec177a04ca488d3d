"""The HTTP API: analytics, recent calls, prices, health and metrics, and the dashboard at `/`.
Handlers parse, call the store, and shape."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from spantally import __version__
from spantally.common.errors import report

from ..config import ApiConfig
from .compat import PRODUCTS, add_compat_routes, error_body_for
from .health import metrics
from .openapi import MANAGEMENT, openapi_document
from .routes import add_query_routes
from .services import CONFIG_KEY, SERVICES_KEY, ApiServices
from .spec import ENDPOINTS

__all__ = ["ApiServices", "create_app", "error_response"]

log = logging.getLogger("spantally.server")

# The dashboard: static files, no build step; the page calls the same public API.
DASHBOARD = Path(__file__).resolve().parent / "dashboard"

_HTTP_ERROR_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE"}


def create_app(config: ApiConfig, services: ApiServices) -> web.Application:
    app = web.Application(middlewares=[_json_errors])
    app[CONFIG_KEY] = config
    app[SERVICES_KEY] = services
    app.router.add_get("/", _dashboard)
    app.router.add_static("/dashboard", DASHBOARD)
    app.router.add_get("/api", _index)
    app.router.add_get("/api/openapi.json", _openapi)
    app.router.add_get("/metrics", metrics)
    add_query_routes(app)
    add_compat_routes(app)
    for route in MANAGEMENT:
        route.add_to(app)
    return app


def error_response(status: int, code: str, message: str, retry_after_s: int | None = None,
                   path: str = "") -> web.Response:
    """`{"error": {"code", "message"}}`, or under a compatibility prefix its product's body."""
    headers = {"Retry-After": str(retry_after_s)} if retry_after_s else None
    body_of = error_body_for(path)
    body = body_of(code, message) if body_of else {"error": {"code": code, "message": message}}
    return web.json_response(body, status=status, headers=headers)


@web.middleware
async def _json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_ERROR_CODES.get(exc.status, "INVALID_ARGUMENT" if exc.status < 500 else "INTERNAL")
        response = error_response(exc.status, code, exc.reason, path=request.path)
        if isinstance(exc, web.HTTPMethodNotAllowed):  # RFC 9110: say which methods there are
            response.headers["Allow"] = ", ".join(sorted(exc.allowed_methods))
        return response
    except Exception as exc:  # noqa: BLE001 - every failure gets its status from report()
        failure = report(exc, log, "API request failed: %s %s", request.method, request.path_qs)
        return error_response(
            failure.http_status, failure.code, failure.message, failure.retry_after_s,
            path=request.path,
        )


async def _dashboard(request: web.Request) -> web.FileResponse:
    return web.FileResponse(DASHBOARD / "index.html")


async def _openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


async def _index(request: web.Request) -> web.Response:
    return web.json_response(
        {
            "name": "spantally",
            "version": __version__,
            "endpoints": list(dict.fromkeys([*(e.path for e in ENDPOINTS),
                                             *(r.path for r in MANAGEMENT),
                                             "/api/openapi.json", "/metrics"])),
            "compat": {p.name: [p.path(e) for e in p.endpoints] for p in PRODUCTS},
        }
    )

