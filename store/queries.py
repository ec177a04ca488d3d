"""Every SQL statement SpanTally runs outside its migrations."""

from __future__ import annotations

from datetime import datetime

from psycopg import sql

from .records import STAGING_COLUMNS

__all__ = [
    "ADD_RETENTION_POLICY",
    "APPLIED_MIGRATIONS",
    "COPY_REPRICE",
    "COPY_STAGING",
    "COST_TOTALS",
    "CREATE_API_KEY",
    "CREATE_MIGRATION_TABLES",
    "CREATE_PRICE",
    "CREATE_PROJECT",
    "CREATE_REPRICE_TABLE",
    "CREATE_STAGING_TABLE",
    "DELETE_AGGREGATE_ROWS",
    "DELETE_PRICE",
    "DELETE_RATE",
    "DELETE_RAW_CALLS",
    "DROP_RAW_CHUNKS",
    "FIND_API_KEY",
    "FIND_PROJECT",
    "FIND_PROJECT_BY_ID_OR_NAME",
    "FIND_RATE",
    "INGEST_STAGED",
    "LIST_API_KEYS",
    "LIST_PRICES",
    "LIST_PROJECTS",
    "LIST_PROJECT_IDS",
    "LIST_RATES",
    "MIGRATION_LOCK",
    "MIGRATION_UNLOCK",
    "RECENT_CALLS",
    "RECORDED_STORAGE_MODE",
    "RECORD_MIGRATION",
    "RECORD_STORAGE_MODE",
    "REFRESHES",
    "REFRESH_DAILY",
    "REFRESH_HOURLY",
    "REFRESH_TOTAL_DAILY",
    "REFRESH_TOTAL_HOURLY",
    "REFRESH_USER_DAILY",
    "REMOVE_RETENTION_POLICY",
    "REPRICE_ROLLUP_DAILY",
    "REPRICE_ROLLUP_HOURLY",
    "REPRICE_SELECT",
    "REPRICE_TOTAL_DAILY",
    "REPRICE_TOTAL_HOURLY",
    "REPRICE_USER_DAILY",
    "REPRICE_UPDATE_CALLS",
    "REVOKE_API_KEY",
    "SET_RATE",
    "TOUCH_API_KEY",
    "TRY_RETENTION_LOCK",
    "llm_analytics",
    "recent_calls",
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

# Mode `timescale`: materialize what a write made stale, as the refresh policies do. The start is
# NULL on purpose: it refreshes every invalidated bucket, whereas a window with a start moves the
# watermark past older buckets that were never materialized, hiding their calls.
REFRESH_HOURLY = "CALL refresh_continuous_aggregate('llm_calls_1h', NULL, %s)"
REFRESH_DAILY = "CALL refresh_continuous_aggregate('llm_calls_1d', NULL, %s)"
REFRESH_TOTAL_HOURLY = "CALL refresh_continuous_aggregate('llm_calls_total_1h', NULL, %s)"
REFRESH_TOTAL_DAILY = "CALL refresh_continuous_aggregate('llm_calls_total_1d', NULL, %s)"
REFRESH_USER_DAILY = "CALL refresh_continuous_aggregate('llm_calls_user_1d', NULL, %s)"
# All of them, each aggregate after the one it is built on, with the width of its buckets.
REFRESHES: tuple[tuple[str, str], ...] = (
    (REFRESH_HOURLY, "hour"), (REFRESH_DAILY, "day"), (REFRESH_TOTAL_HOURLY, "hour"),
    (REFRESH_TOTAL_DAILY, "day"), (REFRESH_USER_DAILY, "day"),
)

# -- recent calls -------------------------------------------------------------------------------

# The newest calls first; the filters are the analytics filters (`{filters}` is their AND).
RECENT_CALLS = sql.SQL("""
SELECT time, provider, model, agent_id, session_id, user_id, operation, streaming,
       input_tokens, output_tokens, cost_nano_usd, latency_us, ttft_us, status, error_type
FROM llm_calls
WHERE project_id = %(project_id)s AND time >= %(start)s AND time < %(end)s {filters}
ORDER BY time DESC
LIMIT %(limit)s
""")

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
# One window of one project's calls whose cost SpanTally computed (never a reported cost);
# locked, so that two re-pricings of one window take turns.
REPRICE_SELECT = """
SELECT time, trace_id, span_id, provider, model, agent_id, service_name, operation, status,
       input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_nano_usd,
       cost_source, environment, error_type, user_id
FROM llm_calls
WHERE project_id = %s AND time >= %s AND time < %s AND cost_source IS DISTINCT FROM 'reported'
FOR UPDATE
"""
CREATE_REPRICE_TABLE = """
CREATE TEMP TABLE IF NOT EXISTS reprice_changes (
    time timestamptz, trace_id bytea, span_id bytea, provider text, model text, agent_id text,
    service_name text, operation text, status text, environment text, error_type text,
    user_id text, old_cost bigint, new_cost bigint, new_source text
) ON COMMIT DELETE ROWS
"""
COPY_REPRICE = """
COPY pg_temp.reprice_changes (time, trace_id, span_id, provider, model, agent_id, service_name,
    operation, status, environment, error_type, user_id, old_cost, new_cost, new_source) FROM STDIN
"""
REPRICE_UPDATE_CALLS = """
UPDATE llm_calls c SET cost_nano_usd = n.new_cost, cost_source = n.new_source
FROM pg_temp.reprice_changes n
WHERE c.project_id = %s AND c.trace_id = n.trace_id AND c.span_id = n.span_id AND c.time = n.time
"""
# Modes `apache` and `postgres`: move each changed call's cost from its old value to its new
# one in the hourly and daily rows it is counted in.
_REPRICE_ROLLUP = """
WITH delta AS (
    SELECT date_trunc('{unit}', time, 'UTC') AS bucket, provider, model, agent_id, service_name,
           operation, status, environment, error_type,
           sum(coalesce(new_cost, 0) - coalesce(old_cost, 0))::bigint AS cost,
           sum((new_cost IS NULL)::int - (old_cost IS NULL)::int)::bigint AS unpriced
    FROM pg_temp.reprice_changes
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
)
UPDATE {table} r SET cost_nano_usd = r.cost_nano_usd + d.cost,
                     unpriced_calls = r.unpriced_calls + d.unpriced
FROM delta d
WHERE r.project_id = %s AND r.bucket = d.bucket
  AND r.provider IS NOT DISTINCT FROM d.provider AND r.model IS NOT DISTINCT FROM d.model
  AND r.agent_id IS NOT DISTINCT FROM d.agent_id
  AND r.service_name IS NOT DISTINCT FROM d.service_name
  AND r.operation IS NOT DISTINCT FROM d.operation AND r.status IS NOT DISTINCT FROM d.status
  AND r.environment IS NOT DISTINCT FROM d.environment
  AND r.error_type IS NOT DISTINCT FROM d.error_type
"""
REPRICE_ROLLUP_HOURLY = _REPRICE_ROLLUP.format(unit="hour", table="llm_calls_1h")
REPRICE_ROLLUP_DAILY = _REPRICE_ROLLUP.format(unit="day", table="llm_calls_1d")
_REPRICE_TOTALS = """
WITH delta AS (
    SELECT date_trunc('{unit}', time, 'UTC') AS bucket,
           sum(coalesce(new_cost, 0) - coalesce(old_cost, 0))::bigint AS cost,
           sum((new_cost IS NULL)::int - (old_cost IS NULL)::int)::bigint AS unpriced
    FROM pg_temp.reprice_changes
    GROUP BY 1
)
UPDATE {table} r SET cost_nano_usd = r.cost_nano_usd + d.cost,
                     unpriced_calls = r.unpriced_calls + d.unpriced
FROM delta d
WHERE r.project_id = %s AND r.bucket = d.bucket
"""
REPRICE_TOTAL_HOURLY = _REPRICE_TOTALS.format(unit="hour", table="llm_calls_total_1h")
REPRICE_TOTAL_DAILY = _REPRICE_TOTALS.format(unit="day", table="llm_calls_total_1d")
REPRICE_USER_DAILY = """
WITH delta AS (
    SELECT date_trunc('day', time, 'UTC') AS bucket, user_id,
           sum(coalesce(new_cost, 0) - coalesce(old_cost, 0))::bigint AS cost,
           sum((new_cost IS NULL)::int - (old_cost IS NULL)::int)::bigint AS unpriced
    FROM pg_temp.reprice_changes
    GROUP BY 1, 2
)
UPDATE llm_calls_user_1d r SET cost_nano_usd = r.cost_nano_usd + d.cost,
                               unpriced_calls = r.unpriced_calls + d.unpriced
FROM delta d
WHERE r.project_id = %s AND r.bucket = d.bucket AND r.user_id IS NOT DISTINCT FROM d.user_id
"""
COST_TOTALS = """
SELECT coalesce(sum(cost_nano_usd), 0)::bigint, count(*) FILTER (WHERE cost_nano_usd IS NULL),
       count(*)
FROM llm_calls WHERE project_id = %s AND time >= %s AND time < %s
"""

# -- retention ----------------------------------------------------------------------------------

REMOVE_RETENTION_POLICY = "SELECT remove_retention_policy(%s, if_exists => true)"
ADD_RETENTION_POLICY = "SELECT add_retention_policy(%s, drop_after => %s)"
# Transaction-scoped: released at commit; one collector at a time runs the deletion.
TRY_RETENTION_LOCK = "SELECT pg_try_advisory_xact_lock(7342165004)"
DROP_RAW_CHUNKS = "SELECT count(*) FROM drop_chunks('llm_calls', older_than => now() - %s)"
DELETE_RAW_CALLS = "DELETE FROM llm_calls WHERE time < now() - %s"
DELETE_AGGREGATE_ROWS = "DELETE FROM {} WHERE bucket < now() - %s"

# -- tenancy -----------------------------------------------------------------------------------

CREATE_PROJECT = "INSERT INTO projects (name) VALUES (%s) RETURNING id"
FIND_PROJECT = "SELECT id FROM projects WHERE name = %s"
CREATE_API_KEY = (
    "INSERT INTO api_keys (key_id, project_id, secret_sha256, name) VALUES (%s, %s, %s, %s)"
)
FIND_API_KEY = """
SELECT project_id, secret_sha256 FROM api_keys WHERE key_id = %s AND revoked_at IS NULL
"""
LIST_PROJECTS = """
SELECT p.id, p.name, p.created_at,
       (SELECT count(*) FROM api_keys k WHERE k.project_id = p.id AND k.revoked_at IS NULL)
           AS active_keys
FROM projects p ORDER BY p.id
"""
LIST_API_KEYS = """
SELECT key_id, name, created_at, last_used_at, revoked_at FROM api_keys
WHERE project_id = %s ORDER BY created_at
"""
REVOKE_API_KEY = """
UPDATE api_keys SET revoked_at = now() WHERE key_id = %s AND revoked_at IS NULL RETURNING project_id
"""
TOUCH_API_KEY = """
UPDATE api_keys SET last_used_at = now()
WHERE key_id = %s AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
"""

# -- analytics ---------------------------------------------------------------------------------

_AGGREGATE_MEASURES = sql.SQL(
    "calls, cost_nano_usd, unpriced_calls, input_tokens, output_tokens, latency_us_sum, "
    "latency_count, errors"
)
_RAW_MEASURES = sql.SQL(
    "1, coalesce(cost_nano_usd, 0), (cost_nano_usd IS NULL)::int, input_tokens, output_tokens, "
    "latency_us, 1, (status = 'error')::int"
)

_LLM_ANALYTICS = sql.SQL("""
SELECT date_trunc({unit}, t, 'UTC') AS bucket, provider, model,
       sum(calls)::bigint, sum(cost_nano_usd)::bigint, sum(unpriced_calls)::bigint,
       sum(input_tokens)::bigint, sum(output_tokens)::bigint,
       sum(latency_us_sum)::bigint, sum(latency_count)::bigint, sum(errors)::bigint
FROM ({parts}) AS parts (t, provider, model, calls, cost_nano_usd, unpriced_calls, input_tokens,
                         output_tokens, latency_us_sum, latency_count, errors)
GROUP BY 1, 2, 3
""")
_LLM_DAYS = sql.SQL("""
    SELECT bucket AS t, provider, model, {aggregate_measures}
    FROM llm_calls_1d
    WHERE project_id = %(project_id)s AND bucket >= %(day_lo)s AND bucket < %(day_hi)s {filters}
""")
_LLM_HOURS = sql.SQL("""
    SELECT bucket, provider, model, {aggregate_measures}
    FROM llm_calls_1h
    WHERE project_id = %(project_id)s {filters}
      AND (bucket >= %(hour_lo_1)s AND bucket < %(hour_hi_1)s
           OR bucket >= %(hour_lo_2)s AND bucket < %(hour_hi_2)s)
""")
_LLM_RAW = sql.SQL("""
    SELECT time, provider, model, {raw_measures}
    FROM llm_calls
    WHERE project_id = %(project_id)s {filters}
      AND (time >= %(raw_lo_1)s AND time < %(raw_hi_1)s
           OR time >= %(raw_lo_2)s AND time < %(raw_hi_2)s)
""")


def recent_calls(filters: sql.Composable) -> sql.Composed:
    """RECENT_CALLS with the filters' conditions (` AND ...`)."""
    return RECENT_CALLS.format(filters=filters)


def llm_analytics(unit: str, filters: sql.Composable, *, raw_only: bool = False) -> sql.Composed:
    """Calls, cost, tokens and latency per (bucket of `unit`, provider, model), reading whole
    days from llm_calls_1d, whole hours from llm_calls_1h and the partial edges from llm_calls.
    The caller supplies the ranges (empty ones as lo = hi) and the filters' conditions;
    `raw_only` reads llm_calls alone, for filters on columns the aggregates do not have."""
    raw = _LLM_RAW.format(raw_measures=_RAW_MEASURES, filters=filters)
    aggregates = [
        part.format(aggregate_measures=_AGGREGATE_MEASURES, filters=filters)
        for part in (_LLM_DAYS, _LLM_HOURS)
    ]
    parts = [raw] if raw_only else [*aggregates, raw]
    return _LLM_ANALYTICS.format(unit=sql.Literal(unit), parts=sql.SQL("  UNION ALL").join(parts))

# -- grouped totals (summary, time series, breakdowns, anomalies) ------------------------------

# Every measure of store.measures.Measures, in field order, from an aggregate and from llm_calls.
_HISTOGRAM_COLUMNS = [f"latency_h{i:02d}" for i in range(32)] + [f"ttft_h{i:02d}" for i in range(32)]
_SUM_COLUMNS = ("calls", "errors", "input_tokens", "output_tokens", "cache_read_tokens",
                "cache_write_tokens", "reasoning_tokens", "cost_nano_usd", "unpriced_calls",
                "latency_us_sum", "latency_count", "ttft_us_sum", "ttft_count")
_AGGREGATE_SUMS = [sql.SQL("sum({0})::bigint").format(sql.Identifier(name))
                   for name in _SUM_COLUMNS]
_AGGREGATE_HISTOGRAMS = [sql.SQL("sum({0})::bigint").format(sql.Identifier(name))
                         for name in _HISTOGRAM_COLUMNS]
_RAW_SUMS = [
    sql.SQL("count(*)"),
    sql.SQL("count(*) FILTER (WHERE status = 'error')"),
    *(sql.SQL("coalesce(sum({}), 0)::bigint").format(sql.Identifier(name)) for name in (
        "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
        "reasoning_tokens", "cost_nano_usd")),
    sql.SQL("count(*) FILTER (WHERE cost_nano_usd IS NULL)"),
    sql.SQL("coalesce(sum(latency_us), 0)::bigint"),
    sql.SQL("count(latency_us)"),
    sql.SQL("coalesce(sum(ttft_us), 0)::bigint"),
    sql.SQL("count(ttft_us)"),
]
def _measures(sums: list[sql.Composable], histograms: list[sql.Composable] | None
              ) -> sql.Composed:
    return sql.SQL(",\n       ").join(sums + (histograms or []))


_GROUPED_AGGREGATE = sql.SQL("""
SELECT {bucket}, {key} AS key,
       {sums}
FROM {table}
WHERE project_id = %(project_id)s AND ({ranges}) {filters}
GROUP BY {group}
""")

# Raw rows are grouped by the number of the range they fall in ({range_number}), since a range
# can be shorter than an hour. (Counting histogram bins with 64 filtered aggregates in one scan
# measured faster than grouping by bin in further scans or over a materialized CTE.)
_GROUPED_RAW = sql.SQL("""
SELECT {range_number}, {key} AS key,
       {sums}
FROM llm_calls c {ttft_bin}
WHERE c.project_id = %(project_id)s AND ({ranges}) {filters}
GROUP BY 1, 2
""")
_TTFT_BIN = sql.SQL("""
CROSS JOIN LATERAL (
    SELECT CASE WHEN c.ttft_us IS NOT NULL THEN width_bucket(
        ln(greatest(c.ttft_us, 1)::double precision / 1000.0), ln(8.0), ln(600000.0), 30) END
) AS b (ttft_bin)""")
_RAW_HISTOGRAMS = [
    *(sql.SQL("count(*) FILTER (WHERE latency_bin = {})").format(sql.Literal(i))
      for i in range(32)),
    *(sql.SQL("count(*) FILTER (WHERE b.ttft_bin = {})").format(sql.Literal(i))
      for i in range(32)),
]
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


def grouped_aggregate(table: str, key: sql.Composable, filters: sql.Composable,
                      ranges: list[tuple[datetime, datetime]], histograms: bool = True,
                      by_bucket: bool = True) -> sql.Composed:
    """Measures per (bucket of `table`, key) over `ranges` (sorted, disjoint), or without
    `by_bucket` per key (with its first bucket); the histogram columns only with `histograms`."""
    sums = _measures(_AGGREGATE_SUMS, _AGGREGATE_HISTOGRAMS if histograms else None)
    return _GROUPED_AGGREGATE.format(
        bucket=sql.SQL("bucket" if by_bucket else "min(bucket)"), key=key, sums=sums,
        table=sql.Identifier(table), ranges=_ranges("bucket", ranges), filters=filters,
        group=sql.SQL("1, 2" if by_bucket else "2"))


def grouped_raw(key: sql.Composable, filters: sql.Composable,
                ranges: list[tuple[datetime, datetime]], starts: list[datetime],
                histograms: bool = True) -> sql.Composed:
    """Measures per (number of the range, key) of llm_calls within `ranges`, the ranges being
    numbered from 1 by their sorted `starts` (also given as %(starts)s)."""
    sums = _measures(_RAW_SUMS, _RAW_HISTOGRAMS if histograms else None)
    return _GROUPED_RAW.format(range_number=_range_number(starts), key=key, sums=sums,
                               ttft_bin=_TTFT_BIN if histograms else sql.SQL(""),
                               ranges=_ranges("time", ranges), filters=filters)


# -- sessions ----------------------------------------------------------------------------------

_SESSION_COLUMNS = sql.SQL("""
    session_id,
    min(time) AS started_at,
    max(time + latency_us * INTERVAL '1 microsecond') AS ended_at,
    count(*) AS calls,
    count(*) FILTER (WHERE status = 'error') AS errors,
    sum(input_tokens)::bigint AS input_tokens,
    sum(output_tokens)::bigint AS output_tokens,
    coalesce(sum(cost_nano_usd), 0)::bigint AS cost_nano_usd,
    count(*) FILTER (WHERE cost_nano_usd IS NULL) AS unpriced_calls,
    CASE WHEN min(user_id) = max(user_id) THEN min(user_id) END AS user_id,
    CASE WHEN min(agent_id) = max(agent_id) THEN min(agent_id) END AS agent_id
""")
_SESSIONS_WHERE = sql.SQL("""
WHERE project_id = %(project_id)s AND time >= %(start)s AND time < %(end)s
  AND session_id IS NOT NULL {filters}
""")
SESSION_ORDER: dict[str, str] = {
    "startedAt": "started_at DESC",
    "cost": "cost_nano_usd DESC",
    "calls": "calls DESC",
    "tokens": "sum(input_tokens) + sum(output_tokens) DESC",
}


def sessions(filters: sql.Composable, order: str) -> sql.Composed:
    """One row per session with calls in [start, end), in `order` (a SESSION_ORDER key)."""
    return sql.SQL("SELECT {columns} FROM llm_calls c {where} GROUP BY session_id "
                   "ORDER BY {order}, session_id LIMIT %(limit)s OFFSET %(offset)s").format(
        columns=_SESSION_COLUMNS, where=_SESSIONS_WHERE.format(filters=filters),
        order=sql.SQL(SESSION_ORDER[order]))


def sessions_summary(filters: sql.Composable) -> sql.Composed:
    """Sessions, calls, tokens and cost of all sessions with calls in [start, end), and the sum of
    their durations in microseconds."""
    return sql.SQL("""
SELECT count(*), coalesce(sum(calls), 0)::bigint, coalesce(sum(tokens), 0)::bigint,
       coalesce(sum(cost_nano_usd), 0)::bigint,
       coalesce(sum(extract(epoch FROM ended_at - started_at) * 1000000), 0)::bigint
FROM (SELECT count(*) AS calls, sum(input_tokens + output_tokens) AS tokens,
             coalesce(sum(cost_nano_usd), 0) AS cost_nano_usd, min(time) AS started_at,
             max(time + latency_us * INTERVAL '1 microsecond') AS ended_at
      FROM llm_calls c {where} GROUP BY session_id) AS s
""").format(where=_SESSIONS_WHERE.format(filters=filters))
