"""Agent runs: storing them with the other spans of their traces, and keeping each run's
roll-ups exact whatever order the spans arrive in.

A run's steps are the LLM calls and tool spans below it in its trace. Which run a step belongs
to is a walk up the tree (through tools, links and calls) to the nearest run; the spans on the
way may arrive in other requests, through other collectors, before or after the run. So the
roll-ups are not added up as spans arrive: every write *recomputes* the roll-ups of every run
in the traces it touched, from all that is stored of those traces, in its own transaction.

Two writers of one trace must not both recompute from a view that lacks the other's rows. The
protocol (all locks held until commit; `tests/test_runs.py` shuffles a trace's spans across
requests and collectors):
- A write that adds spans which can change the tree (runs, tools, links) takes its traces'
  stripe locks exclusively; a write of LLM calls only takes them shared. Either takes them
  after inserting, then reads. Of two writes touching one trace, one locks second and reads
  after the other committed; a calls-only write that sees no run there has nothing to do,
  because a run written after it recomputes with its calls.
- Writes of calls only, which may run side by side, lock the trace's run rows (`FOR UPDATE`)
  before reading, so their recomputations of one run take turns.

The spans of a trace read for a run are those starting from a minute before its first run
(clock skew between services) to `RUN_WINDOW` after its last: a step that starts later is not
counted in a run.

The run aggregates (store.catalog: agent_runs_1h, _1d, agent_runs_model_1h, _1d) add up the
runs' rows. Those the writers keep (all in the rollup modes; in `timescale` mode the per-model
ones, the others being continuous aggregates over agent_runs, which see the updates) get, in the
same transaction, every run it inserted, and every run whose roll-ups it changed moved from its
old row to its new one (store.ddl.add_changes). The row locks above make the old row the
one the aggregates hold.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any, Final

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from . import ddl
from .catalog import RUN_ROLLUPS, RUNS, Aggregate
from .records import AgentRun, LlmCall, SpanLink, SpanRecords, ToolCall

__all__ = [
    "Inserted",
    "OWN",
    "ROLLUP_COLUMNS",
    "RUN_SKEW",
    "RUN_WINDOW",
    "Rollup",
    "RunChanges",
    "RunRollups",
    "compute_rollups",
    "keep_rollups",
    "recompute_runs",
    "write_run_spans",
]

RUN_WINDOW: Final = timedelta(days=1)
"""How long after a run starts its steps may start."""
RUN_SKEW: Final = timedelta(minutes=1)
"""How much earlier than its run a step may start (clocks of different services)."""
OWN: Final = "own_"
"""The prefix of the exclusive roll-ups (the run's own steps, not its sub-agents')."""
_STRIPES: Final = 64
"""Traces are locked by stripe (a hash of the trace id), so a batch of 512 traces takes at most
this many advisory locks."""
_LOCK_CLASS: Final = 734216501
_MAX_DEPTH: Final = 64


@dataclass(slots=True)
class Rollup:
    """What the steps below a run add up to."""

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

    def add(self, other: Rollup) -> None:
        for name in ROLLUP_COLUMNS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def values(self) -> tuple[int, ...]:
        return tuple(getattr(self, name) for name in ROLLUP_COLUMNS)

    @classmethod
    def of_call(cls, row: dict[str, Any]) -> Rollup:
        cost = row["cost_nano_usd"]
        return cls(llm_calls=1, llm_errors=int(row["status"] == "error"),
                   input_tokens=row["input_tokens"], output_tokens=row["output_tokens"],
                   cache_read_tokens=row["cache_read_tokens"],
                   cache_write_tokens=row["cache_write_tokens"],
                   reasoning_tokens=row["reasoning_tokens"], cost_nano_usd=cost or 0,
                   unpriced_calls=int(cost is None))

    @classmethod
    def of_tool(cls, row: dict[str, Any]) -> Rollup:
        return cls(tool_calls=1, tool_errors=int(row["status"] == "error"))


ROLLUP_COLUMNS: Final = tuple(f.name for f in fields(Rollup))
"""agent_runs' inclusive roll-up columns; each has an exclusive twin `own_<name>`."""
assert ROLLUP_COLUMNS == RUN_ROLLUPS, "Rollup and catalog.RUN_ROLLUPS disagree"


@dataclass(slots=True)
class RunRollups:
    """The roll-ups of one run, as agent_runs stores them."""

    parent_run_span_id: bytes | None = None
    inclusive: Rollup = field(default_factory=Rollup)
    own: Rollup = field(default_factory=Rollup)
    models: set[str] = field(default_factory=set)
    providers: set[str] = field(default_factory=set)

    def row(self) -> tuple[Any, ...]:
        return (self.parent_run_span_id, *self.inclusive.values(), *self.own.values(),
                sorted(self.models), sorted(self.providers))


def compute_rollups(nodes: Iterable[dict[str, Any]]) -> dict[bytes, RunRollups]:
    """The roll-ups of every run among `nodes`: the stored spans of one trace, each a dict with
    `kind` (run, call, tool, link), `span_id`, `parent_span_id` and, for calls, their measures
    (the rows of `_TRACE_NODES`). Keyed by the run's span id."""
    by_id: dict[bytes, dict[str, Any]] = {}
    for node in nodes:
        # A span id written twice (two start times) counts once: the first one read.
        by_id.setdefault(node["span_id"], node)
    nearest: dict[bytes, bytes | None] = {}

    def run_above(span_id: bytes) -> bytes | None:
        """The nearest run strictly above the span `span_id`."""
        path: list[bytes] = []
        at: bytes | None = by_id[span_id]["parent_span_id"]
        found: bytes | None = None
        for _ in range(_MAX_DEPTH):
            if at is None or at not in by_id:
                break
            if at in nearest:
                found = nearest[at] if by_id[at]["kind"] != "run" else at
                break
            if by_id[at]["kind"] == "run":
                found = at
                break
            path.append(at)
            at = by_id[at]["parent_span_id"]
        for passed in path:  # every non-run span on the way has the same run above it
            nearest[passed] = found
        return found

    runs = {span_id: RunRollups() for span_id, node in by_id.items() if node["kind"] == "run"}
    for span_id, rollups in runs.items():
        rollups.parent_run_span_id = run_above(span_id)
    for span_id, node in by_id.items():
        kind = node["kind"]
        if kind not in ("call", "tool"):
            continue
        owner = run_above(span_id)
        if owner is None:
            continue
        step = Rollup.of_call(node) if kind == "call" else Rollup.of_tool(node)
        runs[owner].own.add(step)
        model, provider = (node.get("model"), node.get("provider")) if kind == "call" else (
            None, None)
        seen: set[bytes] = set()
        run: bytes | None = owner
        while run is not None and run not in seen:  # the owner and every run above it
            seen.add(run)
            runs[run].inclusive.add(step)
            if model:
                runs[run].models.add(model)
            if provider:
                runs[run].providers.add(provider)
            run = runs[run].parent_run_span_id
    return runs


# -- writing -----------------------------------------------------------------------------------

_RUN_TYPES = ("timestamptz", "int8", "bytea", "bytea", "bytea", "text", "text", "text", "text",
              "text", "text", "text", "int8", "text", "text", "jsonb")
_TOOL_TYPES = ("timestamptz", "int8", "bytea", "bytea", "bytea", "text", "int8", "text", "text")
_LINK_TYPES = ("timestamptz", "int8", "bytea", "bytea", "bytea")
_TABLES: Final = (
    ("agent_runs", AgentRun._fields, _RUN_TYPES, "runs"),
    ("tool_calls", ToolCall._fields, _TOOL_TYPES, "tools"),
    ("span_links", SpanLink._fields, _LINK_TYPES, "links"),
)
assert all(len(columns) == len(types) for _, columns, types, _ in _TABLES)


def _insert(table: str, columns: Sequence[str], types: Sequence[str]) -> sql.Composed:
    """INSERT of column arrays (one parameter per column), skipping rows already stored."""
    return sql.SQL("INSERT INTO {table} ({columns}) SELECT * FROM unnest({arrays}) AS u ({columns}) "
                   "ORDER BY project_id, trace_id, span_id, time ON CONFLICT DO NOTHING").format(
        table=sql.Identifier(table), columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
        arrays=sql.SQL(", ").join(sql.SQL("{}::{}[]").format(sql.Placeholder(), sql.SQL(t))
                                  for t in types))


_IDENTITY: Final = ("project_id", "trace_id", "span_id", "time")
_INSERTS = {attribute: (_insert(table, columns, types), types)
            for table, columns, types, attribute in _TABLES}
# The runs' insert says which rows it inserted (not those stored before).
_INSERTS["runs"] = (sql.SQL("{} RETURNING {}").format(_INSERTS["runs"][0], sql.SQL(", ").join(
    map(sql.Identifier, _IDENTITY))), _RUN_TYPES)
# Cut the column arrays to this many rows per statement.
_INSERT_ROWS = 5_000

Inserted = set[tuple[int, bytes, bytes, datetime]]
"""The identities (project, trace, span, start) of the runs a transaction inserted."""


async def write_run_spans(cur: psycopg.AsyncCursor[Any], records: SpanRecords) -> Inserted:
    """Insert the batch's runs, tools and links (its calls are written by the ingest function);
    returns the runs actually inserted."""
    inserted: Inserted = set()
    for attribute, (statement, types) in _INSERTS.items():
        rows: list[tuple[Any, ...]] = getattr(records, attribute)
        for at in range(0, len(rows), _INSERT_ROWS):
            columns = [list(column) for column in zip(*rows[at:at + _INSERT_ROWS], strict=True)]
            for i, kind in enumerate(types):
                if kind == "jsonb":
                    columns[i] = [None if v is None else Jsonb(v) for v in columns[i]]
            await cur.execute(statement, columns)
            if attribute == "runs":
                inserted.update(await cur.fetchall())
    return inserted


def _stripe(trace_id: bytes) -> int:
    return int.from_bytes(trace_id[:4], "big") % _STRIPES


Touched = dict[int, dict[bytes, list[datetime]]]
"""project id -> trace id -> start times of the spans written in that trace."""


@dataclass(slots=True)
class RunChanges:
    """What a transaction did to runs: for the run aggregates (rows as they are now, `True`,
    and as they were, `False`, in ddl.change_columns(RUNS)' order) and their refreshes."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    oldest: datetime | None = None
    """The start of the oldest run inserted or changed."""

    def saw(self, moment: datetime) -> None:
        self.oldest = moment if self.oldest is None else min(self.oldest, moment)


async def keep_rollups(conn: psycopg.AsyncConnection[Any], records: SpanRecords,
                       inserted: Inserted, kept: Sequence[Aggregate],
                       changed_calls: Sequence[LlmCall] = ()) -> RunChanges:
    """After the batch's rows are inserted (`inserted`: the runs among them that were new), in
    the same transaction: recompute the roll-ups of every run in the traces it touched (and
    those of `changed_calls`, stored calls it replaced or completed: store.copies), and keep
    the run aggregates of `kept` (ddl.aggregates_kept)."""
    touched: Touched = defaultdict(lambda: defaultdict(list))
    shaping: set[int] = set()
    for rows, shapes in ((records.calls, False), (changed_calls, False), (records.runs, True),
                         (records.tools, True), (records.links, True)):
        for row in rows:
            touched[row.project_id][row.trace_id].append(row.time)
            if shapes:
                shaping.add(_stripe(row.trace_id))
    return await _recompute_touched(conn, touched, shaping, inserted, tuple(kept))


async def recompute_runs(conn: psycopg.AsyncConnection[Any], project_id: int,
                         traces: dict[bytes, list[datetime]],
                         kept: Sequence[Aggregate]) -> RunChanges:
    """After calls of `traces` changed (re-pricing), in the same transaction: recompute the
    roll-ups of their runs, as a write of those calls would."""
    return await _recompute_touched(conn, {project_id: traces}, set(), set(), tuple(kept))


async def _recompute_touched(conn: psycopg.AsyncConnection[Any], touched: Touched,
                             shaping: set[int], inserted: Inserted,
                             kept: tuple[Aggregate, ...]) -> RunChanges:
    """`shaping`: the stripes where spans that can change the tree were written."""
    changes = RunChanges()
    if not touched:
        return changes
    stripes = sorted({_stripe(t) for traces in touched.values() for t in traces})
    exclusive = [s for s in stripes if s in shaping]
    shared = [s for s in stripes if s not in shaping]
    cur = conn.cursor(row_factory=dict_row)
    # In stripe order across both kinds, so that no two writers wait for each other in a cycle.
    await cur.execute(_LOCK_TRACE_STRIPES,
                      {"class": _LOCK_CLASS, "stripes": stripes, "exclusive": exclusive,
                       "shared": shared})
    for project_id, traces in touched.items():
        # Most projects send calls only: one probe of the project's runs in the batch's window
        # spares looking up each trace (taken under the locks, so it misses no run).
        await cur.execute(_ANY_RUNS, {"project_id": project_id, **_window(traces)})
        found = await cur.fetchone()
        if not found or not found["any"]:
            continue
        for group in _by_day(traces):
            await _recompute(cur, project_id, group, inserted, changes)
    if kept and changes.rows:
        # Made here rather than with the connection: only batches that touch runs need it.
        await cur.execute(ddl.create_changes(RUNS))
        async with cur.copy(ddl.copy_changes(RUNS)) as copy:
            for row in changes.rows:
                await copy.write_row(row)
        await cur.execute(ddl.add_changes(kept))
    return changes


def _window(traces: dict[bytes, list[datetime]]) -> dict[str, datetime]:
    """Where runs that may hold the spans written in `traces` start."""
    times = [t for ts in traces.values() for t in ts]
    return {"start": min(times) - RUN_WINDOW, "end": max(times) + RUN_SKEW}


def _by_day(traces: dict[bytes, list[datetime]]) -> list[dict[bytes, list[datetime]]]:
    """The traces grouped by the UTC day of their first span written: each group is looked up
    within its own days (a few chunks), not within the whole range the batch spans (a late
    batch can hold spans of every day of a month)."""
    groups: dict[datetime, dict[bytes, list[datetime]]] = defaultdict(dict)
    for trace_id, times in traces.items():
        first = min(times)
        groups[first.replace(hour=0, minute=0, second=0, microsecond=0)][trace_id] = times
    return [groups[day] for day in sorted(groups)]


async def _recompute(cur: psycopg.AsyncCursor[dict[str, Any]], project_id: int,
                     traces: dict[bytes, list[datetime]], inserted: Inserted,
                     changes: RunChanges) -> None:
    await cur.execute(_LOCK_TRACE_RUNS, {"project_id": project_id, **_window(traces),
                                         "traces": list(traces)})
    runs = await cur.fetchall()
    if not runs:
        return
    windows: dict[bytes, tuple[datetime, datetime]] = {}
    for r in runs:
        lo, hi = windows.get(r["trace_id"], (r["time"], r["time"]))
        windows[r["trace_id"]] = (min(lo, r["time"]), max(hi, r["time"]))
    await cur.execute(_TRACE_NODES, {
        "project_id": project_id, "traces": sorted(windows),
        "start": min(lo for lo, _ in windows.values()) - RUN_SKEW,
        "end": max(hi for _, hi in windows.values()) + RUN_WINDOW})
    nodes: dict[bytes, list[dict[str, Any]]] = defaultdict(list)
    for node in await cur.fetchall():
        lo, hi = windows[node["trace_id"]]
        if lo - RUN_SKEW <= node["time"] <= hi + RUN_WINDOW:  # this trace's own window
            nodes[node["trace_id"]].append(node)
    updates: list[tuple[Any, ...]] = []
    computed: dict[tuple[bytes, bytes], RunRollups] = {}
    for trace_id in sorted(windows):
        for span_id, rollups in compute_rollups(nodes[trace_id]).items():
            computed[(trace_id, span_id)] = rollups
    for current in runs:
        rollups = computed.get((current["trace_id"], current["span_id"]))
        row = _stored_row(current) if rollups is None else rollups.row()
        new = row != _stored_row(current)
        if new:
            updates.append((*row, project_id, current["trace_id"], current["span_id"],
                            current["time"]))
        if (project_id, current["trace_id"], current["span_id"], current["time"]) in inserted:
            changes.rows.append(_change_row(current, rollups, is_now=True))
        elif new:
            changes.rows.append(_change_row(current, None, is_now=False))
            changes.rows.append(_change_row(current, rollups, is_now=True))
        else:
            continue
        changes.saw(current["time"])
    if updates:
        await cur.executemany(_UPDATE_RUN_ROLLUPS, updates)


def _change_row(run: dict[str, Any], rollups: RunRollups | None,
                is_now: bool) -> tuple[Any, ...]:
    """A row of ddl.changes_table(RUNS): `run` as stored, with `rollups` when they changed."""
    now: dict[str, Any] = {}
    if rollups is not None:
        now = dict(zip(ROLLUP_COLUMNS, rollups.inclusive.values(), strict=True))
        now["models"] = sorted(rollups.models)
    return (*(now.get(c, run[c]) for c in ddl.change_columns(RUNS)), is_now)


def _stored_row(run: dict[str, Any]) -> tuple[Any, ...]:
    return (run["parent_run_span_id"], *(run[c] for c in ROLLUP_COLUMNS),
            *(run[OWN + c] for c in ROLLUP_COLUMNS), sorted(run["models"]),
            sorted(run["providers"]))


# -- the statements ----------------------------------------------------------------------------

_ROLLUPS = (*ROLLUP_COLUMNS, *(OWN + c for c in ROLLUP_COLUMNS))
_STORED = ("parent_run_span_id", *_ROLLUPS, "models", "providers")


def _names(names: Iterable[str]) -> sql.Composed:
    return sql.SQL(", ").join(map(sql.Identifier, names))


_LOCK_TRACE_STRIPES = sql.SQL("""
SELECT count(*) FROM (
    SELECT CASE WHEN s = ANY(%(exclusive)s::int[])
                THEN pg_advisory_xact_lock(%(class)s, s)
                ELSE pg_advisory_xact_lock_shared(%(class)s, s) END
    FROM unnest(%(stripes)s::int[]) WITH ORDINALITY AS u (s, n)
    ORDER BY n
) AS locked
""")

_ANY_RUNS = sql.SQL("""
SELECT EXISTS (SELECT FROM agent_runs WHERE project_id = %(project_id)s
                                        AND time >= %(start)s AND time <= %(end)s) AS any
""")

_LOCK_TRACE_RUNS = sql.SQL("""
SELECT {read}
FROM agent_runs
WHERE project_id = %(project_id)s AND trace_id = ANY(%(traces)s::bytea[])
  AND time >= %(start)s AND time <= %(end)s
ORDER BY trace_id, span_id, time
FOR UPDATE
""").format(read=_names(dict.fromkeys(("time", "trace_id", "span_id", *_STORED,
                                        *ddl.change_columns(RUNS)))))
"""The runs that may hold a step of the batch's traces, locked in key order: what the roll-ups
and the run aggregates read of them."""

_CALL_MEASURES = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
                  "reasoning_tokens", "cost_nano_usd")
_NODE_WHERE = sql.SQL("WHERE project_id = %(project_id)s AND trace_id = ANY(%(traces)s::bytea[]) "
                      "AND time >= %(start)s AND time <= %(end)s")


def _nodes_of(kind: str, table: str, status: str, measures: bool) -> sql.Composed:
    """The rows of `table` as trace nodes; only calls (`measures`) have a model and usage."""
    columns = [sql.SQL("{} AS kind").format(sql.Literal(kind)), sql.SQL("time"),
               sql.SQL("trace_id"), sql.SQL("span_id"), sql.SQL("parent_span_id"),
               sql.SQL("model" if measures else "NULL::text AS model"),
               sql.SQL("provider" if measures else "NULL::text AS provider"),
               sql.SQL("{} AS status").format(sql.SQL(status))]
    columns += [sql.Identifier(m) if measures else
                sql.SQL("NULL::bigint AS {}").format(sql.Identifier(m)) for m in _CALL_MEASURES]
    return sql.SQL("SELECT {} FROM {} {}").format(sql.SQL(", ").join(columns),
                                                 sql.Identifier(table), _NODE_WHERE)


_TRACE_NODES = sql.SQL(" UNION ALL ").join([
    _nodes_of("run", "agent_runs", "status", measures=False),
    _nodes_of("tool", "tool_calls", "status", measures=False),
    _nodes_of("call", "llm_calls", "status", measures=True),
    _nodes_of("link", "span_links", "NULL::text", measures=False),
])
"""Every stored span of the traces %(traces)s within [%(start)s, %(end)s]."""

_UPDATE_RUN_ROLLUPS = sql.SQL("""
UPDATE agent_runs SET {assignments}
WHERE project_id = %s AND trace_id = %s AND span_id = %s AND time = %s
""").format(assignments=sql.SQL(", ").join(
    sql.SQL("{} = %s").format(sql.Identifier(c)) for c in _STORED))
