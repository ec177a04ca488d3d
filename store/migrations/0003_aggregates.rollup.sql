-- Storage modes `apache` and `postgres`: the aggregates are tables with the same names and columns
-- as the continuous aggregates of mode `timescale`, maintained in the transaction that inserts the
-- calls, from the rows actually inserted (a duplicate never reaches them).

CREATE TABLE llm_calls_1h (
    bucket              timestamptz NOT NULL,
    project_id          bigint NOT NULL,
    provider            text,
    model               text,
    agent_id            text,
    service_name        text,
    operation           text,
    status              text,
    calls               bigint NOT NULL,
    errors              bigint NOT NULL,
    input_tokens        bigint NOT NULL,
    output_tokens       bigint NOT NULL,
    cache_read_tokens   bigint NOT NULL,
    cache_write_tokens  bigint NOT NULL,
    reasoning_tokens    bigint NOT NULL,
    cost_nano_usd       bigint NOT NULL,
    unpriced_calls      bigint NOT NULL,
    latency_us_sum      bigint NOT NULL,
    latency_count       bigint NOT NULL,
    ttft_us_sum         bigint NOT NULL,
    ttft_count          bigint NOT NULL,
    latency_hist        bigint[] NOT NULL
);
-- The key leads with project_id and bucket, so it also serves every range query.
-- NULLS NOT DISTINCT: a call without an agent (or model, ...) still has exactly one row per key.
CREATE UNIQUE INDEX llm_calls_1h_key ON llm_calls_1h (project_id, bucket, provider, model, agent_id, service_name, operation, status) NULLS NOT DISTINCT;

CREATE TABLE llm_calls_1d (
    bucket              timestamptz NOT NULL,
    project_id          bigint NOT NULL,
    provider            text,
    model               text,
    agent_id            text,
    service_name        text,
    operation           text,
    status              text,
    calls               bigint NOT NULL,
    errors              bigint NOT NULL,
    input_tokens        bigint NOT NULL,
    output_tokens       bigint NOT NULL,
    cache_read_tokens   bigint NOT NULL,
    cache_write_tokens  bigint NOT NULL,
    reasoning_tokens    bigint NOT NULL,
    cost_nano_usd       bigint NOT NULL,
    unpriced_calls      bigint NOT NULL,
    latency_us_sum      bigint NOT NULL,
    latency_count       bigint NOT NULL,
    ttft_us_sum         bigint NOT NULL,
    ttft_count          bigint NOT NULL,
    latency_hist        bigint[] NOT NULL
);
-- The key leads with project_id and bucket, so it also serves every range query.
-- NULLS NOT DISTINCT: a call without an agent (or model, ...) still has exactly one row per key.
CREATE UNIQUE INDEX llm_calls_1d_key ON llm_calls_1d (project_id, bucket, provider, model, agent_id, service_name, operation, status) NULLS NOT DISTINCT;

-- Element-wise sum of latency histograms, as an aggregate (daily rows from hourly ones).
CREATE AGGREGATE spantally_hist_sum(bigint[]) (SFUNC = spantally_hist_add, STYPE = bigint[]);

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
        RETURNING time, project_id, provider, model, agent_id, service_name, operation, status, input_tokens, output_tokens,
                  cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_nano_usd,
                  latency_us, ttft_us, latency_bin
    ), hourly AS (
        -- What this batch adds to each hourly row (only calls actually inserted).
        SELECT
            date_trunc('hour', time, 'UTC') AS bucket,
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
        FROM inserted
        GROUP BY 1, project_id, provider, model, agent_id, service_name, operation, status
    ), hourly_rows AS (
        INSERT INTO llm_calls_1h AS agg
        SELECT * FROM hourly
        -- Every writer locks aggregate rows in the same (key) order, so writers never deadlock.
        ORDER BY project_id, provider, model, agent_id, service_name, operation, status, bucket
        ON CONFLICT (project_id, provider, model, agent_id, service_name, operation, status, bucket) DO UPDATE SET
            calls = agg.calls + excluded.calls,
            errors = agg.errors + excluded.errors,
            input_tokens = agg.input_tokens + excluded.input_tokens,
            output_tokens = agg.output_tokens + excluded.output_tokens,
            cache_read_tokens = agg.cache_read_tokens + excluded.cache_read_tokens,
            cache_write_tokens = agg.cache_write_tokens + excluded.cache_write_tokens,
            reasoning_tokens = agg.reasoning_tokens + excluded.reasoning_tokens,
            cost_nano_usd = agg.cost_nano_usd + excluded.cost_nano_usd,
            unpriced_calls = agg.unpriced_calls + excluded.unpriced_calls,
            latency_us_sum = agg.latency_us_sum + excluded.latency_us_sum,
            latency_count = agg.latency_count + excluded.latency_count,
            ttft_us_sum = agg.ttft_us_sum + excluded.ttft_us_sum,
            ttft_count = agg.ttft_count + excluded.ttft_count,
            latency_hist = spantally_hist_add(agg.latency_hist, excluded.latency_hist)
        RETURNING 1
    ), daily_rows AS (
        INSERT INTO llm_calls_1d AS agg
        SELECT
            date_trunc('day', bucket, 'UTC'), project_id, provider, model, agent_id, service_name, operation, status,
            sum(calls)::bigint,
            sum(errors)::bigint,
            sum(input_tokens)::bigint,
            sum(output_tokens)::bigint,
            sum(cache_read_tokens)::bigint,
            sum(cache_write_tokens)::bigint,
            sum(reasoning_tokens)::bigint,
            sum(cost_nano_usd)::bigint,
            sum(unpriced_calls)::bigint,
            sum(latency_us_sum)::bigint,
            sum(latency_count)::bigint,
            sum(ttft_us_sum)::bigint,
            sum(ttft_count)::bigint,
            spantally_hist_sum(latency_hist)
        FROM hourly
        GROUP BY 1, project_id, provider, model, agent_id, service_name, operation, status
        ORDER BY project_id, provider, model, agent_id, service_name, operation, status, 1
        ON CONFLICT (project_id, provider, model, agent_id, service_name, operation, status, bucket) DO UPDATE SET
            calls = agg.calls + excluded.calls,
            errors = agg.errors + excluded.errors,
            input_tokens = agg.input_tokens + excluded.input_tokens,
            output_tokens = agg.output_tokens + excluded.output_tokens,
            cache_read_tokens = agg.cache_read_tokens + excluded.cache_read_tokens,
            cache_write_tokens = agg.cache_write_tokens + excluded.cache_write_tokens,
            reasoning_tokens = agg.reasoning_tokens + excluded.reasoning_tokens,
            cost_nano_usd = agg.cost_nano_usd + excluded.cost_nano_usd,
            unpriced_calls = agg.unpriced_calls + excluded.unpriced_calls,
            latency_us_sum = agg.latency_us_sum + excluded.latency_us_sum,
            latency_count = agg.latency_count + excluded.latency_count,
            ttft_us_sum = agg.ttft_us_sum + excluded.ttft_us_sum,
            ttft_count = agg.ttft_count + excluded.ttft_count,
            latency_hist = spantally_hist_add(agg.latency_hist, excluded.latency_hist)
        RETURNING 1
    )
    SELECT count(*) INTO inserted_count FROM inserted;
    RETURN inserted_count;
END
$fn$;
