"""Response bodies. Money is stored as integer nano-USD and becomes a USD number only here;
averages, rates and percentiles are derived here from exact sums, counts and histograms. Rows
are flat where they may become CSV lines; money is exact in `costNanoUsd` (an integer) and
rounded only in `costUsd`. `/api/analytics/llm` is shaped field for field as its reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from spantally.store import (
    BREAKDOWN_SORTS,
    Anomaly,
    Breakdown,
    CurrencyRate,
    Explain,
    Measures,
    ModelPrice,
    Session,
    SessionsSummary,
    StoredAnomaly,
    anomaly_id,
    percentile_ms,
)

__all__ = [
    "CHANGE_MEASURES",
    "Money",
    "anomaly_row",
    "breakdown_rows",
    "shares",
    "stored_anomaly_row",
    "change",
    "changes",
    "converted",
    "explain_json",
    "explained",
    "iso_local",
    "iso_micro",
    "iso_utc",
    "llm_json",
    "measures_row",
    "price_json",
    "rate_json",
    "session_row",
    "sessions_summary_json",
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


# Measures compared between two periods, with whether a rise is the good direction.
CHANGE_MEASURES = ("calls", "errorCalls", "successRate", "costUsd", "totalTokens",
                   "avgLatencyMs", "p95LatencyMs", "avgTtftMs")
_FLAT_WITHIN = 0.01  # a change of at most 1% of the earlier value is "flat"


def _avg_ms(total_us: int, count: int) -> float | None:
    return round(total_us / count / 1000, 3) if count else None


@dataclass(frozen=True, slots=True)
class Money:
    """Costs also shown in another currency, at the project's rate."""

    currency: str
    per_usd: Decimal


def measures_row(m: Measures, money: Money | None = None) -> dict[str, Any]:
    row = {
        "calls": m.calls,
        "successCalls": m.successes,
        "errorCalls": m.errors,
        "successRate": round(m.successes / m.calls, 6) if m.calls else None,
        "inputTokens": m.input_tokens,
        "outputTokens": m.output_tokens,
        "cacheReadTokens": m.cache_read_tokens,
        "cacheWriteTokens": m.cache_write_tokens,
        "reasoningTokens": m.reasoning_tokens,
        "totalTokens": m.total_tokens,
        "costUsd": usd(m.cost_nano_usd),
        "costNanoUsd": m.cost_nano_usd,
        "unpricedCalls": m.unpriced_calls,
        "avgLatencyMs": _avg_ms(m.latency_us_sum, m.latency_count),
        "p50LatencyMs": percentile_ms(m.latency_hist, 50),
        "p95LatencyMs": percentile_ms(m.latency_hist, 95),
        "p99LatencyMs": percentile_ms(m.latency_hist, 99),
        "avgTtftMs": _avg_ms(m.ttft_us_sum, m.ttft_count),
        "p95TtftMs": percentile_ms(m.ttft_hist, 95),
    }
    if money is not None:
        row["currency"] = money.currency
        row["cost"] = converted(m.cost_nano_usd, money.per_usd)
    return row


def iso_micro(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")[:-6] + "Z"


def iso_local(bucket: datetime) -> str:
    """A bucket's local start with its offset (Z in UTC)."""
    text = bucket.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def change(current: float | None, previous: float | None) -> dict[str, Any]:
    """One measure in two periods: both values, the change, the change in percent of the
    earlier value (None from 0), and the trend: up, down, or flat within 1%."""
    if current is None or previous is None:
        return {"current": current, "previous": previous, "change": None,
                "changePercent": None, "trend": None}
    delta = current - previous
    percent = round(delta / abs(previous) * 100, 2) if previous else (0.0 if not delta else None)
    flat = abs(delta) <= _FLAT_WITHIN * abs(previous) if previous else delta == 0
    return {
        "current": current,
        "previous": previous,
        "change": round(delta, 9),
        "changePercent": percent,
        "trend": "flat" if flat else "up" if delta > 0 else "down",
    }


def changes(current: Measures, previous: Measures) -> dict[str, Any]:
    """Per measure: both values, the change, the change in percent of the earlier value (None
    from 0), and the trend: up, down, or flat within 1%."""
    now, before = measures_row(current), measures_row(previous)
    out = {name: change(now[name], before[name]) for name in CHANGE_MEASURES}
    # costUsd's change from the exact integers, not from two rounded floats.
    out["costUsd"]["change"] = usd(current.cost_nano_usd - previous.cost_nano_usd)
    return out


def shares(values: list[int]) -> list[float]:
    """Percentages to 2 places that add up to exactly 100 (largest remainder); all 0 when the
    total is 0."""
    total = sum(values)
    if total <= 0:
        return [0.0] * len(values)
    exact = [v * 10_000 for v in values]
    floors = [e // total for e in exact]
    left = 10_000 - sum(floors)
    by_remainder = sorted(range(len(values)), key=lambda i: (-(exact[i] % total), i))
    for i in by_remainder[:left]:
        floors[i] += 1
    return [f / 100 for f in floors]


def breakdown_rows(current: Breakdown, sort: str, previous: Breakdown | None = None,
                   money: Money | None = None) -> list[dict[str, Any]]:
    """The top values, each with its `rank` (from 1), then one `other` row holding the rest
    (when there is one; no rank), so that `percentageOfTotal` (of the sort measure) adds up to
    100. With `previous` (the same values in the earlier period), each row also has its
    `previous` measures and `changes`."""
    rows: list[tuple[str | None, bool, Measures, Measures | None]] = [
        (key, False, m, previous.rows[i][1] if previous else None)
        for i, (key, m) in enumerate(current.rows)]
    if current.more:
        rows.append((None, True, current.rest, previous.rest if previous else None))
    measure = BREAKDOWN_SORTS[sort]
    share_of = shares([measure(m) for _, _, m, _ in rows])
    out = []
    for rank, ((key, is_other, m, before), share) in enumerate(zip(rows, share_of, strict=True),
                                                                 start=1):
        row = {"key": key, "other": is_other, "rank": None if is_other else rank,
               **measures_row(m, money), "percentageOfTotal": share}
        if before is not None:
            row["previous"] = measures_row(before, money)
            row["changes"] = changes(m, before)
        out.append(row)
    return out


def session_row(s: Session) -> dict[str, Any]:
    return {
        "sessionId": s.session_id,
        "startedAt": iso_micro(s.started_at),
        "endedAt": iso_micro(s.ended_at),
        "durationMs": (s.ended_at - s.started_at) / timedelta(milliseconds=1),
        "calls": s.calls,
        "errorCalls": s.errors,
        "inputTokens": s.input_tokens,
        "outputTokens": s.output_tokens,
        "totalTokens": s.input_tokens + s.output_tokens,
        "costUsd": usd(s.cost_nano_usd),
        "costNanoUsd": s.cost_nano_usd,
        "unpricedCalls": s.unpriced_calls,
        "userId": s.user_id,
        "agentId": s.agent_id,
    }


def sessions_summary_json(s: SessionsSummary) -> dict[str, Any]:
    def per_session(value: float) -> float | None:
        return round(value / s.sessions, 6) if s.sessions else None

    return {
        "totalSessions": s.sessions,
        "totalCalls": s.calls,
        "totalTokens": s.tokens,
        "totalCostUsd": usd(s.cost_nano_usd),
        "totalCostNanoUsd": s.cost_nano_usd,
        "avgCallsPerSession": per_session(s.calls),
        "avgTokensPerSession": per_session(s.tokens),
        "avgCostPerSessionUsd": per_session(usd(s.cost_nano_usd)),
        "avgDurationMs": per_session(s.duration_us / 1000),
    }


_UNITS = {"cost_spike": "usd", "volume_spike": "calls", "error_rate_spike": "ratio",
          "latency_spike": "ms"}
_LABELS = {"cost_spike": "Cost", "volume_spike": "Calls", "error_rate_spike": "Error rate",
           "latency_spike": "Average latency"}


def _value(kind: str, value: float) -> float:
    if kind == "cost_spike":
        return round(value / 1_000_000_000, 9)
    return round(value, 6)


def _shown(kind: str, value: float) -> str:
    if kind == "cost_spike":
        return f"${value / 1_000_000_000:,.4f}"
    if kind == "error_rate_spike":
        return f"{value:.1%}"
    if kind == "latency_spike":
        return f"{value:,.0f} ms"
    return f"{value:,.1f}"


def anomaly_row(a: Anomaly) -> dict[str, Any]:
    """An anomaly as judged in its hour."""
    where = "the project" if a.scope == "project" else f"{a.scope} {a.key!r}"
    if a.kind == "error_rate_spike":
        description = (f"{_LABELS[a.kind]} of {where} was {_shown(a.kind, a.actual)} against "
                       f"{_shown(a.kind, a.expected)} on average at this hour over the previous "
                       f"{a.baseline_days} days")
    else:
        rise = (a.actual - a.expected) / a.expected * 100
        description = (f"{_LABELS[a.kind]} of {where} {rise:.0f}% above the average of the same "
                       f"hour over the previous {a.baseline_days} days "
                       f"({_shown(a.kind, a.expected)} expected, {_shown(a.kind, a.actual)} "
                       "actual)")
    return {
        "id": anomaly_id(a.kind, a.scope, a.key, a.hour),
        "hour": iso_utc(a.hour),
        "detectedAt": iso_utc(a.hour + timedelta(hours=1)),
        "type": a.kind,
        "scope": a.scope,
        "scopeKey": a.key,
        "severity": a.severity,
        "expectedValue": _value(a.kind, a.expected),
        "actualValue": _value(a.kind, a.actual),
        "unit": _UNITS[a.kind],
        "baselineDays": a.baseline_days,
        "zScore": a.z_score,
        "description": description,
    }


def stored_anomaly_row(a: StoredAnomaly) -> dict[str, Any]:
    """A stored anomaly: as judged in its first hour, when the detector stored it, and where
    its lifecycle stands."""
    return {**anomaly_row(a.as_anomaly()), "detectedAt": iso_utc(a.detected_at),
            "status": a.status, "lastHour": iso_utc(a.last_hour),
            "resolvedAt": None if a.cleared_at is None else iso_utc(a.cleared_at),
            "dismissedAt": None if a.dismissed_at is None else iso_utc(a.dismissed_at)}


# -- /api/analytics/llm (reference 003) ----------------------------------------------------

def _llm_measures(m: Measures, money: Money | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "calls": m.calls,
        "costUsd": usd(m.cost_nano_usd),
        "inputTokens": m.input_tokens,
        "outputTokens": m.output_tokens,
        # The reference types it as a number: 0 where there is no call (elsewhere: null).
        "avgLatencyMs": _avg_ms(m.latency_us_sum, m.latency_count) or 0,
    }
    if money is not None:
        row["cost"] = converted(m.cost_nano_usd, money.per_usd)
    return row


def llm_json(summary: Measures, by_model: dict[tuple[str | None, ...], Measures],
             by_time: dict[datetime | None, Measures], money: Money | None = None
             ) -> dict[str, Any]:
    """The reference's body: models by cost (then calls, provider, model), buckets in time
    order. With `money`, additions: `summary.currency`, `summary.exchangeRate` (units per USD),
    `summary.totalCost` and each row's `cost` in that currency; the USD fields stay as they
    are."""
    models = sorted(by_model.items(), key=lambda item: (
        -item[1].cost_nano_usd, -item[1].calls, item[0][0] or "", item[0][1] or ""))
    body: dict[str, Any] = {
        "summary": {
            "totalCalls": summary.calls,
            "totalCostUsd": usd(summary.cost_nano_usd),
            "totalInputTokens": summary.input_tokens,
            "totalOutputTokens": summary.output_tokens,
            "avgLatencyMs": _avg_ms(summary.latency_us_sum, summary.latency_count) or 0,
            "avgCostPerCall": (
                round(usd(summary.cost_nano_usd) / summary.calls, 9) if summary.calls else 0
            ),
            # Addition to the reference: calls whose model has no known price, and which the
            # cost figures therefore leave out.
            "unpricedCalls": summary.unpriced_calls,
            # Addition to the reference: failed calls (status ERROR), for the error rate.
            "errorCalls": summary.errors,
        },
        "byModel": [{"provider": provider, "model": model, **_llm_measures(m, money)}
                    for (provider, model), m in models],
        "byTime": [{"bucket": iso_utc(bucket), **_llm_measures(m, money)}  # type: ignore[arg-type]
                   for bucket, m in sorted(by_time.items(), key=lambda item: item[0])],  # type: ignore[arg-type,return-value]
    }
    if money is not None:
        body["summary"].update(currency=money.currency, exchangeRate=float(money.per_usd),
                               totalCost=converted(summary.cost_nano_usd, money.per_usd))
    return body


# -- explain=true --------------------------------------------------------------------------

def explained(body: dict[str, Any], explain: Explain | None) -> dict[str, Any]:
    """`body`, with how it was answered when that was asked for (`explain=true`)."""
    if explain is not None:
        body["explain"] = explain_json(explain)
    return body


def explain_json(explain: Explain) -> dict[str, Any]:
    """How the answer was found: each question's plan (which relation answers which part of the
    range) and each query run, with the SQL it sent and the rows it read."""
    return {
        "plans": [{
            "of": p.question.fact.name,
            "from": iso_utc(p.question.start), "to": iso_utc(p.question.end),
            "granularity": p.question.granularity.value if p.question.granularity else None,
            "timeZone": str(p.question.zone),
            "groupBy": [d.name for d in p.question.group_by],
            "filters": sorted(p.question.filters.columns),
            "histograms": p.question.histograms,
            "buckets": len(p.parts),
            "rawRelation": p.raw,
            "rawSeconds": p.raw_span.total_seconds(),
            "pieces": [{"from": iso_micro(piece.start), "to": iso_micro(piece.end),
                        "relation": piece.relation} for piece in p.pieces],
        } for p in explain.plans],
        "reads": [{
            "relation": r.relation,
            "ranges": [{"from": iso_micro(lo), "to": iso_micro(hi)} for lo, hi in r.ranges],
            "sql": r.statement,
            "parameters": {k: v if isinstance(v, (str, int, float, type(None))) else str(v)
                           for k, v in r.parameters.items()},
            "rowsRead": r.rows_read,
            "rowsReturned": r.rows_returned,
            "elapsedMs": r.elapsed_ms,
        } for r in explain.reads],
    }
