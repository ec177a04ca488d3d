-- One call, sent twice: by two instrumentations of one client (OpenLLMetry and the `anthropic`
-- client's own spans), each in a trace of its own and often in different export requests.
-- The provider's response id and the family of instrumentation are kept with each call, and
-- every copy the collectors saw in the last day is listed in llm_call_copies with the call it
-- was counted as (store/copies.py): a unique index on the response id makes the copies of one
-- response meet whichever collector wrote them, the others find each other by time.
ALTER TABLE llm_calls ADD COLUMN response_id text, ADD COLUMN instrumentation text;

CREATE TABLE llm_call_copies (
    project_id      bigint NOT NULL,
    provider        text NOT NULL,
    request_model   text NOT NULL,
    family          text NOT NULL,
    response_id     text,
    starts          timestamptz NOT NULL,
    ends            timestamptz NOT NULL,
    -- The stored call (llm_calls' identity) this copy is counted as.
    call_time       timestamptz NOT NULL,
    call_trace_id   bytea NOT NULL,
    call_span_id    bytea NOT NULL
);
-- (Partial: no lookup by time may take it for the better fit.)
CREATE UNIQUE INDEX llm_call_copies_response ON llm_call_copies (project_id, provider, response_id)
    WHERE response_id IS NOT NULL;
-- A copy without a response id against every copy near it in time; a copy with one against
-- those without.
-- (request_model before provider: a lookup by response id must never find these the better fit)
CREATE INDEX llm_call_copies_near ON llm_call_copies (project_id, request_model, provider, starts);
CREATE INDEX llm_call_copies_near_unidentified ON llm_call_copies (project_id, request_model, provider, starts)
    WHERE response_id IS NULL;
CREATE INDEX llm_call_copies_call ON llm_call_copies (project_id, call_trace_id, call_span_id);
-- Copies older than a day are forgotten (store.copies.forget_copies).
CREATE INDEX llm_call_copies_starts ON llm_call_copies USING brin (starts);
