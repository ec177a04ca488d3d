"""Response bodies, field for field as the API reference specifies them.

Money is stored as integer nano-USD and becomes a USD number only here; averages are derived
here from exact sums and counts.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from spantally.store import LlmAnalytics, Totals

__all__ = ["iso_utc", "llm_analytics_json", "usd"]


def usd(nano_usd: int) -> float:
    return nano_usd / 1_000_000_000


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


def llm_analytics_json(result: LlmAnalytics) -> dict[str, Any]:
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
        },
        "byModel": [
            {"provider": m.provider, "model": m.model, **_measures(m.totals)}
            for m in result.by_model
        ],
        "byTime": [{"bucket": iso_utc(t.bucket), **_measures(t.totals)} for t in result.by_time],
    }
