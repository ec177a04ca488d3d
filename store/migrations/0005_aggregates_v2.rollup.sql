-- Storage modes `apache` and `postgres`, aggregates version 2: environment and error type join
-- the key, so that both filter and break down from the aggregates, and a histogram of the time to
-- first token joins the measures, so that its percentiles merge across buckets like latency's.
--
-- Buckets that llm_calls still holds in full are recomputed from it; the others (cut by retention)
-- keep their totals, with environment and error type unknown.

ALTER TABLE llm_calls_1h
    ADD COLUMN environment text,
    ADD COLUMN error_type text,
    ADD COLUMN ttft_hist bigint[] NOT NULL DEFAULT array_fill(0::bigint, ARRAY[32]);
ALTER TABLE llm_calls_1d
    ADD COLUMN environment text,
    ADD COLUMN error_type text,
    ADD COLUMN ttft_hist bigint[] NOT NULL DEFAULT array_fill(0::bigint, ARRAY[32]);

DROP INDEX llm_calls_1h_key;
CREATE UNIQUE INDEX llm_calls_1h_key ON llm_calls_1h (project_id, bucket, provider, model, agent_id, service_name, operation, status, environment, error_type) NULLS NOT DISTINCT;
DROP INDEX llm_calls_1d_key;
CREATE UNIQUE INDEX llm_calls_1d_key ON llm_calls_1d (project_id, bucket, provider, model, agent_id, service_name, operation, status, environment, error_type) NULLS NOT DISTINCT;

-- Buckets whose calls llm_calls still holds in full (its count equals the aggregate's).
CREATE TEMP TABLE complete_hours ON COMMIT DROP AS
SELECT a.project_id, a.bucket
FROM (SELECT project_id, bucket, sum(calls) AS calls FROM llm_calls_1h GROUP BY 1, 2) AS a
JOIN (SELECT project_id, date_trunc('hour', time, 'UTC') AS bucket, count(*) AS calls
      FROM llm_calls GROUP BY 1, 2) AS r USING (project_id, bucket)
WHERE a.calls = r.calls;
CREATE TEMP TABLE complete_days ON COMMIT DROP AS
SELECT a.project_id, a.bucket
FROM (SELECT project_id, bucket, sum(calls) AS calls FROM llm_calls_1d GROUP BY 1, 2) AS a
JOIN (SELECT project_id, date_trunc('day', time, 'UTC') AS bucket, count(*) AS calls
      FROM llm_calls GROUP BY 1, 2) AS r USING (project_id, bucket)
WHERE a.calls = r.calls;

DELETE FROM llm_calls_1h h USING complete_hours c
WHERE h.project_id = c.project_id AND h.bucket = c.bucket;
INSERT INTO llm_calls_1h (bucket, project_id, provider, model, agent_id, service_name, operation, status, environment, error_type, calls, errors, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_nano_usd, unpriced_calls, latency_us_sum, latency_count, ttft_us_sum, ttft_count, latency_hist, ttft_hist)
SELECT
    date_trunc('hour', time, 'UTC'), project_id, provider, model, agent_id, service_name, operation, status, environment, error_type,
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
    ] AS latency_hist,
    ARRAY[
        count(ttft_us) FILTER (WHERE width_bucket(ln(greatest(ttft_us, 1)::double precision / 1000.0), ln(8.0), ln(600000.0), 30) = 0),
        count(ttft_us) FILTER (WHERE width_bucket(ln(greatest(ttft_us, 1)::double precision / 1000.0), ln(8.0), ln(600000.0), 30) = 1),
        count(ttft_us) FILTER (WHERE width_bucket(ln(greatest(ttft_us, 1)::double precision / 1000.0), ln(8.0), ln(600000.0), 30) = 2),
        count(ttft_us) FILTER (WHERE width_bucket(ln(greatest(ttft_us, 1)::double precision / 1000.0), ln(8.0), ln(600000.0), 30) = 3),
        count(ttft_us) FILTER (WHERE width_bucket(ln(greatest(ttft_us, 1)::double precision / 1000.0), ln(8.0), ln(600000.0), 30) = 4),
        count(ttft_us) FILTER (WHERE width_bucket(ln(greatest(ttft_us, 1)::double precision / 1000.0), ln(8.0), ln(600000.0), 30) = 5),
        count(ttft_us) FILTER (WHERE width_bucket(ln(greatest(ttft_us, 1)::double precision / 1000.0), ln(8.0), ln(600000.0), 30) = 6),
        count(ttft_us) FILTER (WHERE width_bucket(ln(greatest(ttft_us, 1)::double precision / 1000.0), ln(8.0), ln(600000.0), 30) = 7),
        count(ttft_us) FILTER (WHERE width_bucket(ln(greatest(ttft_us, 1)::double precision / 1000.0), ln(8.0), ln(600000.0), 30) = 8),
        count(ttft_us) FILTER (WHERE width_bucket(ln(greatest(ttft_us, 1)::double precision / 1000.0), ln(8.0), ln(600000.0), 30) = 9),
        count(ttft_us) FILTER (WHERE width_bucket(ln(greatest(ttft_us, 1)::double precision / 1000.0), ln(8.0), ln(600000.0), 30) = 10),
        count(ttft_us) FILTER (WHERE width_bucket(ln(greatest(ttft_us, 1)::double precision / 1000.0), ln(8.0), ln(600000.0), 30) = 11),
        count(ttft_us) FILTER (WHERE width_bucket(ln(greatest(ttft_us, 1)::double precision / 1000.0), ln(8.0), ln(600000.0), 30) = 12),
        count(ttft_us) FILTER (WHERE width_bucket(ln(greatest(ttft_us, 1)::double precision / 1000.0), ln(8.0), ln(600000.0), 30) = 13),
        count(ttft_us) FILTER (WHERE width_bucket(ln(greatest(ttft_us, 1)::double precision / 1000.0), ln(8.0), ln(600000.0), 30) = 14),
        count(ttft_us) FILTER (WHERE width_bucket(ln(greatest(ttft_us, 1)::double precision / 1000.0), ln(8.0), ln(600000.0), 30) = 15),
        count(ttft_us) FILTER (WHERE width_bucket(ln(greatest(ttft_us, 1)::double precision / 1000.0), ln(8.0), ln(600000.0), 30) = 16),
        count(ttft_us) FILTER (WHERE width_bucket(ln(greatest(ttft_us, 1)::double precision / 1000.0), ln(8.0), ln(600000.0), 30) = 17),
        count(ttft_us) FILTER (WHERE width_bucket(ln(greatest(ttft_us, 1)::double precision / 1000.0), ln(8.0), ln(600000.0), 30) = 18),
        count(ttft_us) FILTER (WHERE width_bucket(ln(greatest(ttft_us, 1)::double precision / 1000.0), ln(8.0), ln(600000.0), 30) = 19),
        count(ttft_us) FILTER (WHERE width_bucket(ln(greatest(ttft_us, 1)::double precision / 1000.0), ln(8.0), ln(600000.0), 30) = 20),
        count(ttft_us) FILTER (WHERE width_bucket(ln(greatest(ttft_us, 1)::double precision / 1000.0), ln(8.0), ln(600000.0), 30) = 21),
        count(ttft_us) FILTER (WHERE width_bucket(ln(greatest(ttft_us, 1)::double precision / 1000.0), ln(8.0), ln(600000.0), 30) = 22),
        count(ttft_us) FILTER (WHERE width_bucket(ln(greatest(ttft_us, 1)::double precision / 1000.0), ln(8.0), ln(600000.0), 30) = 23),
        count(ttft_us) FILTER (WHERE width_bucket(ln(greatest(ttft_us, 1)::double precision / 1000.0), ln(8.0), ln(600000.0), 30) = 24),
        count(ttft_us) FILTER (WHERE width_bucket(ln(greatest(ttft_us, 1)::double precision / 1000.0), ln(8.0), ln(600000.0), 30) = 25),
        count(ttft_us) FILTER (WHERE width_bucket(ln(greatest(ttft_us, 1)::double precision / 1000.0), ln(8.0), ln(600000.0), 30) = 26),
        count(ttft_us) FILTER (WHERE width_bucket(ln(greatest(ttft_us, 1)::double precision / 1000.0), ln(8.0), ln(600000.0), 30) = 27),
        count(ttft_us) FILTER (WHERE width_bucket(ln(greatest(ttft_us, 1)::double precision / 1000.0), ln(8.0), ln(600000.0), 30) = 28),
        count(ttft_us) FILTER (WHERE width_bucket(ln(greatest(ttft_us, 1)::double precision / 1000.0), ln(8.0), ln(600000.0), 30) = 29),
        count(ttft_us) FILTER (WHERE width_bucket(ln(greatest(ttft_us, 1)::double precision / 1000.0), ln(8.0), ln(600000.0), 30) = 30),
        count(ttft_us) FILTER (WHERE width_bucket(ln(greatest(ttft_us, 1)::double precision / 1000.0), ln(8.0), ln(600000.0), 30) = 31)
    ] AS ttft_hist
FROM llm_calls
WHERE (project_id, date_trunc('hour', time, 'UTC')) IN (SELECT project_id, bucket FROM complete_hours)
GROUP BY 1, project_id, provider, model, agent_id, service_name, operation, status, environment, error_type;

DELETE FROM llm_calls_1d d USING complete_days c
WHERE d.project_id = c.project_id AND d.bucket = c.bucket;
INSERT INTO llm_calls_1d (bucket, project_id, provider, model, agent_id, service_name, operation, status, environment, error_type, calls, errors, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_nano_usd, unpriced_calls, latency_us_sum, latency_count, ttft_us_sum, ttft_count, latency_hist, ttft_hist)
SELECT
    date_trunc('day', bucket, 'UTC'), project_id, provider, model, agent_id, service_name, operation, status, environment, error_type,
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
    ] AS latency_hist,
    ARRAY[
        sum(ttft_hist[1])::bigint,
        sum(ttft_hist[2])::bigint,
        sum(ttft_hist[3])::bigint,
        sum(ttft_hist[4])::bigint,
        sum(ttft_hist[5])::bigint,
        sum(ttft_hist[6])::bigint,
        sum(ttft_hist[7])::bigint,
        sum(ttft_hist[8])::bigint,
        sum(ttft_hist[9])::bigint,
        sum(ttft_hist[10])::bigint,
        sum(ttft_hist[11])::bigint,
        sum(ttft_hist[12])::bigint,
        sum(ttft_hist[13])::bigint,
        sum(ttft_hist[14])::bigint,
        sum(ttft_hist[15])::bigint,
        sum(ttft_hist[16])::bigint,
        sum(ttft_hist[17])::bigint,
        sum(ttft_hist[18])::bigint,
        sum(ttft_hist[19])::bigint,
        sum(ttft_hist[20])::bigint,
        sum(ttft_hist[21])::bigint,
        sum(ttft_hist[22])::bigint,
        sum(ttft_hist[23])::bigint,
        sum(ttft_hist[24])::bigint,
        sum(ttft_hist[25])::bigint,
        sum(ttft_hist[26])::bigint,
        sum(ttft_hist[27])::bigint,
        sum(ttft_hist[28])::bigint,
        sum(ttft_hist[29])::bigint,
        sum(ttft_hist[30])::bigint,
        sum(ttft_hist[31])::bigint,
        sum(ttft_hist[32])::bigint
    ] AS ttft_hist
FROM llm_calls_1h
WHERE (project_id, date_trunc('day', bucket, 'UTC')) IN (SELECT project_id, bucket FROM complete_days)
GROUP BY 1, project_id, provider, model, agent_id, service_name, operation, status, environment, error_type;

CREATE OR REPLACE FUNCTION spantally_ingest_staged() RETURNS bigint LANGUAGE plpgsql AS $fn$
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
        RETURNING time, project_id, provider, model, agent_id, service_name, operation, status, environment, error_type, input_tokens, output_tokens,
                  cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_nano_usd,
                  latency_us, ttft_us, latency_bin,
                  width_bucket(ln(greatest(ttft_us, 1)::double precision / 1000.0), ln(8.0), ln(600000.0), 30) AS ttft_bin
    ), hourly AS (
        -- What this batch adds to each hourly row (only calls actually inserted).
        SELECT
            date_trunc('hour', time, 'UTC') AS bucket, project_id, provider, model, agent_id, service_name, operation, status, environment, error_type,
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
            ] AS latency_hist,
            ARRAY[
                count(ttft_us) FILTER (WHERE ttft_bin = 0),
                count(ttft_us) FILTER (WHERE ttft_bin = 1),
                count(ttft_us) FILTER (WHERE ttft_bin = 2),
                count(ttft_us) FILTER (WHERE ttft_bin = 3),
                count(ttft_us) FILTER (WHERE ttft_bin = 4),
                count(ttft_us) FILTER (WHERE ttft_bin = 5),
                count(ttft_us) FILTER (WHERE ttft_bin = 6),
                count(ttft_us) FILTER (WHERE ttft_bin = 7),
                count(ttft_us) FILTER (WHERE ttft_bin = 8),
                count(ttft_us) FILTER (WHERE ttft_bin = 9),
                count(ttft_us) FILTER (WHERE ttft_bin = 10),
                count(ttft_us) FILTER (WHERE ttft_bin = 11),
                count(ttft_us) FILTER (WHERE ttft_bin = 12),
                count(ttft_us) FILTER (WHERE ttft_bin = 13),
                count(ttft_us) FILTER (WHERE ttft_bin = 14),
                count(ttft_us) FILTER (WHERE ttft_bin = 15),
                count(ttft_us) FILTER (WHERE ttft_bin = 16),
                count(ttft_us) FILTER (WHERE ttft_bin = 17),
                count(ttft_us) FILTER (WHERE ttft_bin = 18),
                count(ttft_us) FILTER (WHERE ttft_bin = 19),
                count(ttft_us) FILTER (WHERE ttft_bin = 20),
                count(ttft_us) FILTER (WHERE ttft_bin = 21),
                count(ttft_us) FILTER (WHERE ttft_bin = 22),
                count(ttft_us) FILTER (WHERE ttft_bin = 23),
                count(ttft_us) FILTER (WHERE ttft_bin = 24),
                count(ttft_us) FILTER (WHERE ttft_bin = 25),
                count(ttft_us) FILTER (WHERE ttft_bin = 26),
                count(ttft_us) FILTER (WHERE ttft_bin = 27),
                count(ttft_us) FILTER (WHERE ttft_bin = 28),
                count(ttft_us) FILTER (WHERE ttft_bin = 29),
                count(ttft_us) FILTER (WHERE ttft_bin = 30),
                count(ttft_us) FILTER (WHERE ttft_bin = 31)
            ] AS ttft_hist
        FROM inserted
        GROUP BY 1, project_id, provider, model, agent_id, service_name, operation, status, environment, error_type
    ), hourly_rows AS (
        INSERT INTO llm_calls_1h AS agg (bucket, project_id, provider, model, agent_id, service_name, operation, status, environment, error_type, calls, errors, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_nano_usd, unpriced_calls, latency_us_sum, latency_count, ttft_us_sum, ttft_count, latency_hist, ttft_hist)
        SELECT * FROM hourly
        -- Every writer locks aggregate rows in the same (key) order, so writers never deadlock.
        ORDER BY project_id, provider, model, agent_id, service_name, operation, status, environment, error_type, bucket
        ON CONFLICT (project_id, provider, model, agent_id, service_name, operation, status, environment, error_type, bucket) DO UPDATE SET
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
            latency_hist = spantally_hist_add(agg.latency_hist, excluded.latency_hist),
            ttft_hist = spantally_hist_add(agg.ttft_hist, excluded.ttft_hist)
        RETURNING 1
    ), daily_rows AS (
        INSERT INTO llm_calls_1d AS agg (bucket, project_id, provider, model, agent_id, service_name, operation, status, environment, error_type, calls, errors, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_nano_usd, unpriced_calls, latency_us_sum, latency_count, ttft_us_sum, ttft_count, latency_hist, ttft_hist)
        SELECT
            date_trunc('day', bucket, 'UTC'), project_id, provider, model, agent_id, service_name, operation, status, environment, error_type,
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
            ] AS latency_hist,
            ARRAY[
                sum(ttft_hist[1])::bigint,
                sum(ttft_hist[2])::bigint,
                sum(ttft_hist[3])::bigint,
                sum(ttft_hist[4])::bigint,
                sum(ttft_hist[5])::bigint,
                sum(ttft_hist[6])::bigint,
                sum(ttft_hist[7])::bigint,
                sum(ttft_hist[8])::bigint,
                sum(ttft_hist[9])::bigint,
                sum(ttft_hist[10])::bigint,
                sum(ttft_hist[11])::bigint,
                sum(ttft_hist[12])::bigint,
                sum(ttft_hist[13])::bigint,
                sum(ttft_hist[14])::bigint,
                sum(ttft_hist[15])::bigint,
                sum(ttft_hist[16])::bigint,
                sum(ttft_hist[17])::bigint,
                sum(ttft_hist[18])::bigint,
                sum(ttft_hist[19])::bigint,
                sum(ttft_hist[20])::bigint,
                sum(ttft_hist[21])::bigint,
                sum(ttft_hist[22])::bigint,
                sum(ttft_hist[23])::bigint,
                sum(ttft_hist[24])::bigint,
                sum(ttft_hist[25])::bigint,
                sum(ttft_hist[26])::bigint,
                sum(ttft_hist[27])::bigint,
                sum(ttft_hist[28])::bigint,
                sum(ttft_hist[29])::bigint,
                sum(ttft_hist[30])::bigint,
                sum(ttft_hist[31])::bigint,
                sum(ttft_hist[32])::bigint
            ] AS ttft_hist
        FROM hourly
        GROUP BY 1, project_id, provider, model, agent_id, service_name, operation, status, environment, error_type
        ORDER BY project_id, provider, model, agent_id, service_name, operation, status, environment, error_type, 1
        ON CONFLICT (project_id, provider, model, agent_id, service_name, operation, status, environment, error_type, bucket) DO UPDATE SET
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
            latency_hist = spantally_hist_add(agg.latency_hist, excluded.latency_hist),
            ttft_hist = spantally_hist_add(agg.ttft_hist, excluded.ttft_hist)
        RETURNING 1
    )
    SELECT count(*) INTO inserted_count FROM inserted;
    RETURN inserted_count;
END
$fn$;

-- The dimensions the aggregates do not hold are answered from llm_calls: these serve a filter on one
-- user or one session over any range.
CREATE INDEX llm_calls_project_user_time ON llm_calls (project_id, user_id, time) WHERE user_id IS NOT NULL;
CREATE INDEX llm_calls_project_session_time ON llm_calls (project_id, session_id, time) WHERE session_id IS NOT NULL;
