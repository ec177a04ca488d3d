"""Catalog prices: hand-computed figures, and the fast path equal to genai-prices' own."""

from __future__ import annotations

import random
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from genai_prices import Usage, calc_price

from spantally.collector.normalize import usd_to_nano
from spantally.collector.pricing import CATALOG_PROVIDER_IDS, Pricer

AT = datetime(2026, 6, 1, tzinfo=timezone.utc)


def test_openai_cached_input_by_hand() -> None:
    # gpt-4o: $2.50 / M input, $1.25 / M cached input, $10 / M output.
    # 3000 input of which 1024 cached, 500 output:
    # 1976 * 2.5 + 1024 * 1.25 + 500 * 10 = 4940 + 1280 + 5000 = 11220 micro-USD
    assert Pricer().price("openai", "gpt-4o", AT, 3000, 500, 1024) == 11_220_000


def test_anthropic_cache_read_and_write_by_hand() -> None:
    # claude-sonnet-4: $3 / M input, $0.30 / M cache read, $3.75 / M cache write, $15 / M output.
    # 5000 input = 2048 read + 1000 written + 1952 fresh; 900 output:
    # 1952 * 3 + 2048 * 0.3 + 1000 * 3.75 + 900 * 15 = 5856 + 614.4 + 3750 + 13500 = 23720.4
    assert Pricer().price("anthropic", "claude-sonnet-4-20250514", AT, 5000, 900, 2048, 1000) == (
        23_720_400)


def test_dated_ids_and_provider_names_resolve() -> None:
    pricer = Pricer()
    assert pricer.price("openai", "gpt-4o-2024-08-06", AT, 1000, 0) == 2_500_000
    assert pricer.price("azure.ai.openai", "gpt-4o", AT, 1000, 0) is not None


def test_unknown_models_are_unpriced() -> None:
    pricer = Pricer()
    assert pricer.price("acme", "acme-llm-9000", AT, 1000, 100) is None
    assert pricer.price("openai", None, AT, 1000, 100) is None


@pytest.mark.parametrize(
    ("provider", "model"),
    [("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("openai", "o3-mini"),
     ("anthropic", "claude-sonnet-4-20250514"), ("anthropic", "claude-3-5-haiku-latest"),
     ("gcp.gemini", "gemini-2.5-pro"), ("openai", "text-embedding-3-small")],
)
def test_fast_path_equals_the_full_calculation(provider: str, model: str) -> None:
    pricer = Pricer()
    rng = random.Random(model)
    for _ in range(60):
        inp = rng.randrange(0, 400_000)
        read = rng.randrange(0, inp // 2 + 1)
        write = rng.randrange(0, (inp - read) // 2 + 1) if provider == "anthropic" else 0
        out = rng.randrange(0, 20_000)
        total = calc_price(
            Usage(input_tokens=inp, output_tokens=out, cache_read_tokens=read,
                  cache_write_tokens=write),
            model, provider_id=CATALOG_PROVIDER_IDS.get(provider, provider),
            genai_request_timestamp=AT,
        ).total_price
        assert pricer.price(provider, model, AT, inp, out, read, write) == int(
            (Decimal(total) * 10**9).to_integral_value())


def test_usd_to_nano_is_exact() -> None:
    assert usd_to_nano(0.1) == 100_000_000
    assert usd_to_nano("0.000000001") == 1
    assert usd_to_nano(float("nan")) is None
    assert usd_to_nano(-1) is None
    assert usd_to_nano("abc") is None
