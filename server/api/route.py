"""A management route (prices, currencies, projects, keys, limits, health) described as data:
method, path, handler, what it takes and answers. The app registers them and the OpenAPI
document describes them from this; the query operations have their own spec (spec.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel

__all__ = ["Route"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    """Its path as OpenAPI writes it (`/api/prices/{id}`)."""
    handler: Handler
    summary: str
    answer: type[BaseModel] | None
    """The model of its JSON answer; None: an empty answer (204)."""
    status: int = 200
    body: type[BaseModel] | None = None
    parameters: tuple[dict[str, Any], ...] = ()
    """Its path and query parameters, as OpenAPI parameter objects."""
    errors: tuple[int, ...] = ()
    """Statuses it can answer besides 200, 400, 401, 403 and 503 (404, 409)."""
    auth: Literal["key", "admin_token", "none"] = "key"
    description: str = ""
    unavailable_answer: bool = False
    """Whether a 503 answers its own model (what is down) rather than an error."""
    router_path: str | None = None
    """Its path for aiohttp's router when it constrains a parameter (`{id:\\d{1,18}}`)."""

    def add_to(self, app: web.Application) -> None:
        app.router.add_route(self.method, self.router_path or self.path, self.handler)
