-- Agent runs and the spans beneath them (store/runs.py). A run is an agent or workflow span; its
-- steps are the LLM calls (llm_calls) and tool spans (tool_calls) below it; span_links keeps the
-- place in the tree of every other span that can lie between a run and its steps. A run's
-- roll-ups are recomputed from these whenever a write touches its trace, so they are exact once
-- every span has arrived, in whatever order and through whichever collector.
CREATE TABLE agent_runs (
    time                timestamptz NOT NULL,
    project_id          bigint NOT NULL,
    trace_id            bytea NOT NULL,
    span_id             bytea NOT NULL,
    parent_span_id      bytea,
    kind                text NOT NULL CHECK (kind IN ('agent', 'workflow')),
    agent_id            text,
    agent_name          text,
    service_name        text,
    environment         text,
    session_id          text,
    user_id             text,
    duration_us         bigint NOT NULL,
    status              text NOT NULL CHECK (status IN ('ok', 'error')),
    error_type          text,
    tags                jsonb,
    -- The roll-ups: inclusive (every step below, sub-agents' included), then `own_` (the steps
    -- whose nearest run is this one). Cost in nano-USD, as in llm_calls.
    parent_run_span_id  bytea,
    llm_calls           bigint NOT NULL DEFAULT 0,
    llm_errors          bigint NOT NULL DEFAULT 0,
    tool_calls          bigint NOT NULL DEFAULT 0,
    tool_errors         bigint NOT NULL DEFAULT 0,
    input_tokens        bigint NOT NULL DEFAULT 0,
    output_tokens       bigint NOT NULL DEFAULT 0,
    cache_read_tokens   bigint NOT NULL DEFAULT 0,
    cache_write_tokens  bigint NOT NULL DEFAULT 0,
    reasoning_tokens    bigint NOT NULL DEFAULT 0,
    cost_nano_usd       bigint NOT NULL DEFAULT 0,
    unpriced_calls      bigint NOT NULL DEFAULT 0,
    own_llm_calls           bigint NOT NULL DEFAULT 0,
    own_llm_errors          bigint NOT NULL DEFAULT 0,
    own_tool_calls          bigint NOT NULL DEFAULT 0,
    own_tool_errors         bigint NOT NULL DEFAULT 0,
    own_input_tokens        bigint NOT NULL DEFAULT 0,
    own_output_tokens       bigint NOT NULL DEFAULT 0,
    own_cache_read_tokens   bigint NOT NULL DEFAULT 0,
    own_cache_write_tokens  bigint NOT NULL DEFAULT 0,
    own_reasoning_tokens    bigint NOT NULL DEFAULT 0,
    own_cost_nano_usd       bigint NOT NULL DEFAULT 0,
    own_unpriced_calls      bigint NOT NULL DEFAULT 0,
    -- The models and providers of the LLM calls below it (inclusive), for "runs that used
    -- model M".
    models              text[] NOT NULL DEFAULT '{}',
    providers           text[] NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX agent_runs_identity ON agent_runs (project_id, trace_id, span_id, time);
CREATE INDEX agent_runs_project_time ON agent_runs (project_id, time DESC);

CREATE TABLE tool_calls (
    time            timestamptz NOT NULL,
    project_id      bigint NOT NULL,
    trace_id        bytea NOT NULL,
    span_id         bytea NOT NULL,
    parent_span_id  bytea,
    tool_name       text,
    duration_us     bigint NOT NULL,
    status          text NOT NULL CHECK (status IN ('ok', 'error')),
    error_type      text
);
CREATE UNIQUE INDEX tool_calls_identity ON tool_calls (project_id, trace_id, span_id, time);

CREATE TABLE span_links (
    time            timestamptz NOT NULL,
    project_id      bigint NOT NULL,
    trace_id        bytea NOT NULL,
    span_id         bytea NOT NULL,
    parent_span_id  bytea NOT NULL
);
CREATE UNIQUE INDEX span_links_identity ON span_links (project_id, trace_id, span_id, time);
