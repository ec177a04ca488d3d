-- Core relations: tenancy, API keys, and the raw LLM call table (one row per LLM call).

CREATE TABLE projects (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- The secret is never stored: only its SHA-256. key_id is the public prefix of the key.
CREATE TABLE api_keys (
    key_id         text PRIMARY KEY,
    project_id     bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    secret_sha256  bytea NOT NULL,
    name           text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_used_at   timestamptz,
    revoked_at     timestamptz
);
CREATE INDEX api_keys_project ON api_keys (project_id);

-- Token counts are 0 when a span did not report them; cost is NULL when no price applied.
-- Money is an exact integer (nano-USD) and durations are integer microseconds, so every sum
-- and every roll-up is exact.
CREATE TABLE llm_calls (
    time                timestamptz NOT NULL,
    project_id          bigint NOT NULL,
    trace_id            bytea NOT NULL,
    span_id             bytea NOT NULL,
    parent_span_id      bytea,
    service_name        text,
    environment         text,
    agent_id            text,
    agent_name          text,
    session_id          text,
    user_id             text,
    provider            text,
    request_model       text,
    response_model      text,
    model               text,
    operation           text NOT NULL,
    streaming           boolean,
    input_tokens        bigint NOT NULL DEFAULT 0,
    output_tokens       bigint NOT NULL DEFAULT 0,
    cache_read_tokens   bigint NOT NULL DEFAULT 0,
    cache_write_tokens  bigint NOT NULL DEFAULT 0,
    reasoning_tokens    bigint NOT NULL DEFAULT 0,
    cost_nano_usd       bigint,
    cost_source         text CHECK (cost_source IN ('reported', 'catalog', 'custom')),
    latency_us          bigint NOT NULL,
    ttft_us             bigint,
    status              text NOT NULL CHECK (status IN ('ok', 'error')),
    error_type          text,
    tags                jsonb,
    -- Bin of a fixed log-scale latency histogram: 30 bins from 8 ms to 10 min, with bin 0 below
    -- and bin 31 above. Aggregates sum these per bin so percentiles merge across buckets.
    latency_bin         smallint GENERATED ALWAYS AS (
        width_bucket(ln(greatest(latency_us, 1)::double precision / 1000.0), ln(8.0), ln(600000.0), 30)
    ) STORED
);

-- The identity of a call: a retried batch conflicts here and is counted once.
CREATE UNIQUE INDEX llm_calls_identity ON llm_calls (project_id, trace_id, span_id, time);
CREATE INDEX llm_calls_project_time ON llm_calls (project_id, time DESC);

-- Element-wise sum of two latency histograms (used where an aggregate row is updated in place).
CREATE FUNCTION spantally_hist_add(a bigint[], b bigint[]) RETURNS bigint[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_agg(coalesce(x, 0) + coalesce(y, 0) ORDER BY i)
    FROM unnest(a, b) WITH ORDINALITY AS t (x, y, i)
$$;
