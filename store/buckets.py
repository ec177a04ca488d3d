"""Calendar buckets in any IANA time zone, as half-open UTC intervals.

A call belongs to the bucket named by its local time truncated to the unit (hour, day, ISO week
starting Monday, month), so the buckets follow daylight saving time: a local day can last 23 or
25 hours, and in a zone whose offset is not a whole hour a local hour starts at :30 or :45 UTC.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo

__all__ = ["Granularity", "Segment", "bucket_label", "bucket_names", "local_bucket", "segments"]

_UTC = timezone.utc
_PROBE = timedelta(hours=6)  # no zone changes its offset twice within 6 hours
_PRECISION = timedelta(seconds=1)


class Granularity(str, enum.Enum):
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"  # ISO weeks, starting on Monday
    MONTH = "month"


@dataclass(frozen=True, slots=True)
class Segment:
    """The part [start, end) of a range that lies in the bucket named `bucket`: the local start
    of the bucket, aware (see bucket_label)."""

    start: datetime
    end: datetime
    bucket: datetime


def local_bucket(local: datetime, granularity: Granularity) -> datetime:
    """The naive local start of the bucket holding the naive local time `local`."""
    if granularity is Granularity.HOUR:
        return local.replace(minute=0, second=0, microsecond=0)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if granularity is Granularity.DAY:
        return day
    if granularity is Granularity.WEEK:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def bucket_label(bucket: datetime, granularity: Granularity, zone: tzinfo,
                 offset: timedelta) -> datetime:
    """A bucket's name: its naive local start `bucket` made aware. An hour carries the offset in
    force (`offset`), so that the hour repeated when clocks go back is a bucket of its own; a
    longer bucket carries the zone."""
    if granularity is Granularity.HOUR:
        return bucket.replace(tzinfo=timezone(offset))
    return bucket.replace(tzinfo=zone)


def _next_bucket(bucket: datetime, granularity: Granularity) -> datetime:
    if granularity is Granularity.HOUR:
        return bucket + timedelta(hours=1)
    if granularity is Granularity.DAY:
        return bucket + timedelta(days=1)
    if granularity is Granularity.WEEK:
        return bucket + timedelta(days=7)
    return (bucket + timedelta(days=32)).replace(day=1)


def _offset_change(start: datetime, end: datetime, zone: tzinfo) -> datetime:
    """The first instant in (start, end) where the zone's UTC offset differs from its offset at
    `start`, or `end`."""
    offset = start.astimezone(zone).utcoffset()
    probe = start
    while probe < end:
        following = min(probe + _PROBE, end)
        if following.astimezone(zone).utcoffset() != offset:
            lo, hi = probe, following  # the change is in (lo, hi]
            while hi - lo > _PRECISION:
                middle = lo + (hi - lo) / 2
                if middle.astimezone(zone).utcoffset() == offset:
                    lo = middle
                else:
                    hi = middle
            return hi
        probe = following
    return end


def segments(start: datetime, end: datetime, granularity: Granularity, zone: tzinfo) -> list[Segment]:
    """[start, end) cut at every bucket boundary of `zone`, in time order. Consecutive segments
    may name the same bucket (a repeated local hour when clocks go back)."""
    out: list[Segment] = []
    cursor = start.astimezone(_UTC)
    end = end.astimezone(_UTC)
    while cursor < end:
        # Between two offset changes local time is UTC plus a constant, so boundaries are plain
        # calendar arithmetic on the naive local time.
        span_end = _offset_change(cursor, end, zone)
        offset = cursor.astimezone(zone).utcoffset()
        assert offset is not None
        while cursor < span_end:
            local = (cursor + offset).replace(tzinfo=None)
            bucket = local_bucket(local, granularity)
            boundary = (_next_bucket(bucket, granularity) - offset).replace(tzinfo=_UTC)
            segment_end = min(boundary, span_end)
            out.append(Segment(cursor, segment_end,
                               bucket_label(bucket, granularity, zone, offset)))
            cursor = segment_end
    return out


def bucket_names(start: datetime, end: datetime, granularity: Granularity,
                 zone: tzinfo) -> list[datetime]:
    """The names of the buckets [start, end) touches, in order (each once)."""
    return list(dict.fromkeys(s.bucket for s in segments(start, end, granularity, zone)))
