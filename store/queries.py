"""Every SQL statement SpanTally runs outside its migrations."""

from __future__ import annotations

import functools
from datetime import datetime

from psycopg import sql

from .catalog import BINS, RAW, SESSION_MEASURES, SESSIONS, Aggregate, Fact, Histogram
from .ddl import SESSION_SPAN, SESSION_SPAN_INDEXED, session_measures
from .records import STAGING_COLUMNS

__all__ = [
    "ADD_COMPRESSION_POLICY",
    "ADD_RETENTION_POLICY",
    "AGGREGATE_WATERMARKS",
    "APPLIED_MIGRATIONS",
    "COLUMNSTORE_CHUNKS",
    "COPY_STAGING",
    "COST_TOTALS",
    "CREATE_API_KEY",
    "CREATE_MIGRATION_TABLES",
    "CREATE_PRICE",
    "CREATE_PROJECT",
    "CREATE_STAGING_TABLE",
    "DELETE_PRICE",
    "DELETE_RATE",
    "DROP_RAW_CHUNKS",
    "FIND_API_KEY",
    "FIND_PROJECT",
    "FIND_PROJECT_BY_ID_OR_NAME",
    "FIND_RATE",
    "INGEST_FUNCTION_SOURCE",
    "INGEST_STAGED",
    "KEYS_CHANNEL",
    "LISTEN_KEYS",
    "LIST_API_KEYS",
    "PROJECT_LIMITS",
    "SESSIONS_SUMMARY_PREFIX",
    "SET_PROJECT_LIMITS",
    "NOTIFY_KEY_CHANGED",
    "LIST_PRICES",
    "LIST_PROJECTS",
    "LIST_PROJECT_IDS",
    "LIST_RATES",
    "MAINTENANCE_RUNS",
    "MAINTENANCE_UNLOCK",
    "MIGRATION_LOCK",
    "MIGRATION_UNLOCK",
    "RECENT_CALLS",
    "RECORDED_STORAGE_MODE",
    "RECORD_MAINTENANCE_RUN",
    "RECORD_MIGRATION",
    "RECORD_STORAGE_MODE",
    "REMOVE_COMPRESSION_POLICY",
    "REMOVE_RETENTION_POLICY",
    "REPRICE_UPDATE_CALLS",
    "REVOKE_API_KEY",
    "RUN_JOB",
    "SET_RATE",
    "TIMESCALEDB_JOBS",
    "TIMESCALEDB_VERSION",
    "TOUCH_API_KEY",
    "TRY_MAINTENANCE_LOCK",
    "TRY_RETENTION_LOCK",
    "grouped_aggregate",
    "grouped_raw",
    "delete_raw_rows",
    "recent_calls",
    "sessions",
    "sessions_grouped_once",
    "sessions_summary",
]

# -- migrations --------------------------------------------------------------------------------

# One arbitrary, fixed key: every SpanTally process that migrates this database takes it.
MIGRATION_LOCK = "SELECT pg_advisory_lock(7342165003)"
MIGRATION_UNLOCK = "SELECT pg_advisory_unlock(7342165003)"

CREATE_MIGRATION_TABLES = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    variant     text NOT NULL DEFAULT '',
    applied_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS spantally_settings (
    key    text PRIMARY KEY,
    value  text NOT NULL
);
"""
APPLIED_MIGRATIONS = "SELECT version FROM schema_migrations"
RECORD_MIGRATION = "INSERT INTO schema_migrations (version, name, variant) VALUES (%s, %s, %s)"
RECORDED_STORAGE_MODE = "SELECT value FROM spantally_settings WHERE key = 'storage_mode'"
RECORD_STORAGE_MODE = "INSERT INTO spantally_settings (key, value) VALUES ('storage_mode', %s)"
INGEST_FUNCTION_SOURCE = "SELECT prosrc FROM pg_proc WHERE oid = to_regproc('spantally_ingest_staged')"

# -- ingest ------------------------------------------------------------------------------------

# Per connection; LIKE turns the generated latency_bin into a plain column that stays NULL.
CREATE_STAGING_TABLE = """
CREATE TEMP TABLE IF NOT EXISTS llm_calls_staging (LIKE llm_calls) ON COMMIT DELETE ROWS
"""
COPY_STAGING = sql.SQL("COPY pg_temp.llm_calls_staging ({}) FROM STDIN (FORMAT BINARY)").format(
    sql.SQL(", ").join(map(sql.Identifier, STAGING_COLUMNS))
)
# Moves the staged rows into llm_calls, skipping duplicates, and (in the rollup modes) adds the
# rows actually inserted to the aggregates; defined per storage mode in migrations/0003_*.
INGEST_STAGED = "SELECT spantally_ingest_staged()"

# -- recent calls -------------------------------------------------------------------------------

# The newest calls first; the filters are the analytics filters (`{filters}` is their AND).
RECENT_CALLS = sql.SQL("""
SELECT time, trace_id, span_id, provider, model, agent_id, session_id, user_id, operation,
       streaming, input_tokens, output_tokens, cost_nano_usd, latency_us, ttft_us, status,
       error_type
FROM llm_calls
WHERE project_id = %(project_id)s AND time >= %(start)s AND time < %(end)s {filters}
ORDER BY time DESC, trace_id, span_id
LIMIT %(limit)s OFFSET %(offset)s
""")


def recent_calls(filters: sql.Composable) -> sql.Composed:
    """RECENT_CALLS with the filters' conditions (` AND ...`)."""
    return RECENT_CALLS.format(filters=filters)


# One call, everything stored about it (a span id is unique within its trace: the identity's
# `time` is only there for the hypertable).
FIND_CALL = sql.SQL("""
SELECT {columns} FROM llm_calls
WHERE project_id = %(project_id)s AND trace_id = %(trace_id)s AND span_id = %(span_id)s
ORDER BY time
LIMIT 1
""").format(columns=sql.SQL(", ").join(map(sql.Identifier, STAGING_COLUMNS)))

# The tag keys of the calls in a range: how many calls carry each, with how many values.
TAG_KEYS = sql.SQL("""
SELECT key, count(*) AS calls, count(DISTINCT value) AS "values"
FROM llm_calls, jsonb_each_text(tags) AS tag (key, value)
WHERE project_id = %(project_id)s AND time >= %(start)s AND time < %(end)s
      AND tags IS NOT NULL {filters}
GROUP BY key
ORDER BY calls DESC, key
LIMIT %(limit)s
""")


def tag_keys(filters: sql.Composable) -> sql.Composed:
    """TAG_KEYS with the filters' conditions (` AND ...`)."""
    return TAG_KEYS.format(filters=filters)


# -- prices and currencies ----------------------------------------------------------------------

_PRICE_COLUMNS = """id, provider, model, input_per_mtok, output_per_mtok, cache_read_per_mtok,
    cache_write_per_mtok, per_call, currency, effective_from, effective_to, created_at"""
LIST_PRICES = f"""
SELECT {_PRICE_COLUMNS} FROM model_prices WHERE project_id = %s
ORDER BY provider NULLS LAST, model, effective_from
"""
CREATE_PRICE = f"""
INSERT INTO model_prices (project_id, provider, model, input_per_mtok, output_per_mtok,
    cache_read_per_mtok, cache_write_per_mtok, per_call, effective_from, effective_to)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
RETURNING {_PRICE_COLUMNS}
"""
DELETE_PRICE = "DELETE FROM model_prices WHERE project_id = %s AND id = %s RETURNING id"
LIST_RATES = """
SELECT currency, per_usd, updated_at FROM currency_rates WHERE project_id = %s ORDER BY currency
"""
FIND_RATE = "SELECT per_usd FROM currency_rates WHERE project_id = %s AND currency = %s"
SET_RATE = """
INSERT INTO currency_rates (project_id, currency, per_usd) VALUES (%s, %s, %s)
ON CONFLICT (project_id, currency) DO UPDATE SET per_usd = excluded.per_usd, updated_at = now()
RETURNING currency, per_usd, updated_at
"""
DELETE_RATE = "DELETE FROM currency_rates WHERE project_id = %s AND currency = %s RETURNING currency"

# -- re-pricing ---------------------------------------------------------------------------------

LIST_PROJECT_IDS = "SELECT id, name FROM projects ORDER BY id"
FIND_PROJECT_BY_ID_OR_NAME = "SELECT id, name FROM projects WHERE id::text = %s OR name = %s"
REPRICE_UPDATE_CALLS = """
UPDATE llm_calls c SET cost_nano_usd = n.new_cost, cost_source = n.new_source
FROM pg_temp.reprice_changes n
WHERE c.project_id = %s AND c.trace_id = n.trace_id AND c.span_id = n.span_id AND c.time = n.time
"""
COST_TOTALS = """
SELECT coalesce(sum(cost_nano_usd), 0)::bigint AS cost_nano_usd,
       count(*) FILTER (WHERE cost_nano_usd IS NULL) AS unpriced, count(*) AS calls
FROM llm_calls WHERE project_id = %s AND time >= %s AND time < %s
"""

# -- retention ----------------------------------------------------------------------------------

REMOVE_RETENTION_POLICY = "SELECT remove_retention_policy(%s, if_exists => true)"
ADD_RETENTION_POLICY = "SELECT add_retention_policy(%s, drop_after => %s)"
# Transaction-scoped: released at commit; one collector at a time runs the deletion.
TRY_RETENTION_LOCK = "SELECT pg_try_advisory_xact_lock(7342165004)"
DROP_RAW_CHUNKS = "SELECT count(*) FROM drop_chunks(%s::regclass, older_than => now() - %s)"


def delete_raw_rows(relation: str) -> sql.Composed:
    """Mode `postgres`: delete the rows of a raw relation older than %s ago."""
    return sql.SQL("DELETE FROM {} WHERE time < now() - %s").format(sql.Identifier(relation))

# -- maintenance (store.maintenance) -------------------------------------------------------------

TIMESCALEDB_VERSION = """
SELECT extversion AS version, current_setting('timescaledb.license', true) AS edition
FROM pg_extension WHERE extname = 'timescaledb'
"""
# TimescaleDB's jobs on SpanTally's relations, and its own job-history retention, with what its
# scheduler says of their last run. Infinite timestamps (never) become NULL.
TIMESCALEDB_JOBS = """
SELECT j.job_id, j.proc_name, j.hypertable_name AS relation, j.schedule_interval, j.scheduled,
       CASE WHEN isfinite(j.next_start) THEN j.next_start END AS next_start,
       CASE WHEN isfinite(s.last_run_started_at) THEN s.last_run_started_at END AS last_run_started,
       CASE WHEN isfinite(s.last_successful_finish) THEN s.last_successful_finish
       END AS last_success,
       s.last_run_status, coalesce(s.total_runs, 0) AS total_runs,
       coalesce(s.total_failures, 0) AS total_failures,
       (SELECT e.err_message FROM timescaledb_information.job_errors e
        WHERE e.job_id = j.job_id ORDER BY e.start_time DESC LIMIT 1) AS last_error
FROM timescaledb_information.jobs j
LEFT JOIN timescaledb_information.job_stats s USING (job_id)
WHERE j.proc_name = ANY(%(procs)s)
  AND (j.hypertable_name = ANY(%(relations)s) OR j.hypertable_name IS NULL)
ORDER BY j.job_id
"""
RUN_JOB = "CALL run_job(%s)"
MAINTENANCE_RUNS = """
SELECT task, started_at, finished_at, succeeded, error, runs, failures
FROM spantally_maintenance_runs ORDER BY task
"""
RECORD_MAINTENANCE_RUN = """
INSERT INTO spantally_maintenance_runs AS r
    (task, started_at, finished_at, succeeded, error, runs, failures)
VALUES (%(task)s, %(started_at)s, %(finished_at)s, %(succeeded)s, %(error)s, 1,
        CASE WHEN %(succeeded)s THEN 0 ELSE 1 END)
ON CONFLICT (task) DO UPDATE SET
    started_at = excluded.started_at, finished_at = excluded.finished_at,
    succeeded = excluded.succeeded, error = excluded.error, runs = r.runs + 1,
    failures = r.failures + excluded.failures
"""
# Session-scoped, on a connection held for one round: one collector at a time stands in.
TRY_MAINTENANCE_LOCK = "SELECT pg_try_advisory_lock(7342165006)"
MAINTENANCE_UNLOCK = "SELECT pg_advisory_unlock(7342165006)"
# The end of each continuous aggregate's materialized buckets; NULL before its first refresh.
AGGREGATE_WATERMARKS = """
SELECT name, CASE WHEN watermark >= '1970-01-01' THEN watermark END AS watermark
FROM (SELECT user_view_name AS name,
             _timescaledb_functions.to_timestamp(
                 _timescaledb_functions.cagg_watermark(mat_hypertable_id)) AS watermark
      FROM _timescaledb_catalog.continuous_agg WHERE user_view_schema = 'public') w
ORDER BY name
"""
COLUMNSTORE_CHUNKS = """
SELECT count(*) AS chunks, count(*) FILTER (WHERE is_compressed) AS compressed
FROM timescaledb_information.chunks WHERE hypertable_name = 'llm_calls'
"""
REMOVE_COMPRESSION_POLICY = "SELECT remove_compression_policy('llm_calls', if_exists => true)"
ADD_COMPRESSION_POLICY = "SELECT add_compression_policy('llm_calls', compress_after => %s)"

# -- tenancy -----------------------------------------------------------------------------------

CREATE_PROJECT = "INSERT INTO projects (name) VALUES (%s) RETURNING id"
FIND_PROJECT = "SELECT id FROM projects WHERE name = %s"
CREATE_API_KEY = """
INSERT INTO api_keys (key_id, project_id, secret_sha256, name, scopes) VALUES (%s, %s, %s, %s, %s)
"""
FIND_API_KEY = """
SELECT project_id, secret_sha256, scopes FROM api_keys WHERE key_id = %s AND revoked_at IS NULL
"""
LIST_PROJECTS = """
SELECT p.id, p.name, p.created_at,
       (SELECT count(*) FROM api_keys k WHERE k.project_id = p.id AND k.revoked_at IS NULL)
           AS active_keys
FROM projects p ORDER BY p.id
"""
LIST_API_KEYS = """
SELECT key_id, name, scopes, created_at, last_used_at, revoked_at FROM api_keys
WHERE project_id = %s ORDER BY created_at
"""
REVOKE_API_KEY = """
UPDATE api_keys SET revoked_at = now()
WHERE key_id = %(key_id)s AND revoked_at IS NULL
  AND (%(project_id)s::bigint IS NULL OR project_id = %(project_id)s)
RETURNING project_id
"""
PROJECT_LIMITS = """
SELECT spans_per_minute, api_requests_per_second FROM project_limits WHERE project_id = %s
"""
SET_PROJECT_LIMITS = """
INSERT INTO project_limits (project_id, spans_per_minute, api_requests_per_second)
VALUES (%s, %s, %s)
ON CONFLICT (project_id) DO UPDATE SET spans_per_minute = excluded.spans_per_minute,
    api_requests_per_second = excluded.api_requests_per_second, updated_at = now()
RETURNING spans_per_minute, api_requests_per_second
"""
# Every process that caches keys listens: a revocation reaches them when it commits.
KEYS_CHANNEL = "spantally_api_keys"
NOTIFY_KEY_CHANGED = "SELECT pg_notify('spantally_api_keys', %s)"
LISTEN_KEYS = "LISTEN spantally_api_keys"
TOUCH_API_KEY = """
UPDATE api_keys SET last_used_at = now()
WHERE key_id = %s AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
"""

# -- analytics: the reads of a plan (store.executor) -------------------------------------------

# Each returns (bucket or range number, key..., rows read, sums..., histogram bins...): the
# measures in the order of store.catalog (the fact's sums, then each histogram's bins).

# Composed once per shape: composing ~80 expressions for every query cost more than the rest
# of planning a question.
@functools.cache
def _aggregate_measures(aggregate: Aggregate, histograms: bool) -> sql.SQL:
    columns = aggregate.columns if histograms else tuple(s.name for s in aggregate.fact.sums)
    return _rendered(sql.SQL(",\n       ").join(
        sql.SQL("sum({0})::bigint").format(sql.Identifier(c)) for c in columns))


def _rendered(composed: sql.Composed) -> sql.SQL:
    """`composed` as the text it stands for (identifiers quoted once, not at every query)."""
    return sql.SQL(composed.as_string())


@functools.cache
def _raw_measures(fact: Fact, histograms: bool) -> tuple[sql.SQL, sql.SQL]:
    """The measures over the rows of `fact`'s relation, and the lateral subqueries computing
    the bins that it does not store."""
    measures: list[sql.Composable] = [sql.SQL(s.over_rows) for s in fact.sums]
    bins: list[sql.Composable] = []
    if histograms:
        for h in fact.histograms:
            bin_column = h.stored_bin
            if bin_column is None:
                bin_column = f"{h.name}_bins.bin"
                bins.append(sql.SQL("CROSS JOIN LATERAL (SELECT {} AS bin) AS {}").format(
                    sql.SQL(h.row_bin), sql.Identifier(f"{h.name}_bins")))
            measures += [sql.SQL(Histogram.in_bin(i, bin_column)) for i in range(BINS)]
    return _rendered(sql.SQL(",\n       ").join(measures)), _rendered(sql.SQL(" ").join(bins))


_GROUPED_AGGREGATE = sql.SQL("""
SELECT {bucket}, {keys}, count(*)::bigint,
       {measures}
FROM {table}
WHERE project_id = %(project_id)s AND ({ranges}) {filters}
GROUP BY {group}
""")

# Raw rows are grouped by the number of the range they fall in ({range_number}), since a range
# can be shorter than an hour. (Counting histogram bins with 64 filtered aggregates in one scan
# measured faster than grouping by bin in further scans or over a materialized CTE.) A bin that
# the relation does not store is computed once per row, in a lateral subquery; {joins} are a
# dimension's (a run counted once per model it used).
_GROUPED_RAW = sql.SQL("""
SELECT {range_number}, {keys}, count(*)::bigint,
       {measures}
FROM {raw} c {bins} {joins}
WHERE c.project_id = %(project_id)s AND ({ranges}) {filters}
GROUP BY {group}
""")
# Up to this many ranges a CASE numbers a row faster than width_bucket() over an array (which
# costs ~1 µs a row to read the array).
_CASE_RANGES = 8


def _range_number(starts: list[datetime]) -> sql.Composable:
    if len(starts) == 1:
        return sql.SQL("1")
    if len(starts) <= _CASE_RANGES:
        return sql.SQL("CASE {} END").format(sql.SQL(" ").join(
            sql.SQL("WHEN c.time >= {} THEN {}").format(sql.Literal(start), sql.Literal(number))
            for number, start in reversed(list(enumerate(starts, 1)))))
    return sql.SQL("width_bucket(c.time, %(starts)s::timestamptz[])")


def _ranges(column: str, ranges: list[tuple[datetime, datetime]]) -> sql.Composed:
    # Constants, not parameters of a join: the planner then scans only these index ranges and,
    # on a hypertable, only the chunks they touch.
    return sql.SQL(" OR ").join(
        sql.SQL("{0} >= {1} AND {0} < {2}").format(sql.Identifier(column), sql.Literal(lo),
                                                   sql.Literal(hi))
        for lo, hi in ranges)


def _group(width: int) -> sql.Composed:
    return sql.SQL(", ").join(sql.Literal(i) for i in range(1, width + 1))


def grouped_aggregate(aggregate: Aggregate, keys: list[sql.Composable],
                      filters: sql.Composable, ranges: list[tuple[datetime, datetime]],
                      histograms: bool = True, by_bucket: bool = True) -> sql.Composed:
    """Measures per (bucket of `aggregate`, keys) over `ranges` (sorted, disjoint), or without
    `by_bucket` per keys (with their first bucket); the histogram columns only with
    `histograms`."""
    group = _group(len(keys) + 1)
    if not by_bucket:
        group = sql.SQL(", ").join(sql.Literal(i) for i in range(2, len(keys) + 2))
    return _GROUPED_AGGREGATE.format(
        bucket=sql.SQL("bucket" if by_bucket else "min(bucket)"),
        keys=sql.SQL(", ").join(keys), measures=_aggregate_measures(aggregate, histograms),
        table=sql.Identifier(aggregate.name), ranges=_ranges("bucket", ranges), filters=filters,
        group=group)


_NO_JOINS = sql.SQL("")


def grouped_raw(fact: Fact, keys: list[sql.Composable], filters: sql.Composable,
                ranges: list[tuple[datetime, datetime]], starts: list[datetime],
                histograms: bool = True, joins: sql.Composable = _NO_JOINS) -> sql.Composed:
    """Measures per (number of the range, keys) of `fact`'s relation within `ranges`, the
    ranges being numbered from 1 by their sorted `starts` (also given as %(starts)s)."""
    measures, bins = _raw_measures(fact, histograms)
    return _GROUPED_RAW.format(range_number=_range_number(starts), keys=sql.SQL(", ").join(keys),
                               measures=measures, bins=bins, raw=sql.Identifier(fact.raw),
                               joins=joins, ranges=_ranges("time", ranges), filters=filters,
                               group=_group(len(keys) + 1))


# -- sessions ----------------------------------------------------------------------------------

_SESSION_ROW = sql.SQL("""
    session_id, started_at, ended_at, calls, errors, input_tokens, output_tokens, cost_nano_usd,
    unpriced_calls,
    CASE WHEN user_low = user_high THEN user_low END AS user_id,
    CASE WHEN agent_low = agent_high THEN agent_low END AS agent_id
""")
"""A session as listed (store.sessions.Session), from its row (SESSION_MEASURES' columns)."""
_SESSIONS_WHERE = sql.SQL("""
WHERE project_id = %(project_id)s AND time >= %(start)s AND time < %(end)s
  AND session_id IS NOT NULL {filters}
""")
SESSION_ORDER: dict[str, str] = {
    "startedAt": "started_at DESC",
    "cost": "cost_nano_usd DESC",
    "calls": "calls DESC",
    "tokens": "input_tokens + output_tokens DESC",
}


def _session_calls(filters: sql.Composable, one_session: bool) -> sql.Composed:
    """The calls the sessions queries group: llm_calls under the filters; for one session, its
    calls gathered first (a materialized CTE). TimescaleDB 2.28.3 failed the grouped query over
    compressed chunks, filtered to one session, with "could not find pathkey item to sort":
    the filter makes the grouping column a constant its chunk-wise plans lose track of. One
    session's calls are few, and the CTE leaves the grouping nothing to derive from the scan."""
    where = _SESSIONS_WHERE.format(filters=filters)
    if one_session:
        return sql.SQL("(WITH one AS MATERIALIZED (SELECT * FROM llm_calls {where}) "
                       "SELECT * FROM one) AS c").format(where=where)
    return sql.SQL("llm_calls c {where}").format(where=where)


def _grouped_sessions(filters: sql.Composable, one_session: bool) -> sql.Composed:
    """A row per session of the calls in [start, end) under `filters`, grouped from llm_calls."""
    return sql.SQL("(SELECT session_id, {measures} FROM {calls} GROUP BY session_id) AS s").format(
        measures=session_measures(), calls=_session_calls(filters, one_session))


_STORED_SESSIONS = """(
WITH straddling AS MATERIALIZED (
    SELECT session_id FROM {sessions}
    WHERE project_id = %(project_id)s
      AND ({indexed} @> %(start)s::timestamptz AND {span} @> %(start)s::timestamptz
           OR {indexed} @> %(end)s::timestamptz AND {span} @> %(end)s::timestamptz)
)
(SELECT session_id, {columns} FROM {sessions}
 WHERE project_id = %(project_id)s AND started_at >= %(start)s AND last_call_at < %(end)s{top})
UNION ALL
SELECT e.* FROM straddling x CROSS JOIN LATERAL (
    SELECT x.session_id, {measures} FROM {raw}
    WHERE project_id = %(project_id)s AND session_id = x.session_id
      AND time >= %(start)s AND time < %(end)s
) AS e WHERE e.calls > 0
) AS s"""


def _stored_sessions(order: str | None) -> sql.Composed:
    """A row per session with calls in [start, end), from llm_sessions: the rows of the sessions
    whose calls all lie within it, and, computed from their calls in the range (found by index,
    one session at a time), the sessions spanning its start or end. With `order`, only the
    first %(limit)s + %(offset)s of the former in that order (enough for that page)."""
    top = (sql.SQL("\n ORDER BY {}, session_id LIMIT %(limit)s + %(offset)s").format(
        sql.SQL(SESSION_ORDER[order])) if order is not None else sql.SQL(""))
    return sql.SQL(_STORED_SESSIONS).format(
        sessions=sql.Identifier(SESSIONS), span=SESSION_SPAN, indexed=SESSION_SPAN_INDEXED,
        top=top, raw=sql.Identifier(RAW),
        columns=sql.SQL(", ").join(sql.Identifier(m.name) for m in SESSION_MEASURES),
        measures=session_measures())


def sessions(filters: sql.Composable, order: str, one_session: bool = False,
             stored: bool = False) -> sql.Composed:
    """One row per session with calls in [start, end), in `order` (a SESSION_ORDER key):
    from llm_sessions (`stored`: no filters), or grouped from the calls under `filters`."""
    rows = _stored_sessions(order) if stored else _grouped_sessions(filters, one_session)
    return sql.SQL("SELECT {row} FROM {rows} "
                   "ORDER BY {order}, session_id LIMIT %(limit)s OFFSET %(offset)s").format(
        row=_SESSION_ROW, rows=rows, order=sql.SQL(SESSION_ORDER[order]))


_SESSIONS_SUMMARY = """
count(*) AS {p}sessions, coalesce(sum(calls), 0)::bigint AS {p}calls,
coalesce(sum(input_tokens + output_tokens), 0)::bigint AS {p}tokens,
coalesce(sum(cost_nano_usd), 0)::bigint AS {p}cost_nano_usd,
coalesce(sum(extract(epoch FROM ended_at - started_at) * 1000000), 0)::bigint AS {p}duration_us
"""
SESSIONS_SUMMARY_PREFIX = "total_"
"""The prefix of the summary's columns in `sessions_grouped_once`."""


def _summary_columns(prefix: str = "") -> sql.Composed:
    return sql.SQL(_SESSIONS_SUMMARY).format(p=sql.SQL(prefix))


def sessions_summary(filters: sql.Composable, one_session: bool = False,
                     stored: bool = False) -> sql.Composed:
    """Sessions, calls, tokens and cost of all sessions with calls in [start, end), and the sum of
    their durations in microseconds."""
    rows = _stored_sessions(None) if stored else _grouped_sessions(filters, one_session)
    return sql.SQL("SELECT {columns} FROM {rows}").format(columns=_summary_columns(), rows=rows)


def sessions_grouped_once(filters: sql.Composable, order: str,
                          one_session: bool = False) -> sql.Composed:
    """`sessions` and `sessions_summary` grouped from the calls under `filters` in one pass:
    the page's rows, each beside the summary (its columns named SESSIONS_SUMMARY_PREFIX + the
    summary's), or the summary alone beside NULLs when the page is empty."""
    return sql.SQL("""
WITH s AS MATERIALIZED (SELECT {row} FROM {rows}),
summary AS (SELECT {summary} FROM s),
page AS (SELECT * FROM s ORDER BY {order}, session_id LIMIT %(limit)s OFFSET %(offset)s)
SELECT * FROM summary LEFT JOIN page ON true ORDER BY {order}, session_id
""").format(row=_SESSION_ROW, rows=_grouped_sessions(filters, one_session),
            summary=_summary_columns(SESSIONS_SUMMARY_PREFIX),
            order=sql.SQL(SESSION_ORDER[order]))
