-- In both TimescaleDB editions the raw table is a hypertable of one-day chunks.
SELECT create_hypertable('llm_calls', by_range('time', INTERVAL '1 day'), create_default_indexes => false);
