"""The reference products' endpoints (/compat, docs/compat.md) against the native requests
that answer the same question, and the anomaly detector's round, at a given number of calls.

    python bench/compat.py [--calls 1000000] [--runs 10]

Calls are loaded as bench/analytics.py loads them (30 days, 10,000 users, a `feature` tag).
Each compatibility endpoint is timed over HTTP, and beside it, in the same run on the same
data, the native requests it is made of, one after the other (their medians added): the ratio
is what the reshaping and the product's parameters cost on top of the engine. Last, one
round of the detector (store.anomaly_log.judge_hours) over the project's last 24 hours and over
one new hour, against detection on request over the same 24 hours.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import urllib.parse
from datetime import datetime, timedelta, timezone

import psycopg
from query import load

from _common import UpProcess, api_get, now_utc, spantally_up, stopwatch
from spantally.store import Database, StoreConfig, judge_hours, temporary_cluster

DAY = timedelta(days=1)


def _time(fn: object, runs: int, warm: int = 2) -> list[float]:
    for _ in range(warm):
        fn()  # type: ignore[operator]
    times = []
    for _ in range(runs):
        t0 = stopwatch()
        fn()  # type: ignore[operator]
        times.append((stopwatch() - t0) * 1000)
    return times


def _get(up: UpProcess, path: str, params: dict[str, str]) -> dict:
    return api_get(up, f"{path}?{urllib.parse.urlencode(params)}")


def _cases(end: datetime) -> list[tuple[str, str, dict[str, str], list[tuple[str, dict]]]]:
    """name, compat path, its parameters, and the native requests it is answered from."""
    start30, start7 = end - 30 * DAY, end - 7 * DAY + timedelta(microseconds=1)
    since, until = f"{start30:%Y-%m-%dT%H:%M:%S.%fZ}", f"{end:%Y-%m-%dT%H:%M:%S.%fZ}"
    native30 = {"from": since, "to": f"{end + timedelta(microseconds=1):%Y-%m-%dT%H:%M:%S.%fZ}"}
    first, last = (end - 29 * DAY).date().isoformat(), end.date().isoformat()
    days30 = {"from": first, "to": (end.date() + DAY).isoformat()}
    first7 = (end - 6 * DAY).date().isoformat()
    days7 = {"from": first7, "to": (end.date() + DAY).isoformat()}
    assert start7 < end
    return [
        ("umbraco summary", "/compat/umbraco-ai/analytics/summary",
         {"from": since, "to": until}, [("/api/analytics/summary", native30)]),
        ("umbraco timeseries day", "/compat/umbraco-ai/analytics/timeseries",
         {"from": since, "to": until, "granularity": "day"},
         [("/api/analytics/timeseries", {**native30, "granularity": "day", "fill": "zero"})]),
        ("umbraco breakdown user", "/compat/umbraco-ai/analytics/breakdown/user",
         {"from": since, "to": until},
         [("/api/analytics/breakdown/user", {**native30, "sort": "calls", "limit": "1000"})]),
        ("infraprism costs by model", "/compat/infraprism/v1/analytics/costs",
         {"start_date": first, "end_date": last, "group_by": "model"},
         [("/api/analytics/breakdown/model", {**days30, "sort": "cost", "limit": "1000"}),
          ("/api/analytics/summary", days30)]),
        ("infraprism costs by day", "/compat/infraprism/v1/analytics/costs",
         {"start_date": first, "end_date": last, "group_by": "day"},
         [("/api/analytics/timeseries", {**days30, "granularity": "day", "fill": "zero"}),
          ("/api/analytics/summary", days30)]),
        ("infraprism models", "/compat/infraprism/v1/analytics/models",
         {"start_date": first, "end_date": last},
         [("/api/analytics/llm", {**days30, "granularity": "day"})]),
        ("infraprism entities/top user", "/compat/infraprism/v1/analytics/entities/top",
         {"start_date": first, "end_date": last, "limit": "10"},
         [("/api/analytics/breakdown/user", {**days30, "sort": "cost", "limit": "10"})]),
        ("infraprism costs by feature (7 d)", "/compat/infraprism/v1/analytics/costs",
         {"start_date": first7, "end_date": last, "entity_type": "feature",
          "group_by": "entity"},
         [("/api/analytics/breakdown/tags.feature", {**days7, "sort": "cost",
                                                     "limit": "1000"}),
          ("/api/analytics/summary", days7)]),
        ("infraprism sessions (7 d)", "/compat/infraprism/v1/analytics/sessions",
         {"start_date": first7, "end_date": last},
         [("/api/analytics/sessions", {**days7, "limit": "50"})]),
        ("infraprism compare", "/compat/infraprism/v1/analytics/compare",
         {"period1_start": (end - 14 * DAY).date().isoformat(), "period1_end": last,
          "period2_start": (end - 29 * DAY).date().isoformat(),
          "period2_end": (end - 15 * DAY).date().isoformat()},
         [("/api/analytics/compare", {"from": (end - 14 * DAY).date().isoformat(),
                                      "to": days30["to"],
                                      "compareFrom": (end - 29 * DAY).date().isoformat(),
                                      "compareTo": (end - 14 * DAY).date().isoformat()})]),
        ("dispersl usage (month)", "/compat/dispersl/v1/analytics/usage",
         {"from_date": since, "to_date": until},
         [("/api/analytics/runs", native30), ("/api/analytics/summary", native30),
          ("/api/analytics/runs/breakdown/agent", {**native30, "sort": "runs", "limit": "1000"}),
          ("/api/analytics/runs/breakdown/model", {**native30, "sort": "runs", "limit": "1000"}),
          ("/api/analytics/runs/timeseries", {**native30, "granularity": "day", "fill": "zero"}),
          ("/api/analytics/timeseries", {**native30, "granularity": "day", "fill": "zero"})]),
        ("dispersl costs (month)", "/compat/dispersl/v1/analytics/costs",
         {"from_date": since, "to_date": until},
         [("/api/analytics/summary", native30), ("/api/analytics/runs", native30),
          ("/api/analytics/breakdown/model", {**native30, "sort": "cost", "limit": "1000"}),
          ("/api/analytics/breakdown/agent", {**native30, "sort": "cost", "limit": "1000"}),
          ("/api/analytics/timeseries", {**native30, "granularity": "day", "fill": "zero"})]),
    ]


async def _judge(url: str, now: datetime) -> float:
    db = Database(StoreConfig(url))
    await db.open()
    try:
        t0 = stopwatch()
        await judge_hours(db, now=now)
        return (stopwatch() - t0) * 1000
    finally:
        await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with temporary_cluster("spantally-bench-") as cluster:
        with spantally_up(cluster.url, "--anomaly-check-interval", "0") as up:
            rate = asyncio.run(load(cluster.url, args.calls))
            print(f"loaded {args.calls:,} calls over 30 days at {rate:,.0f} calls/s")
            with psycopg.connect(cluster.url, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")
            end = now_utc() - timedelta(minutes=3, seconds=7)
            print(f"{'endpoint (HTTP, end to end)':<38}{'compat ms':>10}{'native ms':>10}"
                  f"{'requests':>9}{'ratio':>8}")
            for name, path, params, natives in _cases(end):
                compat = statistics.median(_time(lambda p=path, q=params: _get(up, p, q),
                                                 args.runs))
                native = sum(statistics.median(_time(lambda p=p, q=q: _get(up, p, q),
                                                     args.runs)) for p, q in natives)
                print(f"{name:<38}{compat:>10.1f}{native:>10.1f}{len(natives):>9}"
                      f"{compat / native:>8.3f}")

            hour = now_utc().astimezone(timezone.utc).replace(minute=0, second=0,
                                                             microsecond=0)
            first = asyncio.run(_judge(cluster.url, hour))
            steady = asyncio.run(_judge(cluster.url, hour + timedelta(hours=1)))
            on_request = statistics.median(_time(lambda: _get(up, "/api/analytics/anomalies", {
                "from": f"{hour - DAY:%Y-%m-%dT%H:%M:%SZ}", "to": f"{hour:%Y-%m-%dT%H:%M:%SZ}"}),
                args.runs))
            print(f"\nanomaly detector, one project: first round (24 hours) {first:.0f} ms, "
                  f"next round (1 hour) {steady:.0f} ms; on request over the same 24 hours "
                  f"{on_request:.0f} ms")


if __name__ == "__main__":
    main()
