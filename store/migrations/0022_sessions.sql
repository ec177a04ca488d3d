-- Every storage mode: a row per session (llm_sessions) with what its calls add up to, so that
-- a list of sessions over any range reads one row per session instead of grouping the calls.
-- A table the writers keep in every mode (the ingest function merges each batch's sessions;
-- re-pricing moves their cost; a better copy recomputes its session), filled from llm_calls.
-- Its span index finds the sessions with calls on both sides of a range's edge, which are
-- counted from their raw calls in the range.

CREATE TABLE "llm_sessions" (
    project_id bigint NOT NULL,
    session_id text NOT NULL,
    "started_at" timestamp with time zone NOT NULL,
    "last_call_at" timestamp with time zone NOT NULL,
    "ended_at" timestamp with time zone NOT NULL,
    "calls" bigint NOT NULL DEFAULT 0,
    "errors" bigint NOT NULL DEFAULT 0,
    "input_tokens" bigint NOT NULL DEFAULT 0,
    "output_tokens" bigint NOT NULL DEFAULT 0,
    "cost_nano_usd" bigint NOT NULL DEFAULT 0,
    "unpriced_calls" bigint NOT NULL DEFAULT 0,
    "user_low" text,
    "user_high" text,
    "agent_low" text,
    "agent_high" text,
    PRIMARY KEY (project_id, session_id)
);
CREATE INDEX "llm_sessions_started" ON "llm_sessions" (project_id, started_at);
CREATE INDEX "llm_sessions_span" ON "llm_sessions" USING gist (tstzrange(started_at, last_call_at, '(]'));
INSERT INTO "llm_sessions" ("project_id", "session_id", "started_at", "last_call_at", "ended_at", "calls", "errors", "input_tokens", "output_tokens", "cost_nano_usd", "unpriced_calls", "user_low", "user_high", "agent_low", "agent_high")
SELECT project_id, session_id, min(time) AS "started_at", max(time) AS "last_call_at", max(time + latency_us * INTERVAL '1 microsecond') AS "ended_at", count(*) AS "calls", count(*) FILTER (WHERE status = 'error') AS "errors", sum(input_tokens)::bigint AS "input_tokens", sum(output_tokens)::bigint AS "output_tokens", coalesce(sum(cost_nano_usd), 0)::bigint AS "cost_nano_usd", count(*) FILTER (WHERE cost_nano_usd IS NULL) AS "unpriced_calls", min(user_id) AS "user_low", max(user_id) AS "user_high", min(agent_id) AS "agent_low", max(agent_id) AS "agent_high"
FROM "llm_calls"
WHERE session_id IS NOT NULL
GROUP BY project_id, session_id;
