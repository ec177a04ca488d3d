"""What the analytics endpoints must answer, computed in plain Python from the calls themselves
(never from the database), for the property tests to compare with."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from spantally.store import LlmCall, bin_of, percentile_ms

__all__ = ["bucket_of", "breakdown", "matches", "measures", "sessions", "value_of"]

FILTER_FIELDS = {"agentId": "agent_id", "model": "model", "provider": "provider",
                 "service": "service_name", "environment": "environment", "userId": "user_id",
                 "sessionId": "session_id", "status": "status"}
DIMENSION_FIELDS = {"provider": "provider", "model": "model", "agent": "agent_id",
                    "service": "service_name", "operation": "operation", "status": "status",
                    "environment": "environment", "error_type": "error_type",
                    "user": "user_id", "session": "session_id"}


def matches(call: LlmCall, start: datetime, end: datetime, filters: dict[str, str]) -> bool:
    if not start <= call.time < end:
        return False
    for name, value in filters.items():
        if name == "tags":
            for pair in value.split(","):
                key, _, wanted = pair.partition(":")
                if (call.tags or {}).get(key) != wanted:
                    return False
        elif getattr(call, FILTER_FIELDS[name]) != value:
            return False
    return True


def _avg(total: int, count: int) -> float | None:
    return round(total / count / 1000, 3) if count else None


def measures(calls: Iterable[LlmCall]) -> dict[str, Any]:
    calls = list(calls)
    n = len(calls)
    errors = sum(c.status == "error" for c in calls)
    latency_hist = [0] * 32
    ttft_hist = [0] * 32
    for c in calls:
        latency_hist[bin_of(c.latency_us)] += 1
        if c.ttft_us is not None:
            ttft_hist[bin_of(c.ttft_us)] += 1
    ttfts = [c.ttft_us for c in calls if c.ttft_us is not None]
    cost = sum(c.cost_nano_usd or 0 for c in calls)
    inp, out = sum(c.input_tokens for c in calls), sum(c.output_tokens for c in calls)
    return {
        "calls": n,
        "successCalls": n - errors,
        "errorCalls": errors,
        "successRate": round((n - errors) / n, 6) if n else None,
        "inputTokens": inp,
        "outputTokens": out,
        "cacheReadTokens": sum(c.cache_read_tokens for c in calls),
        "cacheWriteTokens": sum(c.cache_write_tokens for c in calls),
        "reasoningTokens": sum(c.reasoning_tokens for c in calls),
        "totalTokens": inp + out,
        "costUsd": cost / 1e9,
        "costNanoUsd": cost,
        "unpricedCalls": sum(c.cost_nano_usd is None for c in calls),
        "avgLatencyMs": _avg(sum(c.latency_us for c in calls), n),
        "p50LatencyMs": percentile_ms(latency_hist, 50),
        "p95LatencyMs": percentile_ms(latency_hist, 95),
        "p99LatencyMs": percentile_ms(latency_hist, 99),
        "avgTtftMs": _avg(sum(ttfts), len(ttfts)),
        "p95TtftMs": percentile_ms(ttft_hist, 95),
    }


def bucket_of(moment: datetime, granularity: str, zone: ZoneInfo) -> str:
    """The bucket's name: local time truncated to the unit, with its offset."""
    local = moment.astimezone(zone)
    if granularity == "hour":
        start = local.replace(minute=0, second=0, microsecond=0)
    else:
        day = datetime(local.year, local.month, local.day, tzinfo=zone)
        if granularity == "week":
            day = datetime.combine((day - timedelta(days=day.weekday())).date(),
                                   datetime.min.time(), zone)
        elif granularity == "month":
            day = day.replace(day=1)
        start = day
    text = start.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def value_of(call: LlmCall, dimension: str) -> str | None:
    if dimension.startswith("tags."):
        value = (call.tags or {}).get(dimension[5:])
        return None if value is None else str(value)
    return getattr(call, DIMENSION_FIELDS[dimension])


def _shares(values: list[int]) -> list[float]:
    total = sum(values)
    if not total:
        return [0.0] * len(values)
    basis = [v * 10_000 // total for v in values]
    order = sorted(range(len(values)), key=lambda i: (-(values[i] * 10_000 % total), i))
    for i in order[:10_000 - sum(basis)]:
        basis[i] += 1
    return [b / 100 for b in basis]


SORT_FIELDS: dict[str, Callable[[dict[str, Any]], int]] = {
    "cost": lambda m: m["costNanoUsd"], "calls": lambda m: m["calls"],
    "tokens": lambda m: m["totalTokens"], "errors": lambda m: m["errorCalls"]}


def breakdown(calls: list[LlmCall], dimension: str, sort: str, limit: int,
              order: str = "desc") -> list[dict[str, Any]]:
    groups: dict[str | None, list[LlmCall]] = {}
    for c in calls:
        groups.setdefault(value_of(c, dimension), []).append(c)
    sign = -1 if order == "desc" else 1
    rows = sorted(((key, measures(cs)) for key, cs in groups.items()),
                  key=lambda kv: (sign * SORT_FIELDS[sort](kv[1]), sign * kv[1]["calls"],
                                  kv[0] is None, kv[0] or ""))
    out = [{"key": key, "other": False, "rank": rank, **m}
           for rank, (key, m) in enumerate(rows[:limit], start=1)]
    if len(rows) > limit:
        shown = {key for key, _ in rows[:limit]}
        out.append({"key": None, "other": True, "rank": None,
                    **measures(c for c in calls if value_of(c, dimension) not in shown)})
    for row, share in zip(out, _shares([SORT_FIELDS[sort](r) for r in out]), strict=True):
        row["percentageOfTotal"] = share
    return out


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")[:-6] + "Z"


SESSION_SORTS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "startedAt": lambda s: s["_started"], "cost": lambda s: s["costNanoUsd"],
    "calls": lambda s: s["calls"], "tokens": lambda s: s["totalTokens"]}


def sessions(calls: list[LlmCall], order: str = "startedAt") -> list[dict[str, Any]]:
    """Every session, largest `order` first, then by id."""
    groups: dict[str, list[LlmCall]] = {}
    for c in calls:
        if c.session_id is not None:
            groups.setdefault(c.session_id, []).append(c)
    out = []
    for sid, cs in groups.items():
        started = min(c.time for c in cs)
        ended = max(c.time + timedelta(microseconds=c.latency_us) for c in cs)
        users = {c.user_id for c in cs if c.user_id is not None}
        agents = {c.agent_id for c in cs if c.agent_id is not None}
        inp, outp = sum(c.input_tokens for c in cs), sum(c.output_tokens for c in cs)
        cost = sum(c.cost_nano_usd or 0 for c in cs)
        out.append({
            "sessionId": sid, "startedAt": _iso(started), "endedAt": _iso(ended),
            "durationMs": (ended - started) / timedelta(milliseconds=1), "calls": len(cs),
            "errorCalls": sum(c.status == "error" for c in cs), "inputTokens": inp,
            "outputTokens": outp, "totalTokens": inp + outp, "costUsd": cost / 1e9,
            "costNanoUsd": cost, "unpricedCalls": sum(c.cost_nano_usd is None for c in cs),
            "userId": next(iter(users)) if len(users) == 1 else None,
            "agentId": next(iter(agents)) if len(agents) == 1 else None,
            "_started": started,
        })
    out.sort(key=lambda s: s["sessionId"])
    out.sort(key=SESSION_SORTS[order], reverse=True)
    for s in out:
        del s["_started"]
    return out
