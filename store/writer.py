"""Writes batches of LLM calls: binary COPY into a per-connection staging table, then one
statement that inserts what is new (ON CONFLICT DO NOTHING) and maintains the aggregates."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from psycopg import errors as pg_errors

from . import queries
from .database import Database, is_transient
from .errors import StoreError, StoreUnavailable
from .records import STAGING_TYPES, LlmCall

__all__ = ["CallWriter", "WriteResult"]

log = logging.getLogger("spantally.store")

_MAX_ATTEMPTS = 5


class WriteResult(tuple[int, int]):
    """(inserted, duplicates) of one batch."""

    __slots__ = ()

    @property
    def inserted(self) -> int:
        return self[0]

    @property
    def duplicates(self) -> int:
        return self[1]


class CallWriter:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def write(self, calls: Sequence[LlmCall]) -> WriteResult:
        """Store `calls` exactly once each, whatever was stored before; all or nothing.

        Raises StoreUnavailable when the database cannot be reached (retry later) and
        StoreError when the batch itself is wrong."""
        if not calls:
            return WriteResult((0, 0))
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            try:
                inserted = await self._write_once(calls)
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
            return WriteResult((inserted, len(calls) - inserted))
        raise StoreUnavailable("write conflicts persisted; retry the batch")

    async def _write_once(self, calls: Sequence[LlmCall]) -> int:
        async with self._db.pool.connection() as conn:
            async with conn.cursor() as cur:
                async with cur.copy(queries.COPY_STAGING) as copy:
                    copy.set_types(STAGING_TYPES)
                    for call in calls:
                        await copy.write_row(call)
                await cur.execute(queries.INGEST_STAGED)
                row = await cur.fetchone()
            # Leaving the pool's context commits; only then is the batch acknowledged.
        return int(row[0]) if row else 0


