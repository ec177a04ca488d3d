-- Storage mode `timescale`: the aggregates are continuous aggregates, the daily one built on the
-- hourly one, with real-time aggregation so the newest, not yet materialized data is included.

CREATE MATERIALIZED VIEW llm_calls_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 hour', time) AS bucket,
    project_id, provider, model, agent_id, service_name, operation, status,
    count(*) AS calls,
    count(*) FILTER (WHERE status = 'error') AS errors,
    sum(input_tokens)::bigint AS input_tokens,
    sum(output_tokens)::bigint AS output_tokens,
    sum(cache_read_tokens)::bigint AS cache_read_tokens,
    sum(cache_write_tokens)::bigint AS cache_write_tokens,
    sum(reasoning_tokens)::bigint AS reasoning_tokens,
    coalesce(sum(cost_nano_usd), 0)::bigint AS cost_nano_usd,
    count(*) FILTER (WHERE cost_nano_usd IS NULL) AS unpriced_calls,
    sum(latency_us)::bigint AS latency_us_sum,
    count(latency_us) AS latency_count,
    coalesce(sum(ttft_us), 0)::bigint AS ttft_us_sum,
    count(ttft_us) AS ttft_count,
    ARRAY[
        count(*) FILTER (WHERE latency_bin = 0),
        count(*) FILTER (WHERE latency_bin = 1),
        count(*) FILTER (WHERE latency_bin = 2),
        count(*) FILTER (WHERE latency_bin = 3),
        count(*) FILTER (WHERE latency_bin = 4),
        count(*) FILTER (WHERE latency_bin = 5),
        count(*) FILTER (WHERE latency_bin = 6),
        count(*) FILTER (WHERE latency_bin = 7),
        count(*) FILTER (WHERE latency_bin = 8),
        count(*) FILTER (WHERE latency_bin = 9),
        count(*) FILTER (WHERE latency_bin = 10),
        count(*) FILTER (WHERE latency_bin = 11),
        count(*) FILTER (WHERE latency_bin = 12),
        count(*) FILTER (WHERE latency_bin = 13),
        count(*) FILTER (WHERE latency_bin = 14),
        count(*) FILTER (WHERE latency_bin = 15),
        count(*) FILTER (WHERE latency_bin = 16),
        count(*) FILTER (WHERE latency_bin = 17),
        count(*) FILTER (WHERE latency_bin = 18),
        count(*) FILTER (WHERE latency_bin = 19),
        count(*) FILTER (WHERE latency_bin = 20),
        count(*) FILTER (WHERE latency_bin = 21),
        count(*) FILTER (WHERE latency_bin = 22),
        count(*) FILTER (WHERE latency_bin = 23),
        count(*) FILTER (WHERE latency_bin = 24),
        count(*) FILTER (WHERE latency_bin = 25),
        count(*) FILTER (WHERE latency_bin = 26),
        count(*) FILTER (WHERE latency_bin = 27),
        count(*) FILTER (WHERE latency_bin = 28),
        count(*) FILTER (WHERE latency_bin = 29),
        count(*) FILTER (WHERE latency_bin = 30),
        count(*) FILTER (WHERE latency_bin = 31)
    ] AS latency_hist
FROM llm_calls
GROUP BY bucket, project_id, provider, model, agent_id, service_name, operation, status
WITH NO DATA;

CREATE MATERIALIZED VIEW llm_calls_1d
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 day', bucket) AS bucket,
    project_id, provider, model, agent_id, service_name, operation, status,
    sum(calls)::bigint AS calls,
    sum(errors)::bigint AS errors,
    sum(input_tokens)::bigint AS input_tokens,
    sum(output_tokens)::bigint AS output_tokens,
    sum(cache_read_tokens)::bigint AS cache_read_tokens,
    sum(cache_write_tokens)::bigint AS cache_write_tokens,
    sum(reasoning_tokens)::bigint AS reasoning_tokens,
    sum(cost_nano_usd)::bigint AS cost_nano_usd,
    sum(unpriced_calls)::bigint AS unpriced_calls,
    sum(latency_us_sum)::bigint AS latency_us_sum,
    sum(latency_count)::bigint AS latency_count,
    sum(ttft_us_sum)::bigint AS ttft_us_sum,
    sum(ttft_count)::bigint AS ttft_count,
    ARRAY[
        sum(latency_hist[1])::bigint,
        sum(latency_hist[2])::bigint,
        sum(latency_hist[3])::bigint,
        sum(latency_hist[4])::bigint,
        sum(latency_hist[5])::bigint,
        sum(latency_hist[6])::bigint,
        sum(latency_hist[7])::bigint,
        sum(latency_hist[8])::bigint,
        sum(latency_hist[9])::bigint,
        sum(latency_hist[10])::bigint,
        sum(latency_hist[11])::bigint,
        sum(latency_hist[12])::bigint,
        sum(latency_hist[13])::bigint,
        sum(latency_hist[14])::bigint,
        sum(latency_hist[15])::bigint,
        sum(latency_hist[16])::bigint,
        sum(latency_hist[17])::bigint,
        sum(latency_hist[18])::bigint,
        sum(latency_hist[19])::bigint,
        sum(latency_hist[20])::bigint,
        sum(latency_hist[21])::bigint,
        sum(latency_hist[22])::bigint,
        sum(latency_hist[23])::bigint,
        sum(latency_hist[24])::bigint,
        sum(latency_hist[25])::bigint,
        sum(latency_hist[26])::bigint,
        sum(latency_hist[27])::bigint,
        sum(latency_hist[28])::bigint,
        sum(latency_hist[29])::bigint,
        sum(latency_hist[30])::bigint,
        sum(latency_hist[31])::bigint,
        sum(latency_hist[32])::bigint
    ] AS latency_hist
FROM llm_calls_1h
GROUP BY time_bucket(INTERVAL '1 day', bucket), project_id, provider, model, agent_id, service_name, operation, status
WITH NO DATA;

CREATE INDEX llm_calls_1h_project_bucket ON llm_calls_1h (project_id, bucket);
CREATE INDEX llm_calls_1d_project_bucket ON llm_calls_1d (project_id, bucket);

-- start_offset NULL: every run materializes all invalidated buckets, backfilled ones included
-- (a refresh only recomputes buckets that changed). end_offset leaves the open bucket to
-- real-time aggregation.
SELECT add_continuous_aggregate_policy('llm_calls_1h',
    start_offset => NULL, end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 minute');
SELECT add_continuous_aggregate_policy('llm_calls_1d',
    start_offset => NULL, end_offset => INTERVAL '1 day', schedule_interval => INTERVAL '10 minutes');

-- The writer moves a staged batch into llm_calls; TimescaleDB keeps the aggregates.
CREATE FUNCTION spantally_ingest_staged() RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE
    inserted_count bigint;
BEGIN
    WITH inserted AS (
        INSERT INTO llm_calls (
            time, project_id, trace_id, span_id, parent_span_id, service_name, environment,
            agent_id, agent_name, session_id, user_id, provider, request_model, response_model,
            model, operation, streaming, input_tokens, output_tokens, cache_read_tokens,
            cache_write_tokens, reasoning_tokens, cost_nano_usd, cost_source, latency_us, ttft_us,
            status, error_type, tags)
        SELECT
            time, project_id, trace_id, span_id, parent_span_id, service_name, environment,
            agent_id, agent_name, session_id, user_id, provider, request_model, response_model,
            model, operation, streaming, input_tokens, output_tokens, cache_read_tokens,
            cache_write_tokens, reasoning_tokens, cost_nano_usd, cost_source, latency_us, ttft_us,
            status, error_type, tags
        FROM pg_temp.llm_calls_staging
        -- Writers insert in key order, so two batches holding the same calls wait for
        -- each other instead of deadlocking on the unique index.
        ORDER BY project_id, trace_id, span_id, time
        ON CONFLICT DO NOTHING
        RETURNING 1
    )
    SELECT count(*) INTO inserted_count FROM inserted;
    RETURN inserted_count;
END
$fn$;
