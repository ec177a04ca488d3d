"""What the analytics endpoints build from their parsed parameters (spec.Args): the period,
the period to compare with, how a time series is cut, whether to explain. Each parameter is
parsed by the spec; what spans several of them is checked here, naming them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from spantally.common.errors import InvalidArgument
from spantally.store import Explain, Granularity, Plan, Question, bucket_names

from .shape import iso_utc
from .spec import Args

__all__ = ["Period", "Series", "check_raw_span", "compare_of", "explain_of", "period_of",
           "series_of", "span_of"]

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


def period_of(args: Args, max_range_days: int, *, from_name: str = "from",
              to_name: str = "to", now: datetime | None = None) -> Period:
    """`from`..`to` (default: the 24 hours before `to`, which defaults to now)."""
    end = args[to_name] or now or datetime.now(timezone.utc)
    start = args[from_name] or end - _DEFAULT_RANGE
    if start > end:
        raise InvalidArgument(f"{from_name}: {start.isoformat()} is after {to_name} "
                              f"({end.isoformat()})")
    if end - start > timedelta(days=max_range_days):
        raise InvalidArgument(f"{from_name}..{to_name}: the range is longer than "
                              f"{max_range_days} days")
    return Period(start, end)


def compare_of(args: Args, current: Period, max_range_days: int) -> Period | None:
    """The period to compare with: `compareFrom`..`compareTo`, or `compare=previous_period`."""
    mode = args["compare"]
    explicit = args["compareFrom"] is not None or args["compareTo"] is not None
    if explicit:
        if mode is not None:
            raise InvalidArgument("compare: give compare=previous_period or compareFrom and "
                                  "compareTo, not both")
        if args["compareFrom"] is None or args["compareTo"] is None:
            raise InvalidArgument("compareFrom and compareTo go together")
        return period_of(args, max_range_days, from_name="compareFrom", to_name="compareTo")
    return current.previous() if mode == "previous_period" else None


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


def series_of(args: Args) -> Series:
    return Series(Granularity(args["granularity"]), args["tz"], ZoneInfo(args["tz"]),
                  args["fill"] == "zero")


def explain_of(args: Args) -> Explain | None:
    """`explain=true`: the answer also says how it was found (JSON only); what to record it
    in, else None."""
    if args["explain"] != "true":
        return None
    fmt = args.get("format", "json")
    if fmt != "json":
        raise InvalidArgument(f"explain: the plan is shown in JSON answers only, not {fmt}")
    return Explain()


def _tag_hint(question: Question) -> str:
    tags = {k for k, _ in question.filters.tags} | {d.column for d in question.group_by if d.tag}
    undeclared = sorted(tags - question.tag_keys - {"*"})
    if not undeclared:
        return ""
    return (f"; or declare the tag key{'s' if len(undeclared) > 1 else ''} "
            f"{', '.join(undeclared)} (spantally projects tag-keys), which questions about "
            "one declared tag, without other filters, read from aggregates")


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
        + _tag_hint(question)
        + (" (in this time zone, hour buckets do not line up with the hourly aggregates: "
           "use tz=UTC or a coarser granularity)"
           if question.granularity is Granularity.HOUR else ""))


def span_of(args: Args) -> tuple[bytes, bytes]:
    """The trace and span ids in the path (hex, checked by the spec), as stored."""
    return bytes.fromhex(args["traceId"]), bytes.fromhex(args["spanId"])
