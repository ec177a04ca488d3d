-- In both TimescaleDB editions the run tables are hypertables of one-day chunks, like llm_calls
-- (and dropped with it by retention). agent_runs is never compressed: its roll-ups are updated
-- whenever a late step of its trace arrives.
SELECT create_hypertable('agent_runs', by_range('time', INTERVAL '1 day'), create_default_indexes => false, migrate_data => true);
SELECT create_hypertable('tool_calls', by_range('time', INTERVAL '1 day'), create_default_indexes => false, migrate_data => true);
SELECT create_hypertable('span_links', by_range('time', INTERVAL '1 day'), create_default_indexes => false, migrate_data => true);
