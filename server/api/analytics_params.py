"""Query parameters of the /api/analytics/* endpoints, validated into typed values. Every
refusal names the parameter at fault."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from spantally.common.errors import InvalidArgument
from spantally.store import (
    DIMENSIONS,
    SESSION_ORDERS,
    Dimension,
    Explain,
    Granularity,
    Plan,
    bucket_names,
    dimension_of,
)

from .params import no_nul, parse_filters, parse_int, parse_time
from .shape import iso_utc

__all__ = [
    "BREAKDOWN_SORTS",
    "FORMATS",
    "Period",
    "Series",
    "check_raw_span",
    "parse_breakdown_sort",
    "parse_choice",
    "parse_compare",
    "parse_dimension",
    "parse_explain",
    "parse_filters",
    "parse_format",
    "parse_granularity",
    "parse_int",
    "parse_period",
    "parse_series",
    "parse_session_order",
    "parse_zone",
]

FORMATS = ("json", "csv", "ndjson")
BREAKDOWN_SORTS = ("cost", "calls", "tokens", "errors")
_DEFAULT_RANGE = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime
    end: datetime

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period(self.start - self.length, self.start)

    def as_json(self) -> dict[str, str]:
        """`from` and `to`, as every answer about a period starts."""
        return {"from": iso_utc(self.start), "to": iso_utc(self.end)}


def parse_period(query: Mapping[str, str], max_range_days: int, *, from_name: str = "from",
                 to_name: str = "to", default: timedelta = _DEFAULT_RANGE,
                 now: datetime | None = None) -> Period:
    end = parse_time(to_name, query[to_name]) if to_name in query else (
        now or datetime.now(timezone.utc))
    start = parse_time(from_name, query[from_name]) if from_name in query else end - default
    if start > end:
        raise InvalidArgument(f"{from_name}: {start.isoformat()} is after {to_name} "
                              f"({end.isoformat()})")
    if end - start > timedelta(days=max_range_days):
        raise InvalidArgument(f"{from_name}..{to_name}: the range is longer than "
                              f"{max_range_days} days")
    return Period(start, end)


def parse_choice(query: Mapping[str, str], name: str, choices: tuple[str, ...],
                 default: str) -> str:
    value = query.get(name, default)
    if value not in choices:
        raise InvalidArgument(f"{name}: {value!r} is not one of {', '.join(choices)}")
    return value


def parse_format(query: Mapping[str, str], choices: tuple[str, ...] = FORMATS) -> str:
    return parse_choice(query, "format", choices, "json")


def parse_granularity(query: Mapping[str, str], default: Granularity = Granularity.DAY) -> Granularity:
    value = parse_choice(query, "granularity", tuple(g.value for g in Granularity), default.value)
    return Granularity(value)


@dataclass(frozen=True, slots=True)
class Series:
    """How a time series is cut: `granularity`, `tz`, and `fill=zero` (also empty buckets)."""

    granularity: Granularity
    zone_name: str
    zone: ZoneInfo
    fill_zero: bool

    def buckets(self, period: Period, present: Iterable[datetime]) -> list[datetime]:
        """The buckets to answer, in order: those with data, or with `fill=zero` all of them."""
        if self.fill_zero:
            return bucket_names(period.start, period.end, self.granularity, self.zone)
        return sorted(present)

    def as_json(self) -> dict[str, str]:
        return {"granularity": self.granularity.value, "timeZone": self.zone_name}


def parse_series(query: Mapping[str, str]) -> Series:
    granularity = parse_granularity(query)
    zone_name, zone = parse_zone(query)
    fill = parse_choice(query, "fill", ("none", "zero"), "none")
    return Series(granularity, zone_name, zone, fill == "zero")


def parse_zone(query: Mapping[str, str]) -> tuple[str, ZoneInfo]:
    name = query.get("tz", "UTC")
    no_nul("tz", name)
    try:
        if not name or name.startswith(("/", ".")) or ".." in name:
            raise ValueError(name)
        return name, ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidArgument(
            f"tz: {name!r} is not an IANA time zone (e.g. UTC, Europe/Paris, America/New_York)"
        ) from None


def parse_dimension(name: str) -> Dimension:
    dimension = dimension_of(name)
    if dimension is None:
        raise InvalidArgument(
            f"dimension: {name!r} is not one of {', '.join(DIMENSIONS)} or tags.<key>")
    no_nul("dimension", name)
    return dimension


def parse_breakdown_sort(query: Mapping[str, str]) -> str:
    return parse_choice(query, "sort", BREAKDOWN_SORTS, "cost")


def parse_session_order(query: Mapping[str, str]) -> str:
    return parse_choice(query, "sort", SESSION_ORDERS, "startedAt")


def parse_compare(query: Mapping[str, str], current: Period, max_range_days: int) -> Period | None:
    """The period to compare with: `compareFrom`..`compareTo`, or `compare=previous_period`."""
    mode = query.get("compare")
    explicit = "compareFrom" in query or "compareTo" in query
    if mode is not None and mode != "previous_period":
        raise InvalidArgument(f"compare: {mode!r} is not previous_period")
    if explicit:
        if mode is not None:
            raise InvalidArgument("compare: give compare=previous_period or compareFrom and "
                                  "compareTo, not both")
        if "compareFrom" not in query or "compareTo" not in query:
            raise InvalidArgument("compareFrom and compareTo go together")
        return parse_period(query, max_range_days, from_name="compareFrom",
                            to_name="compareTo")
    return current.previous() if mode == "previous_period" else None


def parse_explain(query: Mapping[str, str], fmt: str = "json") -> Explain | None:
    """`explain=true`: the answer also says how it was found (JSON only); what to record it
    in, else None."""
    explain = parse_choice(query, "explain", ("true", "false"), "false") == "true"
    if explain and fmt != "json":
        raise InvalidArgument(f"explain: the plan is shown in JSON answers only, not {fmt}")
    return Explain() if explain else None


def check_raw_span(plan: Plan, max_raw_days: float, what: str) -> None:
    """Refuse a plan that would read more raw calls than allowed, with what to do instead."""
    question = plan.question
    if question.filters.indexed:
        return
    span = plan.raw_span
    if span <= timedelta(days=max_raw_days):
        return
    raise InvalidArgument(
        f"from..to: {what} reads raw calls for {span / timedelta(days=1):.1f} days, more than "
        f"the {max_raw_days:g} days allowed; narrow the range, filter on one userId or "
        "sessionId, or raise --max-raw-range-days (SPANTALLY_MAX_RAW_RANGE_DAYS)"
        + (" (in this time zone, hour buckets do not line up with the hourly aggregates: "
           "use tz=UTC or a coarser granularity)"
           if question.granularity is Granularity.HOUR else ""))
