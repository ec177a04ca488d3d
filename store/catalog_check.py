"""Whether a database holds exactly what the aggregate catalog describes: every aggregate with
its columns, unique key or continuous-aggregate query, index, chunk interval and refresh policy,
no aggregate the catalog does not know, the sessions' columns, the ingest function, and
llm_calls' stored histogram bin.

Expressions are compared as PostgreSQL itself prints them: the catalog's are turned into a
temporary view or column first, so spelling and spacing cannot make a false difference.
"""

from __future__ import annotations

from datetime import timedelta

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from . import ddl
from .catalog import (
    AGGREGATES,
    CALLS,
    CONTINUOUS_AGGREGATES,
    HISTOGRAMS,
    RAW,
    RUNS,
    SESSION_MEASURES,
    SESSIONS,
    Aggregate,
)
from .database import StorageMode

__all__ = ["catalog_differences"]

# Every relation named like an aggregate of a fact (<raw relation>_...).
_AGGREGATE_RELATIONS = """
SELECT c.relname AS name FROM pg_class c
WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'v', 'm', 'p')
  AND c.relname LIKE ANY(%(patterns)s) AND c.relname <> 'llm_calls_staging'
"""
_AGGREGATE_PATTERNS = [fact.raw.replace("_", "\\_") + "\\_%" for fact in (CALLS, RUNS)]
_COLUMNS = """
SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null
FROM pg_attribute a
WHERE a.attrelid = to_regclass(%(relation)s) AND a.attnum > 0 AND NOT a.attisdropped
"""
_INDEXES = """
SELECT i.indisunique AS is_unique, i.indnullsnotdistinct AS nulls_not_distinct,
       array(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY AS k (attnum, n)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             ORDER BY k.n)::text[] AS columns
FROM pg_index i WHERE i.indrelid = to_regclass(%(relation)s)
"""
_GENERATED = """
SELECT pg_get_expr(d.adbin, d.adrelid) AS expression
FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
WHERE d.adrelid = to_regclass(%(relation)s) AND a.attname = %(column)s
"""
_CONTINUOUS = """
SELECT view_name AS name, materialized_only, view_definition
FROM timescaledb_information.continuous_aggregates
WHERE view_schema = current_schema()
"""
_POLICIES = """
SELECT hypertable_name AS name, schedule_interval, config
FROM timescaledb_information.jobs WHERE proc_name = 'policy_refresh_continuous_aggregate'
"""
_CHUNK_INTERVAL = """
SELECT time_interval FROM timescaledb_information.dimensions
WHERE hypertable_schema = %(schema)s AND hypertable_name = %(table)s
"""
# Continuous aggregates answer as the views TimescaleDB builds over their materialization.
_MATERIALIZATION = """
SELECT h.schema_name, h.table_name FROM _timescaledb_catalog.continuous_agg ca
JOIN _timescaledb_catalog.hypertable h ON h.id = ca.mat_hypertable_id
WHERE ca.user_view_name = %(name)s
"""


async def catalog_differences(conn: psycopg.AsyncConnection, mode: StorageMode) -> list[str]:
    """Every way the database behind `conn` differs from the catalog; empty when it matches.
    Leaves nothing behind (its temporary objects are rolled back)."""
    out: list[str] = []
    async with conn.transaction(force_rollback=True):
        cur = conn.cursor(row_factory=dict_row)
        present = {r["name"] for r in await (await cur.execute(
            _AGGREGATE_RELATIONS, {"patterns": _AGGREGATE_PATTERNS})).fetchall()}
        expected = {a.name for a in AGGREGATES}
        out += [f"{name}: in the database, not in the catalog" for name in
                sorted(present - expected)]
        out += [f"{name}: in the catalog, missing" for name in sorted(expected - present)]
        timescale = mode is StorageMode.TIMESCALE
        if timescale:
            out += await _continuous_aggregates(cur)
        for a in AGGREGATES:  # the tables the writers keep
            if a.name in present and not (timescale and a.continuous):
                out += await _rollup_table(cur, a)
        sessions = await _columns(cur, SESSIONS)
        out += _column_differences(SESSIONS, sessions, _expected_session_columns(),
                                   nullability=True) if sessions else [
            f"{SESSIONS}: in the catalog, missing"]
        out += await _ingest_function(cur, mode)
        out += await _stored_bins(cur)
    return out


def _expected_columns(a: Aggregate) -> dict[str, tuple[str, bool]]:
    columns = {"bucket": ("timestamp with time zone", True), "project_id": ("bigint", True)}
    columns.update({k: ("text", False) for k in a.keys})
    columns.update({c: ("bigint", True) for c in a.columns})
    return columns


def _expected_session_columns() -> dict[str, tuple[str, bool]]:
    columns = {"project_id": ("bigint", True), "session_id": ("text", True)}
    columns.update({m.name: (m.type, not m.nullable) for m in SESSION_MEASURES})
    return columns


async def _columns(cur: psycopg.AsyncCursor, relation: str) -> dict[str, tuple[str, bool]]:
    rows = await (await cur.execute(_COLUMNS, {"relation": relation})).fetchall()
    return {r["name"]: (r["type"], r["not_null"]) for r in rows}


def _column_differences(name: str, actual: dict[str, tuple[str, bool]],
                        expected: dict[str, tuple[str, bool]], nullability: bool) -> list[str]:
    out = [f"{name}.{c}: not in the catalog" for c in sorted(set(actual) - set(expected))]
    out += [f"{name}.{c}: missing" for c in sorted(set(expected) - set(actual))]
    for column in sorted(set(actual) & set(expected)):
        (have_type, have_nn), (want_type, want_nn) = actual[column], expected[column]
        if have_type != want_type:
            out.append(f"{name}.{column}: type {have_type}, the catalog says {want_type}")
        if nullability and have_nn != want_nn:
            out.append(f"{name}.{column}: {'NOT NULL' if have_nn else 'nullable'}, the catalog "
                       f"says {'NOT NULL' if want_nn else 'nullable'}")
    return out


async def _rollup_table(cur: psycopg.AsyncCursor, a: Aggregate) -> list[str]:
    out = _column_differences(a.name, await _columns(cur, a.name), _expected_columns(a),
                              nullability=True)
    indexes = await (await cur.execute(_INDEXES, {"relation": a.name})).fetchall()
    # ON CONFLICT needs a unique index on exactly the key; NULL keys are one value.
    keyed = [i for i in indexes if i["is_unique"] and tuple(i["columns"]) == a.key
             and (i["nulls_not_distinct"] or not a.keys)]
    if not keyed:
        out.append(f"{a.name}: no unique index NULLS NOT DISTINCT on {', '.join(a.key)}")
    # The key serves every read (project first, then bucket): any other index only slows
    # ingest down.
    out += [f"{a.name}: an index on {', '.join(i['columns'])} that the catalog does not have"
            for i in indexes if not keyed or i is not keyed[0]]
    return out


async def _continuous_aggregates(cur: psycopg.AsyncCursor) -> list[str]:
    out: list[str] = []
    found = {r["name"]: r for r in await (await cur.execute(_CONTINUOUS)).fetchall()}
    policies = {r["name"]: r for r in await (await cur.execute(_POLICIES)).fetchall()}
    for a in CONTINUOUS_AGGREGATES:
        view = found.get(a.name)
        if view is None:
            out.append(f"{a.name}: not a continuous aggregate")
            continue
        if view["materialized_only"]:
            out.append(f"{a.name}: materialized_only (real-time aggregation is off)")
        probe = sql.Identifier(f"catalog_probe_{a.name}")
        await cur.execute(sql.SQL("CREATE TEMP VIEW {} AS {}").format(
            probe, sql.SQL(ddl.continuous_aggregate_query(a))))
        wanted = (await (await cur.execute(
            sql.SQL("SELECT pg_get_viewdef({}::regclass) AS d").format(
                sql.Literal(f"pg_temp.{probe.as_string()}")))).fetchone())["d"]
        source = a.source_relation
        if _normalized(wanted, source) != _normalized(view["view_definition"], source):
            out.append(f"{a.name}: its query differs from the catalog's:\n"
                       f"  database: {_normalized(view['view_definition'], source)}\n"
                       f"  catalog:  {_normalized(wanted, source)}")
        out += _column_differences(a.name, await _columns(cur, a.name), _expected_columns(a),
                                   nullability=False)
        materialization = (await (await cur.execute(_MATERIALIZATION, {"name": a.name})
                                  ).fetchone())
        if materialization is not None:
            relation = f"{materialization['schema_name']}.{materialization['table_name']}"
            indexes = await (await cur.execute(_INDEXES, {"relation": relation})).fetchall()
            if not any(tuple(i["columns"]) == ("project_id", "bucket") for i in indexes):
                out.append(f"{a.name}: no index on (project_id, bucket)")
            chunk = (await (await cur.execute(_CHUNK_INTERVAL, {
                "schema": materialization["schema_name"],
                "table": materialization["table_name"]})).fetchone())
            if chunk is None or chunk["time_interval"] != ddl.MATERIALIZATION_CHUNK:
                have = _span(chunk["time_interval"]) if chunk else "no time dimension"
                out.append(f"{a.name}: materialized in chunks of {have}, the catalog says "
                           f"{_span(ddl.MATERIALIZATION_CHUNK)}")
        out += _policy_differences(a, policies.get(a.name))
    return out


def _policy_differences(a: Aggregate, policy: dict | None) -> list[str]:  # type: ignore[type-arg]
    if policy is None:
        return [f"{a.name}: no refresh policy"]
    config = policy["config"] or {}
    out = []
    if config.get("start_offset") is not None:
        out.append(f"{a.name}: its refresh policy has a start_offset; the catalog refreshes "
                   "from NULL")
    end = config.get("end_offset")
    if end is None or _interval(end) != a.grain.width:
        out.append(f"{a.name}: refresh policy end_offset {end}, the catalog says "
                   f"{a.grain.width}")
    if policy["schedule_interval"] != a.grain.refresh_every:
        out.append(f"{a.name}: refreshed every {policy['schedule_interval']}, the catalog says "
                   f"{a.grain.refresh_every}")
    return out


def _span(interval: timedelta) -> str:
    """An interval as the messages say it: "1 day", "10 days", or as Python prints it."""
    days, rest = divmod(interval, timedelta(days=1))
    return str(interval) if rest or not days else f"{days} day{'s' if days > 1 else ''}"


def _interval(text: str) -> timedelta | None:
    """A policy's offset as TimescaleDB's config JSON writes it ("01:00:00", "1 day")."""
    units = {"day": timedelta(days=1), "days": timedelta(days=1)}
    parts = text.split()
    if len(parts) == 2 and parts[1] in units:
        return int(parts[0]) * units[parts[1]]
    if len(parts) == 1 and parts[0].count(":") == 2:
        hours, minutes, seconds = (int(p) for p in parts[0].split(":"))
        return timedelta(hours=hours, minutes=minutes, seconds=seconds)
    return None


def _normalized(definition: str, relation: str) -> str:
    return " ".join(definition.replace(relation + ".", "").split()).rstrip(";")


async def _ingest_function(cur: psycopg.AsyncCursor, mode: StorageMode) -> list[str]:
    row = await (await cur.execute(
        "SELECT prosrc FROM pg_proc WHERE oid = to_regproc(%(name)s)",
        {"name": ddl.INGEST_FUNCTION})).fetchone()
    if row is None:
        return [f"{ddl.INGEST_FUNCTION}(): missing"]
    kept = ddl.aggregates_kept(CALLS, timescale=mode is StorageMode.TIMESCALE)
    if row["prosrc"] != ddl.ingest_function_body(kept):
        return [f"{ddl.INGEST_FUNCTION}(): differs from the one the catalog generates"]
    return []


async def _stored_bins(cur: psycopg.AsyncCursor) -> list[str]:
    out = []
    for h in HISTOGRAMS:
        if h.stored_bin is None:
            continue
        have = await (await cur.execute(_GENERATED, {"relation": RAW, "column": h.stored_bin})
                      ).fetchone()
        probe = f"catalog_probe_{h.name}_bin"
        await cur.execute(sql.SQL(
            "CREATE TEMP TABLE {} ({} bigint, b smallint GENERATED ALWAYS AS ({}) STORED)").format(
            sql.Identifier(probe), sql.Identifier(h.value), sql.SQL(h.bin_of_value)))
        want = await (await cur.execute(_GENERATED, {"relation": f"pg_temp.{probe}",
                                                      "column": "b"})).fetchone()
        if have is None or want is None or have["expression"] != want["expression"]:
            out.append(f"{RAW}.{h.stored_bin}: its expression differs from the catalog's bins")
    return out
