"""What an operation of the API needs and gives, whatever the transport (HTTP or gRPC): the
caller's project and the server's services in, an answer out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg

from spantally.common.errors import InvalidArgument
from spantally.store import Database, Dimension, Filters, declared_tag_keys, find_rate

from ..config import ApiConfig
from .shape import Money
from .spec import Args

__all__ = ["Answer", "Context", "Operation", "exchange_rate"]


@dataclass(frozen=True, slots=True)
class Answer:
    """An operation's JSON body; for a listing also its rows and their columns (CSV, NDJSON)."""

    body: Any
    """A JSON object (a list for the compatibility endpoints whose documents answer one)."""
    rows: Sequence[Mapping[str, Any]] = ()
    columns: tuple[str, ...] = ()
    name: str = ""
    """The download's file name (without extension)."""


async def exchange_rate(database: Database, project_id: int, currency: str) -> Decimal:
    """Units of `currency` per USD set for the project (1 for USD); 400 when none is set."""
    if currency == "USD":
        return Decimal(1)
    async with database.pool.connection() as conn:
        rate = await find_rate(conn, project_id, currency)
    if rate is None:
        raise InvalidArgument(
            f"currency: no exchange rate for {currency} in this project; set one with "
            f"PUT /api/currencies/{currency} or `spantally prices rate {currency}"
            " <units per USD>`")
    return rate


@dataclass(frozen=True, slots=True)
class Context:
    """Who asks (their key's project) and what answers."""

    project_id: int
    config: ApiConfig
    database: Database
    read_database: Database | None = None
    """Analytics read from here when set (a replica)."""

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[psycopg.AsyncConnection]:
        """A connection to read analytics from: the replica when there is one."""
        async with (self.read_database or self.database).pool.connection() as conn:
            yield conn

    async def tag_keys(self, filters: Filters, *dimensions: Dimension) -> frozenset[str]:
        """The project's declared tag keys (Question.tag_keys), read only for a question that
        filters or groups by a tag."""
        if not filters.tags and not any(d.tag for d in dimensions):
            return frozenset()
        async with self.reading() as conn:
            return await declared_tag_keys(conn, self.project_id)

    async def money(self, args: Args) -> Money | None:
        """`currency`: costs also in that currency (an exchange rate must be set)."""
        currency = args.get("currency")
        if currency is None:
            return None
        return Money(currency, await exchange_rate(self.database, self.project_id, currency))


Operation = Callable[[Context, Args], Awaitable[Answer]]
