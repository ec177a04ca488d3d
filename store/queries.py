"""Every SQL statement SpanTally runs outside its migrations."""

from __future__ import annotations

from psycopg import sql

from .records import STAGING_COLUMNS

__all__ = [
    "ADD_RETENTION_POLICY",
    "ANALYTICS_FILTER_COLUMNS",
    "APPLIED_MIGRATIONS",
    "COPY_STAGING",
    "CREATE_API_KEY",
    "CREATE_MIGRATION_TABLES",
    "CREATE_PROJECT",
    "CREATE_STAGING_TABLE",
    "DELETE_AGGREGATE_ROWS",
    "DELETE_RAW_CALLS",
    "DROP_RAW_CHUNKS",
    "FIND_API_KEY",
    "FIND_PROJECT",
    "INGEST_STAGED",
    "MIGRATION_LOCK",
    "MIGRATION_UNLOCK",
    "RECORDED_STORAGE_MODE",
    "RECORD_MIGRATION",
    "RECORD_STORAGE_MODE",
    "REFRESH_DAILY",
    "REFRESH_HOURLY",
    "REMOVE_RETENTION_POLICY",
    "TOUCH_API_KEY",
    "TRY_RETENTION_LOCK",
    "llm_analytics",
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
TOUCH_API_KEY = """
UPDATE api_keys SET last_used_at = now()
WHERE key_id = %s AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
"""

# -- analytics ---------------------------------------------------------------------------------

# API filter name -> column, identical in llm_calls, llm_calls_1h and llm_calls_1d.
ANALYTICS_FILTER_COLUMNS: dict[str, str] = {
    "agent_id": "agent_id",
    "model": "model",
    "provider": "provider",
}

_AGGREGATE_MEASURES = sql.SQL(
    "calls, cost_nano_usd, unpriced_calls, input_tokens, output_tokens, latency_us_sum, latency_count"
)
_RAW_MEASURES = sql.SQL(
    "1, coalesce(cost_nano_usd, 0), (cost_nano_usd IS NULL)::int, input_tokens, output_tokens, "
    "latency_us, 1"
)

_LLM_ANALYTICS = sql.SQL("""
SELECT date_trunc({unit}, t, 'UTC') AS bucket, provider, model,
       sum(calls)::bigint, sum(cost_nano_usd)::bigint, sum(unpriced_calls)::bigint,
       sum(input_tokens)::bigint, sum(output_tokens)::bigint,
       sum(latency_us_sum)::bigint, sum(latency_count)::bigint
FROM (
    SELECT bucket AS t, provider, model, {aggregate_measures}
    FROM llm_calls_1d
    WHERE project_id = %(project_id)s AND bucket >= %(day_lo)s AND bucket < %(day_hi)s {filters}
  UNION ALL
    SELECT bucket, provider, model, {aggregate_measures}
    FROM llm_calls_1h
    WHERE project_id = %(project_id)s {filters}
      AND (bucket >= %(hour_lo_1)s AND bucket < %(hour_hi_1)s
           OR bucket >= %(hour_lo_2)s AND bucket < %(hour_hi_2)s)
  UNION ALL
    SELECT time, provider, model, {raw_measures}
    FROM llm_calls
    WHERE project_id = %(project_id)s {filters}
      AND (time >= %(raw_lo_1)s AND time < %(raw_hi_1)s
           OR time >= %(raw_lo_2)s AND time < %(raw_hi_2)s)
) AS parts (t, provider, model, calls, cost_nano_usd, unpriced_calls, input_tokens,
            output_tokens, latency_us_sum, latency_count)
GROUP BY 1, 2, 3
""")


def llm_analytics(unit: str, filters: list[str]) -> sql.Composed:
    """Calls, cost, tokens and latency per (bucket of `unit`, provider, model), reading whole
    days from llm_calls_1d, whole hours from llm_calls_1h and the partial edges from llm_calls.
    The caller supplies the ranges (empty ones as lo = hi) and one parameter per filter."""
    conditions = sql.SQL("").join(
        sql.SQL(" AND {} = %({})s").format(
            sql.Identifier(ANALYTICS_FILTER_COLUMNS[name]), sql.SQL(name)
        )
        for name in filters
    )
    return _LLM_ANALYTICS.format(
        unit=sql.Literal(unit),
        aggregate_measures=_AGGREGATE_MEASURES,
        raw_measures=_RAW_MEASURES,
        filters=conditions,
    )
