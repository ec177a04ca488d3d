"""Reading agent runs: their measures over a range (total, per calendar bucket, per value of a
dimension), the latest runs, and one run with its steps in order.

Every figure is computed from agent_runs rows in [start, end) by run start, with the roll-ups
store/runs.py keeps on each row: a run's LLM calls, tools, tokens and cost are *inclusive* (its
sub-agents' steps too), so that "what does one run of agent X cost" counts everything X set in
motion; the run list and one run also give the exclusive (`own`) figures. Durations are exact:
percentiles are PostgreSQL's `percentile_disc` over the runs' durations.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, tzinfo
from typing import Any, Final

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from .buckets import Granularity, bucket_names, segments
from .question import TAG_PREFIX, Filters
from .runs import OWN, ROLLUP_COLUMNS, RUN_SKEW, RUN_WINDOW, Rollup

__all__ = [
    "RUN_DIMENSIONS",
    "RUN_SORTS",
    "RunDetail",
    "RunDimension",
    "RunMeasures",
    "RunRecord",
    "RunStep",
    "find_run",
    "list_runs",
    "run_dimension_of",
    "run_measures",
    "run_measures_by",
    "run_timeseries",
]


@dataclass(slots=True)
class RunMeasures:
    """The measures of a set of runs: sums (which add up) and two exact percentiles."""

    runs: int = 0
    failed_runs: int = 0
    duration_us_sum: int = 0
    llm_calls: int = 0
    llm_errors: int = 0
    tool_calls: int = 0
    tool_errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost_nano_usd: int = 0
    unpriced_calls: int = 0
    p50_duration_us: int | None = None
    p95_duration_us: int | None = None

    @property
    def completed_runs(self) -> int:
        return self.runs - self.failed_runs

    @property
    def steps(self) -> int:
        return self.llm_calls + self.tool_calls

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


# Each measure's SQL aggregate over agent_runs rows, in RunMeasures' field order.
_SUMS: Final[tuple[tuple[str, str], ...]] = (
    ("runs", "count(*)"),
    ("failed_runs", "count(*) FILTER (WHERE status = 'error')"),
    ("duration_us_sum", "sum(duration_us)"),
    *((c, f"sum({c})") for c in ROLLUP_COLUMNS),
)
_PERCENTILES: Final = (("p50_duration_us", 0.5), ("p95_duration_us", 0.95))
assert tuple(f.name for f in fields(RunMeasures)) == (*(n for n, _ in _SUMS),
                                                     *(n for n, _ in _PERCENTILES))
assert set(ROLLUP_COLUMNS) <= {f.name for f in fields(RunMeasures)}


def _measures_sql() -> sql.Composed:
    parts = [sql.SQL("coalesce({}, 0)::bigint AS {}").format(sql.SQL(expression),
                                                             sql.Identifier(name))
             for name, expression in _SUMS]
    parts += [sql.SQL("(percentile_disc({}) WITHIN GROUP (ORDER BY duration_us))::bigint AS {}")
              .format(sql.Literal(fraction), sql.Identifier(name))
              for name, fraction in _PERCENTILES]
    return sql.SQL(", ").join(parts)


_MEASURES = _measures_sql()


def _measures(row: dict[str, Any]) -> RunMeasures:
    return RunMeasures(**{f.name: row[f.name] for f in fields(RunMeasures)})


# -- dimensions and filters --------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RunDimension:
    name: str
    """Its API name."""
    expression: sql.Composable
    """Its value per row of `r` (agent_runs, or one of a run's models)."""
    per_model: bool = False
    """A run counts once per model it used."""


RUN_DIMENSIONS: Final[dict[str, RunDimension]] = {d.name: d for d in (
    RunDimension("agent", sql.SQL("r.agent_id")),
    RunDimension("service", sql.SQL("r.service_name")),
    RunDimension("user", sql.SQL("r.user_id")),
    RunDimension("session", sql.SQL("r.session_id")),
    RunDimension("environment", sql.SQL("r.environment")),
    RunDimension("status", sql.SQL("r.status")),
    RunDimension("error_type", sql.SQL("r.error_type")),
    RunDimension("kind", sql.SQL("r.kind")),
    RunDimension("model", sql.SQL("m.model"), per_model=True),
)}


def run_dimension_of(name: str) -> RunDimension | None:
    """A run dimension by its API name: one of RUN_DIMENSIONS, or `tags.<key>`."""
    if name.startswith(TAG_PREFIX) and len(name) > len(TAG_PREFIX):
        return RunDimension(name, sql.SQL("r.tags ->> {}").format(
            sql.Literal(name[len(TAG_PREFIX):])))
    return RUN_DIMENSIONS.get(name)


_NO_FILTERS: Final = Filters()

# Filters on what a run used: any of its calls' models or providers.
_USED = {"model": "models", "provider": "providers"}


def _filters_sql(filters: Filters) -> tuple[sql.Composed, dict[str, Any]]:
    """The analytics filters on agent_runs: the same columns as on llm_calls, except that
    `model` and `provider` match a run that used them."""
    conditions, params = replace(filters, model=None, provider=None).sql()
    parts: list[sql.Composable] = [conditions]
    for name, column in _USED.items():
        value = getattr(filters, name)
        if value is not None:
            parts.append(sql.SQL(" AND {} = ANY(r.{})").format(sql.Placeholder(f"f_{name}"),
                                                               sql.Identifier(column)))
            params[f"f_{name}"] = value
    return sql.Composed(parts), params


_WHERE = sql.SQL("WHERE r.project_id = %(project_id)s AND r.time >= %(start)s "
                 "AND r.time < %(end)s")
_PER_MODEL = sql.SQL(" CROSS JOIN LATERAL unnest(CASE WHEN r.models = '{}' THEN "
                     "ARRAY[NULL::text] ELSE r.models END) AS m (model)")


def _params(project_id: int, start: datetime, end: datetime,
            filters: Filters) -> tuple[sql.Composed, dict[str, Any]]:
    conditions, params = _filters_sql(filters)
    return conditions, {**params, "project_id": project_id, "start": start, "end": end}


# -- measures ----------------------------------------------------------------------------------

async def run_measures(conn: psycopg.AsyncConnection[Any], project_id: int, start: datetime,
                       end: datetime, filters: Filters = _NO_FILTERS) -> RunMeasures:
    """The measures of the runs that started in [start, end)."""
    conditions, params = _params(project_id, start, end, filters)
    query = sql.SQL("SELECT {measures} FROM agent_runs r {where}{conditions}").format(
        measures=_MEASURES, where=_WHERE, conditions=conditions)
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(query, params)
    row = await cur.fetchone()
    assert row is not None
    return _measures(row)


async def run_timeseries(conn: psycopg.AsyncConnection[Any], project_id: int, start: datetime,
                         end: datetime, granularity: Granularity, zone: tzinfo,
                         filters: Filters = _NO_FILTERS) -> dict[datetime, RunMeasures]:
    """The measures per calendar bucket of `granularity` in `zone` (store.buckets), by the
    bucket's name; buckets without runs are left out."""
    parts = list(segments(start, end, granularity, zone))
    if not parts:
        return {}
    buckets = bucket_names(start, end, granularity, zone)
    conditions, params = _params(project_id, start, end, filters)
    # Each part's bucket, numbered from 1: a row is grouped by its part's bucket, so that a
    # bucket's percentiles come from all of its runs.
    params["starts"] = [p.start for p in parts]
    params["buckets"] = [buckets.index(p.bucket) + 1 for p in parts]
    query = sql.SQL("SELECT (%(buckets)s::int[])[width_bucket(r.time, %(starts)s::timestamptz[])]"
                    " AS bucket, {measures} FROM agent_runs r {where}{conditions} GROUP BY 1"
                    ).format(measures=_MEASURES, where=_WHERE, conditions=conditions)
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(query, params)
    return {buckets[row["bucket"] - 1]: _measures(row) for row in await cur.fetchall()}


async def run_measures_by(conn: psycopg.AsyncConnection[Any], project_id: int, start: datetime,
                          end: datetime, dimension: RunDimension,
                          filters: Filters = _NO_FILTERS) -> dict[str | None, RunMeasures]:
    """The measures per value of `dimension` (None: runs without one)."""
    conditions, params = _params(project_id, start, end, filters)
    query = sql.SQL("SELECT {key} AS key, {measures} FROM agent_runs r{per_model} "
                    "{where}{conditions} GROUP BY 1").format(
        key=dimension.expression, measures=_MEASURES,
        per_model=_PER_MODEL if dimension.per_model else sql.SQL(""), where=_WHERE,
        conditions=conditions)
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(query, params)
    return {row["key"]: _measures(row) for row in await cur.fetchall()}


RUN_SORTS: Final = {"runs": "runs", "failed": "failed_runs", "cost": "cost_nano_usd",
                    "tokens": "total_tokens", "duration": "duration_us_sum"}
"""Orders of a breakdown (API name -> RunMeasures attribute), largest first."""


# -- the runs themselves -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RunRecord:
    """One row of agent_runs."""

    time: datetime
    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes | None
    parent_run_span_id: bytes | None
    kind: str
    agent_id: str | None
    agent_name: str | None
    service_name: str | None
    environment: str | None
    session_id: str | None
    user_id: str | None
    duration_us: int
    status: str
    error_type: str | None
    tags: dict[str, Any] | None
    inclusive: Rollup
    own: Rollup
    models: tuple[str, ...]
    providers: tuple[str, ...]


_RUN_COLUMNS = ("time", "trace_id", "span_id", "parent_span_id", "parent_run_span_id", "kind",
                "agent_id", "agent_name", "service_name", "environment", "session_id",
                "user_id", "duration_us", "status", "error_type", "tags", *ROLLUP_COLUMNS,
                *(OWN + c for c in ROLLUP_COLUMNS), "models", "providers")
_SELECT_RUNS = sql.SQL("SELECT {} FROM agent_runs r").format(
    sql.SQL(", ").join(sql.SQL("r.{}").format(sql.Identifier(c)) for c in _RUN_COLUMNS))


def _record(row: dict[str, Any]) -> RunRecord:
    plain = {name: row[name] for name in _RUN_COLUMNS[:16]}
    return RunRecord(**plain,
                     inclusive=Rollup(**{c: row[c] for c in ROLLUP_COLUMNS}),
                     own=Rollup(**{c: row[OWN + c] for c in ROLLUP_COLUMNS}),
                     models=tuple(row["models"]), providers=tuple(row["providers"]))


async def list_runs(conn: psycopg.AsyncConnection[Any], project_id: int, start: datetime,
                    end: datetime, filters: Filters = _NO_FILTERS, limit: int = 50,
                    offset: int = 0) -> list[RunRecord]:
    """The runs that started in [start, end), newest first."""
    conditions, params = _params(project_id, start, end, filters)
    query = sql.SQL("{select} {where}{conditions} ORDER BY r.time DESC, r.trace_id, r.span_id "
                    "LIMIT %(limit)s OFFSET %(offset)s").format(
        select=_SELECT_RUNS, where=_WHERE, conditions=conditions)
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(query, {**params, "limit": limit, "offset": offset})
    return [_record(row) for row in await cur.fetchall()]


@dataclass(frozen=True, slots=True)
class RunStep:
    """A span below a run: an LLM call, a tool, or a sub-agent's run."""

    kind: str
    """`call`, `tool` or `run`."""
    time: datetime
    span_id: bytes
    parent_span_id: bytes | None
    run_span_id: bytes
    """The nearest run above it (the run itself, or one of its sub-agents)."""
    depth: int
    """Runs between it and the run asked for (0: the run's own step)."""
    name: str | None
    """The model of a call, the tool's name, the sub-agent's name."""
    duration_us: int
    status: str
    error_type: str | None
    details: dict[str, Any] = field(default_factory=dict)
    """A call's provider, operation, tokens, cost (None: unpriced) and time to first token."""


@dataclass(frozen=True, slots=True)
class RunDetail:
    run: RunRecord
    steps: list[RunStep]
    """In start order (then span id)."""


_DETAIL_CALL_COLUMNS = ("provider", "operation", "input_tokens", "output_tokens",
                        "cache_read_tokens", "cache_write_tokens", "reasoning_tokens",
                        "cost_nano_usd", "ttft_us")
_TRACE_WHERE = sql.SQL("WHERE project_id = %(project_id)s AND trace_id = %(trace_id)s "
                       "AND time >= %(start)s AND time <= %(end)s")
_DETAIL_QUERIES = (
    ("call", sql.SQL("SELECT time, span_id, parent_span_id, model AS name, latency_us AS "
                     "duration_us, status, error_type, {} FROM llm_calls {}").format(
        sql.SQL(", ").join(map(sql.Identifier, _DETAIL_CALL_COLUMNS)), _TRACE_WHERE)),
    ("tool", sql.SQL("SELECT time, span_id, parent_span_id, tool_name AS name, duration_us, "
                     "status, error_type FROM tool_calls {}").format(_TRACE_WHERE)),
    ("run", sql.SQL("SELECT time, span_id, parent_span_id, agent_name AS name, duration_us, "
                    "status, error_type FROM agent_runs {}").format(_TRACE_WHERE)),
    ("link", sql.SQL("SELECT time, span_id, parent_span_id, NULL AS name, 0 AS duration_us, "
                     "NULL AS status, NULL AS error_type FROM span_links {}").format(_TRACE_WHERE)),
)


async def find_run(conn: psycopg.AsyncConnection[Any], project_id: int, trace_id: bytes,
                   span_id: bytes) -> RunDetail | None:
    """One run with every step below it, or None when the project has no such run."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(sql.SQL("{} WHERE r.project_id = %(project_id)s AND r.trace_id = "
                              "%(trace_id)s AND r.span_id = %(span_id)s ORDER BY r.time "
                              "LIMIT 1").format(_SELECT_RUNS),
                      {"project_id": project_id, "trace_id": trace_id, "span_id": span_id})
    row = await cur.fetchone()
    if row is None:
        return None
    run = _record(row)
    params = {"project_id": project_id, "trace_id": trace_id, "start": run.time - RUN_SKEW,
              "end": run.time + RUN_WINDOW}
    nodes: dict[bytes, tuple[str, dict[str, Any]]] = {}
    for kind, query in _DETAIL_QUERIES:
        await cur.execute(query, params)
        for node in await cur.fetchall():
            nodes.setdefault(node["span_id"], (kind, node))
    return RunDetail(run, sorted(_steps_below(nodes, span_id),
                                 key=lambda s: (s.time, s.span_id)))


def _steps_below(nodes: dict[bytes, tuple[str, dict[str, Any]]],
                 root: bytes) -> Iterator[RunStep]:
    children: dict[bytes, list[bytes]] = {}
    for span_id, (_, node) in nodes.items():
        if node["parent_span_id"] is not None:
            children.setdefault(node["parent_span_id"], []).append(span_id)
    # Depth-first from the run, carrying the nearest run and how many runs deep it is.
    stack: list[tuple[bytes, bytes, int]] = [(c, root, 0) for c in children.get(root, ())]
    seen = {root}
    while stack:
        span_id, run, depth = stack.pop()
        if span_id in seen:
            continue
        seen.add(span_id)
        kind, node = nodes[span_id]
        if kind != "link":
            yield _step(kind, node, run, depth)
        below_run, below_depth = (span_id, depth + 1) if kind == "run" else (run, depth)
        stack.extend((c, below_run, below_depth) for c in children.get(span_id, ()))


def _step(kind: str, node: dict[str, Any], run: bytes, depth: int) -> RunStep:
    details = {c: node[c] for c in _DETAIL_CALL_COLUMNS} if kind == "call" else {}
    return RunStep(kind, node["time"], node["span_id"], node["parent_span_id"], run, depth,
                   node["name"], node["duration_us"], node["status"], node["error_type"],
                   details)
