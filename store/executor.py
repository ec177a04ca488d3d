"""Runs any plan: one query per relation it reads, each grouped by bucket and key in SQL, all of
them sent in one pipeline (one round trip), the rows then summed per (question bucket, key) in
Python. With an `Explain`, it records each query, its ranges, the filter and grouping it pushed
to SQL, and the rows it read."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
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


Row = Sequence[int | None]
"""A cell's measure columns summed, in the catalog's order (what `Summed.from_row` reads); a
column is NULL (None) where a query summed no value."""


def _plus(a: Row, b: Row) -> Row:
    return [(x or 0) + (y or 0) for x, y in zip(a, b, strict=True)]


@dataclass(slots=True)
class Grouped:
    """Measures (of the question's fact: `Measures` of calls, `RunMeasures` of runs) per
    (bucket, key). The bucket is a calendar bucket's name (see buckets.bucket_label), or None
    without a granularity; the key holds the value of each group-by dimension (None: rows
    without one).

    Held as summed rows of measure columns: adding two cells is then one list addition, and
    measures objects are made only for the cells, keys or buckets asked for."""

    rows: dict[tuple[datetime | None, Key], Row]
    kind: type[Summed] = field(default_factory=lambda: measures_of(CALLS))

    @property
    def cells(self) -> dict[tuple[datetime | None, Key], Any]:
        return {cell: self.kind.from_row(row) for cell, row in self.rows.items()}

    def by_key(self) -> dict[Key, Any]:
        return self._measures(_summed((key, row) for (_, key), row in self.rows.items()))

    def by_bucket(self) -> dict[datetime | None, Any]:
        return self._measures(_summed((bucket, row) for (bucket, _), row in self.rows.items()))

    def total(self) -> Any:
        summed = _summed((None, row) for row in self.rows.values())
        return self.kind.from_row(summed[None]) if summed else self.kind()

    def _measures(self, rows: dict[K, Row]) -> dict[K, Any]:
        return {key: self.kind.from_row(row) for key, row in rows.items()}


K = TypeVar("K")


def _summed(items: Iterable[tuple[K, Row]]) -> dict[K, Row]:
    """Rows summed per key. A key seen once keeps its row; a sum is always a new list, so no
    row is ever changed in place (one may be shared by several answers)."""
    out: dict[K, Row] = {}
    for key, row in items:
        seen = out.get(key)
        out[key] = row if seen is None else _plus(seen, row)
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


def _key_expressions(question: Question, per_tag: bool = False) -> list[sql.Composable]:
    return [d.expression(per_tag) for d in question.group_by] or [sql.SQL("NULL::text")]


@dataclass(frozen=True, slots=True)
class _Shape:
    """What a query of a plan filters on and groups by, on one kind of relation."""

    conditions: sql.Composed
    params: dict[str, Any]
    keys: list[sql.Composable]


def _shape(question: Question, project_id: int, on_raw: bool, per_tag: bool) -> _Shape:
    """The filters and keys of `question` over its raw rows, an aggregate, or a tag aggregate.
    On raw rows a filter on what a row used (a run's models) reads its array, unless the query
    joins each element to group by it; on an aggregate it is a key like any other."""
    if on_raw:
        joined = frozenset(d.column for d in question.group_by if d.each_of is not None)
        conditions, params = question.filters.sql(question.fact, joined)
    else:
        conditions, params = question.filters.sql(
            tag_key=question.aggregated_tag if per_tag else None)
    params["project_id"] = project_id
    keys = _key_expressions(question, per_tag)
    if question.only is not None:
        conditions, params = _only(conditions, params, keys[0], question.only)
    return _Shape(conditions, params, keys)


async def execute(conn: psycopg.AsyncConnection, project_id: int, planned: Plan,
                  explain: Explain | None = None) -> Grouped:
    question = planned.question
    kind = measures_of(question.fact)
    joins = sql.Composed([d.join() for d in question.group_by])
    width = max(len(question.group_by), 1)
    cells: dict[tuple[datetime | None, Key], Row] = {}

    if explain is not None:
        explain.plans.append(planned)
    many_buckets = len(planned.parts) > 1
    statements: list[tuple[sql.Composed, dict[str, Any]]] = []
    shapes: dict[tuple[bool, bool], _Shape] = {}

    def shaped(on_raw: bool, per_tag: bool) -> _Shape:
        found = shapes.get((on_raw, per_tag))
        if found is None:
            found = shapes[on_raw, per_tag] = _shape(question, project_id, on_raw, per_tag)
        return found

    for read in planned.reads:
        if read.relation == planned.raw:
            raw = shaped(on_raw=True, per_tag=False)
            # In one part, every range belongs to its one bucket: grouping by key is enough.
            starts = [p.start for p in planned.raw_pieces][:None if many_buckets else 1]
            statements.append((queries.grouped_raw(question.fact, raw.keys, raw.conditions,
                                                   list(read.ranges), starts,
                                                   question.histograms, joins),
                               {**raw.params, "starts": starts}))
        else:
            relation = aggregate(read.relation)
            shape = shaped(on_raw=False, per_tag=relation.per_tag)
            statements.append((queries.grouped_aggregate(
                relation, shape.keys, shape.conditions, list(read.ranges),
                question.histograms, by_bucket=many_buckets), shape.params))
    began = time.perf_counter()
    results = await _fetched(conn, statements)
    elapsed_ms = round((time.perf_counter() - began) * 1000, 3)
    grouped = bool(question.group_by)
    for read, (statement, read_params), rows in zip(planned.reads, statements, results,
                                                     strict=True):
        bucket_of = planned.raw_bucket if read.relation == planned.raw else planned.bucket_at
        rows_read = 0
        for row in rows:
            # (bucket or range number, key..., rows read, measures...)
            rows_read += row[1 + width]
            cell = (bucket_of(row[0]), row[1:1 + width] if grouped else ())
            values = row[2 + width:]
            seen = cells.get(cell)
            # Most cells have one row: it is kept as it came (no copy), a sum only made for more.
            cells[cell] = values if seen is None else _plus(seen, values)
        if explain is not None:
            explain.reads.append(ReadReport(
                read.relation, read.ranges, statement.as_string(conn),
                {k: v for k, v in read_params.items() if k != "starts"}, rows_read, len(rows),
                elapsed_ms))
    return Grouped(cells, kind)


async def _fetched(conn: psycopg.AsyncConnection,
                   statements: list[tuple[sql.Composed, dict[str, Any]]]) -> list[list[Any]]:
    """The rows of each statement. Several are sent in one pipeline: one round trip to the
    server instead of one per relation read."""
    if len(statements) == 1:
        ((statement, params),) = statements
        return [await (await conn.execute(statement, params)).fetchall()]
    async with conn.pipeline():
        cursors = [await conn.execute(statement, params) for statement, params in statements]
    return [await cursor.fetchall() for cursor in cursors]


def _only(conditions: sql.Composed, params: dict[str, Any], key: sql.Composable,
          values: tuple[str | None, ...]) -> tuple[sql.Composed, dict[str, Any]]:
    named = [v for v in values if v is not None]
    wanted = sql.SQL("{} = ANY(%(only_keys)s)").format(key)
    if None in values:
        wanted = sql.SQL("({} OR {} IS NULL)").format(wanted, key)
    return (sql.Composed([conditions, sql.SQL(" AND "), wanted]),
            {**params, "only_keys": named})
