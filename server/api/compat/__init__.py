"""The reference products' own analytics APIs, in their own shapes, so that a client written
for one of them talks to SpanTally by changing its base URL (docs/compat.md):

- reference 001, Umbraco.AI:  /compat/umbraco-ai/analytics/...
- reference 002, InfraPrism:  /compat/infraprism/v1/analytics/...
- reference 000, Dispersl:    /compat/dispersl/v1/analytics/...

Each is a Product: its endpoints described as spec.Endpoint (parsed, documented in the OpenAPI
document and refused naming the parameter like the native ones), answered from the native
operations, with errors in the product's style. Same Bearer keys, same projects."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from aiohttp import web

from ..routes import query_handler
from . import dispersl, infraprism, umbraco
from .common import Product

__all__ = ["PRODUCTS", "add_compat_routes", "error_body_for"]

PRODUCTS: Final[tuple[Product, ...]] = (umbraco.PRODUCT, infraprism.PRODUCT, dispersl.PRODUCT)
for _product in PRODUCTS:
    assert set(_product.operations) == {e.operation for e in _product.endpoints}, _product.name


def add_compat_routes(app: web.Application) -> None:
    for product in PRODUCTS:
        for endpoint in product.endpoints:
            app.router.add_get(product.path(endpoint),
                               query_handler(endpoint, product.operations[endpoint.operation]))


def error_body_for(path: str) -> Callable[[str, str], dict[str, Any]] | None:
    """The error body of the product `path` belongs to (None: SpanTally's own)."""
    for product in PRODUCTS:
        if path == product.prefix or path.startswith(product.prefix + "/"):
            return product.error_body
    return None
