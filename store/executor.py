"""Runs any plan: one query per relation it reads, each grouped by bucket and key in SQL, the
rows then summed per (question bucket, key) in Python. With an `Explain`, it records each
query, its ranges, the filter and grouping it pushed to SQL, and the rows it read."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from . import queries
from .catalog import CALLS, aggregate
from .measures import Summed, measures_of
from .planner import Plan, plan
from .question import Question

__all__ = ["Explain", "Grouped", "ReadReport", "answer", "execute"]

Key = tuple[str | None, ...]


@dataclass(slots=True)
class Grouped:
    """Measures (of the question's fact: `Measures` of calls, `RunMeasures` of runs) per
    (bucket, key). The bucket is a calendar bucket's name (see buckets.bucket_label), or None
    without a granularity; the key holds the value of each group-by dimension (None: rows
    without one)."""

    cells: dict[tuple[datetime | None, Key], Any]
    kind: type[Summed] = field(default_factory=lambda: measures_of(CALLS))

    def by_key(self) -> dict[Key, Any]:
        return _merged(self.kind, ((key, m) for (_, key), m in self.cells.items()))

    def by_bucket(self) -> dict[datetime | None, Any]:
        return _merged(self.kind, ((bucket, m) for (bucket, _), m in self.cells.items()))

    def total(self) -> Any:
        total = self.kind()
        for measures in self.cells.values():
            total.add(measures)
        return total


K = TypeVar("K")


def _merged(kind: type[Summed], items: Iterable[tuple[K, Summed]]) -> dict[K, Any]:
    """Measures summed per key. A key seen once keeps its cell's object (a ranking over 10,000
    users would otherwise spend most of its time copying histograms); a new object is made
    only for a key seen twice, so the cells themselves never change."""
    out: dict[K, Summed] = {}
    owned: set[K] = set()
    for key, measures in items:
        seen = out.get(key)
        if seen is None:
            out[key] = measures
        elif key in owned:
            seen.add(measures)
        else:
            merged = kind()
            merged.add(seen)
            merged.add(measures)
            out[key] = merged
            owned.add(key)
    return out


@dataclass(frozen=True, slots=True)
class ReadReport:
    relation: str
    ranges: tuple[tuple[datetime, datetime], ...]
    statement: str
    """The SQL sent, filters and grouping included (filter values as parameters)."""
    parameters: dict[str, Any]
    rows_read: int
    """Rows of `relation` that matched (aggregate rows, or calls)."""
    rows_returned: int
    elapsed_ms: float


@dataclass(slots=True)
class Explain:
    """What answering took: every question's plan and every query run for it."""

    plans: list[Plan] = field(default_factory=list)
    reads: list[ReadReport] = field(default_factory=list)


async def answer(conn: psycopg.AsyncConnection, project_id: int, question: Question,
                 explain: Explain | None = None) -> Grouped:
    """Plan `question` and run the plan."""
    return await execute(conn, project_id, plan(question), explain)


def _key_expressions(question: Question) -> list[sql.Composable]:
    return [d.expression() for d in question.group_by] or [sql.SQL("NULL::text")]


async def execute(conn: psycopg.AsyncConnection, project_id: int, planned: Plan,
                  explain: Explain | None = None) -> Grouped:
    question = planned.question
    kind = measures_of(question.fact)
    # On raw rows a filter on what a row used (a run's models) reads its array, unless the
    # query joins each element to group by it; on an aggregate it is a key like any other.
    joined = frozenset(d.column for d in question.group_by if d.each_of is not None)
    conditions, params = question.filters.sql()
    raw_conditions, raw_params = question.filters.sql(question.fact, joined)
    params["project_id"] = raw_params["project_id"] = project_id
    keys = _key_expressions(question)
    if question.only is not None:
        conditions, params = _only(conditions, params, keys[0], question.only)
        raw_conditions, raw_params = _only(raw_conditions, raw_params, keys[0], question.only)
    joins = sql.Composed([d.join() for d in question.group_by])
    width = len(keys)
    cells: dict[tuple[datetime | None, Key], Summed] = {}

    def add(bucket: datetime | None, key: Key, values: list[Any]) -> None:
        measures = kind.from_row(values)
        cell = cells.get((bucket, key))
        if cell is None:
            cells[(bucket, key)] = measures
        else:
            cell.add(measures)

    if explain is not None:
        explain.plans.append(planned)
    many_buckets = len(planned.parts) > 1
    for read in planned.reads:
        raw = read.relation == planned.raw
        if raw:
            # In one part, every range belongs to its one bucket: grouping by key is enough.
            starts = [p.start for p in planned.raw_pieces][:None if many_buckets else 1]
            statement = queries.grouped_raw(question.fact, keys, raw_conditions,
                                            list(read.ranges), starts, question.histograms, joins)
            read_params = {**raw_params, "starts": starts}
        else:
            statement = queries.grouped_aggregate(
                aggregate(read.relation), keys, conditions, list(read.ranges),
                question.histograms, by_bucket=many_buckets)
            read_params = params
        began = time.perf_counter()
        rows = await (await conn.execute(statement, read_params)).fetchall()
        rows_read = 0
        grouped = bool(question.group_by)
        bucket_of = planned.raw_bucket if raw else planned.bucket_at
        for row in rows:
            # (bucket or range number, key..., rows read, measures...)
            rows_read += row[1 + width]
            add(bucket_of(row[0]), row[1:1 + width] if grouped else (), row[2 + width:])
        if explain is not None:
            explain.reads.append(ReadReport(
                read.relation, read.ranges, statement.as_string(conn),
                {k: v for k, v in read_params.items() if k != "starts"}, rows_read, len(rows),
                round((time.perf_counter() - began) * 1000, 3)))
    return Grouped(cells, kind)


def _only(conditions: sql.Composed, params: dict[str, Any], key: sql.Composable,
          values: tuple[str | None, ...]) -> tuple[sql.Composed, dict[str, Any]]:
    named = [v for v in values if v is not None]
    wanted = sql.SQL("{} = ANY(%(only_keys)s)").format(key)
    if None in values:
        wanted = sql.SQL("({} OR {} IS NULL)").format(wanted, key)
    return (sql.Composed([conditions, sql.SQL(" AND "), wanted]),
            {**params, "only_keys": named})
