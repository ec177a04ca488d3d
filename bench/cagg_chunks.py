"""Continuous aggregates materialized in 10-day chunks (TimescaleDB's default, which migration
0020 makes explicit) or in one-day chunks, which retention would drop more precisely: the
questions the aggregates answer, on the same calls.

    SPANTALLY_PG_BIN=<a Timescale License build's bin> python bench/cagg_chunks.py [--calls 1000000]

Two databases in one cluster get the same calls (bench/_common.py, in time order over the 30
days before now) through the store's write path, batch by batch in turn; in the second, the
continuous aggregates are given one-day chunks before the first write. Then `spantally up` on
each, and every aggregate-answered endpoint of bench/analytics.py over 30 days is asked of both
in turn, over HTTP; the answers must be equal.
Reported: the median of each, and their ratio. Needs the Timescale License edition (continuous
aggregates); says so otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from datetime import timedelta

import psycopg
from analytics import CASES, _window, ask_over

from _common import now_utc, spantally_up, stopwatch, synthetic_calls
from spantally.store import (
    CallWriter,
    Database,
    StorageMode,
    StoreConfig,
    ddl,
    temporary_cluster,
)
from spantally.store.catalog import CONTINUOUS_AGGREGATES

VARIANTS = {"SpanTally's chunks": ddl.MATERIALIZATION_CHUNK, "one-day chunks": timedelta(days=1)}
# The endpoints bench/analytics.py asks over 30 days: the ones aggregates answer.
QUESTIONS = [(name, path, params) for name, path, params, days, _ in CASES if days == 30]


async def _load(urls: list[str], n: int, batch: int) -> float:
    dbs = [Database(StoreConfig(url)) for url in urls]
    for db in dbs:
        await db.open()
    try:
        for db, chunk in zip(dbs, VARIANTS.values(), strict=True):
            async with db.pool.connection() as conn:
                for a in CONTINUOUS_AGGREGATES:
                    await conn.execute(ddl.chunk_interval(a, chunk))
        writers = [CallWriter(db) for db in dbs]
        started = stopwatch()
        pending = []
        for call in synthetic_calls(n, now_utc() - timedelta(days=30), timedelta(days=30),
                                    in_time_order=True):
            pending.append(call)
            if len(pending) == batch:
                for writer in writers:
                    await writer.write(pending)
                pending = []
        for writer in writers:
            await writer.write(pending)
        return n * len(dbs) / (stopwatch() - started)
    finally:
        for db in dbs:
            await db.close()


def _differences(a: object, b: object, where: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b))
                for d in _differences(a.get(k), b.get(k), f"{where}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True))
                for d in _differences(x, y, f"{where}[{i}]")]
    return [] if a == b else [f"{where}: {a!r} != {b!r}"]


def _chunks(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        row = conn.execute(
            "SELECT count(*) FROM timescaledb_information.chunks c "
            "JOIN timescaledb_information.continuous_aggregates a "
            "ON a.materialization_hypertable_name = c.hypertable_name").fetchone()
    return int(row[0]) if row else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--batch", type=int, default=5_000)
    args = parser.parse_args()
    with temporary_cluster("spantally-bench-") as cluster:
        admin = cluster.url
        urls = []
        for number in range(len(VARIANTS)):
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE bench_chunks_{number}")
            urls.append(admin.rsplit("/", 1)[0] + f"/bench_chunks_{number}")
        mode = asyncio.run(_open_mode(urls[0]))
        if mode is not StorageMode.TIMESCALE:
            print(f"needs the Timescale License edition (continuous aggregates): this database "
                  f"is in {mode.value!r} mode; set SPANTALLY_PG_BIN to such a build's bin")
            sys.exit(0)
        rate = asyncio.run(_load(urls, args.calls, args.batch))
        print(f"loaded {args.calls:,} calls into each of {len(urls)} databases at "
              f"{rate:,.0f} calls/s through the writer")
        chunks = [_chunks(url) for url in urls]
        with spantally_up(urls[0]) as first, spantally_up(urls[1]) as second:
            ups = [first, second]
            window = _window(30)  # one window for every request: the answers must be equal
            for name, path, params in QUESTIONS:
                answers = [ask_over(up, path, params, window) for up in ups]
                differences = _differences(*answers)
                assert not differences, (name, differences[:5])
            times: dict[str, list[list[float]]] = {name: [[], []] for name, _, _ in QUESTIONS}
            for _ in range(args.runs + 2):  # the first two warm up
                for name, path, params in QUESTIONS:
                    for i, up in enumerate(ups):
                        began = stopwatch()
                        ask_over(up, path, params, window)
                        times[name][i].append((stopwatch() - began) * 1000)
    labels = list(VARIANTS)
    print(f"materialization chunks: {labels[0]} {chunks[0]}, {labels[1]} {chunks[1]}")
    print(f"\n{'30 days, median ms over HTTP':<44}{'10-day':>10}{'1-day':>10}{'ratio':>8}"
          f"  ({ddl.MATERIALIZATION_CHUNK.days}-day chunks are SpanTally's)")
    for name, (before, after) in times.items():
        b, a = statistics.median(before[2:]), statistics.median(after[2:])
        print(f"{name:<44}{b:>10.1f}{a:>10.1f}{a / b:>8.2f}")


async def _open_mode(url: str) -> StorageMode:
    db = Database(StoreConfig(url))
    mode = await db.open()
    await db.close()
    return mode


if __name__ == "__main__":
    main()
