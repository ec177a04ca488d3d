"""Aggregates per declared tag key (migration 0021, catalog `Aggregate.per_tag`): a question
about one declared tag reads whole hours and days from them, and answers exactly what raw rows
give; declaring and dropping keys fills and forgets exactly, also while calls are written."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
from psycopg import sql

from spantally.client import Client
from spantally.store import CallWriter, LlmCall, declare_tag_keys, declared_tag_keys, reprice
from spantally.store.catalog import TAG_AGGREGATES

from .harness import Project, Server, new_prices

START = datetime(2026, 5, 1, tzinfo=timezone.utc)
DAYS = 10
CUSTOMERS = ["acme", "globex", "initech", None]
_ids = iter(range(7_000_000_000, 10**12))
EVER = (datetime(1970, 1, 1, tzinfo=timezone.utc), datetime(9999, 1, 1, tzinfo=timezone.utc))


def _calls(project_id: int, rng: random.Random, count: int,
           start: datetime = START, days: int = DAYS) -> list[LlmCall]:
    calls = []
    for _ in range(count):
        n = next(_ids)
        tags: dict[str, Any] = {}
        for key, values in (("customer", CUSTOMERS), ("feature", ["chat", "search", None]),
                            ("region", ["eu", "us", None])):
            value = rng.choice(values)
            if value is not None:
                tags[key] = value
        if rng.random() < 0.05:
            tags["customer"] = 42  # not text: read as '42', as a filter reads it
        cost = None if rng.random() < 0.1 else rng.randint(0, 10**7)
        latency = rng.randint(1_000, 60_000_000)
        calls.append(LlmCall(
            time=start + timedelta(seconds=rng.uniform(0, days * 86400)),
            project_id=project_id, trace_id=n.to_bytes(16, "big"), span_id=n.to_bytes(8, "big"),
            parent_span_id=None, service_name="api", environment=None, agent_id=None,
            agent_name=None, session_id=None, user_id=None, provider="openai",
            request_model="gpt-4o", response_model="gpt-4o", model="gpt-4o",
            operation="chat", streaming=False, input_tokens=rng.randint(0, 1000),
            output_tokens=rng.randint(0, 1000), cache_read_tokens=0, cache_write_tokens=0,
            reasoning_tokens=0, cost_nano_usd=cost,
            cost_source=None if cost is None else "catalog", latency_us=latency, ttft_us=None,
            status="error" if rng.random() < 0.1 else "ok", error_type=None,
            tags=tags or None))
    return calls


def _store(server: Server, calls: list[LlmCall]) -> None:
    async def write() -> None:
        assert server.runtime.database is not None
        assert (await CallWriter(server.runtime.database).write(calls)).inserted == len(calls)
    server.thread.run(write())


def _declare(server: Server, project: Project, keys: tuple[str, ...]) -> Any:
    async def declare() -> Any:
        assert server.runtime.database is not None
        async with server.runtime.database.pool.connection() as conn:
            return await declare_tag_keys(conn, project.id, keys)
    return server.thread.run(declare())


def _declared(server: Server, project: Project) -> frozenset[str]:
    async def declared() -> frozenset[str]:
        assert server.runtime.database is not None
        async with server.runtime.database.pool.connection() as conn:
            return await declared_tag_keys(conn, project.id)
    return server.thread.run(declared())


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _truth(server: Server, project: Project, key: str, start: datetime,
           end: datetime) -> dict[str | None, tuple[int, int]]:
    rows = server.sql(
        "SELECT tags ->> %(key)s, count(*), coalesce(sum(cost_nano_usd), 0) FROM llm_calls "
        "WHERE project_id = %(p)s AND time >= %(s)s AND time < %(e)s GROUP BY 1",
        {"key": key, "p": project.id, "s": start, "e": end})
    return {value: (int(calls), int(cost)) for value, calls, cost in rows}


def _breakdown(server: Server, project: Project, key: str, start: datetime,
               end: datetime) -> tuple[dict[str | None, tuple[int, int]], set[str]]:
    status, body = server.api(
        f"/api/analytics/breakdown/tags.{key}?from={_iso(start)}&to={_iso(end)}"
        "&limit=100&explain=true", project.key)
    assert status == 200, body
    rows = {r["key"]: (r["calls"], r["costNanoUsd"]) for r in body["data"] if not r["other"]}
    return rows, {r["relation"] for r in body["explain"]["reads"]}


def _aggregate_rows(conn: psycopg.Connection, project_id: int) -> dict[str, list[tuple]]:
    """Every row of each tag aggregate for the project, sorted."""
    out = {}
    for a in TAG_AGGREGATES:
        out[a.name] = sorted(conn.execute(sql.SQL(
            "SELECT bucket, tag_key, tag_value, {} FROM {} WHERE project_id = %s AND calls <> 0"
        ).format(sql.SQL(", ").join(map(sql.Identifier, a.columns)), sql.Identifier(a.name)),
            (project_id,)).fetchall(), key=repr)
    return out


def _recomputed_rows(conn: psycopg.Connection, project_id: int) -> dict[str, list[tuple]]:
    """The same rows computed afresh from llm_calls: fill a scratch copy of each table."""
    from spantally.store import ddl

    out = {}
    keys = list(conn.execute("SELECT tag_keys FROM projects WHERE id = %s",
                             (project_id,)).fetchone()[0])
    with conn.transaction(force_rollback=True):
        for a in TAG_AGGREGATES:
            conn.execute(sql.SQL("DELETE FROM {} WHERE project_id = %s").format(
                sql.Identifier(a.name)), (project_id,))
            conn.execute(ddl.fill_tag_keys(a), {"project_id": project_id, "tag_keys": keys,
                                                "start": EVER[0], "end": EVER[1]})
        out = _aggregate_rows(conn, project_id)
    return out


def _assert_answered_exactly(server: Server, project: Project, keys: tuple[str, ...],
                             start: datetime, end: datetime) -> None:
    """Breakdowns by each of `keys` come from the tag aggregates and equal raw rows, and the
    tag aggregates hold exactly a fresh fill's rows."""
    for key in keys:
        got, relations = _breakdown(server, project, key, start, end)
        assert got == _truth(server, project, key, start, end), key
        assert "llm_calls_tag_1d" in relations
    with psycopg.connect(server.database_url) as conn:
        assert _aggregate_rows(conn, project.id) == _recomputed_rows(conn, project.id)


def test_a_declared_tag_reads_its_aggregates_and_equals_raw_rows(server: Server) -> None:
    project = server.new_project()
    rng = random.Random(5)
    _store(server, _calls(project.id, rng, 3000))
    # Ragged edges: whole days, whole hours and raw minutes at both ends.
    start = START + timedelta(days=1, hours=5, minutes=17, seconds=3)
    end = START + timedelta(days=8, hours=20, minutes=41)
    for key in ("customer", "feature"):
        got, relations = _breakdown(server, project, key, start, end)
        assert got == _truth(server, project, key, start, end)
        assert relations == {"llm_calls_tag_1d", "llm_calls_tag_1h", "llm_calls"}
    # An undeclared key reads raw rows, with the same answer, within the raw-range limit; the
    # refusal beyond it says how to declare the key.
    status, body = server.api(f"/api/analytics/breakdown/tags.region?from={_iso(start)}"
                              f"&to={_iso(end)}", project.key)
    assert status == 400 and "declare the tag key region (spantally projects tag-keys)" in \
        body["error"]["message"], body
    got, relations = _breakdown(server, project, "region", start, start + timedelta(days=5))
    assert got == _truth(server, project, "region", start, start + timedelta(days=5))
    assert relations == {"llm_calls"}
    # A filter on a declared tag: the time series from the aggregates, each day exact.
    status, body = server.api(
        f"/api/analytics/timeseries?from={_iso(start)}&to={_iso(end)}&granularity=day"
        "&tags=customer:acme&explain=true", project.key)
    assert status == 200, body
    assert {r["relation"] for r in body["explain"]["reads"]} >= {"llm_calls_tag_1d"}
    days = server.sql(
        "SELECT date_trunc('day', time, 'UTC'), count(*) FROM llm_calls WHERE project_id = %s "
        "AND time >= %s AND time < %s AND tags ->> 'customer' = 'acme' GROUP BY 1",
        (project.id, start, end))
    assert {r["bucket"][:10]: r["calls"] for r in body["data"] if r["calls"]} == {
        d.strftime("%Y-%m-%d"): int(n) for d, n in days}
    # A number as a tag value is the text a filter compares with.
    status, body = server.api(f"/api/analytics/summary?from={_iso(start)}&to={_iso(end)}"
                              "&tags=customer:42", project.key)
    assert status == 200, body
    assert body["calls"] == _truth(server, project, "customer", start, end)["42"][0]


def test_declaring_keys_fills_and_forgets_exactly(server: Server) -> None:
    project = server.new_project()
    rng = random.Random(11)
    _store(server, _calls(project.id, rng, 2000))
    start, end = START - timedelta(days=1), START + timedelta(days=DAYS + 1)

    change = _declare(server, project, ("region",))
    assert (change.added, change.removed) == (("region",), ("customer", "feature", "team"))
    assert change.rows_filled > 0
    got, relations = _breakdown(server, project, "region", start, end)
    assert got == _truth(server, project, "region", start, end)
    assert "llm_calls_tag_1d" in relations
    week = (START, START + timedelta(days=6))  # raw rows: within the raw-range limit
    got, relations = _breakdown(server, project, "customer", *week)
    assert relations == {"llm_calls"} and got == _truth(server, project, "customer", *week)
    assert not server.sql("SELECT 1 FROM llm_calls_tag_1h WHERE project_id = %s "
                          "AND tag_key = 'customer'", (project.id,))

    # Back again, then more calls: filled from raw rows, then kept at ingest, never twice.
    assert _declare(server, project, ("region", "customer")).added == ("customer",)
    _store(server, _calls(project.id, rng, 500))
    _assert_answered_exactly(server, project, ("region", "customer"), start, end)


def test_declaring_while_calls_are_written_loses_and_doubles_nothing(server: Server) -> None:
    project = server.new_project()
    rng = random.Random(17)
    batches = [_calls(project.id, rng, 300) for _ in range(12)]
    failures: list[BaseException] = []

    def write() -> None:
        try:
            for batch in batches:
                _store(server, batch)
        except BaseException as exc:  # reported by the test's thread
            failures.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    changes = [("region",), ("region", "customer"), ("customer",), ("feature", "region")]
    declared = 0
    while writer.is_alive() or declared < len(changes):  # declarations all along the writes
        _declare(server, project, changes[declared % len(changes)])
        declared += 1
    _declare(server, project, ("customer", "feature", "region"))
    writer.join(120)
    assert not writer.is_alive() and not failures, failures

    assert _declared(server, project) == {"customer", "feature", "region"}
    with psycopg.connect(server.database_url) as conn:
        assert _aggregate_rows(conn, project.id) == _recomputed_rows(conn, project.id)
    total = sum(len(b) for b in batches)
    assert server.sql("SELECT sum(calls) FROM llm_calls_tag_1d WHERE project_id = %s AND "
                      "tag_key = 'customer'", (project.id,)) == [(total,)]


def test_tag_keys_are_checked(server: Server) -> None:
    project = server.new_project()
    for keys, message in [(("has space",), "'has space' is not a tag key"),
                          (("",), "'' is not a tag key"),
                          (tuple(f"k{i}" for i in range(17)), "at most 16 keys")]:
        try:
            _declare(server, project, keys)
        except ValueError as exc:
            assert message in str(exc)
        else:
            raise AssertionError(f"{keys} accepted")
    assert _declared(server, project) == {"customer", "feature", "team"}




def test_the_admin_api_and_the_command_lines_declare_keys(server: Server) -> None:
    project = server.new_project()
    _store(server, _calls(project.id, random.Random(3), 200))
    client = Client(server.api_url, project.key)  # the test project's key has every scope
    assert client.project_tag_keys() == {"tagKeys": ["feature", "customer", "team"],
                                         "filling": []}
    changed = client.set_tag_keys(["plan", "customer"])
    assert (changed["tagKeys"], changed["added"], changed["removed"]) == (
        ["plan", "customer"], ["plan"], ["feature", "team"])
    assert changed["rowsFilled"] > 0
    assert client.tag_keys() == ["plan", "customer"]
    for body, named in [({"tagKeys": "plan"}, "tagKeys: a list"),
                        ({"tagKeys": ["a b"]}, "tagKeys: 'a b' is not a tag key"),
                        ({"keys": []}, "keys: not a field here")]:
        status, answer = server.call("PUT", "/api/admin/tag-keys", project.key, body)
        assert status == 400 and answer["error"]["message"].startswith(named), (body, answer)

    def spantally(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "spantally.server.cli", *args],
                              env={**os.environ, "SPANTALLY_URL": server.api_url,
                                   "SPANTALLY_API_KEY": project.key},
                              capture_output=True, text=True, timeout=60)

    shown = spantally("admin", "tag-keys")
    assert shown.returncode == 0 and "tag keys: plan, customer" in shown.stdout, shown.stderr
    local = ["projects", "tag-keys", str(project.id), "--database-url", server.database_url]
    declared = spantally(*local, "region")
    assert declared.returncode == 0, declared.stderr
    assert "added region, removed customer, plan;" in declared.stdout, declared.stdout
    assert "tag keys: region" in declared.stdout
    assert "tag keys: region" in spantally(*local).stdout
    assert "tag keys: none" in spantally(*local, "--none").stdout
    refused = spantally(*local, "two words")
    assert refused.returncode == 2 and "'two words' is not a tag key" in refused.stderr
    assert server.sql("SELECT count(*) FROM llm_calls_tag_1h WHERE project_id = %s",
                      (project.id,)) == [(0,)]


def test_repricing_moves_the_cost_in_the_tag_aggregates(server: Server) -> None:
    project = server.new_project()
    _store(server, _calls(project.id, random.Random(23), 400))
    _declare(server, project, ("customer", "region"))

    async def repriced() -> Any:
        assert server.runtime.database is not None
        (totals,) = await reprice(server.runtime.database, START - timedelta(days=1),
                                  START + timedelta(days=DAYS + 1), new_prices, str(project.id))
        return totals
    assert server.thread.run(repriced()).changed > 0
    start, end = START - timedelta(days=1), START + timedelta(days=DAYS + 1)
    _assert_answered_exactly(server, project, ("customer", "region"), start, end)


def test_a_declaration_left_half_way_reads_raw_rows_until_declared_again(
        server: Server) -> None:
    project = server.new_project()
    _store(server, _calls(project.id, random.Random(29), 600, days=5))
    start, end = START - timedelta(days=1), START + timedelta(days=6)
    # As a declaration that stopped while filling leaves it (its rows partly computed).
    with psycopg.connect(server.database_url) as conn:
        conn.execute("UPDATE projects SET tag_keys_filling = '{customer}' WHERE id = %s",
                     (project.id,))
        conn.execute("DELETE FROM llm_calls_tag_1d WHERE project_id = %s "
                     "AND tag_key = 'customer' AND bucket >= %s",
                     (project.id, START + timedelta(days=2)))
    got, relations = _breakdown(server, project, "customer", start, end)
    assert relations == {"llm_calls"} and got == _truth(server, project, "customer", start, end)
    assert Client(server.api_url, project.key).project_tag_keys()["filling"] == ["customer"]
    change = _declare(server, project, ("feature", "customer", "team"))
    assert change.added == () and change.rows_filled > 0
    got, relations = _breakdown(server, project, "customer", start, end)
    assert "llm_calls_tag_1d" in relations
    assert got == _truth(server, project, "customer", start, end)
