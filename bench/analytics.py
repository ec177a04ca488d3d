"""Every analytics endpoint over 30 days (7 for the raw-only ones) at a given number of calls.

    python bench/analytics.py [--calls 1000000] [--runs 10]

Calls are loaded through the store's write path in time order over the 30 days before now
(bench/_common.py: 5 models, 5 agents, 3 services, 2 environments, 10,000 users, sessions of
8 consecutive calls, a `feature` tag). Each endpoint is asked over HTTP with unaligned edges;
the baseline, measured in the same run on the same data, is the naive GROUP BY over llm_calls
that yields the same figures. Last, the choice for high-cardinality dimensions: ranking users
from llm_calls alone against their per-day aggregate (llm_calls_user_1d, what SpanTally reads)
plus the raw edges; what declaring a tag key costs (filling its rows from every call); and
what keeping the aggregates costs at ingest (the store's write path with every aggregate,
without the user aggregate, without the 5-minute level, without the tag aggregates, without
the sessions, each into a fresh database).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import urllib.parse
from collections.abc import Callable
from datetime import datetime, timedelta

import psycopg
from psycopg import sql
from query import load

from _common import UpProcess, api_get, now_utc, percentile, spantally_up, stopwatch
from spantally.store import AGGREGATES, ddl, declare_tag_keys, declared_tag_keys
from spantally.store.catalog import RAW, SESSIONS

DAY = timedelta(days=1)

_NAIVE_MEASURES = """count(*), count(*) FILTER (WHERE status = 'error'), sum(input_tokens),
    sum(output_tokens), sum(cost_nano_usd), avg(latency_us),
    percentile_disc(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY latency_us), avg(ttft_us)"""


def _naive(group: str = "", where: str = "") -> str:
    select = f"{group}, " if group else ""
    grouping = f"GROUP BY {group}" if group else ""
    return (f"SELECT {select}{_NAIVE_MEASURES} FROM llm_calls WHERE project_id = 1 "
            f"AND time >= %(start)s AND time < %(end)s {where} {grouping}")


# The hours judged and the same hours of the 7 days before, per agent and per model.
_NAIVE_ANOMALIES = """SELECT date_trunc('hour', time, 'UTC'), agent_id, model, count(*),
    count(*) FILTER (WHERE status = 'error'), sum(cost_nano_usd), avg(latency_us)
FROM llm_calls WHERE project_id = 1 AND time >= %(start)s - interval '7 days' AND time < %(end)s
GROUP BY GROUPING SETS ((1), (1, 2), (1, 3))"""

# A page of sessions (the first 50 in `order`) and their summary, grouped from llm_calls.
_NAIVE_SESSIONS = """WITH s AS MATERIALIZED (
    SELECT session_id, min(time) AS started_at,
           max(time + latency_us * INTERVAL '1 microsecond') AS ended_at, count(*) AS calls,
           count(*) FILTER (WHERE status = 'error') AS errors,
           sum(input_tokens + output_tokens) AS tokens, sum(cost_nano_usd) AS cost,
           min(user_id) AS user_low, max(user_id) AS user_high
    FROM llm_calls WHERE project_id = 1 AND time >= %(start)s AND time < %(end)s
      AND session_id IS NOT NULL {where}
    GROUP BY session_id)
SELECT (SELECT array_agg(session_id) FROM (SELECT session_id FROM s
                                           ORDER BY {order} DESC LIMIT 50) AS page),
       (SELECT count(*) FROM s), (SELECT sum(calls) FROM s), (SELECT sum(tokens) FROM s),
       (SELECT sum(cost) FROM s), (SELECT sum(ended_at - started_at) FROM s)"""

# name, path, extra parameters, days, naive SQL giving the same figures
CASES: list[tuple[str, str, dict[str, str], int, str]] = [
    ("llm (reference 003), day buckets", "/api/analytics/llm", {"granularity": "day"}, 30,
     """SELECT date_trunc('day', time, 'UTC'), provider, model, count(*), sum(cost_nano_usd),
     sum(input_tokens), sum(output_tokens), sum(latency_us) FROM llm_calls
     WHERE project_id = 1 AND time >= %(start)s AND time < %(end)s GROUP BY 1, 2, 3"""),
    ("summary", "/api/analytics/summary", {}, 30, _naive()),
    ("summary, environment=staging", "/api/analytics/summary", {"environment": "staging"}, 30,
     _naive(where="AND environment = 'staging'")),
    ("timeseries day UTC", "/api/analytics/timeseries", {"granularity": "day"}, 30,
     _naive("date_trunc('day', time, 'UTC')")),
    ("timeseries hour UTC", "/api/analytics/timeseries", {"granularity": "hour"}, 30,
     _naive("date_trunc('hour', time, 'UTC')")),
    ("timeseries day Europe/Paris", "/api/analytics/timeseries",
     {"granularity": "day", "tz": "Europe/Paris"}, 30,
     _naive("date_trunc('day', time, 'Europe/Paris')")),
    ("timeseries week America/New_York", "/api/analytics/timeseries",
     {"granularity": "week", "tz": "America/New_York"}, 30,
     _naive("date_trunc('week', time, 'America/New_York')")),
    ("breakdown model", "/api/analytics/breakdown/model", {}, 30, _naive("model")),
    ("breakdown error_type", "/api/analytics/breakdown/error_type", {}, 30,
     _naive("error_type")),
    ("breakdown model, previous period", "/api/analytics/breakdown/model",
     {"compare": "previous_period"}, 30, _naive("model")),
    ("compare previous period", "/api/analytics/compare", {}, 30, _naive()),
    ("anomalies, last 24 h", "/api/analytics/anomalies", {}, 1, _NAIVE_ANOMALIES),
    ("breakdown user (daily user aggregate)", "/api/analytics/breakdown/user", {}, 30,
     _naive("user_id")),
    ("breakdown user, model=gpt-4o (raw)", "/api/analytics/breakdown/user",
     {"model": "gpt-4o"}, 7, _naive("user_id", where="AND model = 'gpt-4o'")),
    ("breakdown tags.feature (tag aggregates)", "/api/analytics/breakdown/tags.feature", {}, 30,
     _naive("tags ->> 'feature'")),
    ("summary, tags=feature:search (tag aggregates)", "/api/analytics/summary",
     {"tags": "feature:search"}, 30, _naive(where="AND tags ->> 'feature' = 'search'")),
    ("breakdown tags.feature, model=gpt-4o (raw)", "/api/analytics/breakdown/tags.feature",
     {"model": "gpt-4o"}, 7, _naive("tags ->> 'feature'", where="AND model = 'gpt-4o'")),
    ("sessions (llm_sessions)", "/api/analytics/sessions", {}, 30,
     _NAIVE_SESSIONS.format(where="", order="started_at")),
    ("sessions by cost (llm_sessions)", "/api/analytics/sessions", {"sort": "cost"}, 30,
     _NAIVE_SESSIONS.format(where="", order="cost")),
    ("sessions, model=gpt-4o (raw)", "/api/analytics/sessions", {"model": "gpt-4o"}, 7,
     _NAIVE_SESSIONS.format(where="AND model = 'gpt-4o'", order="started_at")),
    ("tag keys (raw)", "/api/analytics/tags", {}, 7,
     """SELECT key, count(*), count(DISTINCT value) FROM llm_calls, jsonb_each_text(tags) AS
     tag (key, value) WHERE project_id = 1 AND time >= %(start)s AND time < %(end)s
     AND tags IS NOT NULL GROUP BY key"""),
    ("calls, page 21 (offset 1000)", "/api/calls", {"limit": "50", "offset": "1000"}, 1,
     """SELECT * FROM llm_calls WHERE project_id = 1 AND time >= %(start)s AND time < %(end)s
     ORDER BY time DESC LIMIT 50 OFFSET 1000"""),
    ("summary, userId=u-42 (index)", "/api/analytics/summary", {"userId": "u-42"}, 30,
     _naive(where="AND user_id = 'u-42'")),
]


def _time(fn: Callable[[], object], runs: int, warm: int = 2) -> list[float]:
    for _ in range(warm):  # warm the caches
        fn()
    times = []
    for _ in range(runs):
        t0 = stopwatch()
        fn()
        times.append((stopwatch() - t0) * 1000)
    return times


def _window(days: int) -> tuple[datetime, datetime]:
    end = now_utc() - timedelta(minutes=3, seconds=7)
    return end - days * DAY + timedelta(minutes=17), end


def _ask(up: UpProcess, path: str, params: dict[str, str], days: int) -> dict:
    return ask_over(up, path, params, _window(days))


def ask_over(up: UpProcess, path: str, params: dict[str, str],
             window: tuple[datetime, datetime]) -> dict:
    """`path` over [start, end) of `window`, with `params`."""
    start, end = window
    query = urllib.parse.urlencode({"from": f"{start:%Y-%m-%dT%H:%M:%S.%fZ}",
                                    "to": f"{end:%Y-%m-%dT%H:%M:%S.%fZ}", **params})
    return api_get(up, f"{path}?{query}")


_USERS_RAW = """SELECT user_id, count(*), sum(cost_nano_usd), sum(input_tokens) FROM llm_calls
WHERE project_id = 1 AND time >= %(start)s AND time < %(end)s GROUP BY 1"""
_USERS_AGGREGATE = """SELECT user_id, sum(calls), sum(cost_nano_usd), sum(input_tokens)
FROM (SELECT user_id, calls, cost_nano_usd, input_tokens FROM llm_calls_user_1d
      WHERE project_id = 1 AND bucket >= %(day_lo)s AND bucket < %(day_hi)s
      UNION ALL
      SELECT user_id, 1, cost_nano_usd, input_tokens FROM llm_calls
      WHERE project_id = 1 AND (time >= %(start)s AND time < %(day_lo)s
                                OR time >= %(day_hi)s AND time < %(end)s)) AS parts
GROUP BY 1"""


# What keeping an aggregate costs at ingest: the write path without it, against all of them.
LEFT_OUT: dict[str, tuple[str, ...]] = {
    "every aggregate": (),
    "without the user aggregate": ("llm_calls_user_1d",),
    "without the 5-minute level": ("llm_calls_model_5m", "llm_calls_total_5m"),
    "without the tag aggregates": tuple(a.name for a in ddl.CALL_AGGREGATES if a.per_tag),
    "without the sessions": (SESSIONS,),
}


def _ingest_rates(admin_url: str, n: int, rounds: int) -> dict[str, float]:
    """calls/s through the store's write path into a fresh database per entry of LEFT_OUT: the
    catalog's ingest function less those aggregates. `rounds` times, in turn forwards and
    backwards (so no variant always runs first or last); the mean of its rounds."""
    measured: dict[str, list[float]] = {variant: [] for variant in LEFT_OUT}
    number = 0
    for round_ in range(rounds):
        order = list(LEFT_OUT.items())
        for variant, left_out in order if round_ % 2 == 0 else reversed(order):
            name = f"bench_ingest_{number}"
            number += 1
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name}")
                conn.execute(f"CREATE DATABASE {name}")
            url = admin_url.rsplit("/", 1)[0] + f"/{name}"
            asyncio.run(load(url, 1))  # migrates
            with psycopg.connect(url, autocommit=True) as conn:
                # The calls' project, with its default tag keys (feature, customer, team), as
                # `spantally up` makes it: the tag aggregates count a call under its keys.
                conn.execute("INSERT INTO projects (name) VALUES ('bench') "
                             "ON CONFLICT DO NOTHING")
                conn.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(
                    sql.Identifier(name)
                    for name in (RAW, SESSIONS, *(a.name for a in AGGREGATES)))))
            # installed after the migration that opening the database runs (which would put
            # the whole one back)
            function = ddl.ingest_function(
                [a for a in ddl.CALL_AGGREGATES if a.name not in left_out],
                sessions=SESSIONS not in left_out) if left_out else None
            measured[variant].append(asyncio.run(load(url, n, after_open=function)))
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE {name}")
    return {variant: statistics.mean(rates) for variant, rates in measured.items()}


def _declaring_ms(url: str) -> float:
    """The time of declaring one more tag key for project 1 (its rows filled from every call),
    then dropping it again."""
    async def declare() -> float:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            keys = tuple(sorted(await declared_tag_keys(conn, 1)))
            t0 = stopwatch()
            await declare_tag_keys(conn, 1, (*keys, "region"))
            elapsed = (stopwatch() - t0) * 1000
            await declare_tag_keys(conn, 1, keys)
            return elapsed
    return asyncio.run(declare())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--baseline-runs", type=int, default=3)
    parser.add_argument("--ingest-calls", type=int, default=1_000_000,
                        help="calls per ingest variant (0: no ingest measurement)")
    parser.add_argument("--ingest-rounds", type=int, default=2)
    parser.add_argument("--cases", action="append", metavar="TEXT",
                        help="only the endpoints whose name holds TEXT (repeatable)")
    args = parser.parse_args()
    cases = [c for c in CASES if not args.cases or any(t in c[0] for t in args.cases)]
    from spantally.store import temporary_cluster

    rows = []
    with temporary_cluster("spantally-bench-") as cluster:
        with spantally_up(cluster.url, "--max-raw-range-days", "31") as up:
            rate = asyncio.run(load(cluster.url, args.calls))
            print(f"loaded {args.calls:,} calls over 30 days at {rate:,.0f} calls/s")
            with psycopg.connect(cluster.url, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")
            with psycopg.connect(cluster.url, options="-c TimeZone=UTC",
                                 autocommit=True) as conn:
                for name, path, params, days, naive in cases:
                    start, end = _window(days)
                    api = _time(lambda p=path, q=params, d=days: _ask(up, p, q, d), args.runs)
                    base = _time(lambda n=naive, s=start, e=end: conn.execute(
                        n, {"start": s, "end": e}).fetchall(), args.baseline_runs, warm=1)
                    rows.append((f"{name}, {days} d", statistics.median(api),
                                 percentile(api, 0.95), statistics.median(base)))
                print(f"{'endpoint (HTTP, end to end)':<46}{'median ms':>10}{'p95 ms':>9}"
                      f"{'naive ms':>10}{'ratio':>8}")
                for label, median, p95, base in rows:
                    print(f"{label:<46}{median:>10.1f}{p95:>9.1f}{base:>10.1f}"
                          f"{median / base:>8.3f}")

                print(f"\ndeclaring a tag key over {args.calls:,} calls: "
                      f"{_declaring_ms(cluster.url):,.0f} ms")
                sessions, calls = conn.execute(
                    f"SELECT count(*), sum(calls) FROM {SESSIONS}").fetchone()
                print(f"{SESSIONS}: {sessions:,} rows for {calls:,} calls with a session")
                # High-cardinality dimensions: llm_calls alone, or a dedicated aggregate? (the
                # whole catalog only)
                aggregate_rows = conn.execute(
                    "SELECT count(*) FROM llm_calls_user_1d").fetchone()[0]
                if not args.cases:
                    print(f"\nranking users, SQL only (per-day user aggregate: "
                          f"{aggregate_rows:,} rows)")
                for days in () if args.cases else (7, 30):
                    start, end = _window(days)
                    day_lo = (start + DAY).replace(hour=0, minute=0, second=0, microsecond=0)
                    day_hi = end.replace(hour=0, minute=0, second=0, microsecond=0)
                    bind = {"start": start, "end": end, "day_lo": day_lo, "day_hi": day_hi}
                    raw = _time(lambda b=bind: conn.execute(_USERS_RAW, b).fetchall(), 3)
                    agg = _time(lambda b=bind: conn.execute(_USERS_AGGREGATE, b).fetchall(), 3)
                    print(f"  {days:>2} days: llm_calls {statistics.median(raw):8.1f} ms, "
                          f"aggregate + raw edges {statistics.median(agg):8.1f} ms "
                          f"(ratio {statistics.median(agg) / statistics.median(raw):.3f})")
        n = min(args.calls, args.ingest_calls)
        if not n:
            return
        rates = _ingest_rates(cluster.url, n, args.ingest_rounds)
        print(f"\nkeeping aggregates at ingest ({n:,} calls, store write path, mean of "
              f"{args.ingest_rounds} rounds):")
        every = rates["every aggregate"]
        for variant, rate in rates.items():
            print(f"  {variant:<30}{rate:>10,.0f} calls/s  every aggregate / this: "
                  f"{every / rate:.3f}")


if __name__ == "__main__":
    main()
