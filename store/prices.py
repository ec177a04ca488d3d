"""Custom model prices and currency rates, per project."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cached_property

import psycopg
from psycopg.rows import class_row

from . import queries
from .errors import StoreError

__all__ = [
    "CurrencyRate",
    "ModelPrice",
    "NewPrice",
    "PriceOverlap",
    "create_price",
    "delete_price",
    "delete_rate",
    "find_rate",
    "list_prices",
    "list_rates",
    "set_rate",
]

_MILLION = Decimal(1_000_000)
_NANO = Decimal(1_000_000_000)


class PriceOverlap(StoreError):
    """A price for the same provider and model already covers part of the window."""


@dataclass(frozen=True)
class NewPrice:
    """A price to add: USD per million tokens of each kind, for calls in its window."""

    model: str
    input_per_mtok: Decimal
    output_per_mtok: Decimal
    effective_from: datetime
    provider: str | None = None
    cache_read_per_mtok: Decimal | None = None
    cache_write_per_mtok: Decimal | None = None
    per_call: Decimal = Decimal(0)
    effective_to: datetime | None = None


@dataclass(frozen=True)
class ModelPrice:
    id: int
    provider: str | None
    model: str
    input_per_mtok: Decimal
    output_per_mtok: Decimal
    cache_read_per_mtok: Decimal | None
    cache_write_per_mtok: Decimal | None
    per_call: Decimal
    currency: str
    effective_from: datetime
    effective_to: datetime | None
    created_at: datetime

    @property
    def is_pattern(self) -> bool:
        return "*" in self.model

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        return re.compile(".*".join(re.escape(part) for part in self.model.split("*")))

    def applies(self, provider: str | None, model: str, at: datetime) -> bool:
        if self.provider is not None and self.provider != provider:
            return False
        if at < self.effective_from or (self.effective_to is not None and at >= self.effective_to):
            return False
        return self._pattern.fullmatch(model) is not None if self.is_pattern else model == self.model

    @property
    def specificity(self) -> tuple[bool, int, bool]:
        """Higher wins: an exact model over a pattern, a longer pattern over a shorter one, a
        named provider over any provider."""
        return (not self.is_pattern, len(self.model), self.provider is not None)

    def cost_nano_usd(self, input_tokens: int, output_tokens: int, cache_read_tokens: int = 0,
                      cache_write_tokens: int = 0) -> int:
        """The exact cost (nano-USD, rounded half to even). Input includes cache reads and
        writes, as everywhere in SpanTally; reasoning tokens are part of output."""
        cache_read = self.cache_read_per_mtok if self.cache_read_per_mtok is not None \
            else self.input_per_mtok
        cache_write = self.cache_write_per_mtok if self.cache_write_per_mtok is not None \
            else self.input_per_mtok
        uncached = max(0, input_tokens - cache_read_tokens - cache_write_tokens)
        usd = self.per_call + (
            uncached * self.input_per_mtok + cache_read_tokens * cache_read
            + cache_write_tokens * cache_write + output_tokens * self.output_per_mtok
        ) / _MILLION
        return int((usd * _NANO).to_integral_value(ROUND_HALF_EVEN))


@dataclass(frozen=True)
class CurrencyRate:
    currency: str
    per_usd: Decimal
    updated_at: datetime


async def list_prices(conn: psycopg.AsyncConnection, project_id: int) -> list[ModelPrice]:
    async with conn.cursor(row_factory=class_row(ModelPrice)) as cur:
        await cur.execute(queries.LIST_PRICES, (project_id,))
        return await cur.fetchall()


async def create_price(conn: psycopg.AsyncConnection, project_id: int, price: NewPrice
                       ) -> ModelPrice:
    try:
        async with conn.cursor(row_factory=class_row(ModelPrice)) as cur:
            await cur.execute(queries.CREATE_PRICE, (
                project_id, price.provider, price.model, price.input_per_mtok,
                price.output_per_mtok, price.cache_read_per_mtok, price.cache_write_per_mtok,
                price.per_call, price.effective_from, price.effective_to))
            row = await cur.fetchone()
    except psycopg.errors.ExclusionViolation:
        raise PriceOverlap(
            f"a price for {price.provider or 'any provider'} / {price.model} already covers part "
            "of this window: end it (effective_to) or delete it first") from None
    assert row is not None
    return row


async def delete_price(conn: psycopg.AsyncConnection, project_id: int, price_id: int) -> bool:
    cur = await conn.execute(queries.DELETE_PRICE, (project_id, price_id))
    return await cur.fetchone() is not None


async def list_rates(conn: psycopg.AsyncConnection, project_id: int) -> list[CurrencyRate]:
    async with conn.cursor(row_factory=class_row(CurrencyRate)) as cur:
        await cur.execute(queries.LIST_RATES, (project_id,))
        return await cur.fetchall()


async def find_rate(conn: psycopg.AsyncConnection, project_id: int, currency: str
                    ) -> Decimal | None:
    cur = await conn.execute(queries.FIND_RATE, (project_id, currency))
    row = await cur.fetchone()
    return row[0] if row else None


async def set_rate(conn: psycopg.AsyncConnection, project_id: int, currency: str,
                   per_usd: Decimal) -> CurrencyRate:
    async with conn.cursor(row_factory=class_row(CurrencyRate)) as cur:
        await cur.execute(queries.SET_RATE, (project_id, currency, per_usd))
        row = await cur.fetchone()
    assert row is not None
    return row


async def delete_rate(conn: psycopg.AsyncConnection, project_id: int, currency: str) -> bool:
    cur = await conn.execute(queries.DELETE_RATE, (project_id, currency))
    return await cur.fetchone() is not None
