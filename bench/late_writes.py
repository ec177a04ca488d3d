"""`timescale` mode: what a late write costs (the writer refreshes every continuous aggregate
before acknowledging it), with the writer's refresh in a single pass (what SpanTally does on
TimescaleDB 2.28+) against TimescaleDB's default batches (the baseline).

    SPANTALLY_PG_BIN=<a Timescale License build's bin> python bench/late_writes.py [--calls 200000]

Each variant gets a fresh database of `--calls` calls over 30 days (store write path, in time
order), then the same `--batches` batches of 20 calls scattered over those 30 days, and of 2,000
calls within one old hour, are written through the writer; the figure is ms per batch
(acknowledged, i.e. refreshed). Variants alternate, twice each. Needs the Timescale License
edition; says so otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from datetime import timedelta

import psycopg

from _common import now_utc, stopwatch, synthetic_calls
from spantally.store import CallWriter, Database, StorageMode, StoreConfig, temporary_cluster


class _Batched(Database):
    """The writer's refreshes as TimescaleDB runs them by default."""

    @property
    def refreshes_in_one_pass(self) -> bool:
        return False


async def _run(url: str, one_pass: bool, calls: int, batches: int) -> tuple[float, float]:
    db = (Database if one_pass else _Batched)(StoreConfig(url))
    await db.open()
    try:
        if db.mode is not StorageMode.TIMESCALE or not db.refreshes_in_one_pass and one_pass:
            sys.exit("needs the Timescale License edition, 2.28 or later (set SPANTALLY_PG_BIN "
                     "to such a build's bin directory)")
        async with db.pool.connection() as conn:  # no policy runs during the measurement
            await conn.execute("SELECT alter_job(job_id, scheduled => false) "
                               "FROM timescaledb_information.jobs WHERE job_id >= 1000")
        writer = CallWriter(db)
        start = now_utc() - timedelta(days=30)
        loaded = list(synthetic_calls(calls, start, timedelta(days=29), in_time_order=True))
        for i in range(0, len(loaded), 5000):
            await writer.write(loaded[i:i + 5000])
        scattered, hour = [], []
        for b in range(batches):
            batch = list(synthetic_calls(20, start, timedelta(days=29), seed=1000 + b))
            t0 = stopwatch()
            await writer.write(batch)
            scattered.append((stopwatch() - t0) * 1000)
            batch = list(synthetic_calls(2000, start + timedelta(days=3 + b % 20),
                                         timedelta(hours=1), seed=2000 + b))
            t0 = stopwatch()
            await writer.write(batch)
            hour.append((stopwatch() - t0) * 1000)
        return statistics.median(scattered), statistics.median(hour)
    finally:
        await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--batches", type=int, default=15)
    args = parser.parse_args()
    results: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    with temporary_cluster("spantally-bench-") as cluster:
        admin = cluster.url.rsplit("/", 1)[0] + "/postgres"
        for round_ in range(2):
            for one_pass in (round_ % 2 == 0, round_ % 2 == 1):
                name = f"late_{int(one_pass)}_{round_}"
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{name}"')
                url = cluster.url.rsplit("/", 1)[0] + f"/{name}"
                results[one_pass].append(asyncio.run(_run(url, one_pass, args.calls,
                                                          args.batches)))
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    print(f"{args.calls:,} calls stored; ms per acknowledged batch (median of {args.batches}, "
          "best of 2 databases)")
    print(f"{'late batch':<34}{'batched':>10}{'one pass':>10}{'ratio':>8}")
    for index, label in ((0, "20 calls over 30 days"), (1, "2,000 calls in one old hour")):
        batched = min(r[index] for r in results[False])
        one = min(r[index] for r in results[True])
        print(f"{label:<34}{batched:>10.0f}{one:>10.0f}{one / batched:>8.2f}")


if __name__ == "__main__":
    main()
