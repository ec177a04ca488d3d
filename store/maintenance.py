"""Maintenance of a `timescale`-mode database: TimescaleDB's policies, watched, and run by
SpanTally itself whenever TimescaleDB's job scheduler does not run them.

SpanTally's answers stay exact without the refresh policies (real-time aggregation, and the
writer's refresh before it acknowledges old writes), but they stay fast only while the
continuous aggregates are materialized, and retention and compression happen only when their
policies run. Those run in TimescaleDB's background workers, which can fail for reasons outside
SpanTally: on PostgreSQL 15.20 every job run by the scheduler fails (docs/operations.md,
"Background jobs"). So every collector process runs a `MaintenanceRunner`: each round, one
process at a time (an advisory lock) reads the scheduler's record of every policy on
SpanTally's relations, and runs with `run_job()` (the policy's own procedure and
configuration) each one the scheduler has not run successfully within its schedule, no more
often than that schedule. Its runs are recorded in `spantally_maintenance_runs`, so /healthz
and /metrics of every process can show who did the work, and when.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import psycopg
from psycopg.rows import dict_row

from . import queries
from .catalog import AGGREGATES, CONTINUOUS_AGGREGATES, RAW_RELATIONS
from .database import Database, StorageMode, is_transient
from .errors import StoreError

__all__ = [
    "ColumnstoreConfig",
    "ColumnstoreHealth",
    "Job",
    "MaintenanceHealth",
    "MaintenanceRun",
    "MaintenanceRunner",
    "configure_columnstore",
    "maintenance_health",
    "record_run",
]

log = logging.getLogger("spantally.store")

# TimescaleDB's procedure for each kind of policy SpanTally relies on.
_KINDS = {
    "policy_refresh_continuous_aggregate": "refresh",
    "policy_retention": "retention",
    "policy_compression": "compression",
    "policy_job_stat_history_retention": "job history retention",
}
_RELATIONS = [*RAW_RELATIONS, *(a.name for a in AGGREGATES)]
_GRACE = timedelta(minutes=1)
"""How late a scheduled run may start before the scheduler counts as not running it."""


@dataclass(frozen=True, slots=True)
class ColumnstoreConfig:
    compress_after_days: int | None = 7
    """Chunks of llm_calls whose calls are all older than this are compressed (`timescale`
    mode); None never compresses. The default is well beyond the minutes an exporter retries
    for: writes into compressed chunks work, at some cost (bench/README.md)."""

    def __post_init__(self) -> None:
        if self.compress_after_days is not None and self.compress_after_days < 1:
            raise StoreError(
                f"compress_after_days must be at least 1 day, not {self.compress_after_days}")


async def configure_columnstore(db: Database, config: ColumnstoreConfig) -> None:
    """Mode `timescale`: make the compression policy of llm_calls match `config`."""
    if db.mode is not StorageMode.TIMESCALE:
        return
    async with db.pool.connection() as conn:
        await conn.execute(queries.REMOVE_COMPRESSION_POLICY)
        if config.compress_after_days is not None:
            await conn.execute(queries.ADD_COMPRESSION_POLICY,
                               (timedelta(days=config.compress_after_days),))


@dataclass(frozen=True, slots=True)
class MaintenanceRun:
    """SpanTally's own last run of a task (a row of spantally_maintenance_runs)."""

    task: str
    started_at: datetime
    finished_at: datetime
    succeeded: bool
    error: str | None
    runs: int
    failures: int


@dataclass(frozen=True, slots=True)
class Job:
    """One TimescaleDB policy SpanTally relies on, as its scheduler and SpanTally last ran it."""

    job_id: int
    task: str
    """`<kind> <relation>`, e.g. `refresh llm_calls_1h`: stable when the job is re-created."""
    schedule: timedelta
    scheduled: bool
    next_start: datetime | None
    last_run_started: datetime | None
    last_run_status: str | None
    """The scheduler's: `Success`, `Failed`, or None before its first run."""
    last_success: datetime | None
    total_runs: int
    total_failures: int
    last_error: str | None
    own_run: MaintenanceRun | None
    """SpanTally's last run of it, if any."""

    def scheduler_runs_it(self, now: datetime) -> bool:
        """Whether the scheduler does this job's work: scheduled, its last run did not fail, and
        it started the job within its schedule (plus a minute)."""
        if not self.scheduled or self.last_run_status == "Failed":
            return False
        if self.last_success is not None and now - self.last_success <= self.schedule + _GRACE:
            return True
        return self.next_start is not None and now - self.next_start <= _GRACE

    def due_for_stand_in(self, now: datetime) -> bool:
        """Whether SpanTally runs it now: the scheduler does not, and SpanTally's own last run
        started a schedule ago or more."""
        if self.scheduler_runs_it(now):
            return False
        return self.own_run is None or now - self.own_run.started_at >= self.schedule

    def healthy(self, now: datetime) -> bool:
        """Whether its work has been done within its schedule, by either runner."""
        if self.scheduler_runs_it(now):
            return True
        own = self.own_run
        return (own is not None and own.succeeded
                and now - own.started_at <= self.schedule + _GRACE)

    @property
    def run_by(self) -> str:
        """Who ran it last: `scheduler`, `spantally`, or `nobody`."""
        own = self.own_run.started_at if self.own_run else None
        scheduler = self.last_run_started
        if own is None and scheduler is None:
            return "nobody"
        if scheduler is None or (own is not None and own >= scheduler):
            return "spantally"
        return "scheduler"


@dataclass(frozen=True, slots=True)
class ColumnstoreHealth:
    chunks: int
    compressed_chunks: int


@dataclass(frozen=True, slots=True)
class MaintenanceHealth:
    """What /healthz and /metrics show of a database's maintenance."""

    timescaledb_version: str | None
    edition: str | None
    """`timescale` or `apache` (TimescaleDB's license), None without TimescaleDB."""
    jobs: tuple[Job, ...]
    runs: tuple[MaintenanceRun, ...]
    """SpanTally's own runs of every task, the modes without policies' retention included."""
    watermarks: dict[str, datetime | None]
    """Each continuous aggregate's end of materialized buckets (None: nothing materialized)."""
    columnstore: ColumnstoreHealth | None
    checked_at: datetime

    @property
    def jobs_healthy(self) -> bool:
        return all(job.healthy(self.checked_at) for job in self.jobs)


async def maintenance_health(conn: psycopg.AsyncConnection, mode: StorageMode) -> MaintenanceHealth:
    """Read the maintenance state of the database (a few catalog queries)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(queries.MAINTENANCE_RUNS)
        runs = tuple(MaintenanceRun(**row) for row in await cur.fetchall())
        version = edition = None
        jobs: tuple[Job, ...] = ()
        watermarks: dict[str, datetime | None] = {}
        columnstore = None
        if mode.has_hypertable:
            await cur.execute(queries.TIMESCALEDB_VERSION)
            row = await cur.fetchone()
            if row is not None:
                version, edition = row["version"], row["edition"]
        if mode is StorageMode.TIMESCALE:
            jobs = await _read_jobs(cur, {run.task: run for run in runs})
            await cur.execute(queries.AGGREGATE_WATERMARKS)
            watermarks = {row["name"]: row["watermark"] for row in await cur.fetchall()}
            await cur.execute(queries.COLUMNSTORE_CHUNKS)
            row = await cur.fetchone()
            assert row is not None
            columnstore = ColumnstoreHealth(int(row["chunks"]), int(row["compressed"]))
        await cur.execute("SELECT now() AS now")
        now = await cur.fetchone()
    assert now is not None
    return MaintenanceHealth(version, edition, jobs, runs, watermarks, columnstore, now["now"])


async def _read_jobs(cur: psycopg.AsyncCursor[dict], own: dict[str, MaintenanceRun]
                     ) -> tuple[Job, ...]:
    await cur.execute(queries.TIMESCALEDB_JOBS, {"procs": list(_KINDS), "relations": _RELATIONS})
    jobs = []
    for row in await cur.fetchall():
        kind = _KINDS[row["proc_name"]]
        task = f"{kind} {row['relation']}" if row["relation"] else kind
        jobs.append(Job(
            job_id=row["job_id"], task=task, schedule=row["schedule_interval"],
            scheduled=row["scheduled"], next_start=row["next_start"],
            last_run_started=row["last_run_started"], last_run_status=row["last_run_status"],
            last_success=row["last_success"], total_runs=int(row["total_runs"]),
            total_failures=int(row["total_failures"]), last_error=row["last_error"],
            own_run=own.get(task)))
    return tuple(jobs)


async def record_run(conn: psycopg.AsyncConnection, task: str, started_at: datetime,
                     error: str | None) -> None:
    """Record SpanTally's run of `task` (error None: it succeeded)."""
    await conn.execute(queries.RECORD_MAINTENANCE_RUN, {
        "task": task, "started_at": started_at, "finished_at": datetime.now(timezone.utc),
        "succeeded": error is None, "error": error})


class MaintenanceRunner:
    """Mode `timescale`: each `interval_s`, stands in for the policies the scheduler does not
    run (see the module's documentation)."""

    def __init__(self, db: Database, interval_s: float = 15.0) -> None:
        self._db = db
        self.interval_s = interval_s

    async def run_once(self) -> list[str] | None:
        """One round: the tasks run (successfully or not), or None when another process holds
        the maintenance lock."""
        if self._db.mode is not StorageMode.TIMESCALE:
            return []
        async with self._db.pool.connection() as conn:
            await conn.set_autocommit(True)  # run_job() commits as the policy goes
            try:
                row = await (await conn.execute(queries.TRY_MAINTENANCE_LOCK)).fetchone()
                if not row or not row[0]:
                    return None
                try:
                    return await self._stand_in(conn)
                finally:
                    await conn.execute(queries.MAINTENANCE_UNLOCK)
            finally:
                await conn.set_autocommit(False)

    async def _stand_in(self, conn: psycopg.AsyncConnection) -> list[str]:
        health = await maintenance_health(conn, StorageMode.TIMESCALE)
        ran = []
        # Refreshes first and in catalog order (each aggregate after the one it is computed
        # from); compression and retention after them.
        order = {f"refresh {a.name}": i for i, a in enumerate(CONTINUOUS_AGGREGATES)}
        due = [job for job in health.jobs if job.due_for_stand_in(health.checked_at)]
        for job in sorted(due, key=lambda j: (order.get(j.task, len(order)), j.job_id)):
            started = datetime.now(timezone.utc)
            error = None
            try:
                await conn.execute(queries.RUN_JOB, (job.job_id,))
            except psycopg.errors.LockNotAvailable:
                continue  # a writer is refreshing the same aggregate: next round
            except Exception as exc:
                if is_transient(exc):
                    raise
                error = f"{type(exc).__name__}: {exc}".strip()
                log.warning("maintenance: %s (job %d) failed: %s", job.task, job.job_id, error)
            await record_run(conn, job.task, started, error)
            ran.append(job.task)
        if ran:
            log.info("maintenance: ran %s in place of TimescaleDB's scheduler", ", ".join(ran))
        return ran

    async def run_forever(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception as exc:  # noqa: BLE001 - retried at the next round
                if is_transient(exc):
                    self._db.record_failure(exc)
                else:
                    log.exception("maintenance round failed; will retry")
            await asyncio.sleep(self.interval_s)
