-- Every storage mode: the last run of each maintenance task SpanTally ran itself (the refresh,
-- retention and compression policies it stands in for when TimescaleDB's job scheduler does not
-- run them, and the retention of the modes without policies), keyed by the task's name
-- (`refresh llm_calls_1h`, `retention llm_calls`, ...), not by TimescaleDB's job id, which
-- changes whenever a policy is re-created. Read by /healthz and /metrics of every process.
CREATE TABLE spantally_maintenance_runs (
    task text PRIMARY KEY,
    started_at timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    succeeded boolean NOT NULL,
    error text,
    runs bigint NOT NULL DEFAULT 0,
    failures bigint NOT NULL DEFAULT 0
);
