-- Storage mode `timescale`: llm_calls may be compressed into TimescaleDB's columnstore,
-- segmented by project (every query names one) and ordered by time (every query ranges over
-- it), then by the rest of the unique key, whose min/max per batch let an insert check for a
-- duplicate without decompressing every batch of its time range. Which chunks are compressed, and when, is the compression policy's business, set at each
-- start from SPANTALLY_COMPRESS_AFTER_DAYS (store.maintenance.configure_columnstore). Inserts
-- (late writes, duplicates refused by the unique index) and re-pricing's updates work on
-- compressed chunks; re-pricing takes an advisory lock instead of row locks, which compressed
-- rows do not support.
ALTER TABLE llm_calls SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'project_id',
    timescaledb.compress_orderby = 'time DESC, trace_id, span_id'
);
