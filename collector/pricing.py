"""Cost of a call from the `genai-prices` catalog, as an exact integer of nano-USD.

Token semantics are those of the OTel GenAI conventions and of genai-prices alike:
`input_tokens` is the whole prompt including cache reads and writes, and reasoning tokens are
part of `output_tokens`.

Pricing a call through genai-prices takes ~0.2 ms, too slow for tens of thousands of spans per
second. Most prices are linear in each token kind, so for each price set the pricer reads its
per-token coefficients from genai-prices once (pricing unit usages), checks them against a full
calculation, and then prices calls with a few Decimal multiplications. Tiered or otherwise
non-linear prices always take the full calculation.

A project's custom prices (`model_prices`) win over the catalog for calls in their window:
`PriceBook` keeps them per project and `ProjectPrices` applies them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from genai_prices import Usage, data_snapshot

from spantally.store.prices import ModelPrice

__all__ = ["CATALOG_PROVIDER_IDS", "PriceBook", "Pricer", "ProjectPrices", "catalog_prices",
           "project_prices"]

log = logging.getLogger("spantally.collector")

# OTel GenAI provider names -> genai-prices provider ids, where they differ.
CATALOG_PROVIDER_IDS: dict[str, str] = {
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "aws.bedrock": "aws",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "mistral_ai": "mistral",
    "x_ai": "x-ai",
}

_NANO = Decimal(1_000_000_000)
_ATTO = Decimal(10) ** 18
_ATTO_PER_NANO = 10**9
_PROBE = 1_000_000
_MAX_CACHED = 10_000


# genai-prices' per-token prices -> the names the API uses.
_CATALOG_FIELDS = (
    ("inputPerMTok", "input_mtok"), ("cacheReadPerMTok", "cache_read_mtok"),
    ("cacheWritePerMTok", "cache_write_mtok"), ("outputPerMTok", "output_mtok"),
    ("inputAudioPerMTok", "input_audio_mtok"), ("outputAudioPerMTok", "output_audio_mtok"),
    ("perThousandRequests", "requests_kcount"),
)


@dataclass(frozen=True, slots=True)
class _Linear:
    """USD per call and per token of each kind, as integers of atto-USD (1e-18): catalog
    prices per million tokens have few decimals, so these are exact, and integer arithmetic
    is several times faster than Decimal."""

    per_call: int
    input: int
    cache_read: int
    cache_write: int
    output: int


def _round_half_even(numerator: int, denominator: int) -> int:
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2):
        quotient += 1
    return quotient


class Pricer:
    """Prices calls from the catalog. Not thread-safe; one per event loop."""

    def __init__(self) -> None:
        self._snapshot = data_snapshot.get_snapshot()
        self._models: dict[tuple[str | None, str], tuple[Any, Any] | None] = {}
        # id(ModelPrice) -> coefficients, or None when the price is not linear. The ModelPrice
        # objects live as long as the snapshot, so their ids are stable keys.
        self._linear: dict[int, _Linear | None] = {}

    def price(
        self,
        provider: str | None,
        model: str | None,
        at: datetime,
        input_tokens: int,
        output_tokens: int,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> int | None:
        """nano-USD for the call, or None when the catalog has no price for the model."""
        if not model:
            return None
        found = self._find(provider, model)
        if found is None:
            return None
        catalog_provider, info = found
        model_price = info.get_prices(at)
        key = id(model_price)
        if key not in self._linear:
            self._linear[key] = self._derive_linear(model_price)
        linear = self._linear[key]
        uncached = input_tokens - cache_read_tokens - cache_write_tokens
        if linear is None or uncached < 0:
            return self._full(catalog_provider, info, at, input_tokens, output_tokens,
                              cache_read_tokens, cache_write_tokens)
        atto = (
            linear.per_call
            + uncached * linear.input
            + cache_read_tokens * linear.cache_read
            + cache_write_tokens * linear.cache_write
            + output_tokens * linear.output
        )
        return _round_half_even(atto, _ATTO_PER_NANO)

    def describe(self, provider: str | None, model: str, at: datetime) -> dict[str, Any] | None:
        """The catalog's entry for the model at `at`: which model it resolved to, and its prices
        (USD per million tokens; a tiered price as text). None when the catalog lacks it."""
        found = self._find(provider, model)
        if found is None:
            return None
        catalog_provider, info = found
        model_price = info.get_prices(at)
        prices: dict[str, Any] = {}
        for name, attribute in _CATALOG_FIELDS:
            value = getattr(model_price, attribute, None)
            if value is not None:
                prices[name] = float(value) if isinstance(value, (int, float, Decimal)) \
                    else str(value)
        return {"provider": catalog_provider.id, "model": info.id, "name": info.name,
                "prices": prices}

    # -- internals -----------------------------------------------------------------------

    def _find(self, provider: str | None, model: str) -> tuple[Any, Any] | None:
        key = (provider, model)
        if key in self._models:
            return self._models[key]
        if len(self._models) >= _MAX_CACHED:
            self._models.clear()
        provider_id = CATALOG_PROVIDER_IDS.get(provider or "", provider)
        found = None
        for candidate in (provider_id, None) if provider_id else (None,):
            try:
                found = self._snapshot.find_provider_model(model, None, candidate, None)
                break
            except LookupError:
                continue
        self._models[key] = found
        return found

    def _full(self, provider: Any, info: Any, at: datetime, input_tokens: int, output_tokens: int,
              cache_read_tokens: int, cache_write_tokens: int) -> int | None:
        usage = Usage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_tokens=cache_read_tokens,
            cache_write_tokens=cache_write_tokens,
        )
        try:
            total = info.calc_price(usage, provider, genai_request_timestamp=at).total_price
        except Exception as exc:  # noqa: BLE001 - a usage the catalog cannot price is unpriced
            log.debug("no price for %s: %s", info.id, exc)
            return None
        return int((Decimal(total) * _NANO).to_integral_value(ROUND_HALF_EVEN))

    @staticmethod
    def _derive_linear(model_price: Any) -> _Linear | None:
        def cost(**tokens: int) -> Decimal:
            return Decimal(model_price.calc_price(Usage(**tokens))["total_price"])

        def atto(usd: Decimal) -> int | None:
            scaled = usd * _ATTO
            return int(scaled) if scaled == scaled.to_integral_value() else None

        try:
            base = cost()
            per = Decimal(_PROBE)
            coefficients = [
                atto(base),
                atto((cost(input_tokens=_PROBE) - base) / per),
                atto((cost(input_tokens=_PROBE, cache_read_tokens=_PROBE) - base) / per),
                atto((cost(input_tokens=_PROBE, cache_write_tokens=_PROBE) - base) / per),
                atto((cost(output_tokens=_PROBE) - base) / per),
            ]
            if any(c is None for c in coefficients):
                return None  # finer than atto-USD per token: price it in full
            linear = _Linear(*coefficients)  # type: ignore[arg-type]
            # A mixed usage must price the same both ways, or the price is not linear.
            expected = cost(input_tokens=7_919, cache_read_tokens=2_003,
                            cache_write_tokens=1_009, output_tokens=3_571)
            got = (linear.per_call + (7_919 - 2_003 - 1_009) * linear.input
                   + 2_003 * linear.cache_read + 1_009 * linear.cache_write
                   + 3_571 * linear.output)
        except Exception:  # noqa: BLE001 - tiered or unusual prices take the full calculation
            return None
        return linear if Decimal(got) == expected * _ATTO else None


class ProjectPrices:
    """One project's price function: its custom prices for the call's provider, model and
    time when one applies (source `custom`), else the catalog (`catalog`), else None."""

    def __init__(self, custom: list[ModelPrice], pricer: Pricer) -> None:
        # Most specific first, so the first that applies wins.
        self._custom = sorted(custom, key=lambda p: p.specificity, reverse=True)
        self._pricer = pricer

    def custom_for(self, provider: str | None, model: str | None, at: datetime
                   ) -> ModelPrice | None:
        if not model:
            return None
        return next((p for p in self._custom if p.applies(provider, model, at)), None)

    def __call__(
        self,
        provider: str | None,
        model: str | None,
        at: datetime,
        input_tokens: int,
        output_tokens: int,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> tuple[int, str] | None:
        custom = self.custom_for(provider, model, at) if self._custom else None
        if custom is not None:
            return custom.cost_nano_usd(input_tokens, output_tokens, cache_read_tokens,
                                        cache_write_tokens), "custom"
        cost = self._pricer.price(provider, model, at, input_tokens, output_tokens,
                                  cache_read_tokens, cache_write_tokens)
        return None if cost is None else (cost, "catalog")


LoadPrices = Callable[[int], Awaitable[list[ModelPrice]]]


class PriceBook:
    """Each project's prices, custom ones loaded from the store and kept for `ttl_s` (or until
    `invalidate()`, which the API calls when it changes them)."""

    def __init__(self, load: LoadPrices, pricer: Pricer | None = None, ttl_s: float = 30.0
                 ) -> None:
        self._load = load
        self.pricer = pricer or Pricer()
        self._ttl_s = ttl_s
        self._cache: dict[int, tuple[float, ProjectPrices]] = {}

    async def for_project(self, project_id: int) -> ProjectPrices:
        now = time.monotonic()
        cached = self._cache.get(project_id)
        if cached is not None and now - cached[0] < self._ttl_s:
            return cached[1]
        prices = ProjectPrices(await self._load(project_id), self.pricer)
        self._cache[project_id] = (now, prices)
        return prices

    def invalidate(self, project_id: int) -> None:
        self._cache.pop(project_id, None)


def catalog_prices(pricer: Pricer | None = None) -> ProjectPrices:
    """Prices from the catalog alone (no custom prices)."""
    return ProjectPrices([], pricer or Pricer())


def project_prices(pricer: Pricer | None = None) -> Callable[[list[ModelPrice]], ProjectPrices]:
    """What re-pricing (store.reprice) needs: a project's price function from its custom
    prices, over the catalog of `pricer`."""
    catalog = pricer or Pricer()
    return lambda custom: ProjectPrices(custom, catalog)
