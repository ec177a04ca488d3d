"""Versioned SQL migrations, applied once each, under an advisory lock.

Migrations are the `.sql` files in `migrations/`, named `NNNN_name.sql` (applies in every
storage mode) or `NNNN_name.<tag>.sql` (applies where the mode carries that tag: `timescaledb`
for both TimescaleDB modes, `timescale` or `rollup` for the two ways of keeping aggregates).
A version has at most one file per mode.
After them, once the schema is at the catalog's version, what holds no data and derives from
the aggregate catalog (the ingest function, `store.ddl`) is installed whenever the installed
one differs, so no migration needs to spell it out again.
The storage mode is decided once, when the first migration runs, and recorded; a later change of
database edition does not silently switch the schema under existing data.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

from . import ddl, queries
from .catalog import CALLS, SCHEMA_VERSION
from .database import StorageMode, detect_storage_mode
from .errors import StoreError

__all__ = ["Migration", "available_migrations", "migrate"]

log = logging.getLogger("spantally.store")

_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)(?:\.(?P<tag>[a-z]+))?\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    tag: str | None
    sql: str


def available_migrations() -> list[Migration]:
    found = []
    for entry in resources.files("spantally.store").joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if not match:
            continue
        found.append(
            Migration(
                version=int(match["version"]),
                name=match["name"],
                tag=match["tag"],
                sql=entry.read_text(encoding="utf-8"),
            )
        )
    return sorted(found, key=lambda m: (m.version, m.tag or ""))


async def migrate(database_url: str, requested_mode: str = "auto") -> StorageMode:
    """Bring the schema up to date and return the storage mode it is in. Safe to run
    concurrently from several processes: the first takes the lock, the others wait and then
    find nothing left to do."""
    async with await psycopg.AsyncConnection.connect(
        database_url, autocommit=True, connect_timeout=5, options="-c TimeZone=UTC"
    ) as conn:
        await conn.execute(queries.MIGRATION_LOCK)
        try:
            await conn.execute(queries.CREATE_MIGRATION_TABLES)
            mode = await _recorded_mode(conn)
            if mode is None:
                mode = await detect_storage_mode(conn, requested_mode)
                await conn.execute(queries.RECORD_STORAGE_MODE, (mode.value,))
            elif mode.has_hypertable:
                await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            applied = {
                row[0] for row in await (await conn.execute(queries.APPLIED_MIGRATIONS)).fetchall()
            }
            for migration in available_migrations():
                if migration.version in applied:
                    continue
                if migration.tag is not None and migration.tag not in mode.migration_tags:
                    continue
                await _apply(conn, migration)
                applied.add(migration.version)
            _check_complete(applied, mode)
            if max(applied, default=0) >= SCHEMA_VERSION:
                await _install_derived(conn, mode)
        finally:
            await conn.execute(queries.MIGRATION_UNLOCK)
    return mode


async def _recorded_mode(conn: psycopg.AsyncConnection) -> StorageMode | None:
    row = await (await conn.execute(queries.RECORDED_STORAGE_MODE)).fetchone()
    return StorageMode(row[0]) if row else None


async def _apply(conn: psycopg.AsyncConnection, migration: Migration) -> None:
    label = f"{migration.version:04d}_{migration.name}" + (
        f".{migration.tag}" if migration.tag else ""
    )
    log.info("applying migration %s", label)
    for attempt in range(1, _CATALOG_RACE_ATTEMPTS + 1):
        try:
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(queries.RECORD_MIGRATION,
                                   (migration.version, migration.name, migration.tag or ""))
            return
        except psycopg.Error as exc:
            if _catalog_race(exc) and attempt < _CATALOG_RACE_ATTEMPTS:
                # TimescaleDB's job scheduler updated a catalog row this migration changes
                # (dropping a continuous aggregate drops its policy's job); the transaction
                # rolled back whole, so it is run again.
                log.warning("migration %s met a concurrent catalog update; retrying", label)
                await asyncio.sleep(0.2 * attempt)
                continue
            raise StoreError(f"migration {label} failed: {exc}") from exc


_CATALOG_RACE_ATTEMPTS = 5


def _catalog_race(exc: psycopg.Error) -> bool:
    """A migration that met a policy run of TimescaleDB's job scheduler: PostgreSQL's "tuple
    concurrently updated" or "... deleted" (two transactions changed one catalog row; it has no
    SQLSTATE of its own, XX000, so its message identifies it), or a deadlock with a refresh that reads a
    continuous aggregate the migration drops."""
    if isinstance(exc, psycopg.errors.DeadlockDetected):
        return True
    return (isinstance(exc, psycopg.errors.InternalError_)
            and exc.diag.message_primary in ("tuple concurrently updated",
                                             "tuple concurrently deleted"))


async def _install_derived(conn: psycopg.AsyncConnection, mode: StorageMode) -> None:
    kept = ddl.aggregates_kept(CALLS, timescale=mode is StorageMode.TIMESCALE)
    row = await (await conn.execute(queries.INGEST_FUNCTION_SOURCE)).fetchone()
    if row is not None and row[0] == ddl.ingest_function_body(kept):
        return
    log.info("installing the ingest function of the aggregate catalog")
    try:
        await conn.execute(ddl.ingest_function(kept))
    except psycopg.Error as exc:
        raise StoreError(f"installing the ingest function failed: {exc}") from exc


def _check_complete(applied: set[int], mode: StorageMode) -> None:
    expected = {
        m.version for m in available_migrations() if m.tag is None or m.tag in mode.migration_tags
    }
    missing = sorted(expected - applied)
    if missing:
        raise StoreError(f"migrations not applied: {missing}")
