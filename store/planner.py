"""The plan of a question: which relation answers which part of its range. A pure function,
tested without a database (tests/test_planner.py).

The range is cut into the question's calendar buckets (in its time zone). Within each, whole
UTC buckets of the coarsest grain come from the aggregate of the question's fact and of that
grain that carries every column the question filters or groups by (and histograms, if wanted)
with the fewest keys; what is left at the edges from finer aggregates in the same way, and the
rest from the fact's raw relation (llm_calls, agent_runs). So every instant of the range is
read exactly once.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import datetime, timedelta

from .buckets import Segment, segments
from .catalog import AGGREGATES, Aggregate, Grain
from .question import Question

__all__ = ["Piece", "Plan", "Read", "plan", "relation_for"]

_GRAINS = sorted(Grain, key=lambda g: g.width, reverse=True)  # coarsest first


@dataclass(frozen=True, slots=True)
class Piece:
    """[start, end) of the range, read from `relation`, counted in bucket `bucket`."""

    start: datetime
    end: datetime
    relation: str
    bucket: datetime | None


@dataclass(frozen=True, slots=True)
class Read:
    """One query: `relation` over `ranges` (sorted, disjoint, adjacent ones merged)."""

    relation: str
    ranges: tuple[tuple[datetime, datetime], ...]


@dataclass(frozen=True, slots=True)
class Plan:
    question: Question
    parts: tuple[Segment, ...]
    """The question's calendar buckets (one part without a granularity)."""
    pieces: tuple[Piece, ...]
    """In time order; together exactly [start, end)."""
    starts: tuple[datetime, ...]
    """Each part's start, to find the part of a moment."""
    raw_buckets: tuple[datetime | None, ...]
    """The bucket of each piece read from raw rows, in order (numbered from 1)."""

    @property
    def raw(self) -> str:
        """The relation of raw rows: the question's fact's."""
        return self.question.fact.raw

    @property
    def reads(self) -> tuple[Read, ...]:
        """The aggregate reads, coarsest first, then raw rows (ranges merged)."""
        by_relation: dict[str, list[tuple[datetime, datetime]]] = {}
        for p in self.pieces:
            ranges = by_relation.setdefault(p.relation, [])
            if ranges and ranges[-1][1] == p.start:  # adjacent: one range, fewer index scans
                ranges[-1] = (ranges[-1][0], p.end)
            else:
                ranges.append((p.start, p.end))
        order = [a.name for a in AGGREGATES] + [self.raw]
        return tuple(Read(name, tuple(by_relation[name])) for name in order
                     if name in by_relation)

    @property
    def raw_pieces(self) -> tuple[Piece, ...]:
        return tuple(p for p in self.pieces if p.relation == self.raw)

    @property
    def raw_span(self) -> timedelta:
        """How much of the range raw rows answer."""
        return sum((p.end - p.start for p in self.raw_pieces), timedelta())

    def raw_bucket(self, number: int) -> datetime | None:
        """The bucket of the `number`-th piece read from raw rows (from 1)."""
        return self.raw_buckets[number - 1]

    def bucket_at(self, moment: datetime) -> datetime | None:
        """The question's bucket holding `moment` (an aggregate row's UTC bucket start)."""
        return self.parts[bisect.bisect_right(self.starts, moment) - 1].bucket


def relation_for(question: Question, grain: Grain) -> Aggregate | None:
    """The aggregate of `grain` that answers `question` reading the fewest rows, if any."""
    columns = question.columns
    fits = [a for a in AGGREGATES if a.fact is question.fact and a.grain is grain
            and a.carries(columns, question.histograms)]
    return min(fits, key=lambda a: len(a.keys), default=None)


def _parts(question: Question) -> tuple[Segment, ...]:
    if question.start >= question.end:
        return ()
    if question.granularity is None:
        return (Segment(question.start, question.end, None),)  # type: ignore[arg-type]
    return tuple(segments(question.start, question.end, question.granularity, question.zone))


def plan(question: Question) -> Plan:
    choices = [(grain, relation_for(question, grain)) for grain in _GRAINS]
    usable = [(grain, a.name) for grain, a in choices if a is not None]
    pieces: list[Piece] = []

    def cover(start: datetime, end: datetime, level: int, bucket: datetime | None) -> None:
        if start >= end:
            return
        if level == len(usable):
            pieces.append(Piece(start, end, question.fact.raw, bucket))
            return
        grain, relation = usable[level]
        lo, hi = grain.ceil(start), grain.floor(end)
        if lo >= hi:
            cover(start, end, level + 1, bucket)
            return
        cover(start, lo, level + 1, bucket)
        pieces.append(Piece(lo, hi, relation, bucket))
        cover(hi, end, level + 1, bucket)

    parts = _parts(question)
    for part in parts:
        cover(part.start, part.end, 0, part.bucket)
    return Plan(question, parts, tuple(pieces), tuple(part.start for part in parts),
                tuple(p.bucket for p in pieces if p.relation == question.fact.raw))
