-- Every storage mode: the sessions' span index ends at the end of the UTC hour of a session's
-- last call (last_hour_end) instead of at the last call itself. A session's next call in the
-- same hour then changes no indexed column, and its row is updated in place (a HOT update)
-- instead of inserting into every index; pages keep room for those updates (fillfactor). A
-- look-up by the index is checked against the exact span (store/ddl.py, SESSION_SPAN_INDEXED).
ALTER TABLE "llm_sessions" ADD COLUMN "last_hour_end" timestamp with time zone;
UPDATE "llm_sessions"
SET "last_hour_end" = date_bin(INTERVAL '1 hour', last_call_at, TIMESTAMPTZ '1970-01-01 00:00:00+00')
                      + INTERVAL '1 hour';
ALTER TABLE "llm_sessions" ALTER COLUMN "last_hour_end" SET NOT NULL;
ALTER TABLE "llm_sessions" SET (fillfactor = 70);
DROP INDEX "llm_sessions_span";
CREATE INDEX "llm_sessions_span" ON "llm_sessions" USING gist (tstzrange(started_at, last_hour_end, '(]'));
