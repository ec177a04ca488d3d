"""Reading agent runs: their measures over a range (total, per calendar bucket, per value of a
dimension), the latest runs, and one run with its steps in order.

The measures are questions of the RUNS fact to the one engine (store.planner, store.executor):
whole hours and days from the run aggregates (agent_runs_1h, agent_runs_1d) where they carry
the question's filters and dimensions, agent_runs rows for the rest, by run start. They add up
the roll-ups store/runs.py keeps on each run: a run's LLM calls, tools, tokens and cost are
*inclusive* (its sub-agents' steps too), so that "what does one run of agent X cost" counts
everything X set in motion; the run list and one run also give the exclusive (`own`) figures.
Duration percentiles are read from the duration histogram, as call latencies are
(store.measures.percentile_ms).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, Final

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from .buckets import Granularity
from .catalog import RUNS
from .executor import Explain, answer
from .measures import RunMeasures
from .question import TAG_PREFIX, Dimension, Filters, Question
from .runs import OWN, ROLLUP_COLUMNS, RUN_SKEW, RUN_WINDOW, Rollup

__all__ = [
    "RUN_DIMENSIONS",
    "RUN_SORTS",
    "RunDetail",
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


# -- dimensions --------------------------------------------------------------------------------

RUN_DIMENSIONS: Final[dict[str, Dimension]] = {d.name: d for d in (
    Dimension("agent", "agent_id"),
    Dimension("service", "service_name"),
    Dimension("user", "user_id", many_values=True),
    Dimension("session", "session_id", many_values=True),
    Dimension("environment", "environment"),
    Dimension("status", "status"),
    Dimension("error_type", "error_type"),
    Dimension("kind", "kind"),
    Dimension("model", "model", each_of="models"),
)}
"""Each groups runs by an agent_runs column, except `model`: a run counts once per model its
calls used (a run without calls once, without a model)."""


def run_dimension_of(name: str) -> Dimension | None:
    """A run dimension by its API name: one of RUN_DIMENSIONS, or `tags.<key>`."""
    if name.startswith(TAG_PREFIX) and len(name) > len(TAG_PREFIX):
        return Dimension(name, name[len(TAG_PREFIX):], tag=True)
    return RUN_DIMENSIONS.get(name)


_NO_FILTERS: Final = Filters()


# -- measures ----------------------------------------------------------------------------------

async def run_measures(conn: psycopg.AsyncConnection[Any], project_id: int, start: datetime,
                       end: datetime, filters: Filters = _NO_FILTERS,
                       explain: Explain | None = None) -> RunMeasures:
    """The measures of the runs that started in [start, end)."""
    grouped = await answer(conn, project_id, Question(start, end, filters, fact=RUNS), explain)
    total: RunMeasures = grouped.total()
    return total


async def run_timeseries(conn: psycopg.AsyncConnection[Any], project_id: int, start: datetime,
                         end: datetime, granularity: Granularity, zone: tzinfo,
                         filters: Filters = _NO_FILTERS,
                         explain: Explain | None = None) -> dict[datetime, RunMeasures]:
    """The measures per calendar bucket of `granularity` in `zone` (store.buckets), by the
    bucket's name; buckets without runs are left out."""
    question = Question(start, end, filters, granularity=granularity, zone=zone, fact=RUNS)
    grouped = await answer(conn, project_id, question, explain)
    return {bucket: m for bucket, m in grouped.by_bucket().items()
            if bucket is not None and m.runs}


async def run_measures_by(conn: psycopg.AsyncConnection[Any], project_id: int, start: datetime,
                          end: datetime, dimension: Dimension,
                          filters: Filters = _NO_FILTERS,
                          explain: Explain | None = None) -> dict[str | None, RunMeasures]:
    """The measures per value of `dimension` (None: runs without one)."""
    question = Question(start, end, filters, group_by=(dimension,), fact=RUNS)
    grouped = await answer(conn, project_id, question, explain)
    return {key[0]: m for key, m in grouped.by_key().items() if m.runs}


RUN_SORTS: Final = {"runs": "runs", "failed": "failed_runs", "cost": "cost_nano_usd",
                    "tokens": "total_tokens", "duration": "duration_us_sum"}
"""Orders of a breakdown (API name -> RunMeasures attribute), largest first."""


_WHERE = sql.SQL("WHERE c.project_id = %(project_id)s AND c.time >= %(start)s "
                 "AND c.time < %(end)s")


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
_SELECT_RUNS = sql.SQL("SELECT {} FROM agent_runs c").format(
    sql.SQL(", ").join(sql.SQL("c.{}").format(sql.Identifier(c)) for c in _RUN_COLUMNS))


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
    conditions, params = filters.sql(RUNS)
    query = sql.SQL("{select} {where}{conditions} ORDER BY c.time DESC, c.trace_id, c.span_id "
                    "LIMIT %(limit)s OFFSET %(offset)s").format(
        select=_SELECT_RUNS, where=_WHERE, conditions=conditions)
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(query, {**params, "project_id": project_id, "start": start, "end": end,
                              "limit": limit, "offset": offset})
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
    await cur.execute(sql.SQL("{} WHERE c.project_id = %(project_id)s AND c.trace_id = "
                              "%(trace_id)s AND c.span_id = %(span_id)s ORDER BY c.time "
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
