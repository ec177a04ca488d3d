"""Sessions from llm_sessions (migration 0022, store.catalog.SESSIONS): a row per session kept
by the writers, so an unfiltered list of sessions answers any range exactly what grouping the
raw calls gives, also for sessions spanning a range's edge, and whatever writers, copies,
re-pricing and retention do to the rows meanwhile."""

from __future__ import annotations

import asyncio
import random
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg

from spantally.store import (
    SESSION_ORDERS,
    CallWriter,
    Database,
    Filters,
    LlmCall,
    RetentionConfig,
    StoreConfig,
    apply_retention,
    list_sessions,
    queries,
    reprice,
    sessions_page,
    sessions_summary,
)

from .harness import STORED_SESSIONS_DIFFER, Project, Server, new_prices

START = datetime(2026, 5, 1, tzinfo=timezone.utc)
DAYS = 10
_ids = iter(range(9_000_000_000, 10**12))


def _call(project_id: int, session: str | None, at: datetime, rng: random.Random) -> LlmCall:
    n = next(_ids)
    cost = None if rng.random() < 0.1 else rng.randint(0, 10**7)
    return LlmCall(
        time=at, project_id=project_id, trace_id=n.to_bytes(16, "big"),
        span_id=n.to_bytes(8, "big"), parent_span_id=None, service_name="api",
        environment=None, agent_id=rng.choice(["planner", "writer", None]), agent_name=None,
        session_id=session, user_id=rng.choice(["u1", "u2", "u3", None]), provider="openai",
        request_model="gpt-4o", response_model="gpt-4o",
        model=rng.choice(["gpt-4o", "gpt-4o-mini"]), operation="chat", streaming=False,
        input_tokens=rng.randint(0, 1000), output_tokens=rng.randint(0, 1000),
        cache_read_tokens=0, cache_write_tokens=0, reasoning_tokens=0, cost_nano_usd=cost,
        cost_source=None if cost is None else "catalog", latency_us=rng.randint(1_000, 10**8),
        ttft_us=None, status="error" if rng.random() < 0.1 else "ok", error_type=None,
        tags=None)


def _sessions(project_id: int, rng: random.Random, count: int) -> list[LlmCall]:
    """Conversations of a few turns minutes apart, some of them running for days, some calls
    outside any session, and one session whose calls start at the same moment."""
    calls = []
    for s in range(count):
        at = START + timedelta(seconds=rng.uniform(0, DAYS * 86400))
        gap = timedelta(days=1) if s % 10 == 0 else timedelta(minutes=rng.uniform(0, 30))
        for _ in range(rng.randint(1, 12)):
            if at < START + timedelta(days=DAYS):
                calls.append(_call(project_id, f"s-{project_id}-{s}", at, rng))
            at += gap * rng.random()
    same = START + timedelta(days=3, hours=7)
    calls += [_call(project_id, f"s-{project_id}-same", same, rng) for _ in range(3)]
    calls += [_call(project_id, None, START + timedelta(hours=h), rng) for h in range(50)]
    return calls


def _store(server: Server, calls: list[LlmCall]) -> None:
    async def write() -> None:
        assert server.runtime.database is not None
        await CallWriter(server.runtime.database).write(calls)
    server.thread.run(write())


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _both_ways(conn: psycopg.Connection, project: Project, start: datetime, end: datetime,
               order: str, limit: int, offset: int) -> tuple[list[tuple], list[tuple]]:
    """A page of sessions and the summary, from llm_sessions and grouped from llm_calls."""
    conditions, params = Filters().sql()
    params = {**params, "project_id": project.id, "start": start, "end": end, "limit": limit,
              "offset": offset}
    out = []
    for stored in (True, False):
        page = conn.execute(queries.sessions(conditions, order, stored=stored), params)
        summary = conn.execute(queries.sessions_summary(conditions, stored=stored), params)
        out.append([*page.fetchall(), *summary.fetchall()])
    return out[0], out[1]


def test_sessions_from_their_rows_equal_the_calls_grouped_over_any_range(
        server: Server, project: Project) -> None:
    rng = random.Random(7)
    calls = _sessions(project.id, rng, 400)
    _store(server, calls)
    times = sorted(c.time for c in calls)
    ranges = [(START - timedelta(days=1), START + timedelta(days=DAYS + 1)),
              # Edges at a call's start: that call is in a range that starts there, not in one
              # that ends there.
              (times[100], times[2000]), (times[0], times[-1]),
              (START + timedelta(days=3, hours=7), START + timedelta(days=3, hours=8))]
    ranges += [tuple(sorted((START + timedelta(seconds=rng.uniform(-3600, (DAYS + 1) * 86400)),
                             START + timedelta(seconds=rng.uniform(0, (DAYS + 1) * 86400)))))
               for _ in range(24)]
    with psycopg.connect(server.database_url) as conn:
        for start, end in ranges:
            for order in SESSION_ORDERS:
                for offset in (0, 7):
                    stored, grouped = _both_ways(conn, project, start, end, order, 15, offset)
                    assert stored == grouped, (start, end, order, offset)
        assert conn.execute(STORED_SESSIONS_DIFFER, {"project_id": project.id}).fetchall() == []
    spanning = server.sql("SELECT count(*) FROM llm_sessions WHERE project_id = %s AND "
                          "last_call_at - started_at > INTERVAL '1 day'", (project.id,))
    assert spanning[0][0] >= 10  # the edges had sessions on both sides to count


def test_the_api_lists_sessions_over_any_range_without_filters(server: Server,
                                                               project: Project) -> None:
    rng = random.Random(13)
    _store(server, _sessions(project.id, rng, 150))
    start, end = START - timedelta(days=40), START + timedelta(days=DAYS, hours=5, minutes=3)
    status, body = server.api(f"/api/analytics/sessions?from={_iso(start)}&to={_iso(end)}"
                              "&sort=cost&limit=10&explain=true", project.key)
    assert status == 200, body
    assert {r["relation"] for r in body["explain"]["reads"]} == {"llm_sessions"}
    truth = server.sql(
        "SELECT session_id, count(*), coalesce(sum(cost_nano_usd), 0) FROM llm_calls "
        "WHERE project_id = %s AND session_id IS NOT NULL GROUP BY 1 ORDER BY 3 DESC, 1 "
        "LIMIT 10", (project.id,))
    assert [(r["sessionId"], r["calls"], r["costNanoUsd"]) for r in body["data"]] == [
        (s, int(n), int(c)) for s, n, c in truth]
    assert body["summary"]["totalCalls"] == server.sql(
        "SELECT count(*) FROM llm_calls WHERE project_id = %s AND session_id IS NOT NULL",
        (project.id,))[0][0]
    # Under a filter only the matching calls count: grouped from raw calls, within the limit.
    status, body = server.api(f"/api/analytics/sessions?from={_iso(start)}&to={_iso(end)}"
                              "&model=gpt-4o", project.key)
    assert status == 400 and body["error"]["message"].startswith(
        "from..to: a list of sessions under a filter reads raw calls"), body
    week = f"from={_iso(START)}&to={_iso(START + timedelta(days=7))}"
    status, body = server.api(f"/api/analytics/sessions?{week}&model=gpt-4o&explain=true",
                              project.key)
    assert status == 200 and {r["relation"] for r in body["explain"]["reads"]} == {"llm_calls"}
    assert body["summary"]["totalCalls"] == server.sql(
        "SELECT count(*) FROM llm_calls WHERE project_id = %s AND session_id IS NOT NULL "
        "AND model = 'gpt-4o' AND time >= %s AND time < %s",
        (project.id, START, START + timedelta(days=7)))[0][0]


def test_writers_of_one_session_at_once_lose_and_double_nothing(server: Server,
                                                                project: Project) -> None:
    rng = random.Random(19)
    calls = _sessions(project.id, rng, 60)
    rng.shuffle(calls)
    # Four writers, each sending every call of its quarter and a third of the others again.
    parts = [[c for i, c in enumerate(calls) if i % 4 == w or rng.random() < 0.3]
             for w in range(4)]
    failures: list[BaseException] = []

    def write(part: list[LlmCall]) -> None:
        try:
            for i in range(0, len(part), 40):
                _store(server, part[i:i + 40])
        except BaseException as exc:  # reported by the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(part,)) for part in parts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not failures, failures
    assert server.sql(STORED_SESSIONS_DIFFER, {"project_id": project.id}) == []
    assert server.sql("SELECT sum(calls) FROM llm_sessions WHERE project_id = %s",
                      (project.id,)) == [(sum(c.session_id is not None for c in calls),)]


def test_repricing_moves_the_cost_of_sessions(server: Server, project: Project) -> None:
    _store(server, _sessions(project.id, random.Random(23), 80))

    async def repriced() -> Any:
        assert server.runtime.database is not None
        (totals,) = await reprice(server.runtime.database, START + timedelta(days=2),
                                  START + timedelta(days=5), new_prices, str(project.id))
        return totals
    assert server.thread.run(repriced()).changed > 0
    assert server.sql(STORED_SESSIONS_DIFFER, {"project_id": project.id}) == []


def test_sessions_expire_with_the_aggregates(fresh_database: str) -> None:
    now = datetime.now(timezone.utc)
    rng = random.Random(31)

    async def run() -> list[tuple[Any, ...]]:
        db = Database(StoreConfig(fresh_database))
        await db.open()
        try:
            async with db.pool.connection() as conn:
                row = await (await conn.execute(
                    "INSERT INTO projects (name) VALUES ('p') RETURNING id")).fetchone()
            assert row is not None
            calls = [_call(row[0], "old", now - timedelta(days=50, hours=h), rng)
                     for h in range(3)]
            calls += [_call(row[0], "recent", now - timedelta(days=d), rng) for d in (45, 2)]
            await CallWriter(db).write(calls)
            await apply_retention(db, RetentionConfig(raw_days=40, aggregate_days=40))
            async with db.pool.connection() as conn:
                return await (await conn.execute(
                    "SELECT session_id, calls FROM llm_sessions ORDER BY 1")).fetchall()
        finally:
            await db.close()

    # "old" ended 50 days ago; "recent" keeps its row whole (its first call's raw row is gone).
    assert asyncio.run(run()) == [("recent", 2)]


def test_a_filtered_page_and_its_summary_grouped_once_equal_each_alone(
        server: Server, project: Project) -> None:
    rng = random.Random(37)
    calls = _sessions(project.id, rng, 120)
    _store(server, calls)
    start, end = START + timedelta(hours=5, minutes=3), START + timedelta(days=6)
    one = next(c.session_id for c in calls if c.session_id and start <= c.time < end)

    async def both(filters: Filters, order: str, offset: int) -> tuple[Any, Any]:
        assert server.runtime.database is not None
        async with server.runtime.database.pool.connection() as conn:
            once = await sessions_page(conn, project.id, start, end, filters, order, 10, offset)
            alone = (await list_sessions(conn, project.id, start, end, filters, order, 10,
                                         offset),
                     await sessions_summary(conn, project.id, start, end, filters))
            return once, alone

    for filters in (Filters(model="gpt-4o"), Filters(user_id="u2"),
                    Filters(session_id=one)):
        for order in SESSION_ORDERS:
            for offset in (0, 4, 10_000):  # the last page empty: the summary alone
                once, alone = server.thread.run(both(filters, order, offset))
                assert once == alone, (filters, order, offset)
                assert once[1].sessions > 0 and (once[0] != [] or offset >= once[1].sessions)
