"""Custom prices and currency rates: /api/prices (and /api/prices/resolve, which price a
call gets and why) and /api/currencies."""

from __future__ import annotations

from datetime import datetime, timezone
from functools import partial

from aiohttp import web

from spantally.collector.pricing import PriceBook
from spantally.common.errors import InvalidArgument, NotFound
from spantally.store import (
    ModelPrice,
    create_price,
    delete_price,
    delete_rate,
    list_prices,
    list_rates,
    set_rate,
)

from . import models
from .params import (
    no_nul,
    parse_count,
    parse_currency,
    parse_new_price,
    parse_rate,
    parse_time,
)
from .route import Route
from .services import SERVICES_KEY, ApiServices, json_body, project_of
from .shape import iso_utc, price_json, rate_json, usd

__all__ = ["ROUTES"]


def _prices_changed(request: web.Request, project_id: int) -> None:
    prices = request.app[SERVICES_KEY].prices
    if prices is not None:
        prices.invalidate(project_id)  # new calls price with the change at once


async def _list_prices(request: web.Request) -> web.Response:
    project_id = await project_of(request)
    async with request.app[SERVICES_KEY].database.pool.connection() as conn:
        prices = await list_prices(conn, project_id)
    return web.json_response({"prices": [price_json(p) for p in prices]})


async def _create_price(request: web.Request) -> web.Response:
    project_id = await project_of(request)
    new = parse_new_price(await json_body(request))
    async with request.app[SERVICES_KEY].database.pool.connection() as conn:
        created = await create_price(conn, project_id, new)
    _prices_changed(request, project_id)
    return web.json_response(price_json(created), status=201)


# The token counts of the call /api/prices/resolve prices (each 0 unless given).
_CALL_TOKENS = ("inputTokens", "outputTokens", "cacheReadTokens", "cacheWriteTokens")


async def _resolve_price(request: web.Request) -> web.Response:
    """Which price a call of this provider and model at `at` (default now) gets, and why, and
    what such a call of the given token counts costs (what ingest would charge it)."""
    project_id = await project_of(request)
    raw_model = request.query.get("model", "")
    model = no_nul("model", raw_model.strip())
    if not model or len(raw_model) > 256:
        raise InvalidArgument("model is required, at most 256 characters")
    provider = no_nul("provider", request.query.get("provider", "").strip()) or None
    at = parse_time("at", request.query["at"]) if "at" in request.query \
        else datetime.now(timezone.utc)
    tokens = {name: parse_count(name, request.query.get(name, "0")) for name in _CALL_TOKENS}
    services = request.app[SERVICES_KEY]
    book = services.prices or PriceBook(partial(_load, services))
    project_prices = await book.for_project(project_id)
    custom = project_prices.custom_for(provider, model, at)
    catalog = book.pricer.describe(provider, model, at)
    source = "custom" if custom is not None else "catalog" if catalog is not None else None
    priced = project_prices(provider, model, at, *tokens.values())
    return web.json_response({
        "provider": provider, "model": model, "at": iso_utc(at), "source": source,
        "custom": price_json(custom) if custom is not None else None,
        "catalog": catalog,
        "call": {**tokens, "costNanoUsd": priced[0] if priced else None,
                 "costUsd": usd(priced[0]) if priced else None},
    })


async def _load(services: ApiServices, project_id: int) -> list[ModelPrice]:
    async with services.database.pool.connection() as conn:
        return await list_prices(conn, project_id)


async def _delete_price(request: web.Request) -> web.Response:
    project_id = await project_of(request)
    text = request.match_info["id"]  # digits only: the route says so
    async with request.app[SERVICES_KEY].database.pool.connection() as conn:
        deleted = await delete_price(conn, project_id, int(text))
    if not deleted:
        raise NotFound(f"no price {text} in this project")
    _prices_changed(request, project_id)
    return web.Response(status=204)


async def _list_rates(request: web.Request) -> web.Response:
    project_id = await project_of(request)
    async with request.app[SERVICES_KEY].database.pool.connection() as conn:
        rates = await list_rates(conn, project_id)
    return web.json_response({"base": "USD", "rates": [rate_json(r) for r in rates]})


async def _set_rate(request: web.Request) -> web.Response:
    project_id = await project_of(request)
    currency = parse_currency("code", request.match_info["code"])
    if currency == "USD":
        raise InvalidArgument("code: USD is the base currency; its rate is always 1")
    per_usd = parse_rate(await json_body(request))
    async with request.app[SERVICES_KEY].database.pool.connection() as conn:
        rate = await set_rate(conn, project_id, currency, per_usd)
    return web.json_response(rate_json(rate))


async def _delete_rate(request: web.Request) -> web.Response:
    project_id = await project_of(request)
    currency = parse_currency("code", request.match_info["code"])
    async with request.app[SERVICES_KEY].database.pool.connection() as conn:
        deleted = await delete_rate(conn, project_id, currency)
    if not deleted:
        raise NotFound(f"no rate for {currency} in this project")
    return web.Response(status=204)


_CODE = {"name": "code", "in": "path", "required": True,
         "schema": {"type": "string", "pattern": "^[A-Za-z]{3}$"},
         "description": "ISO 4217 currency code (not USD)."}

ROUTES: tuple[Route, ...] = (
    Route("GET", "/api/prices", _list_prices, "The project's custom prices", models.Prices),
    Route("POST", "/api/prices", _create_price, "Add a custom price", models.Price, status=201,
          body=models.NewPrice, errors=(409,)),
    Route("GET", "/api/prices/resolve", _resolve_price, "Which price a call gets, and why",
          models.PriceResolution, parameters=(
              {"name": "model", "in": "query", "required": True,
               "schema": {"type": "string", "minLength": 1, "maxLength": 256,
                          "pattern": "^[^\\x00]*[^\\s\\x00][^\\x00]*$"}},
              {"name": "provider", "in": "query",
               "schema": {"type": "string", "pattern": "^[^\\x00]*$"}},
              {"name": "at", "in": "query", "schema": models.TIME_SCHEMA,
               "description": "When the call is made (default: now)."},
              *({"name": name, "in": "query",
                 "schema": {"type": "integer", "minimum": 0, "maximum": 10**12},
                 "description": "The call's token count, for `call.costUsd` (default 0)."}
                for name in _CALL_TOKENS))),
    Route("DELETE", "/api/prices/{id}", _delete_price, "Delete a custom price", None,
          status=204, errors=(404,), router_path=r"/api/prices/{id:\d{1,18}}", parameters=(
              {"name": "id", "in": "path", "required": True,
               "schema": {"type": "integer", "minimum": 1,
                          "maximum": 999_999_999_999_999_999}},)),
    Route("GET", "/api/currencies", _list_rates, "The project's currency rates", models.Rates),
    Route("PUT", "/api/currencies/{code}", _set_rate, "Set a currency's rate (units per USD)",
          models.Rate, body=models.NewRate, parameters=(_CODE,)),
    Route("DELETE", "/api/currencies/{code}", _delete_rate, "Remove a currency's rate", None,
          status=204, errors=(404,), parameters=(_CODE,)),
)
