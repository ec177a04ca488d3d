"""SQL generated from the aggregate catalog: nothing here names an aggregate, a measure or a
histogram bin; every statement is derived from `store.catalog`.

- `ingest_function(kept)`: `spantally_ingest_staged()`, which moves a staged batch into
  llm_calls and adds the rows actually inserted to the call aggregates the writers keep
  (`aggregates_kept`: every one in the rollup modes, the tag aggregates in `timescale` mode).
  `migrate()` installs it whenever the installed one differs (it holds no data).
- `add_changes(kept)`: what the stored rows a transaction changed add to the aggregates the
  writers keep (`aggregates_kept`: all in the rollup modes; in `timescale` mode those that
  cannot be continuous aggregates): their rows now, less their rows before. Runs whose
  roll-ups changed as their steps arrived (the run aggregates are not kept by the ingest
  function), and calls that a better copy replaced or completed (store.copies).
- `create_aggregate(aggregate, mode)`: a rollup table with its unique key, or a continuous
  aggregate with its index and refresh policy, for a migration that adds an aggregate.
- `continuous_aggregate_query(aggregate)`: the query a continuous aggregate is defined by.
- `reprice_rollup(aggregate)`, `refresh(aggregate)`, `delete_expired(aggregate)`: the
  statements re-pricing, the writer and retention run on every aggregate.

`python -m spantally.store.ddl [rollup|timescale]` prints the DDL of every aggregate and the
ingest function, to write a migration from.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta

from psycopg import sql
from psycopg.types.json import Jsonb

from .catalog import (
    AGGREGATES,
    CALL_KEYS,
    CALLS,
    HISTOGRAMS,
    RAW,
    RUNS,
    SESSION_MEASURES,
    SESSIONS,
    SUMS,
    Aggregate,
    Fact,
    Grain,
    Merge,
    aggregates_of,
)
from .records import STAGING_COLUMNS

__all__ = [
    "CALL_AGGREGATES",
    "COPY_REPRICE_CHANGES",
    "CREATE_REPRICE_CHANGES",
    "INGEST_FUNCTION",
    "MATERIALIZATION_CHUNK",
    "REPRICED_CALLS",
    "REPRICE_KEYS",
    "REPRICE_LOCK",
    "add_changes",
    "aggregates_kept",
    "capture_changes",
    "change_columns",
    "changes_table",
    "chunk_interval",
    "continuous_aggregate_query",
    "copy_changes",
    "create_aggregate",
    "create_changes",
    "EXPIRE_SESSIONS",
    "RECOMPUTE_SESSIONS",
    "REPRICE_SESSIONS",
    "SESSIONS_FILLFACTOR",
    "SESSION_SPAN",
    "SESSION_SPAN_INDEXED",
    "TOUCH_SESSIONS",
    "create_sessions",
    "delete_expired",
    "delete_tag_keys",
    "fill_aggregate",
    "fill_sessions",
    "fill_tag_keys",
    "ingest_function",
    "ingest_function_body",
    "session_measures",
    "refresh",
    "reprice_change",
    "reprice_rollup",
]

INGEST_FUNCTION = "spantally_ingest_staged"
# A continuous aggregate's materialization is a hypertable of chunks this long: TimescaleDB's
# default (ten times llm_calls' one day), made explicit. A retention policy drops whole chunks,
# so aggregate rows go up to this long after expiring; one-day chunks would drop them within a
# day, but made every 30-day question 1.06-1.66x slower (bench/cagg_chunks.py).
MATERIALIZATION_CHUNK = timedelta(days=10)
CALL_AGGREGATES = aggregates_of(CALLS)
"""The aggregates the ingest function and re-pricing keep (the run aggregates follow the runs'
roll-ups instead: `add_changes`)."""

# The staged columns that llm_calls stores (all of them: the staging table is LIKE llm_calls).
_CALL_COLUMNS = STAGING_COLUMNS
_IDENTITY = ("project_id", "trace_id", "span_id", "time")
_NL = "\n"


def _names(names: Iterable[str]) -> sql.Composed:
    return sql.SQL(", ").join(map(sql.Identifier, names))


def _indent(parts: Iterable[sql.Composable], by: int) -> sql.Composed:
    return sql.SQL("," + _NL + " " * by).join(parts)


def _aliased(expression: str, name: str) -> sql.Composed:
    return sql.SQL("{} AS {}").format(sql.SQL(expression), sql.Identifier(name))


def _over_rows(aggregate: Aggregate, with_bins: bool = False,
               negated: bool = False) -> list[sql.Composed]:
    """The measure columns of `aggregate` computed from rows of its fact; `with_bins`: the rows
    hold each histogram's bin as `<name>_bin` (a `row_bin`); `negated`: each measure's
    opposite."""
    measures = [(s.over_rows, s.name) for s in aggregate.fact.sums]
    if aggregate.histograms:
        for h in aggregate.fact.histograms:
            measures += [(h.in_bin(i, f"{h.name}_bin") if with_bins else h.over_rows(i), column)
                         for i, column in enumerate(h.columns)]
    return [sql.SQL("{} AS {}").format(
        sql.SQL("-({})" if negated else "{}").format(sql.SQL(expression)), sql.Identifier(name))
        for expression, name in measures]


def _summed(aggregate: Aggregate) -> list[sql.Composed]:
    """The measure columns of `aggregate` computed from the rows of a finer aggregate."""
    return [sql.SQL("sum({0})::bigint AS {0}").format(sql.Identifier(c))
            for c in aggregate.columns]


# -- the ingest function ---------------------------------------------------------------------

def _feeder(aggregate: Aggregate, kept: Sequence[Aggregate]) -> Aggregate | None:
    """The aggregate computed before `aggregate` in one batch whose rows can be summed into it
    (fewest keys first: fewest rows), or None to group the inserted calls."""
    earlier = kept[:kept.index(aggregate)]
    fits = [a for a in earlier
            if a.carries(frozenset(aggregate.keys), aggregate.histograms)
            and aggregate.grain.width % a.grain.width == timedelta(0)]
    return min(fits, key=lambda a: (len(a.keys), -a.grain.width.total_seconds()), default=None)


def _returned(kept: Sequence[Aggregate], sessions: bool) -> list[sql.Composable]:
    """What the insert returns for the aggregates `kept` (and `sessions`): keys, the columns
    measures read, bins (and the tags, for a tag aggregate)."""
    tags = ("tags",) if any(a.per_tag for a in kept) else ()
    session = ("session_id", *(c for m in SESSION_MEASURES for c in m.reads)) if sessions else ()
    columns = dict.fromkeys(("time", "project_id", *CALL_KEYS, *tags,
                             *(c for s in SUMS for c in s.reads),
                             *(h.value for h in HISTOGRAMS), *session))
    out: list[sql.Composable] = [sql.Identifier(c) for c in columns]
    out += [sql.SQL("{} AS {}").format(sql.SQL(h.row_bin), sql.Identifier(f"{h.name}_bin"))
            for h in HISTOGRAMS]
    return out


Rows = tuple[sql.Composable, list[sql.Composed], sql.Composable]
"""How a delta is computed from a batch's rows: the bucket, the measures, the rows."""


def _inserted_calls(aggregate: Aggregate) -> Rows:
    return (sql.SQL(aggregate.grain.bucket_of("time")), _over_rows(aggregate, with_bins=True),
            sql.SQL("inserted c{}").format(sql.SQL(aggregate.elements())))


def _delta(aggregate: Aggregate, kept: Sequence[Aggregate],
           from_rows: Callable[[Aggregate], Rows] = _inserted_calls) -> sql.Composed:
    """What this batch adds to each row of `aggregate`: from the batch's rows (`from_rows`), or
    summed from the delta of a finer aggregate computed before it."""
    feeder = _feeder(aggregate, kept)
    if feeder is None:
        bucket, measures, source = from_rows(aggregate)
    else:
        bucket = (sql.SQL("bucket") if feeder.grain is aggregate.grain
                  else sql.SQL(aggregate.grain.bucket_of("bucket")))
        measures = _summed(aggregate)
        source = sql.Identifier(f"delta_{feeder.name}")
    keys = [sql.Identifier("project_id"), *map(sql.Identifier, aggregate.keys)]
    return sql.SQL("""{name} AS (
        SELECT {bucket} AS bucket, {keys},
            {measures}
        FROM {source}
        GROUP BY {group}
    )""").format(name=sql.Identifier(f"delta_{aggregate.name}"), bucket=bucket,
                 keys=sql.SQL(", ").join(keys), measures=_indent(measures, 12), source=source,
                 group=sql.SQL(", ").join([sql.SQL("1"), *keys]))


def _upsert(aggregate: Aggregate) -> sql.Composed:
    columns = (*aggregate.key, *aggregate.columns)
    updates = [sql.SQL("{0} = agg.{0} + excluded.{0}").format(sql.Identifier(c))
               for c in aggregate.columns]
    return sql.SQL("""{name} AS (
        INSERT INTO {table} AS agg ({columns})
        SELECT {columns} FROM {delta}
        -- Every writer locks rows in the same order (table by table, each in key order), so
        -- concurrent batches wait for each other instead of deadlocking.
        ORDER BY {key}
        ON CONFLICT ({key}) DO UPDATE SET
            {updates}
        RETURNING 1
    )""").format(name=sql.Identifier(f"write_{aggregate.name}"),
                 table=sql.Identifier(aggregate.name), columns=_names(columns),
                 delta=sql.Identifier(f"delta_{aggregate.name}"), key=_names(aggregate.key),
                 updates=_indent(updates, 12))


def ingest_function_body(kept: Sequence[Aggregate], sessions: bool = True) -> str:
    """The PL/pgSQL body of the ingest function: the call aggregates `kept` (in catalog order:
    `aggregates_kept(CALLS, ...)`, or fewer to measure what one costs) and the `sessions`
    (SESSIONS; left out only to measure what they cost) are kept in the same statement from the
    rows actually inserted, so a duplicate is never counted."""
    ctes = [*(_delta(a, kept) for a in kept), *map(_upsert, kept)]
    if sessions:
        ctes.append(_merge_sessions())
    returning = _indent(_returned(kept, sessions), 18) if kept or sessions else sql.SQL("1")
    body = sql.SQL("""
DECLARE
    inserted_count bigint;
BEGIN
    WITH inserted AS (
        INSERT INTO {raw} ({columns})
        SELECT {columns}
        FROM pg_temp.llm_calls_staging
        -- Writers insert in key order, so two batches holding the same calls wait for each
        -- other instead of deadlocking on the unique index.
        ORDER BY {identity}
        ON CONFLICT DO NOTHING
        RETURNING {returning}
    ){ctes}
    SELECT count(*) INTO inserted_count FROM inserted;
    RETURN inserted_count;
END
""").format(raw=sql.Identifier(RAW), columns=_names(_CALL_COLUMNS), identity=_names(_IDENTITY),
            returning=returning,
            ctes=sql.Composed([sql.SQL(", ") + c for c in ctes]))
    return body.as_string()


def ingest_function(kept: Sequence[Aggregate], sessions: bool = True) -> str:
    """CREATE OR REPLACE FUNCTION for the ingest function."""
    return (f"CREATE OR REPLACE FUNCTION {INGEST_FUNCTION}() RETURNS bigint LANGUAGE plpgsql "
            f"AS $fn${ingest_function_body(kept, sessions)}$fn$;\n")


# -- sessions ----------------------------------------------------------------------------------

def session_measures(prefix: str = "") -> sql.Composed:
    """The columns of SESSIONS computed from calls grouped by session (aliases `prefix`+name)."""
    return sql.SQL(", ").join(_aliased(m.over_calls, prefix + m.name) for m in SESSION_MEASURES)


_SESSION_KEY = ("project_id", "session_id")
_MERGED_BY: dict[Merge, str] = {Merge.SUM: "s.{0} + excluded.{0}",
                                Merge.LEAST: "least(s.{0}, excluded.{0})",
                                Merge.GREATEST: "greatest(s.{0}, excluded.{0})"}


def _merge_sessions() -> sql.Composed:
    """The ingest function's upsert of SESSIONS: each session of the inserted calls merges
    what they add up to into its row (sums added, least and greatest kept)."""
    merges = [sql.SQL(_MERGED_BY[m.merge]).format(sql.Identifier(m.name)) for m in SESSION_MEASURES]
    return sql.SQL("""write_sessions AS (
        INSERT INTO {table} AS s ({columns})
        SELECT project_id, session_id, {measures}
        FROM inserted WHERE session_id IS NOT NULL
        GROUP BY project_id, session_id
        ORDER BY project_id, session_id  -- the lock order of every writer
        ON CONFLICT (project_id, session_id) DO UPDATE SET
            {merges}
        RETURNING 1
    )""").format(table=sql.Identifier(SESSIONS),
                 columns=_names((*_SESSION_KEY, *(m.name for m in SESSION_MEASURES))),
                 measures=session_measures(), merges=_indent(
                     [sql.SQL("{} = {}").format(sql.Identifier(m.name), e)
                      for m, e in zip(SESSION_MEASURES, merges, strict=True)], 12))


SESSION_SPAN = sql.SQL("tstzrange(started_at, last_call_at, '(]')")
"""A session's span, first call excluded: it holds a moment when the session has calls before
it and at or after it (it straddles that edge of a range)."""
SESSION_SPAN_INDEXED = sql.SQL("tstzrange(started_at, last_hour_end, '(]')")
"""What the span index holds: SESSION_SPAN up to the end of its last call's hour, a range that
contains it. It changes only when a session's calls reach another hour, so most updates of a
session's row touch no index (catalog: last_hour_end); a look-up by it is checked against
SESSION_SPAN."""
SESSIONS_FILLFACTOR = 70
"""Room left in each page of SESSIONS for the new versions of its rows (HOT updates)."""


def create_sessions() -> str:
    """The statements creating SESSIONS empty, with the indexes its reads use: the key, the
    sessions of a range by their start, and those spanning a moment (a range's edge)."""
    columns = [sql.SQL("project_id bigint NOT NULL"), sql.SQL("session_id text NOT NULL"),
               *(sql.SQL("{} {}{}").format(
                   sql.Identifier(m.name), sql.SQL(m.type),
                   sql.SQL("" if m.nullable else
                           " NOT NULL DEFAULT 0" if m.merge is Merge.SUM else " NOT NULL"))
                 for m in SESSION_MEASURES)]
    table = sql.Identifier(SESSIONS)
    statements = [
        sql.SQL("CREATE TABLE {} (\n    {},\n    PRIMARY KEY (project_id, session_id)\n)"
                " WITH (fillfactor = {})").format(table, _indent(columns, 4),
                                                  sql.Literal(SESSIONS_FILLFACTOR)),
        sql.SQL("CREATE INDEX {} ON {} (project_id, started_at)").format(
            sql.Identifier(f"{SESSIONS}_started"), table),
        sql.SQL("CREATE INDEX {} ON {} USING gist ({})").format(
            sql.Identifier(f"{SESSIONS}_span"), table, SESSION_SPAN_INDEXED),
    ]
    return "".join(s.as_string() + ";\n" for s in statements)


def fill_sessions() -> str:
    """INSERT of every session's row computed from llm_calls (the migration that adds them)."""
    return sql.SQL("INSERT INTO {} ({})\nSELECT project_id, session_id, {}\nFROM {}\n"
                   "WHERE session_id IS NOT NULL\nGROUP BY project_id, session_id").format(
        sql.Identifier(SESSIONS), _names((*_SESSION_KEY, *(m.name for m in SESSION_MEASURES))),
        session_measures(), sql.Identifier(RAW)).as_string()


TOUCH_SESSIONS = sql.SQL("""
INSERT INTO {table} AS s (project_id, session_id, started_at, last_call_at, ended_at,
                         last_hour_end)
SELECT project_id, session_id, at, at, at, {hour} + {width}
FROM unnest(%(project_ids)s::bigint[], %(session_ids)s::text[], %(times)s::timestamptz[])
     AS t(project_id, session_id, at)
ORDER BY 1, 2
ON CONFLICT (project_id, session_id) DO UPDATE SET calls = s.calls
""").format(table=sql.Identifier(SESSIONS), hour=sql.SQL(Grain.HOUR.bucket_of("at")),
            width=sql.SQL(Grain.HOUR.interval))
"""Locks the rows of sessions %(project_ids)s, %(session_ids)s (distinct, each with a time
%(times)s for a row that does not exist yet) until commit, before RECOMPUTE_SESSIONS reads their
calls: a writer adding a call to one of them waits, then merges it into the recomputed row; one
that added a call before has committed, and its call is read."""

RECOMPUTE_SESSIONS = sql.SQL("""
WITH touched (project_id, session_id) AS (
    SELECT * FROM unnest(%(project_ids)s::bigint[], %(session_ids)s::text[])
), fresh AS (
    SELECT c.project_id, c.session_id, {measures}
    FROM {raw} c JOIN touched t ON c.project_id = t.project_id AND c.session_id = t.session_id
    WHERE c.session_id IS NOT NULL
    GROUP BY c.project_id, c.session_id
), gone AS (
    DELETE FROM {table} s USING touched t
    WHERE s.project_id = t.project_id AND s.session_id = t.session_id
      AND NOT EXISTS (SELECT FROM fresh f WHERE f.project_id = t.project_id
                                            AND f.session_id = t.session_id)
)
UPDATE {table} s SET ({columns}) = ({fresh})
FROM fresh f WHERE s.project_id = f.project_id AND s.session_id = f.session_id
""").format(measures=session_measures(), raw=sql.Identifier(RAW),
            table=sql.Identifier(SESSIONS),
            columns=_names(m.name for m in SESSION_MEASURES),
            fresh=sql.SQL(", ").join(sql.Identifier("f", m.name) for m in SESSION_MEASURES))
"""The rows of sessions %(project_ids)s, %(session_ids)s (locked: TOUCH_SESSIONS) computed again
from their calls, after a better copy replaced or completed one of them (a call's time and
length can change, and a least or greatest cannot be taken back); a session left without calls
loses its row."""

EXPIRE_SESSIONS = sql.SQL("DELETE FROM {} WHERE last_call_at < now() - %(older_than)s").format(
    sql.Identifier(SESSIONS))
"""Deletes the sessions whose last call is older than %(older_than)s (the aggregate retention:
a session outlives its raw calls, as the aggregates do)."""


# -- creating an aggregate -------------------------------------------------------------------

def _select(aggregate: Aggregate, continuous: bool, one_project: bool = False) -> sql.Composed:
    """The SELECT computing `aggregate` from what it is computed from: as a continuous
    aggregate (time_bucket, which TimescaleDB needs), or as any query (UTC buckets);
    `one_project`: of project %(project_id)s only, and of a tag aggregate the tag keys
    %(tag_keys)s only, over [%(start)s, %(end)s) only."""
    from_raw = aggregate.from_raw
    column_name = "time" if from_raw else "bucket"
    column = sql.Identifier(column_name)
    if continuous:
        bucket = sql.SQL("time_bucket({}, {})").format(sql.SQL(aggregate.grain.interval), column)
    else:
        bucket = sql.SQL(aggregate.grain.bucket_of(column_name))
    keys = [sql.Identifier("project_id"), *map(sql.Identifier, aggregate.keys)]
    measures = _over_rows(aggregate) if from_raw else _summed(aggregate)
    source: sql.Composable = sql.Identifier(aggregate.source_relation)
    where: list[sql.Composable] = []
    if one_project:
        where.append(sql.SQL("c.project_id = %(project_id)s"))
        if aggregate.per_tag and not from_raw:
            where.append(sql.SQL("c.tag_key = ANY(%(tag_keys)s)"))
        where.append(sql.SQL("c.{0} >= %(start)s AND c.{0} < %(end)s").format(column))
    elements = aggregate.elements("%(tag_keys)s::text[]" if one_project else None)
    if from_raw and elements or where:
        source = sql.SQL("{} c{}").format(source, sql.SQL(elements if from_raw else ""))
    return sql.SQL("""SELECT
    {bucket} AS bucket,
    {keys},
    {measures}
FROM {source}{where}
GROUP BY {group_bucket}, {keys}""").format(
        bucket=bucket, keys=sql.SQL(", ").join(keys), measures=_indent(measures, 4),
        source=source, where=sql.SQL("\nWHERE ") + sql.SQL(" AND ").join(where) if where
        else sql.SQL(""), group_bucket=sql.SQL("bucket") if from_raw else bucket)


def continuous_aggregate_query(aggregate: Aggregate) -> str:
    """The SELECT of `aggregate` as a continuous aggregate (on llm_calls or on the continuous
    aggregate it is computed from)."""
    return _select(aggregate, continuous=True).as_string()


def fill_aggregate(aggregate: Aggregate) -> str:
    """INSERT of every row of `aggregate` computed from what it is computed from (a migration
    that adds it, in any mode where it is a table)."""
    return sql.SQL("INSERT INTO {} ({})\n{}").format(
        sql.Identifier(aggregate.name),
        _names(("bucket", "project_id", *aggregate.keys, *aggregate.columns)),  # as selected
        _select(aggregate, continuous=False)).as_string()


def fill_tag_keys(aggregate: Aggregate) -> sql.Composed:
    """INSERT of the rows of the tag aggregate `aggregate` for project %(project_id)s and tag
    keys %(tag_keys)s in [%(start)s, %(end)s) (whole buckets of it), computed from what it is
    computed from (a project declaring keys)."""
    assert aggregate.per_tag, aggregate.name
    return sql.SQL("INSERT INTO {} ({})\n{}").format(
        sql.Identifier(aggregate.name),
        _names(("bucket", "project_id", *aggregate.keys, *aggregate.columns)),
        _select(aggregate, continuous=False, one_project=True))


def delete_tag_keys(aggregate: Aggregate) -> sql.Composed:
    """DELETE of the rows of the tag aggregate `aggregate` for project %(project_id)s and tag
    keys %(tag_keys)s in [%(start)s, %(end)s) (keys a project no longer declares, or rows about
    to be computed again)."""
    assert aggregate.per_tag, aggregate.name
    return sql.SQL("DELETE FROM {} WHERE project_id = %(project_id)s "
                   "AND tag_key = ANY(%(tag_keys)s) AND bucket >= %(start)s "
                   "AND bucket < %(end)s").format(sql.Identifier(aggregate.name))


def create_aggregate(aggregate: Aggregate, timescale: bool) -> str:
    """Statements creating `aggregate` empty: a continuous aggregate with its index and refresh
    policy (`timescale`, where it can be one), or a rollup table with its unique key."""
    name = sql.Identifier(aggregate.name)
    if timescale and aggregate.continuous:
        statements = [
            sql.SQL("CREATE MATERIALIZED VIEW {} WITH (timescaledb.continuous, "
                    "timescaledb.materialized_only = false) AS\n{}\nWITH NO DATA").format(
                name, sql.SQL(continuous_aggregate_query(aggregate))),
            chunk_interval(aggregate),
            sql.SQL("CREATE INDEX {} ON {} (project_id, bucket)").format(
                sql.Identifier(f"{aggregate.name}_project_bucket"), name),
            sql.SQL("SELECT add_continuous_aggregate_policy({}, start_offset => NULL, "
                    "end_offset => {}, schedule_interval => {})").format(
                sql.Literal(aggregate.name), sql.Literal(aggregate.grain.width),
                sql.Literal(aggregate.grain.refresh_every)),
        ]
    else:
        columns = [sql.SQL("bucket timestamptz NOT NULL"), sql.SQL("project_id bigint NOT NULL"),
                   *(sql.SQL("{} text").format(sql.Identifier(k)) for k in aggregate.keys),
                   *(sql.SQL("{} bigint NOT NULL DEFAULT 0").format(sql.Identifier(c))
                     for c in aggregate.columns)]
        statements = [
            sql.SQL("CREATE TABLE {} (\n    {}\n)").format(name, _indent(columns, 4)),
            sql.SQL("CREATE UNIQUE INDEX {} ON {} ({}) NULLS NOT DISTINCT").format(
                sql.Identifier(f"{aggregate.name}_key"), name, _names(aggregate.key)),
        ]
    return "".join(s.as_string() + ";\n" for s in statements)


def chunk_interval(aggregate: Aggregate,
                   length: timedelta = MATERIALIZATION_CHUNK) -> sql.Composed:
    """The statement giving a continuous aggregate's materialization chunks of `length`
    (chunks made from then on)."""
    return sql.SQL("SELECT set_chunk_time_interval({}, {})").format(
        sql.Literal(aggregate.name), sql.Literal(length))


# -- changes to stored rows -------------------------------------------------------------------

def changes_table(fact: Fact) -> str:
    """Per connection: the rows of `fact` a transaction changed (a run's roll-ups, a call that
    a better copy replaced or completed), each as it is now and as it was."""
    return f"{fact.raw}_changes"


@functools.cache
def change_columns(fact: Fact) -> tuple[str, ...]:
    """The columns of `fact`'s relation the aggregates read, in changes_table's order: keys
    (an element key comes from its array), what the sums read, histogram values and bins."""
    each = [a.each for a in aggregates_of(fact) if a.each]
    elements = {key for key, _ in each}
    tags = ("tags",) if any(a.per_tag for a in aggregates_of(fact)) else ()
    return tuple(dict.fromkeys((
        "time", "project_id", *(k for k in fact.keys if k not in elements), *tags,
        *(array for _, array in each), *(c for s in fact.sums for c in s.reads),
        *(h.value for h in fact.histograms),
        *(h.stored_bin for h in fact.histograms if h.stored_bin is not None))))


def create_changes(fact: Fact) -> sql.Composed:
    """Makes changes_table(fact), when a transaction first changes stored rows; `is_now` tells a
    row as it is now from the row as it was."""
    return sql.SQL(
        "CREATE TEMP TABLE IF NOT EXISTS {changes} ON COMMIT DELETE ROWS AS "
        "SELECT {columns}, NULL::boolean AS is_now FROM {raw} WITH NO DATA").format(
        changes=sql.Identifier(changes_table(fact)), columns=_names(change_columns(fact)),
        raw=sql.Identifier(fact.raw))


def copy_changes(fact: Fact) -> sql.Composed:
    return sql.SQL("COPY pg_temp.{} ({}, is_now) FROM STDIN").format(
        sql.Identifier(changes_table(fact)), _names(change_columns(fact)))


def _changed_rows(aggregate: Aggregate, now: bool) -> sql.Composed:
    """`aggregate`'s measures over the changed rows as they are now, or negated over the rows
    as they were."""
    keys = [sql.Identifier("project_id"), *map(sql.Identifier, aggregate.keys)]
    measures = _over_rows(aggregate, negated=not now)
    elements = sql.SQL(aggregate.elements())
    return sql.SQL("""SELECT {bucket} AS bucket, {keys},
                {measures}
            FROM pg_temp.{changes} c{elements} WHERE {now}
            GROUP BY {group}""").format(
        bucket=sql.SQL(aggregate.grain.bucket_of("time")), keys=sql.SQL(", ").join(keys),
        measures=_indent(measures, 16), changes=sql.Identifier(changes_table(aggregate.fact)),
        elements=elements, now=sql.SQL("is_now" if now else "NOT is_now"),
        group=sql.SQL(", ").join([sql.SQL("1"), *keys]))


def _changes(aggregate: Aggregate) -> Rows:
    """The changed rows as they are now, less as they were, each side grouped by `aggregate`."""
    rows = sql.SQL("""(
            {now}
            UNION ALL
            {before}
        ) AS changes""").format(now=_changed_rows(aggregate, now=True),
                               before=_changed_rows(aggregate, now=False))
    return sql.SQL("bucket"), _summed(aggregate), rows


def capture_changes(fact: Fact) -> sql.Composed:
    """Copies the stored rows %(project_ids)s, %(trace_ids)s, %(span_ids)s, %(times)s of
    `fact` into changes_table(fact) as they are at this point (`is_now`: %(is_now)s)."""
    columns = _names(change_columns(fact))
    return sql.SQL("""INSERT INTO pg_temp.{changes} ({columns}, is_now)
SELECT {columns}, %(is_now)s FROM {raw}
WHERE (project_id, trace_id, span_id, time) IN (
    SELECT * FROM unnest(%(project_ids)s::bigint[], %(trace_ids)s::bytea[],
                         %(span_ids)s::bytea[], %(times)s::timestamptz[]))""").format(
        changes=sql.Identifier(changes_table(fact)), columns=columns,
        raw=sql.Identifier(fact.raw))


def aggregates_kept(fact: Fact, timescale: bool) -> tuple[Aggregate, ...]:
    """The aggregates of `fact` the writers keep: all of them in the rollup modes, those that
    cannot be continuous aggregates in `timescale` mode."""
    return tuple(a for a in aggregates_of(fact) if not (timescale and a.continuous))


@functools.cache
def add_changes(kept: tuple[Aggregate, ...]) -> sql.Composed:
    """After a transaction changed stored rows of one fact (runs whose roll-ups it recomputed,
    calls a better copy replaced): each aggregate of `kept` (aggregates_kept) gains the rows as
    they are now and loses them as they were (pg_temp.changes_table), so that it always adds up
    the rows as stored. Returns how many cells of the first changed."""
    ctes = [*(_delta(a, kept, _changes) for a in kept), *map(_upsert, kept)]
    return sql.SQL("WITH {}\nSELECT count(*) FROM {}").format(
        sql.SQL(", ").join(ctes), sql.Identifier(f"delta_{kept[0].name}"))


# -- statements run on every aggregate -------------------------------------------------------

REPRICE_KEYS: tuple[str, ...] = tuple(dict.fromkeys(
    k for a in CALL_AGGREGATES for k in (("tags",) if a.per_tag else a.keys)))
"""The columns re-pricing records for each changed call, to find its aggregate rows (a tag
aggregate's from its tags)."""


_REPRICE_IDENTITY = ("time", "trace_id", "span_id")
# Where a re-priced call is counted: its aggregate rows, and its session's row.
_REPRICE_READS = tuple(dict.fromkeys((*REPRICE_KEYS, "session_id")))
_REPRICE_COLUMNS = (*_REPRICE_IDENTITY, *_REPRICE_READS, "old_cost", "new_cost", "new_source")
_REPRICE_TYPES = {"time": "timestamptz", "trace_id": "bytea", "span_id": "bytea",
                  "tags": "jsonb", "old_cost": "bigint", "new_cost": "bigint",
                  "new_source": "text"}
CREATE_REPRICE_CHANGES = sql.SQL(
    "CREATE TEMP TABLE IF NOT EXISTS reprice_changes ({}) ON COMMIT DELETE ROWS").format(
    sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c),
                                               sql.SQL(_REPRICE_TYPES.get(c, "text")))
                       for c in _REPRICE_COLUMNS))
"""Each re-priced call's identity, its aggregate keys, its old and new cost."""
COPY_REPRICE_CHANGES = sql.SQL("COPY pg_temp.reprice_changes ({}) FROM STDIN").format(
    _names(_REPRICE_COLUMNS))


REPRICE_LOCK = sql.SQL(
    "SELECT pg_advisory_xact_lock(hashtextextended('spantally.reprice', %(project_id)s))")
"""Taken by each window's transaction before it reads its calls, so that two re-pricings of one
project take turns and the second sees the first's costs. An advisory lock rather than row
locks (`FOR UPDATE`): rows in compressed chunks cannot be locked."""

REPRICED_CALLS = sql.SQL("""
SELECT {columns}, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
       cost_nano_usd, cost_source
FROM llm_calls
WHERE project_id = %(project_id)s AND time >= %(start)s AND time < %(end)s
  AND cost_source IS DISTINCT FROM 'reported'
""").format(columns=_names(dict.fromkeys((*_REPRICE_IDENTITY, *_REPRICE_READS, "status"))))
"""One window (%(start)s..%(end)s) of one project's calls whose cost SpanTally computed (never
a reported cost)."""


def reprice_change(call: dict[str, object], new_cost: int | None,
                   new_source: str | None) -> tuple[object, ...]:
    """A row of reprice_changes for `call` (a row of REPRICED_CALLS)."""
    return (*(Jsonb(call[c]) if c == "tags" and call[c] is not None else call[c]
              for c in (*_REPRICE_IDENTITY, *_REPRICE_READS)), call["cost_nano_usd"],
            new_cost, new_source)


def reprice_rollup(aggregate: Aggregate) -> sql.Composed:
    """An aggregate the writers keep (`aggregates_kept`): move each re-priced call's cost (in
    pg_temp.reprice_changes) from its old value to its new one in the rows it is counted in."""
    keys = list(map(sql.Identifier, aggregate.keys))
    matches = [sql.SQL(" AND r.{0} IS NOT DISTINCT FROM d.{0}").format(k) for k in keys]
    elements = aggregate.elements("(SELECT tag_keys FROM projects WHERE id = %(project_id)s)")
    return sql.SQL("""
WITH delta AS (
    SELECT {bucket} AS bucket{keys},
           sum(coalesce(new_cost, 0) - coalesce(old_cost, 0))::bigint AS cost,
           sum((new_cost IS NULL)::int - (old_cost IS NULL)::int)::bigint AS unpriced
    FROM pg_temp.reprice_changes c{elements}
    GROUP BY {group}
)
UPDATE {table} r SET cost_nano_usd = r.cost_nano_usd + d.cost,
                     unpriced_calls = r.unpriced_calls + d.unpriced
FROM delta d
WHERE r.project_id = %(project_id)s AND r.bucket = d.bucket{matches}
""").format(bucket=sql.SQL(aggregate.grain.bucket_of("time")),
            keys=sql.Composed([sql.SQL(", ") + k for k in keys]),
            elements=sql.SQL(elements),
            group=sql.SQL(", ").join([sql.SQL("1"), *keys]), table=sql.Identifier(aggregate.name),
            matches=sql.Composed(matches))


REPRICE_SESSIONS = sql.SQL("""
UPDATE {table} s SET cost_nano_usd = s.cost_nano_usd + d.cost,
                     unpriced_calls = s.unpriced_calls + d.unpriced
FROM (SELECT session_id,
             sum(coalesce(new_cost, 0) - coalesce(old_cost, 0))::bigint AS cost,
             sum((new_cost IS NULL)::int - (old_cost IS NULL)::int)::bigint AS unpriced
      FROM pg_temp.reprice_changes WHERE session_id IS NOT NULL
      GROUP BY session_id
      ORDER BY session_id) AS d
WHERE s.project_id = %(project_id)s AND s.session_id = d.session_id
""").format(table=sql.Identifier(SESSIONS))
"""Moves each re-priced call's cost (pg_temp.reprice_changes) from its old value to its new one
in its session's row: a difference, so writers adding calls meanwhile are not undone."""


def refresh(aggregate: Aggregate, single_pass: bool = False) -> sql.Composed:
    """Mode `timescale`: materialize what writes made stale, up to %(end)s. The start is NULL on
    purpose: it refreshes every invalidated bucket, whereas a window with a start moves the
    watermark past older buckets that were never materialized, hiding their calls.

    `single_pass` (TimescaleDB 2.28 and later, which split a manual refresh into batches by
    default): the whole window in one pass. A batched refresh can return with an invalidated
    bucket inside its window left as it was (docs/operations.md, "Aggregates"); a write is
    acknowledged only after a refresh that cannot."""
    options = sql.SQL(", options => '{\"buckets_per_batch\": 0}'" if single_pass else "")
    return sql.SQL("CALL refresh_continuous_aggregate({}, NULL, %(end)s{})").format(
        sql.Literal(aggregate.name), options)


def delete_expired(aggregate: Aggregate) -> sql.Composed:
    """An aggregate the writers keep: delete the rows older than %(older_than)s ago."""
    return sql.SQL("DELETE FROM {} WHERE bucket < now() - %(older_than)s").format(
        sql.Identifier(aggregate.name))


def _main(argv: list[str]) -> int:
    mode = argv[0] if argv else "rollup"
    if mode not in ("rollup", "timescale"):
        print("usage: python -m spantally.store.ddl [rollup|timescale]", file=sys.stderr)
        return 2
    for a in AGGREGATES:
        print(f"-- {a.name}: {a.why}")
        print(create_aggregate(a, timescale=mode == "timescale"))
    print(f"-- {SESSIONS}: a row per session\n{create_sessions()}")
    print(ingest_function(aggregates_kept(CALLS, timescale=mode == "timescale")))
    for fact in (CALLS, RUNS):
        kept = aggregates_kept(fact, timescale=mode == "timescale")
        if kept:
            print(f"-- {fact.name} changed:\n{add_changes(kept).as_string()};")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
