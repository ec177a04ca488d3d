"""Response bodies, field for field as the API reference specifies them.

Money is stored as integer nano-USD and becomes a USD number only here; averages are derived
here from exact sums and counts.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from spantally.store import CurrencyRate, LlmAnalytics, ModelPrice, RecentCall, Totals

__all__ = [
    "RECENT_CALL_COLUMNS",
    "converted",
    "iso_utc",
    "llm_analytics_json",
    "price_json",
    "rate_json",
    "recent_calls_json",
    "usd",
]

_NANO = Decimal(1_000_000_000)
_NINE_PLACES = Decimal("1e-9")


def usd(nano_usd: int) -> float:
    return nano_usd / 1_000_000_000


def converted(nano_usd: int, per_usd: Decimal) -> float:
    """An exact nano-USD amount in another currency, rounded to 9 decimal places once."""
    return float((Decimal(nano_usd) * per_usd / _NANO).quantize(_NINE_PLACES, ROUND_HALF_EVEN))


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _avg_latency_ms(totals: Totals) -> float:
    if not totals.latency_count:
        return 0
    return round(totals.latency_us_sum / totals.latency_count / 1000, 3)


def _measures(totals: Totals) -> dict[str, Any]:
    return {
        "calls": totals.calls,
        "costUsd": usd(totals.cost_nano_usd),
        "inputTokens": totals.input_tokens,
        "outputTokens": totals.output_tokens,
        "avgLatencyMs": _avg_latency_ms(totals),
    }


def llm_analytics_json(result: LlmAnalytics, currency: str | None = None,
                       per_usd: Decimal | None = None) -> dict[str, Any]:
    """The reference's body. With a `currency`, additions: `summary.currency`,
    `summary.exchangeRate` (units per USD), `summary.totalCost` and each row's `cost` in that
    currency; the USD fields stay as they are."""
    body = _llm_analytics_usd(result)
    if currency is None:
        return body
    rate = per_usd if per_usd is not None else Decimal(1)
    summary = body["summary"]
    summary["currency"] = currency
    summary["exchangeRate"] = float(rate)
    summary["totalCost"] = converted(result.summary.cost_nano_usd, rate)
    for row, source in zip(body["byModel"], result.by_model, strict=True):
        row["cost"] = converted(source.totals.cost_nano_usd, rate)
    for row, source in zip(body["byTime"], result.by_time, strict=True):
        row["cost"] = converted(source.totals.cost_nano_usd, rate)
    return body


def _llm_analytics_usd(result: LlmAnalytics) -> dict[str, Any]:
    summary = result.summary
    return {
        "summary": {
            "totalCalls": summary.calls,
            "totalCostUsd": usd(summary.cost_nano_usd),
            "totalInputTokens": summary.input_tokens,
            "totalOutputTokens": summary.output_tokens,
            "avgLatencyMs": _avg_latency_ms(summary),
            "avgCostPerCall": (
                round(usd(summary.cost_nano_usd) / summary.calls, 9) if summary.calls else 0
            ),
            # Addition to the reference: calls whose model has no known price, and which the
            # cost figures therefore leave out.
            "unpricedCalls": summary.unpriced_calls,
            # Addition to the reference: failed calls (status ERROR), for the error rate.
            "errorCalls": summary.errors,
        },
        "byModel": [
            {"provider": m.provider, "model": m.model, **_measures(m.totals)}
            for m in result.by_model
        ],
        "byTime": [{"bucket": iso_utc(t.bucket), **_measures(t.totals)} for t in result.by_time],
    }


def _number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def price_json(price: ModelPrice) -> dict[str, Any]:
    return {
        "id": price.id,
        "provider": price.provider,
        "model": price.model,
        "inputPerMTok": _number(price.input_per_mtok),
        "outputPerMTok": _number(price.output_per_mtok),
        "cacheReadPerMTok": _number(price.cache_read_per_mtok),
        "cacheWritePerMTok": _number(price.cache_write_per_mtok),
        "perCall": _number(price.per_call),
        "currency": price.currency,
        "effectiveFrom": iso_utc(price.effective_from),
        "effectiveTo": iso_utc(price.effective_to) if price.effective_to else None,
        "createdAt": iso_utc(price.created_at),
    }


def rate_json(rate: CurrencyRate) -> dict[str, Any]:
    return {"currency": rate.currency, "perUsd": float(rate.per_usd),
            "updatedAt": iso_utc(rate.updated_at)}


RECENT_CALL_COLUMNS = ("time", "provider", "model", "agentId", "sessionId", "userId", "operation",
                       "streaming", "inputTokens", "outputTokens", "costUsd", "latencyMs",
                       "timeToFirstChunkMs", "status", "errorType")


def recent_calls_json(calls: list[RecentCall]) -> dict[str, Any]:
    return {"calls": [
        {
            "time": c.time.astimezone(timezone.utc).isoformat(timespec="microseconds")
                    .replace("+00:00", "Z"),
            "provider": c.provider,
            "model": c.model,
            "agentId": c.agent_id,
            "sessionId": c.session_id,
            "userId": c.user_id,
            "operation": c.operation,
            "streaming": c.streaming,
            "inputTokens": c.input_tokens,
            "outputTokens": c.output_tokens,
            "costUsd": None if c.cost_nano_usd is None else usd(c.cost_nano_usd),
            "latencyMs": c.latency_us / 1000,
            "timeToFirstChunkMs": None if c.ttft_us is None else c.ttft_us / 1000,
            "status": c.status,
            "errorType": c.error_type,
        }
        for c in calls
    ]}
