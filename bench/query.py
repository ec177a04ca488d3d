"""/api/analytics/llm latency over 30 days at a given number of stored calls.

    python bench/query.py [--calls 1000000] [--runs 20]

Calls are loaded through the store's write path (so the aggregates are what ingest makes), in
time order over the 30 days before now, into one project. The query asks for 30 days with unaligned edges at
day granularity. Baseline, same run and data: the naive GROUP BY over the raw table that
returns the same figures.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from datetime import timedelta

import psycopg

from _common import api_get, now_utc, percentile, spantally_up, stopwatch, synthetic_calls
from spantally.store import CallWriter, Database, StoreConfig, temporary_cluster

NAIVE = """
SELECT date_trunc('day', time, 'UTC'), provider, model, count(*), sum(cost_nano_usd),
       sum(input_tokens), sum(output_tokens), sum(latency_us)
FROM llm_calls WHERE project_id = 1 AND time >= %s AND time < %s
GROUP BY 1, 2, 3
"""


async def load(url: str, n: int, batch: int = 5000, after_open: str | None = None) -> float:
    """Writes n calls through the store's write path; `after_open`: SQL run once the database
    is open (migrated), before writing."""
    db = Database(StoreConfig(url))
    await db.open()
    try:
        if after_open is not None:
            async with db.pool.connection() as conn:
                await conn.execute(after_open)
        writer = CallWriter(db)
        started = stopwatch()
        pending: list = []
        chunk: list = []
        for call in synthetic_calls(n, now_utc() - timedelta(days=30), timedelta(days=30),
                                    in_time_order=True):
            chunk.append(call)
            if len(chunk) == batch:
                pending.append(asyncio.create_task(writer.write(chunk)))
                chunk = []
                if len(pending) >= 2:
                    await pending.pop(0)
        if chunk:
            pending.append(asyncio.create_task(writer.write(chunk)))
        await asyncio.gather(*pending)
        return n / (stopwatch() - started)
    finally:
        await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with temporary_cluster("spantally-bench-") as cluster:
        with spantally_up(cluster.url) as up:
            rate = asyncio.run(load(cluster.url, args.calls))
            print(f"loaded {args.calls:,} calls over 30 days at {rate:,.0f} calls/s")
            with psycopg.connect(cluster.url, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")
            api_ms: list[float] = []
            naive_ms: list[float] = []
            with psycopg.connect(cluster.url, options="-c TimeZone=UTC") as conn:
                for run in range(args.runs + 2):
                    end = now_utc() - timedelta(minutes=3, seconds=run)
                    start = end - timedelta(days=30) + timedelta(minutes=17)
                    query = (f"/api/analytics/llm?from={start:%Y-%m-%dT%H:%M:%S.%fZ}"
                             f"&to={end:%Y-%m-%dT%H:%M:%S.%fZ}&granularity=day")
                    t0 = stopwatch()
                    body = api_get(up, query)
                    t1 = stopwatch()
                    rows = conn.execute(NAIVE, (start, end)).fetchall()
                    t2 = stopwatch()
                    assert body["summary"]["totalCalls"] == sum(r[3] for r in rows)
                    if run >= 2:  # the first two warm the caches
                        api_ms.append((t1 - t0) * 1000)
                        naive_ms.append((t2 - t1) * 1000)
    api_median, naive_median = statistics.median(api_ms), statistics.median(naive_ms)
    print(f"{'30 days, day buckets':<36}{'median ms':>10}{'p95 ms':>10}{'vs naive':>10}")
    print(f"{'naive raw GROUP BY (baseline)':<36}{naive_median:>10.1f}"
          f"{percentile(naive_ms, 0.95):>10.1f}{1:>10.2f}")
    print(f"{'/api/analytics/llm (HTTP, end to end)':<36}{api_median:>10.1f}"
          f"{percentile(api_ms, 0.95):>10.1f}{api_median / naive_median:>10.3f}")


if __name__ == "__main__":
    main()
