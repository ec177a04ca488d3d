"""How long calls are kept: raw rows for `raw_days`, aggregate rows for `aggregate_days`.

Mode `timescale` hands the work to TimescaleDB retention policies on the hypertable and the
continuous aggregates (which store.maintenance runs itself when the scheduler does not). The
other modes run `apply_retention` periodically: `drop_chunks` on the hypertable (`apache`) or a
DELETE (`postgres`), and a DELETE of expired aggregate rows. The hourly and daily aggregates
keep their totals after raw calls expire: that is what they are for; the 5-minute level
(`Aggregate.expires_with_raw`) goes with the raw rows it stands in for. Sessions
(llm_sessions) are kept as long as aggregate rows, by the time of their last call.

Calls older than the raw retention are refused at ingest (collector.IngestLimits): in a region
whose raw rows are gone, a late call would make a refresh recompute its bucket from that call
alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from . import ddl, queries
from .catalog import AGGREGATES, CONTINUOUS_AGGREGATES, RAW_RELATIONS, Aggregate
from .database import Database, StorageMode
from .errors import StoreError
from .maintenance import record_run

__all__ = ["RetentionConfig", "apply_retention", "configure_retention"]

log = logging.getLogger("spantally.store")

@dataclass(frozen=True, slots=True)
class RetentionConfig:
    raw_days: int | None = None
    """Raw calls older than this are deleted; None keeps them for ever."""
    aggregate_days: int | None = None
    """Hourly and daily aggregate rows older than this are deleted; None keeps them. The
    5-minute level expires with the raw rows."""

    def __post_init__(self) -> None:
        for name in ("raw_days", "aggregate_days"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise StoreError(f"retention {name} must be at least 1 day, not {value}")
        if self.aggregate_days is not None and (
            self.raw_days is None or self.aggregate_days < self.raw_days
        ):
            raise StoreError(
                "aggregate retention must be at least the raw retention (aggregates outlive raw "
                "calls, never the other way round)"
            )

    @property
    def enabled(self) -> bool:
        return self.raw_days is not None

    def days_of(self, aggregate: Aggregate) -> int | None:
        """How long `aggregate` keeps its rows: the raw retention for a level that only stands in
        for raw rows (`Aggregate.expires_with_raw`), the aggregate retention for the others."""
        return self.raw_days if aggregate.expires_with_raw else self.aggregate_days


async def configure_retention(db: Database, config: RetentionConfig) -> None:
    """Mode `timescale`: make the retention policies match `config` (others: nothing to do)."""
    if db.mode is not StorageMode.TIMESCALE:
        return
    async with db.pool.connection() as conn:
        for relation, days in (*((r, config.raw_days) for r in RAW_RELATIONS),
                               *((a.name, config.days_of(a)) for a in CONTINUOUS_AGGREGATES)):
            await conn.execute(queries.REMOVE_RETENTION_POLICY, (relation,))
            if days is not None:
                await conn.execute(queries.ADD_RETENTION_POLICY, (relation, timedelta(days=days)))


async def apply_retention(db: Database, config: RetentionConfig) -> bool:
    """Delete what has expired, once: raw rows and aggregate rows in modes `apache` and
    `postgres`; in `timescale` mode, where policies drop the rest, the expired rows of the
    aggregates the writers keep there (store.catalog: not continuous). Returns False when
    another process holds the retention lock (it is doing the same work)."""
    timescale = db.mode is StorageMode.TIMESCALE
    kept = [a for a in AGGREGATES if not (timescale and a.continuous)]  # the others: policies
    if not config.enabled or (timescale and all(config.days_of(a) is None for a in kept)):
        return True
    assert config.raw_days is not None
    async with db.pool.connection() as conn:
        locked = await (await conn.execute(queries.TRY_RETENTION_LOCK)).fetchone()
        if not locked or not locked[0]:
            return False
        started = datetime.now(timezone.utc)
        raw_cutoff = timedelta(days=config.raw_days)
        for relation in () if timescale else RAW_RELATIONS:
            if db.mode is StorageMode.APACHE:
                await conn.execute(queries.DROP_RAW_CHUNKS, (relation, raw_cutoff))
            else:
                await conn.execute(queries.delete_raw_rows(relation), (raw_cutoff,))
        for a in kept:
            days = config.days_of(a)
            if days is not None:
                await conn.execute(ddl.delete_expired(a), {"older_than": timedelta(days=days)})
        if config.aggregate_days is not None:  # sessions outlive raw calls, as aggregates do
            await conn.execute(ddl.EXPIRE_SESSIONS,
                               {"older_than": timedelta(days=config.aggregate_days)})
        await record_run(conn, "retention", started, None)
    log.info("retention applied: raw %s days, aggregates %s days",
             config.raw_days, config.aggregate_days or "unlimited")
    return True
