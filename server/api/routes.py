"""The query operations over HTTP: one GET route per spec.ENDPOINTS entry, which authenticates,
parses the query string by the spec, runs the operation and answers in the asked format."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from . import analytics, runs
from .export import respond
from .operation import Context, Operation
from .services import CONFIG_KEY, SERVICES_KEY, project_of
from .spec import ENDPOINTS, Endpoint

__all__ = ["OPERATIONS", "add_query_routes", "query_handler"]

OPERATIONS: dict[str, Operation] = {**analytics.OPERATIONS, **runs.OPERATIONS}
assert set(OPERATIONS) == {e.operation for e in ENDPOINTS}, "an endpoint lacks its operation"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def add_query_routes(app: web.Application) -> None:
    for endpoint in ENDPOINTS:
        app.router.add_get(endpoint.path, query_handler(endpoint, OPERATIONS[endpoint.operation]))


def query_handler(endpoint: Endpoint, operation: Operation) -> Handler:
    """The GET handler of `endpoint` (native or compatibility): authenticate, parse by the
    spec, run `operation`, answer in the asked `format`."""
    async def handle(request: web.Request) -> web.StreamResponse:
        project_id = await project_of(request)
        query = request.query
        args = endpoint.parse({name: query.getall(name) for name in query.keys()},
                              request.match_info)
        services = request.app[SERVICES_KEY]
        context = Context(project_id, request.app[CONFIG_KEY], services.database,
                          services.read_database)
        answer = await operation(context, args)
        fmt = args.get("format", "json")
        if fmt != "json":
            return await respond(request, fmt, answer.body, rows=answer.rows,
                                 columns=answer.columns, name=answer.name)
        response = web.json_response(answer.body)
        if endpoint.download:
            response.headers["Content-Disposition"] = f'attachment; filename="{answer.name}.json"'
        return response

    handle.__name__ = f"_{endpoint.operation}"
    handle.__doc__ = endpoint.summary
    return handle
