"""Writes batches of spans: the LLM calls by binary COPY into a per-connection staging table,
then one statement that inserts what is new (ON CONFLICT DO NOTHING) and maintains the
aggregates; agent runs, tools and links beside them, and the roll-ups of the runs of every
trace the batch touched (store.runs), all in one transaction."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.sql import Composable

from . import ddl, queries
from .catalog import CALLS, CONTINUOUS_AGGREGATES, RUNS
from .copies import CopiesResolved, collapse, resolve_stored
from .database import Database, StorageMode, is_transient
from .errors import StoreError, StoreUnavailable
from .records import STAGING_TYPES, LlmCall, SpanRecords
from .runs import keep_rollups, write_run_spans

__all__ = ["CallWriter", "WriteResult", "ingest_staged", "stage_calls", "write_calls"]

log = logging.getLogger("spantally.store")

_MAX_ATTEMPTS = 5
_REFRESH_WAIT_S = 30.0


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one batch's LLM calls came to."""

    inserted: int
    duplicates: int
    """Stored already (a retried request)."""
    copies: int = 0
    """Copies of a call that another copy stands for (store.copies): in the batch, or stored."""


class CallWriter:
    def __init__(self, database: Database) -> None:
        self._db = database
        self._refresher = _AggregateRefresher(database)

    async def write(self, batch: SpanRecords | Sequence[LlmCall]) -> WriteResult:
        """Store the batch's records exactly once each, whatever was stored before; all or
        nothing. The result counts its LLM calls.

        Raises StoreUnavailable when the database cannot be reached (retry later) and
        StoreError when the batch itself is wrong."""
        records = batch if isinstance(batch, SpanRecords) else SpanRecords(calls=list(batch))
        calls = records.calls
        if not len(records):
            return WriteResult(0, 0)
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            try:
                result, oldest = await self._write_once(records)
            except (pg_errors.DeadlockDetected, pg_errors.SerializationFailure):
                # Rollup upserts lock in key order, so this is rare; the batch is retried whole.
                log.warning("write conflict, retrying batch (attempt %d)", attempt)
                continue
            except Exception as exc:
                if is_transient(exc):
                    self._db.record_failure(exc)
                    raise StoreUnavailable(f"database unavailable: {exc}") from exc
                raise StoreError(f"batch of {len(calls)} calls rejected: {exc}") from exc
            self._db.record_success()
            if self._db.mode is StorageMode.TIMESCALE and oldest is not None:
                await self._refresher.after_write(oldest)
            return result
        raise StoreUnavailable("write conflicts persisted; retry the batch")

    async def _write_once(self, records: SpanRecords) -> tuple[WriteResult, datetime | None]:
        """What the batch's calls came to, and the start of the oldest call or run it inserted
        or changed."""
        timescale = self._db.mode is StorageMode.TIMESCALE
        calls, folded = collapse(records.calls)
        async with self._db.pool.connection() as conn:
            async with conn.cursor() as cur:
                inserted = 0
                if calls:
                    await stage_calls(cur, calls)
                    copies = await resolve_stored(cur, calls,
                                                  ddl.aggregates_kept(CALLS, timescale))
                    inserted = await ingest_staged(cur) if copies.calls else 0
                else:
                    copies = CopiesResolved([])
                runs = await write_run_spans(cur, records)
            changed = [before for before, _ in copies.changes]
            rollups = await keep_rollups(conn, records, runs, ddl.aggregates_kept(RUNS, timescale),
                                         changed_calls=changed)
            # Leaving the pool's context commits; only then is the batch acknowledged.
        oldest = [t for t in (min(c.time for c in copies.calls) if inserted else None,
                              min((c.time for c in changed), default=None), rollups.oldest)
                  if t is not None]
        return (WriteResult(inserted, len(copies.calls) - inserted, folded + copies.folded),
                min(oldest, default=None))


async def write_calls(cur: psycopg.AsyncCursor[Any], calls: Sequence[LlmCall]) -> int:
    """Insert the calls not stored yet (and, in the rollup modes, add them to the aggregates),
    in the cursor's transaction; returns how many were new."""
    if not calls:
        return 0
    await stage_calls(cur, calls)
    return await ingest_staged(cur)


async def stage_calls(cur: psycopg.AsyncCursor[Any], calls: Sequence[LlmCall]) -> None:
    """Copy the calls into the connection's staging table (binary COPY)."""
    async with cur.copy(queries.COPY_STAGING) as copy:
        copy.set_types(STAGING_TYPES)
        for call in calls:
            await copy.write_row(call)


async def ingest_staged(cur: psycopg.AsyncCursor[Any]) -> int:
    """Insert the staged calls not stored yet (the ingest function); how many were new."""
    await cur.execute(queries.INGEST_STAGED)
    row = await cur.fetchone()
    return int(row[0]) if row else 0




class _AggregateRefresher:
    """Mode `timescale`: keeps "acknowledged means queryable" for calls and runs older than the
    newest refresh policy's end (5 to 10 minutes ago: the 5-minute level's).

    Real-time aggregation covers rows newer than the refresh policy's end; an older call, or a
    run whose roll-ups a late step changed, lands in a bucket that may already be materialized
    and would stay invisible until the next policy run. After such a write, the same refresh the policy runs is done before the write is
    acknowledged. Refreshes run one at a time, and one that starts after a write's commit
    serves it, so concurrent writers share them."""

    def __init__(self, database: Database) -> None:
        self._db = database
        self._lock = asyncio.Lock()
        self._started = 0
        self._finished = 0  # index of the last refresh that completed

    async def after_write(self, oldest: datetime) -> None:
        now = datetime.now(timezone.utc)
        # Newer than every refresh policy's end: real-time aggregation shows it.
        if oldest >= max(a.grain.refresh_end(now) for a in CONTINUOUS_AGGREGATES):
            return
        ticket = self._started
        async with self._lock:
            if self._finished > ticket:
                return  # a refresh that started after this write's commit has completed
            self._started += 1
            index = self._started
            await self._refresh(datetime.now(timezone.utc))
            self._finished = index

    async def _refresh(self, now: datetime) -> None:
        try:
            for a in CONTINUOUS_AGGREGATES:  # each after the aggregate it is computed from
                await self._refresh_one(ddl.refresh(a, self._db.refreshes_in_one_pass),
                                        a.grain.refresh_end(now))
        except Exception as exc:
            if is_transient(exc):
                self._db.record_failure(exc)
                raise StoreUnavailable(f"database unavailable: {exc}") from exc
            raise StoreError(f"refreshing the aggregates failed: {exc}") from exc

    async def _refresh_one(self, statement: Composable, end: datetime) -> None:
        # A policy run or another collector may be refreshing the same aggregate: TimescaleDB
        # then refuses at once, and we wait for our turn.
        delay = 0.05
        deadline = asyncio.get_running_loop().time() + _REFRESH_WAIT_S
        while True:
            try:
                async with self._db.pool.connection() as conn:
                    await conn.set_autocommit(True)  # refresh_continuous_aggregate needs it
                    try:
                        await conn.execute(statement, {"end": end})
                    finally:
                        await conn.set_autocommit(False)
                return
            except pg_errors.LockNotAvailable:
                if asyncio.get_running_loop().time() >= deadline:
                    raise StoreUnavailable("the aggregates are being refreshed; retry") from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
