"""Query parameters of the analytics endpoints, validated into typed values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from spantally.collector.errors import InvalidArgument
from spantally.store import Granularity, LlmFilters

__all__ = ["LlmQuery", "parse_llm_query", "parse_time"]

_DEFAULT_RANGE = timedelta(hours=24)
_MAX_FILTER_CHARS = 512


@dataclass(frozen=True, slots=True)
class LlmQuery:
    start: datetime
    end: datetime
    granularity: Granularity
    filters: LlmFilters


def parse_time(name: str, value: str) -> datetime:
    """ISO 8601 date or date-time; without an offset it is UTC, a date is its midnight UTC."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(
            f"{name}: {value!r} is not an ISO 8601 date or date-time "
            "(e.g. 2026-02-01 or 2026-02-01T10:00:00Z)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def _filter(query: Mapping[str, str], name: str) -> str | None:
    value = query.get(name)
    if value is None:
        return None
    if not value or len(value) > _MAX_FILTER_CHARS:
        raise InvalidArgument(f"{name} must be 1 to {_MAX_FILTER_CHARS} characters")
    return value


def parse_llm_query(
    query: Mapping[str, str], max_range_days: int, now: datetime | None = None
) -> LlmQuery:
    now = now or datetime.now(timezone.utc)
    end = parse_time("to", query["to"]) if "to" in query else now
    start = parse_time("from", query["from"]) if "from" in query else end - _DEFAULT_RANGE
    if start > end:
        raise InvalidArgument(f"from ({start.isoformat()}) is after to ({end.isoformat()})")
    if end - start > timedelta(days=max_range_days):
        raise InvalidArgument(f"the range from..to is longer than {max_range_days} days")
    granularity_text = query.get("granularity", Granularity.HOUR.value)
    try:
        granularity = Granularity(granularity_text)
    except ValueError:
        raise InvalidArgument(
            f"granularity: {granularity_text!r} is not one of hour, day, week"
        ) from None
    filters = LlmFilters(
        agent_id=_filter(query, "agentId"),
        model=_filter(query, "model"),
        provider=_filter(query, "provider"),
    )
    return LlmQuery(start=start, end=end, granularity=granularity, filters=filters)
