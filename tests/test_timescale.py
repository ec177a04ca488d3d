"""`timescale` mode on its own terms: aggregates that stay exact whatever order refreshes and
policies run in, llm_calls in the columnstore, and SpanTally standing in for TimescaleDB's
job scheduler. Each test needs the Timescale License edition and says so when it is skipped."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from psycopg import sql

from spantally.store import (
    AGGREGATES,
    CallWriter,
    ColumnstoreConfig,
    Database,
    Filters,
    Granularity,
    LlmCall,
    MaintenanceRunner,
    Question,
    StorageMode,
    StoreConfig,
    answer,
    configure_columnstore,
    ddl,
    dimension_of,
    ensure_project,
    list_sessions,
    maintenance_health,
    reprice,
    sessions_page,
    sessions_summary,
)
from spantally.store.catalog import CALLS, CONTINUOUS_AGGREGATES, Grain

from .harness import counted_once

pytestmark = pytest.mark.timescale_license

_DAY = timedelta(days=1)


@asynccontextmanager
async def _timescale(url: str) -> AsyncIterator[Database]:
    db = Database(StoreConfig(url))
    mode = await db.open()
    try:
        if mode is not StorageMode.TIMESCALE:
            pytest.skip(f"needs the Timescale License edition (continuous aggregates, "
                        f"columnstore, policies): this database is in {mode.value!r} mode")
        async with db.pool.connection() as conn:
            # Project 1, the calls' (the tag aggregates count a call under its project's keys).
            await ensure_project(conn, "timescale")
        yield db
    finally:
        await db.close()


def _call(at: datetime, n: int, project_id: int = 1, cost: int | None = 1_000) -> LlmCall:
    return LlmCall(
        time=at, project_id=project_id, trace_id=n.to_bytes(16, "big"),
        span_id=n.to_bytes(8, "big"), parent_span_id=None, service_name="svc",
        environment=None, agent_id=None, agent_name=None, session_id=f"s{n % 3}",
        user_id=f"u{n % 4}", provider="openai", request_model="gpt-4o-mini", response_model=None,
        model="gpt-4o-mini" if n % 2 else "gpt-4o", operation="chat", streaming=None,
        input_tokens=100 + n, output_tokens=10, cache_read_tokens=0, cache_write_tokens=0,
        reasoning_tokens=0, cost_nano_usd=cost, cost_source="catalog" if cost else None,
        latency_us=1_000 * (1 + n % 500), ttft_us=None, status="ok", error_type=None,
        tags={"feature": f"f{n % 2}"})


async def _unschedule_policies(db: Database) -> None:
    """Keep TimescaleDB's scheduler out of the way, so the test alone decides what runs."""
    async with db.pool.connection() as conn:
        await conn.execute("SELECT alter_job(job_id, scheduled => false) "
                           "FROM timescaledb_information.jobs WHERE job_id >= 1000")


async def _refresh(db: Database, name: str, end: datetime) -> None:
    """A refresh as a policy runs it: when another one is running, after it."""
    statement = ddl.refresh(next(a for a in AGGREGATES if a.name == name))
    async with db.pool.connection() as conn:
        await conn.set_autocommit(True)
        while True:
            try:
                await conn.execute(statement, {"end": end})
                break
            except psycopg.errors.LockNotAvailable:
                await asyncio.sleep(0.01)
        await conn.set_autocommit(False)


async def _mismatches(db: Database, start: datetime, end: datetime) -> list[str]:
    """Every aggregate (as queried: materialized plus real-time), per UTC day, against
    llm_calls; and the planner's answers per day and per model against llm_calls."""
    found = []
    async with db.pool.connection() as conn:
        raw = dict(await (await conn.execute(
            "SELECT date_trunc('day', time, 'UTC'), count(*) FROM llm_calls GROUP BY 1"
        )).fetchall())
        for a in ddl.CALL_AGGREGATES:
            rows = dict(await (await conn.execute(sql.SQL(
                "SELECT date_trunc('day', bucket, 'UTC'), sum(calls)::bigint FROM {} WHERE true{}"
                " GROUP BY 1").format(sql.Identifier(a.name),
                                      sql.SQL(counted_once(a))))).fetchall())
            if rows != raw:
                found.append(f"{a.name}: {rows} != llm_calls {raw}")
        per_day = await answer(conn, 1, Question(start, end, granularity=Granularity.DAY))
        planned = {bucket: m.calls for bucket, m in per_day.by_bucket().items() if m.calls}
        if planned != raw:
            found.append(f"planner per day: {planned} != llm_calls {raw}")
    return found


def test_a_late_write_after_policy_refreshes_is_counted_when_acknowledged(
        fresh_database: str) -> None:
    """The sequence that lost a call (TimescaleDB 2.28.3): policies refresh the aggregates in
    batches, as they do, one of them to an end older than what is materialized; then a late
    write into an hour materialized already. TimescaleDB's batched refresh, which 2.28 also
    uses for refresh_continuous_aggregate() by default, left that hour as it was; the writer's
    refresh runs in a single pass, so the call counts once it is acknowledged."""
    async def run() -> None:
        async with _timescale(fresh_database) as db:
            await _unschedule_policies(db)
            writer = CallWriter(db)
            day = Grain.DAY.floor(datetime.now(timezone.utc)) - 2 * _DAY
            await writer.write([_call(day, 1)])
            for name, end in (("llm_calls_total_1d", day - 2 * _DAY),
                              ("llm_calls_1d", day + _DAY),
                              ("llm_calls_total_1d", day - 2 * _DAY),
                              ("llm_calls_1h", day + timedelta(hours=21))):
                await _refresh(db, name, end)
            await writer.write([_call(day - 2 * _DAY, 2), _call(day, 3)])
            assert await _mismatches(db, day - 3 * _DAY, day + 3 * _DAY) == []

    asyncio.run(run())


def test_aggregates_stay_exact_through_pauses_and_refreshes_in_any_order(
        fresh_database: str) -> None:
    """Traffic, pauses, late writes at and around midnight into materialized days and into a
    new day, with every aggregate refreshed to any end in any order (policies that ran earlier
    or later than each other) and the writer refreshing before it acknowledges old writes; then
    the same with refreshes running concurrently with the writes. After each acknowledged write,
    every aggregate and the planner equal llm_calls."""
    rng = random.Random(int(os.environ.get("SPANTALLY_TIMESCALE_SEED", "1")))

    async def run() -> None:
        async with _timescale(fresh_database) as db:
            await _unschedule_policies(db)
            writer = CallWriter(db)
            now = datetime.now(timezone.utc)
            today = Grain.DAY.floor(now)
            start, end = today - 6 * _DAY, today + _DAY
            moments = [timedelta(0), timedelta(seconds=1), timedelta(minutes=59),
                       timedelta(hours=1), timedelta(hours=12), _DAY - timedelta(seconds=1)]
            n = 0
            done: list[str] = []  # what happened, for the failure message
            for _ in range(70):
                if rng.random() < 0.45:
                    batch = []
                    for _ in range(rng.randint(1, 4)):
                        n += 1
                        at = today - rng.randint(0, 4) * _DAY + rng.choice(moments)
                        batch.append(_call(min(at, now - timedelta(seconds=1)), n))
                    assert (await writer.write(batch)).inserted == len(batch)
                    done.append("write " + ", ".join(f"{c.time:%m-%d %H:%M:%S}" for c in batch))
                    assert await _mismatches(db, start, end) == [], "\n".join(done)
                else:
                    a = rng.choice([a for a in ddl.CALL_AGGREGATES if a.continuous])
                    # A policy's end, as it was up to three of its buckets ago.
                    at = a.grain.refresh_end(now) - rng.randint(0, 3) * a.grain.width * (
                        1 if a.grain is Grain.DAY else 9)
                    await _refresh(db, a.name, at)
                    done.append(f"refresh {a.name} to {at:%m-%d %H:%M}")

            stop = asyncio.Event()

            async def keep_refreshing(grain: Grain) -> None:
                while not stop.is_set():
                    for a in CONTINUOUS_AGGREGATES:
                        if a.grain is grain:
                            await _refresh(db, a.name, grain.refresh_end(
                                datetime.now(timezone.utc)))
                    await asyncio.sleep(0)

            refreshers = [asyncio.create_task(keep_refreshing(g)) for g in Grain]
            try:
                for _ in range(40):
                    batch = []
                    for _ in range(rng.randint(1, 20)):
                        n += 1
                        batch.append(_call(today - rng.randint(1, 4) * _DAY
                                           + timedelta(seconds=rng.randrange(86_400)), n))
                    await writer.write(batch)
            finally:
                stop.set()
                await asyncio.gather(*refreshers)
            assert await _mismatches(db, start, end) == []

    asyncio.run(run())


def test_compressed_chunks_take_late_writes_duplicates_and_repricing(
        fresh_database: str) -> None:
    async def run() -> None:
        async with _timescale(fresh_database) as db:
            await _unschedule_policies(db)
            async with db.pool.connection() as conn:
                project_id, _ = await ensure_project(conn, "columnstore")
            old_day = Grain.DAY.floor(datetime.now(timezone.utc)) - 20 * _DAY
            stored = [_call(old_day + timedelta(minutes=7 * i), i, project_id) for i in range(200)]
            earlier = [_call(old_day - (1 + i % 8) * _DAY + timedelta(minutes=i), 5_000 + i,
                             project_id) for i in range(400)]  # in eight chunks more
            writer = CallWriter(db)
            assert (await writer.write(stored)).inserted == 200
            assert (await writer.write(earlier)).inserted == 400
            # The policy as configured at start, run by SpanTally's runner: its own procedure.
            await configure_columnstore(db, ColumnstoreConfig(compress_after_days=7))
            ran = await MaintenanceRunner(db).run_once()
            assert ran is not None and "compression llm_calls" in ran
            async with db.pool.connection() as conn:
                health = await maintenance_health(conn, db.mode)  # type: ignore[arg-type]
            assert health.columnstore is not None
            assert health.columnstore.compressed_chunks == health.columnstore.chunks == 9

            # Duplicates of compressed calls are refused by the unique index: counted once.
            again = await writer.write(stored[:50])
            assert (again.inserted, again.duplicates) == (0, 50)
            # Late writes into the compressed chunk are stored and counted at once.
            late = [_call(old_day + timedelta(minutes=7 * i + 3), 1_000 + i, project_id)
                    for i in range(30)]
            assert (await writer.write(late)).inserted == 30
            everything = stored + late
            window = (old_day, old_day + _DAY)
            async with db.pool.connection() as conn:
                total = (await answer(conn, project_id, Question(*window))).total()
                assert (total.calls, total.input_tokens) == (
                    230, sum(c.input_tokens for c in everything))

            # Re-pricing rewrites compressed rows (no row locks) and the aggregates follow.
            def prices_for(_custom: object):  # noqa: ANN202
                def price(provider, model, at, input_tokens, output_tokens,  # noqa: ANN001,ANN202
                          cache_read_tokens=0, cache_write_tokens=0):
                    return input_tokens * 7, "custom"
                return price

            (totals,) = await reprice(db, *window, prices_for, str(project_id))
            assert (totals.examined, totals.changed) == (230, 230)
            async with db.pool.connection() as conn:
                expected = sum(c.input_tokens * 7 for c in everything)
                raw = await (await conn.execute(
                    "SELECT sum(cost_nano_usd), count(*) FILTER (WHERE cost_source = 'custom') "
                    "FROM llm_calls WHERE project_id = %s AND time >= %s AND time < %s",
                    (project_id, *window))).fetchone()
                assert raw == (expected, 230)
                for a in ddl.CALL_AGGREGATES:
                    (cost,) = await (await conn.execute(sql.SQL(
                        "SELECT sum(cost_nano_usd) FROM {} WHERE project_id = %s"
                        " AND bucket >= %s AND bucket < %s{}").format(
                            sql.Identifier(a.name), sql.SQL(counted_once(a))),
                        (project_id, *window))).fetchone()  # type: ignore[misc]
                    assert cost == expected, a.name
                by_model = await answer(conn, project_id, Question(
                    *window, group_by=(dimension_of("model"),)))  # type: ignore[arg-type]
                assert sum(m.cost_nano_usd for m in by_model.cells.values()) == expected
                (compressed,) = await (await conn.execute(
                    "SELECT count(*) FILTER (WHERE is_compressed) FROM "
                    "timescaledb_information.chunks WHERE hypertable_name = 'llm_calls'"
                )).fetchone()  # type: ignore[misc]
            # The chunk holds compressed batches still (TimescaleDB decompresses only the
            # batches a write touches).
            assert compressed == 9
            # Raw-only questions read compressed and uncompressed chunks alike: one session's
            # calls over a long range.
            recent = [_call(datetime.now(timezone.utc) - timedelta(hours=2), 9_001, project_id)]
            assert (await writer.write(recent)).inserted == 1  # an uncompressed chunk too
            async with db.pool.connection() as conn:
                one = Filters(session_id="s1")
                wide = (old_day - 30 * _DAY, datetime.now(timezone.utc))
                (session,) = await list_sessions(conn, project_id, *wide, one, "startedAt", 50)
                summary = await sessions_summary(conn, project_id, *wide, one)
                # The page and the summary grouped once, as the API asks for them.
                once = await sessions_page(conn, project_id, *wide, one, "startedAt", 50)
                # Without filters, from llm_sessions (a plain table in this mode too).
                (stored,) = [s for s in (await sessions_page(
                    conn, project_id, *wide, Filters(), "startedAt", 50))[0]
                    if s.session_id == "s1"]
            in_session = [c for c in everything + earlier + recent if c.session_id == "s1"]
            assert (session.session_id, session.calls) == ("s1", len(in_session))
            assert (summary.sessions, summary.calls) == (1, len(in_session))
            assert once == ([session], summary) and stored == session

    asyncio.run(run())


def test_maintenance_stands_in_for_policies_the_scheduler_does_not_run(
        fresh_database: str) -> None:
    async def run() -> None:
        async with _timescale(fresh_database) as db:
            await _unschedule_policies(db)
            await configure_columnstore(db, ColumnstoreConfig(compress_after_days=7))
            await _unschedule_policies(db)  # the compression policy just added, too
            now = datetime.now(timezone.utc)
            calls = [_call(now - timedelta(days=20, minutes=i), i) for i in range(40)]
            calls += [_call(now - timedelta(hours=3, minutes=i), 100 + i) for i in range(40)]
            async with db.pool.connection() as conn:  # bypassing the writer's refresh
                async with conn.cursor() as cur:
                    for call in calls:
                        await cur.execute(
                            "INSERT INTO llm_calls (time, project_id, trace_id, span_id, "
                            "operation, latency_us, status, input_tokens) "
                            "VALUES (%s, %s, %s, %s, 'chat', %s, 'ok', %s)",
                            (call.time, call.project_id, call.trace_id, call.span_id,
                             call.latency_us, call.input_tokens))
                before = await maintenance_health(conn, StorageMode.TIMESCALE)
            assert all(w is None for w in before.watermarks.values())
            assert not before.jobs_healthy
            tasks = {job.task for job in before.jobs}
            assert {f"refresh {a.name}" for a in CONTINUOUS_AGGREGATES} | {"compression llm_calls"} <= tasks

            runner = MaintenanceRunner(db)
            # Another process holding the maintenance lock does the work: this one waits.
            async with await psycopg.AsyncConnection.connect(fresh_database,
                                                             autocommit=True) as other:
                await other.execute("SELECT pg_advisory_lock(7342165006)")
                assert await runner.run_once() is None
                await other.execute("SELECT pg_advisory_unlock(7342165006)")
            ran = await runner.run_once()
            assert ran is not None
            assert {f"refresh {a.name}" for a in CONTINUOUS_AGGREGATES} | {"compression llm_calls"} <= set(ran)
            # Refreshes run in catalog order, compression after them.
            assert ran.index("compression llm_calls") > max(
                ran.index(f"refresh {a.name}") for a in CONTINUOUS_AGGREGATES)
            assert await runner.run_once() == []  # nothing is due again before its schedule

            async with db.pool.connection() as conn:
                after = await maintenance_health(conn, StorageMode.TIMESCALE)
            assert after.jobs_healthy
            assert {job.run_by for job in after.jobs if job.task in ran} == {"spantally"}
            # Materialized up to each policy's end (this project sends calls only: an empty
            # continuous aggregate, as the run aggregates are here, has no watermark).
            for a in CONTINUOUS_AGGREGATES:
                if a.fact is not CALLS:
                    continue
                assert after.watermarks[a.name] is not None, a.name
                assert after.watermarks[a.name] >= a.grain.floor(now - 20 * _DAY), a.name
            assert after.columnstore is not None and after.columnstore.compressed_chunks >= 1
            runs = {run.task: run for run in after.runs}
            assert all(runs[task].succeeded and runs[task].runs == 1 for task in ran)
            async with db.pool.connection() as conn:
                total = (await answer(conn, 1, Question(now - 30 * _DAY, now))).total()
            assert total.calls == 80

    asyncio.run(run())

