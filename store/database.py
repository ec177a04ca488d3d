"""Connection pool, storage-mode detection and health of the SpanTally database."""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg
from psycopg.adapt import PyFormat
from psycopg.types.json import set_json_dumps
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from . import queries
from .errors import StoreError, StoreUnavailable

__all__ = ["Database", "StorageMode", "StoreConfig", "detect_storage_mode", "is_transient"]

log = logging.getLogger("spantally.store")


class StorageMode(str, enum.Enum):
    """How the aggregates are kept: see ARCHITECTURE.md, "Storage modes"."""

    TIMESCALE = "timescale"  # TimescaleDB, Timescale License edition: continuous aggregates
    APACHE = "apache"  # TimescaleDB, Apache edition: hypertable + rollup tables
    POSTGRES = "postgres"  # plain PostgreSQL: table + rollup tables

    @property
    def has_hypertable(self) -> bool:
        return self is not StorageMode.POSTGRES

    @property
    def migration_tags(self) -> frozenset[str]:
        """The migration file variants (`NNNN_name.<tag>.sql`) that apply in this mode."""
        tags = {"timescale"} if self is StorageMode.TIMESCALE else {"rollup"}
        if self.has_hypertable:
            tags.add("timescaledb")
        return frozenset(tags)


@dataclass(frozen=True, slots=True)
class StoreConfig:
    database_url: str
    pool_min_size: int = 2
    pool_max_size: int = 8
    connect_timeout_s: float = 3.0
    """How long an operation waits for a connection before the database counts as unavailable."""
    storage_mode: str = "auto"
    """`auto` detects from the database; `postgres` forces rollup tables without TimescaleDB."""
    work_mem: str = "64MB"
    """PostgreSQL work_mem of SpanTally's connections: an analytics answer groups ~80 sums
    (two 32-bin histograms among them) per bucket and value, which at the default 4MB spills
    to disk instead of hashing in memory (bench/analytics.py)."""


def _version(text: str) -> tuple[int, ...]:
    """`2.28.3` -> (2, 28, 3); a suffix such as `-dev` is ignored."""
    parts = []
    for part in text.split("."):
        digits = "".join(c for c in part if c.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def is_transient(exc: BaseException) -> bool:
    """True for failures that mean "the database is not reachable now", not "this is wrong"."""
    if isinstance(exc, (PoolTimeout, StoreUnavailable, ConnectionError, OSError)):
        return True
    sqlstate = getattr(exc, "sqlstate", None) or ""
    if isinstance(exc, psycopg.OperationalError) and not sqlstate:
        return True  # the connection failed or broke; errors the server reports carry a SQLSTATE
    # 08: connection exception; 57P: operator intervention (shutdown); 53: insufficient resources
    return sqlstate.startswith(("08", "57P", "53"))


async def detect_storage_mode(conn: psycopg.AsyncConnection, requested: str = "auto") -> StorageMode:
    """Decide the storage mode, creating the timescaledb extension when it can be loaded."""
    if requested not in ("auto", "postgres"):
        raise StoreError(f"unknown storage mode {requested!r}: use auto or postgres")
    if requested == "postgres":
        return StorageMode.POSTGRES
    installed = await (
        await conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
    ).fetchone()
    if not installed:
        available = await (
            await conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
        ).fetchone()
        preload = await (
            await conn.execute("SELECT current_setting('shared_preload_libraries')")
        ).fetchone()
        if not available:
            log.info("timescaledb is not installed on the database server")
            return StorageMode.POSTGRES
        if "timescaledb" not in (preload[0] if preload else ""):
            log.warning(
                "timescaledb is installed but not in shared_preload_libraries: "
                "using plain PostgreSQL tables"
            )
            return StorageMode.POSTGRES
        await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    row = await (await conn.execute("SELECT current_setting('timescaledb.license', true)")).fetchone()
    license_ = row[0] if row else None
    return StorageMode.TIMESCALE if license_ == "timescale" else StorageMode.APACHE


def _json_dumps(value: Any) -> bytes | str:
    """JSON for jsonb values written (every call's tags): orjson, several times faster than the
    standard library's; integers beyond 64 bits, which it refuses, through the standard one."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value)


async def _configure(conn: psycopg.AsyncConnection) -> None:
    set_json_dumps(_json_dumps, conn)
    # Binary COPY picks each column's dumper by its type (`set_types`), and for bytea that is
    # the pure-Python one psycopg.dbapi20 registers for its `Binary` wrapper: the C dumper of
    # bytes instead, for the trace and span ids of every call written.
    conn.adapters.register_dumper(bytes, psycopg.adapters.get_dumper(bytes, PyFormat.BINARY))
    # Each connection stages write batches in its own temporary table (see writer.py).
    await conn.execute(queries.CREATE_STAGING_TABLE)
    await conn.commit()


class Database:
    """A connection pool plus what the store knows about the database behind it."""

    def __init__(self, config: StoreConfig, *, read_only: bool = False) -> None:
        """`read_only`: for analytics on a replica; no migrations, no staging tables (a hot
        standby refuses to create them), and the storage mode is the one the primary recorded.
        """
        self.config = config
        self.read_only = read_only
        self.pool = AsyncConnectionPool(
            config.database_url,
            min_size=config.pool_min_size,
            max_size=config.pool_max_size,
            timeout=config.connect_timeout_s,
            configure=None if read_only else _configure,
            check=AsyncConnectionPool.check_connection,
            kwargs={
                "connect_timeout": max(1, int(config.connect_timeout_s)),
                # Buckets are computed in UTC whatever the server's default time zone is.
                "options": f"-c TimeZone=UTC -c work_mem={config.work_mem}",
                "application_name": "spantally",
            },
            open=False,
            name="spantally",
        )
        self.mode: StorageMode | None = None
        self.timescaledb_version: tuple[int, ...] | None = None
        """The timescaledb extension's version, None without it."""
        self._last_failure: float | None = None
        self._last_error = ""

    async def open(self, *, wait_s: float = 30.0) -> StorageMode:
        """Apply migrations (waiting up to `wait_s` for the server), then open the pool."""
        from .migrate import migrate

        deadline = time.monotonic() + wait_s
        while not self.read_only:
            try:
                self.mode = await migrate(self.config.database_url, self.config.storage_mode)
                break
            except Exception as exc:
                if not is_transient(exc) or time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(0.5)
        await self.pool.open(wait=True, timeout=wait_s)
        if self.read_only:
            try:
                async with self.pool.connection() as conn:
                    row = await (await conn.execute(queries.RECORDED_STORAGE_MODE)).fetchone()
            except psycopg.errors.UndefinedTable:
                row = None
            if row is None:
                raise StoreError("the read database has no SpanTally schema: is it a replica?")
            self.mode = StorageMode(row[0])
        if self.mode.has_hypertable:
            async with self.pool.connection() as conn:
                row = await (await conn.execute(queries.TIMESCALEDB_VERSION)).fetchone()
            self.timescaledb_version = _version(row[0]) if row else None
        log.info("storage mode: %s%s", self.mode.value, " (read replica)" if self.read_only else "")
        return self.mode

    @property
    def refreshes_in_one_pass(self) -> bool:
        """Whether SpanTally's own refreshes ask for a single pass (store.ddl.refresh): the
        option exists, and is needed, from TimescaleDB 2.28 on."""
        return self.timescaledb_version is not None and self.timescaledb_version >= (2, 28)

    async def close(self) -> None:
        await self.pool.close()

    # -- health ----------------------------------------------------------------------------
    # Callers report transient failures here; receivers consult `available` to refuse work
    # quickly (with a retryable status) instead of queueing it behind a dead database.

    def record_failure(self, exc: BaseException) -> None:
        self._last_failure = time.monotonic()
        self._last_error = f"{type(exc).__name__}: {exc}".strip()

    def record_success(self) -> None:
        self._last_failure = None
        self._last_error = ""

    @property
    def available(self) -> bool:
        return self._last_failure is None

    @property
    def last_error(self) -> str:
        return self._last_error

    async def ping(self, timeout_s: float = 1.0) -> bool:
        """Check reachability with a query, updating `available`; quick to say no."""
        try:
            async with self.pool.connection(timeout=timeout_s) as conn:
                await conn.execute("SELECT 1")
        except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
            self.record_failure(exc)
            return False
        self.record_success()
        return True

    async def watch(self, interval_s: float = 1.0) -> None:
        """Probe the database while it is marked unavailable, so health recovers by itself."""
        while True:
            await asyncio.sleep(interval_s)
            if not self.available:
                if await self.ping():
                    log.info("database reachable again")
