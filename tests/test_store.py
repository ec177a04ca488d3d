"""Migrations, storage modes and the writer, against the real cluster."""

from __future__ import annotations

import asyncio
import importlib
import os
import random
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from spantally.store import (
    DIMENSIONS,
    CallWriter,
    Database,
    Granularity,
    LlmCall,
    Question,
    RetentionConfig,
    StorageMode,
    StoreConfig,
    StoreError,
    answer,
    apply_retention,
    configure_retention,
    migrate,
)
from spantally.store.catalog import CONTINUOUS_AGGREGATES
from spantally.store.migrate import available_migrations

from .harness import write_before_copies

T0 = datetime(2026, 5, 1, tzinfo=timezone.utc)


def _calls(n: int, seed: int, project_id: int = 1) -> list[LlmCall]:
    rng = random.Random(seed)
    calls = []
    for _ in range(n):
        model = rng.choice(["gpt-4o", "gpt-4o-mini", "claude-sonnet-4-20250514", None])
        cost = rng.choice([None, rng.randrange(10**9)])
        calls.append(LlmCall(
            time=T0 + timedelta(seconds=rng.randrange(3 * 86400)), project_id=project_id,
            trace_id=os.urandom(16), span_id=os.urandom(8), parent_span_id=None,
            service_name=rng.choice(["a", "b"]), environment=None,
            agent_id=rng.choice(["planner", None]), agent_name=None, session_id=None,
            user_id=rng.choice(["u1", "u2", None]),
            provider=rng.choice(["openai", "anthropic", None]), request_model=model,
            response_model=None, model=model, operation="chat", streaming=None,
            input_tokens=rng.randrange(10**5), output_tokens=rng.randrange(10**4),
            cache_read_tokens=0, cache_write_tokens=0, reasoning_tokens=0,
            cost_nano_usd=cost, cost_source="catalog" if cost is not None else None,
            latency_us=rng.randrange(1, 10**8), ttft_us=None,
            status=rng.choice(["ok", "error"]), error_type=None, tags={"k": "v\u00e9"},
        ))
    return calls


def _applied(url: str) -> list[tuple[int, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT version, variant FROM schema_migrations ORDER BY 1").fetchall()


def test_migrations_are_safe_twice_and_concurrently(fresh_database: str) -> None:
    async def run() -> list[StorageMode]:
        return list(await asyncio.gather(*(migrate(fresh_database) for _ in range(4))))

    modes = asyncio.run(run())
    assert len(set(modes)) == 1
    first = _applied(fresh_database)
    assert [v for v, _ in first] == sorted({m.version for m in available_migrations()
                                            if m.tag is None or m.tag in modes[0].migration_tags})
    assert asyncio.run(migrate(fresh_database)) is modes[0]
    assert _applied(fresh_database) == first


def test_timescaledb_is_detected_with_its_edition(fresh_database: str) -> None:
    mode = asyncio.run(migrate(fresh_database))
    with psycopg.connect(fresh_database) as conn:
        license_ = conn.execute("SELECT current_setting('timescaledb.license', true)").fetchone()[0]
        hypertables = conn.execute(
            "SELECT hypertable_name FROM timescaledb_information.hypertables").fetchall()
    assert mode is {"timescale": StorageMode.TIMESCALE, "apache": StorageMode.APACHE}[license_]
    assert ("llm_calls",) in hypertables


async def _write_and_query(url: str, mode: str, calls: list[LlmCall]) -> tuple[StorageMode, int, int]:
    db = Database(StoreConfig(url, storage_mode=mode))
    opened = await db.open()
    try:
        writer = CallWriter(db)
        first = await writer.write(calls)
        again = await writer.write(calls)
        assert (first.inserted, again.inserted, again.duplicates) == (len(calls), 0, len(calls))
        async with db.pool.connection() as conn:
            summary = (await answer(conn, 1, Question(
                T0 + timedelta(minutes=17, seconds=3), T0 + timedelta(days=2, hours=5, minutes=1),
                granularity=Granularity.DAY))).total()
            truth = await (await conn.execute(
                "SELECT count(*), sum(input_tokens) FROM llm_calls WHERE time >= %s AND time < %s",
                (T0 + timedelta(minutes=17, seconds=3), T0 + timedelta(days=2, hours=5, minutes=1)),
            )).fetchone()
        assert (summary.calls, summary.input_tokens) == (truth[0], int(truth[1]))
        return opened, summary.calls, int(truth[0])
    finally:
        await db.close()


def test_postgres_mode_keeps_the_same_relations(fresh_database: str) -> None:
    mode, calls, truth = asyncio.run(_write_and_query(fresh_database, "postgres", _calls(800, 1)))
    assert mode is StorageMode.POSTGRES and calls == truth > 0
    with psycopg.connect(fresh_database) as conn:
        assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'"
                            ).fetchone()[0] == 0
        kinds = dict(conn.execute(
            "SELECT relname, relkind FROM pg_class WHERE relname IN "
            "('llm_calls', 'llm_calls_1h', 'llm_calls_1d')").fetchall())
    assert kinds == {"llm_calls": "r", "llm_calls_1h": "r", "llm_calls_1d": "r"}


def test_concurrent_writers_with_overlapping_batches_are_exact(fresh_database: str) -> None:
    """Rollup upserts from four writers, the same calls reaching several of them: every call
    counted once, aggregates equal to the raw rows, no deadlock surfacing as an error."""
    calls = _calls(6000, 2)

    async def run() -> None:
        db = Database(StoreConfig(fresh_database, pool_max_size=8))
        await db.open()
        try:
            writer = CallWriter(db)
            rng = random.Random(5)
            batches = []
            for _ in range(16):
                start = rng.randrange(0, 5000)
                batch = calls[start:start + 1500]
                rng.shuffle(batch)
                batches.append(batch)
            sem = asyncio.Semaphore(4)

            async def one(batch: list[LlmCall]) -> None:
                async with sem:
                    await writer.write(batch)

            await asyncio.gather(*(one(b) for b in batches))
            await writer.write(calls)  # whatever no batch covered
        finally:
            await db.close()

    asyncio.run(run())
    with psycopg.connect(fresh_database) as conn:
        raw = conn.execute("SELECT count(*), sum(input_tokens), sum(cost_nano_usd) FROM llm_calls"
                           ).fetchone()
        for table in ("llm_calls_1h", "llm_calls_1d"):
            agg = conn.execute(f"SELECT sum(calls), sum(input_tokens), sum(cost_nano_usd) FROM {table}"
                               ).fetchone()
            assert tuple(map(int, agg)) == tuple(map(int, raw)), table
            # The histogram counts every call once as well.
            bins = " + ".join(f"latency_h{i:02d}" for i in range(32))
            hist = conn.execute(f"SELECT sum({bins}) FROM {table}").fetchone()
            assert int(hist[0]) == 6000, table
        per_user = """SELECT user_id, sum(calls)::bigint, sum(input_tokens)::bigint,
                             sum(cost_nano_usd)::bigint FROM llm_calls_user_1d GROUP BY 1"""
        raw_per_user = """SELECT user_id, count(*), sum(input_tokens)::bigint,
                                 coalesce(sum(cost_nano_usd), 0)::bigint FROM llm_calls GROUP BY 1"""
        users = conn.execute(per_user).fetchall()
        assert sorted(users, key=str) == sorted(conn.execute(raw_per_user).fetchall(), key=str)
        assert {user for user, *_ in users} == {"u1", "u2", None}
    assert raw[0] == 6000


@pytest.mark.timescale_license
def test_continuous_aggregates_in_timescale_mode(fresh_database: str) -> None:
    mode = asyncio.run(migrate(fresh_database))
    if mode is not StorageMode.TIMESCALE:
        pytest.skip(f"needs continuous aggregates: this database is in {mode.value!r} mode")
    with psycopg.connect(fresh_database) as conn:
        caggs = {r[0] for r in conn.execute(
            "SELECT view_name FROM timescaledb_information.continuous_aggregates").fetchall()}
        assert caggs == {a.name for a in CONTINUOUS_AGGREGATES}
        jobs = conn.execute("SELECT count(*) FROM timescaledb_information.jobs "
                            "WHERE proc_name = 'policy_refresh_continuous_aggregate'").fetchone()[0]
        assert jobs == len(CONTINUOUS_AGGREGATES)


@pytest.mark.parametrize("requested_mode", ["auto", "postgres"])
def test_retention_drops_raw_calls_and_keeps_aggregate_totals(
    fresh_database: str, requested_mode: str
) -> None:
    now = datetime.now(timezone.utc)
    # 50 days: older than the aggregate retention below (35) by more than the chunk of a
    # continuous aggregate's materialization (10 days), since retention drops whole chunks.
    old = [c._replace(time=now - timedelta(days=50, minutes=i)) for i, c in enumerate(_calls(50, 3))]
    new = [c._replace(time=now - timedelta(days=1, minutes=i)) for i, c in enumerate(_calls(30, 4))]

    async def run() -> StorageMode:
        db = Database(StoreConfig(fresh_database, storage_mode=requested_mode))
        mode = await db.open()
        try:
            await CallWriter(db).write(old + new)
            for config in (RetentionConfig(raw_days=30),
                           RetentionConfig(raw_days=30, aggregate_days=35)):
                await configure_retention(db, config)
                if mode is StorageMode.TIMESCALE:
                    async with db.pool.connection() as conn:
                        await conn.set_autocommit(True)
                        jobs = await (await conn.execute(
                            "SELECT job_id FROM timescaledb_information.jobs "
                            "WHERE proc_name = 'policy_retention'")).fetchall()
                        for (job_id,) in jobs:
                            await conn.execute("CALL run_job(%s)", (job_id,))
                        await conn.set_autocommit(False)
                else:
                    assert await apply_retention(db, config)
                yield_counts.append(_counts(fresh_database))
        finally:
            await db.close()
        return mode

    yield_counts: list[tuple[int, ...]] = []
    asyncio.run(run())
    # raw rows, then calls in each aggregate after each pass:
    # raw retention alone: the 50 old calls go, the aggregates still count all 80, but the
    # 5-minute level (which stands in for raw rows) goes with them;
    # with aggregate retention: the old aggregate rows go too.
    assert yield_counts == [(30, 80, 80, 80, 80, 30, 30), (30, 30, 30, 30, 30, 30, 30)]


def _counts(url: str) -> tuple[int, ...]:
    with psycopg.connect(url) as conn:
        raw = conn.execute("SELECT count(*) FROM llm_calls").fetchone()[0]
        aggregated = [conn.execute(f"SELECT coalesce(sum(calls), 0) FROM {table}").fetchone()[0]
                      for table in ("llm_calls_1h", "llm_calls_1d", "llm_calls_total_1d",
                                    "llm_calls_user_1d", "llm_calls_total_5m",
                                    "llm_calls_model_5m")]
    return int(raw), *map(int, aggregated)


def test_retention_settings_are_validated() -> None:
    with pytest.raises(StoreError, match="at least the raw retention"):
        RetentionConfig(raw_days=30, aggregate_days=7)
    with pytest.raises(StoreError, match="at least 1 day"):
        RetentionConfig(raw_days=0)


def test_analytics_read_from_the_read_database(cluster, fresh_database: str) -> None:  # noqa: ANN001
    """With a read database configured, the API answers analytics from it (here a separate
    database holding different calls, so the answer shows where it was read)."""
    from .harness import CallSpec as Spec
    from .harness import export_grpc, make_spans, start_server

    asyncio.run(migrate(fresh_database))  # the replica has the primary's schema
    server = start_server(cluster.url, read_database_url=fresh_database)
    try:
        project = server.new_project()
        replica_calls = [c._replace(project_id=project.id, time=T0 + timedelta(hours=i))
                         for i, c in enumerate(_calls(7, 9))]

        async def fill_replica() -> None:
            db = Database(StoreConfig(fresh_database))
            await db.open()
            try:
                await CallWriter(db).write(replica_calls)
            finally:
                await db.close()

        asyncio.run(fill_replica())
        spans = make_spans([Spec(datetime(2026, 5, 1, 3), 100)] * 3)
        assert export_grpc(spans, server.grpc_endpoint, project.key).name == "SUCCESS"
        status, body = server.api("/api/analytics/llm?from=2026-05-01&to=2026-05-02", project.key)
        assert status == 200
        assert body["summary"]["totalCalls"] == 7  # the replica's calls, not the primary's 3
        assert server.sql("SELECT count(*) FROM llm_calls WHERE project_id = %s",
                          (project.id,)) == [(3,)]
    finally:
        server.stop()


@pytest.mark.parametrize("cut_by_retention", [False, True])
def test_aggregates_v2_migration_keeps_existing_calls(
        fresh_database: str, monkeypatch: pytest.MonkeyPatch, cut_by_retention: bool) -> None:
    """A database written before migration 0005 (environment, error type and time-to-first-token
    histogram in the aggregates): after it, every answer equals llm_calls, new dimensions
    included, and writing goes on. A day whose raw calls retention already cut keeps its totals
    (with environment and error type unknown)."""
    migrate_module = importlib.import_module("spantally.store.migrate")

    def with_environments(calls: list[LlmCall], seed: int) -> list[LlmCall]:
        rng = random.Random(seed)
        return [c._replace(environment=rng.choice(["prod", "dev", None]),
                           error_type="Timeout" if c.status == "error" else None,
                           ttft_us=rng.choice([None, rng.randrange(1, 10**7)])) for c in calls]

    before = with_environments(_calls(1500, 11), 1)
    after = with_environments(_calls(500, 12), 2)
    everything = available_migrations()

    async def run() -> None:
        monkeypatch.setattr(migrate_module, "available_migrations",
                            lambda: [m for m in everything if m.version < 5])
        db = Database(StoreConfig(fresh_database))
        await db.open()
        # The write itself, without the refresh that follows late writes in `timescale` mode:
        # this code would refresh aggregates the old schema does not have yet.
        async with db.pool.connection() as conn:
            await write_before_copies(conn.cursor(), before)
        await db.close()
        monkeypatch.undo()
        cut = T0 + timedelta(minutes=30)
        if cut_by_retention:
            async with await psycopg.AsyncConnection.connect(fresh_database) as conn:
                await conn.execute("DELETE FROM llm_calls WHERE time < %s", (cut,))
        db = Database(StoreConfig(fresh_database))
        await db.open()
        try:
            await CallWriter(db).write(after)
            first = T0 + timedelta(days=1) if cut_by_retention else T0
            async with db.pool.connection() as conn:
                if cut_by_retention:
                    kept = (await answer(conn, 1, Question(T0, first))).total().calls
                    if db.mode is StorageMode.TIMESCALE:
                        # Continuous aggregates are recreated from llm_calls (documented in
                        # docs/operations.md): what retention already dropped is gone.
                        assert kept == (sum(cut <= c.time < first for c in before)
                                        + sum(T0 <= c.time < first for c in after))
                    else:
                        assert kept == sum(T0 <= c.time < first for c in before + after)
                for dimension in ("environment", "error_type", "model"):
                    grouped = await answer(conn, 1, Question(
                        first, T0 + timedelta(days=4), group_by=(DIMENSIONS[dimension],),
                        granularity=Granularity.DAY))
                    truth = await (await conn.execute(
                        f"SELECT date_trunc('day', time, 'UTC'), {DIMENSIONS[dimension].column},"
                        " count(*), sum(input_tokens), count(ttft_us) FROM llm_calls"
                        " WHERE time >= %s GROUP BY 1, 2", (first,))).fetchall()
                    got = {(b.replace(tzinfo=timezone.utc), k): (m.calls, m.input_tokens,
                                                                 sum(m.ttft_hist))
                           for (b, (k,)), m in grouped.cells.items()}
                    assert got == {(b, k): (n, int(t), f) for b, k, n, t, f in truth}
                # Migration 0007 filled the per-user days from llm_calls.
                users = await answer(conn, 1, Question(
                    first, T0 + timedelta(days=4), group_by=(DIMENSIONS["user"],),
                    histograms=False))
                truth = await (await conn.execute(
                    "SELECT user_id, count(*), sum(input_tokens) FROM llm_calls"
                    " WHERE time >= %s GROUP BY 1", (first,))).fetchall()
                assert {k: (m.calls, m.input_tokens) for (k,), m in users.by_key().items()} == {
                    k: (n, int(t)) for k, n, t in truth}
        finally:
            await db.close()

    asyncio.run(run())
    with psycopg.connect(fresh_database) as conn:
        (recorded,) = conn.execute("SELECT value FROM spantally_settings"
                                   " WHERE key = 'storage_mode'").fetchone()  # type: ignore[misc]
    tags = StorageMode(recorded).migration_tags
    latest = max(m.version for m in everything if m.tag is None or m.tag in tags)
    assert [v for v, _ in _applied(fresh_database)][-1] == latest
