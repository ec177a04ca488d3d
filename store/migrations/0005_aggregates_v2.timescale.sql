-- Storage mode `timescale`, aggregates version 2: environment and error type join the key, so that
-- both filter and break down from the aggregates, and a histogram of the time to first token joins
-- the measures, so that its percentiles merge across buckets like latency's.
--
-- A continuous aggregate's grouping cannot change in place: both are recreated, and real-time
-- aggregation answers from llm_calls until the refresh policies have materialized them again.
-- Buckets whose raw calls retention has already dropped are not recreated.

DROP MATERIALIZED VIEW llm_calls_1d;
DROP MATERIALIZED VIEW llm_calls_1h;

CREATE MATERIALIZED VIEW llm_calls_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 hour', time) AS bucket,
    project_id, provider, model, agent_id, service_name, operation, status, environment, error_type,
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
GROUP BY bucket, project_id, provider, model, agent_id, service_name, operation, status, environment, error_type
WITH NO DATA;

CREATE MATERIALIZED VIEW llm_calls_1d
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 day', bucket) AS bucket,
    project_id, provider, model, agent_id, service_name, operation, status, environment, error_type,
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
GROUP BY time_bucket(INTERVAL '1 day', bucket), project_id, provider, model, agent_id, service_name, operation, status, environment, error_type
WITH NO DATA;

CREATE INDEX llm_calls_1h_project_bucket ON llm_calls_1h (project_id, bucket);
CREATE INDEX llm_calls_1d_project_bucket ON llm_calls_1d (project_id, bucket);

SELECT add_continuous_aggregate_policy('llm_calls_1h',
    start_offset => NULL, end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 minute');
SELECT add_continuous_aggregate_policy('llm_calls_1d',
    start_offset => NULL, end_offset => INTERVAL '1 day', schedule_interval => INTERVAL '10 minutes');

-- The dimensions the aggregates do not hold are answered from llm_calls: these serve a filter on one
-- user or one session over any range.
CREATE INDEX llm_calls_project_user_time ON llm_calls (project_id, user_id, time) WHERE user_id IS NOT NULL;
CREATE INDEX llm_calls_project_session_time ON llm_calls (project_id, session_id, time) WHERE session_id IS NOT NULL;
