-- What each API key may do: `ingest` (OTLP export), `read` (analytics, calls, prices as read),
-- `admin` (prices, currencies and other changes). Keys made before scopes existed could do all
-- three and keep doing so; a new key has `ingest` and `read` unless it is given others.
ALTER TABLE api_keys ADD COLUMN scopes text[] NOT NULL DEFAULT '{ingest,read,admin}';
ALTER TABLE api_keys ALTER COLUMN scopes SET DEFAULT '{ingest,read}';
ALTER TABLE api_keys ADD CONSTRAINT api_keys_scopes_known
    CHECK (scopes <@ '{ingest,read,admin}'::text[] AND cardinality(scopes) > 0);
