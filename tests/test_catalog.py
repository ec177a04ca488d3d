"""Catalog = database: a freshly migrated database, and one upgraded from the previous schema
(its hand-written ingest function, with calls already in it), hold exactly the aggregates,
columns, keys, continuous-aggregate queries, indexes, policies and ingest function that
store.catalog describes, in every storage mode the machine can run. And the check does see a
difference when there is one."""

from __future__ import annotations

import asyncio
import importlib
import random
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from psycopg import sql

from spantally.store import (
    CallWriter,
    Database,
    LlmCall,
    Question,
    StorageMode,
    StoreConfig,
    answer,
    catalog_differences,
    ddl,
    migrate,
)
from spantally.store.catalog import AGGREGATES, SESSIONS, aggregate
from spantally.store.migrate import available_migrations

from .harness import counted_once, stored_sessions_differ, write_before_copies

T0 = datetime(2026, 6, 1, tzinfo=timezone.utc)
MODES = ["auto", "postgres"]  # auto: the edition the suite's cluster has


def _calls(n: int, seed: int) -> list[LlmCall]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        cost = rng.choice([None, rng.randrange(10**6)])
        out.append(LlmCall(
            time=T0 + timedelta(seconds=rng.randrange(3 * 86400)), project_id=1,
            trace_id=rng.randbytes(16), span_id=rng.randbytes(8), parent_span_id=None,
            service_name=rng.choice(["api", None]), environment=rng.choice(["prod", None]),
            agent_id=rng.choice(["a", "b", None]), agent_name=None,
            session_id=rng.choice([f"s{rng.randrange(60)}", None]),
            user_id=rng.choice(["u1", "u2", None]), provider="openai",
            request_model="gpt-4o", response_model=None, model=rng.choice(["gpt-4o", None]),
            operation="chat", streaming=None, input_tokens=rng.randrange(500),
            output_tokens=rng.randrange(500), cache_read_tokens=0, cache_write_tokens=0,
            reasoning_tokens=0, cost_nano_usd=cost, cost_source="catalog" if cost else None,
            latency_us=rng.randrange(1, 10**8), ttft_us=rng.choice([None, rng.randrange(10**7)]),
            status=rng.choice(["ok", "error"]), error_type=None, tags=None))
    return out


async def _differences(url: str) -> tuple[StorageMode, list[str]]:
    db = Database(StoreConfig(url))
    mode = await db.open()
    try:
        async with db.pool.connection() as conn:
            return mode, await catalog_differences(conn, mode)
    finally:
        await db.close()


@pytest.mark.parametrize("requested", MODES)
def test_a_migrated_database_matches_the_catalog(fresh_database: str, requested: str) -> None:
    asyncio.run(migrate(fresh_database, requested))
    mode, differences = asyncio.run(_differences(fresh_database))
    assert mode is StorageMode.POSTGRES or requested == "auto"
    assert differences == []


# The aggregates added after 0015 (0017: by request model, 0019: the 5-minute level, 0021: the
# tag aggregates), and the sessions (0022).
ADDED_SINCE = ("llm_calls_request_model_1d", "llm_calls_request_model_1h", "llm_calls_model_5m",
               "llm_calls_total_5m", "llm_calls_tag_1h", "llm_calls_tag_1d")
UPGRADE_DIFFERENCES = [
    *(f"{name}: in the catalog, missing" for name in (*ADDED_SINCE, SESSIONS)),
    "spantally_ingest_staged(): differs from the one the catalog generates",
]


@pytest.mark.parametrize("requested", MODES)
def test_an_upgraded_database_matches_the_catalog_and_stays_exact(
        fresh_database: str, requested: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The previous schema: every migration applied, the ingest function the last of them
    wrote by hand. Calls written through it, then the upgrade (the catalog's function), then
    more calls and duplicates: the aggregates equal llm_calls."""
    migrate_module = importlib.import_module("spantally.store.migrate")
    before, after = _calls(1200, 1), _calls(800, 2)

    async def run() -> list[str]:
        # The schema before the copies of calls (0016), the request-model aggregates (0017),
        # the 5-minute level (0019) and the explicit chunk interval of continuous aggregates
        # (0020, TimescaleDB's default), the tag aggregates (0021) and the sessions (0022).
        migrations = available_migrations()
        monkeypatch.setattr(migrate_module, "available_migrations",
                            lambda: [m for m in migrations if m.version < 16])
        monkeypatch.setattr(migrate_module, "SCHEMA_VERSION", 10**6)  # keeps the old function
        old = Database(StoreConfig(fresh_database, storage_mode=requested))
        mode = await old.open()
        async with old.pool.connection() as conn:
            previous = await catalog_differences(conn, mode)
            # What the upgrade changes: the ingest function, written by the catalog from now
            # on, and the aggregates added since.
            added = [a for a in AGGREGATES if a.name in ADDED_SINCE]
            expected = [*UPGRADE_DIFFERENCES, *(
                f"{a.name}: not a continuous aggregate" for a in added
                if mode is StorageMode.TIMESCALE and a.continuous)]
            assert sorted(previous) == sorted(expected), previous
            async with conn.cursor() as cur:
                # Their project: the tag aggregates count its calls under its tag keys.
                await cur.execute("INSERT INTO projects (name) VALUES ('upgraded')")
                await write_before_copies(cur, before)
        await old.close()
        monkeypatch.undo()

        db = Database(StoreConfig(fresh_database, storage_mode=requested))
        await db.open()
        try:
            writer = CallWriter(db)
            await writer.write(after)
            await writer.write(before[:300] + after[:300])  # duplicates: counted once
            async with db.pool.connection() as conn:
                differences = await catalog_differences(conn, mode)
                everything = before + after
                start, end = T0 - timedelta(days=1), T0 + timedelta(days=4)
                # Each one alone holds every call exactly once (a tag aggregate once per
                # declared key).
                for a in ddl.CALL_AGGREGATES:
                    cur = await conn.execute(sql.SQL(
                        "SELECT coalesce(sum(calls), 0), coalesce(sum(cost_nano_usd), 0),"
                        " coalesce(sum(latency_us_sum), 0) FROM {} WHERE true{}").format(
                        sql.Identifier(a.name), sql.SQL(counted_once(a))))
                    calls, cost, latency = await cur.fetchone()  # type: ignore[misc]
                    assert (calls, cost, latency) == (
                        len(everything), sum(c.cost_nano_usd or 0 for c in everything),
                        sum(c.latency_us for c in everything)), a.name
                assert await stored_sessions_differ(conn, 1) == []
                total = (await answer(conn, 1, Question(start, end))).total()
                assert total.calls == len(everything)
                assert sum(total.ttft_hist) == sum(c.ttft_us is not None for c in everything)
            return differences
        finally:
            await db.close()

    assert asyncio.run(run()) == []


def test_the_check_sees_each_kind_of_difference(fresh_database: str) -> None:
    asyncio.run(migrate(fresh_database, "postgres"))
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("ALTER TABLE llm_calls_1h DROP COLUMN ttft_h07")
        conn.execute("ALTER TABLE llm_calls_1d ADD COLUMN tokens_per_second bigint")
        conn.execute("ALTER TABLE llm_calls_total_1d ALTER COLUMN calls DROP NOT NULL")
        conn.execute("ALTER TABLE llm_calls_user_1d DROP CONSTRAINT llm_calls_user_1d_key")
        conn.execute("CREATE TABLE llm_calls_model_1w (bucket timestamptz)")
        conn.execute("CREATE INDEX ON llm_calls_1d (model, bucket)")
        conn.execute("CREATE OR REPLACE FUNCTION spantally_ingest_staged() RETURNS bigint "
                     "LANGUAGE sql AS 'SELECT 0::bigint'")
    differences = asyncio.run(_differences_without_migrating(fresh_database))
    assert differences == [
        "llm_calls_model_1w: in the database, not in the catalog",
        "llm_calls_1h.ttft_h07: missing",
        "llm_calls_1d.tokens_per_second: not in the catalog",
        "llm_calls_1d: an index on model, bucket that the catalog does not have",
        "llm_calls_total_1d.calls: nullable, the catalog says NOT NULL",
        "llm_calls_user_1d: no unique index NULLS NOT DISTINCT on project_id, bucket, user_id",
        "spantally_ingest_staged(): differs from the one the catalog generates",
    ]


async def _differences_without_migrating(url: str, mode: StorageMode = StorageMode.POSTGRES
                                         ) -> list[str]:
    # Opening a Database would migrate and so reinstall the ingest function.
    async with await psycopg.AsyncConnection.connect(url) as conn:
        return await catalog_differences(conn, mode)


@pytest.mark.timescale_license
def test_the_check_sees_a_continuous_aggregate_that_differs(fresh_database: str) -> None:
    mode = asyncio.run(migrate(fresh_database))
    if mode is not StorageMode.TIMESCALE:
        pytest.skip(f"needs continuous aggregates: this database is in {mode.value!r} mode")
    users = aggregate("llm_calls_user_1d")
    query = sql.SQL(ddl.continuous_aggregate_query(replace(users, keys=("agent_id",))))
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("DROP MATERIALIZED VIEW llm_calls_user_1d")
        conn.execute(sql.SQL("CREATE MATERIALIZED VIEW llm_calls_user_1d WITH "
                             "(timescaledb.continuous, timescaledb.materialized_only = true) AS "
                             "{} WITH NO DATA").format(query))
        conn.execute("SELECT set_chunk_time_interval('llm_calls_user_1d', INTERVAL '1 day')")
    differences = asyncio.run(_differences_without_migrating(fresh_database, mode))
    assert [d.splitlines()[0].rstrip(":") for d in differences] == [
        "llm_calls_user_1d: materialized_only (real-time aggregation is off)",
        "llm_calls_user_1d: its query differs from the catalog's",
        "llm_calls_user_1d.agent_id: not in the catalog",
        "llm_calls_user_1d.user_id: missing",
        "llm_calls_user_1d: materialized in chunks of 1 day, the catalog says 10 days",
        "llm_calls_user_1d: no refresh policy",
    ]
