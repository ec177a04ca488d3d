"""llm_calls in TimescaleDB's columnstore (`timescale` mode): bytes per call, writes, and the
questions that read raw calls, on the same chunks uncompressed and then compressed.

    SPANTALLY_PG_BIN=<a Timescale License build's bin> python bench/columnstore.py [--calls 1000000]

Calls are loaded through the store's write path in time order over the 30 days before now
(bench/_common.py); with `--bulk-load`, without the writer's refresh after each older batch,
every aggregate being refreshed once at the end (what makes 10M calls practical). Each raw-only question is asked over HTTP for a 7-day window 20 to 13 days
ago, first with every chunk uncompressed, then after compressing the chunks older than a day
(SpanTally's compression policy, run with `run_job()`), on the same data in the same run. Writes
into that window (new calls, and duplicates of stored ones) go through the writer, which refreshes
the aggregates before acknowledging them, each measured against the same write into chunks that
are not compressed. Needs the Timescale License edition (compression); says so otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import urllib.parse
from collections.abc import Sequence
from datetime import timedelta

import psycopg
from analytics import _time
from query import load

from _common import UpProcess, api_get, now_utc, spantally_up, stopwatch, synthetic_calls
from spantally.store import (
    AGGREGATES,
    CallWriter,
    ColumnstoreConfig,
    Database,
    LlmCall,
    MaintenanceRunner,
    SpanRecords,
    StorageMode,
    StoreConfig,
    WriteResult,
    configure_columnstore,
    ddl,
    temporary_cluster,
)

DAY = timedelta(days=1)
# The window the questions read: wholly in chunks the policy compresses.
WINDOW_END_DAYS, WINDOW_DAYS = 13, 7

QUESTIONS: list[tuple[str, str, dict[str, str]]] = [
    ("sessions", "/api/analytics/sessions", {}),
    ("breakdown tags.feature", "/api/analytics/breakdown/tags.feature", {}),
    ("breakdown user, model=gpt-4o", "/api/analytics/breakdown/user", {"model": "gpt-4o"}),
    ("/api/calls, newest 100", "/api/calls", {"limit": "100"}),
    ("/api/calls, model=gpt-4o, 100", "/api/calls", {"model": "gpt-4o", "limit": "100"}),
]


# Fixed once, so that both phases ask about the same calls.
_END = now_utc() - WINDOW_END_DAYS * DAY + timedelta(minutes=17)
WINDOW = (_END - WINDOW_DAYS * DAY, _END)


def _ask(up: UpProcess, path: str, params: dict[str, str]) -> dict:
    start, end = WINDOW
    query = urllib.parse.urlencode({"from": f"{start:%Y-%m-%dT%H:%M:%S.%fZ}",
                                    "to": f"{end:%Y-%m-%dT%H:%M:%S.%fZ}", **params})
    return api_get(up, f"{path}?{query}")


def _size(url: str) -> tuple[int, int, int]:
    """(bytes of llm_calls with its indexes, calls, compressed chunks)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT hypertable_size('llm_calls'), (SELECT count(*) FROM llm_calls),"
            " (SELECT count(*) FROM timescaledb_information.chunks"
            "  WHERE hypertable_name = 'llm_calls' AND is_compressed)").fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


class _BulkWriter(CallWriter):
    """Loading only: each batch stored without the refresh that acknowledges older writes; the
    load refreshes every aggregate once at its end instead (`--bulk-load`)."""

    async def write(self, calls: Sequence[LlmCall]) -> WriteResult:  # type: ignore[override]
        inserted = await self._write_once(SpanRecords(calls=list(calls)))
        return WriteResult(inserted, len(calls) - inserted)


async def _bulk_load(url: str, n: int, batch: int) -> float:
    db = Database(StoreConfig(url))
    await db.open()
    try:
        writer = _BulkWriter(db)
        started = stopwatch()
        chunk: list[LlmCall] = []
        for call in synthetic_calls(n, now_utc() - timedelta(days=30), timedelta(days=30),
                                    in_time_order=True):
            chunk.append(call)
            if len(chunk) == batch:
                await writer.write(chunk)
                chunk = []
        if chunk:
            await writer.write(chunk)
        async with db.pool.connection() as conn:
            await conn.set_autocommit(True)
            for a in AGGREGATES:
                await conn.execute(ddl.refresh(a, db.refreshes_in_one_pass),
                                   {"end": a.grain.refresh_end(now_utc())})
        return n / (stopwatch() - started)
    finally:
        await db.close()


async def _compress(url: str) -> float:
    """Seconds SpanTally's compression policy (older than a day) takes, run by its runner."""
    db = Database(StoreConfig(url))
    await db.open()
    try:
        if db.mode is not StorageMode.TIMESCALE:
            sys.exit(f"needs the Timescale License edition: this cluster is in {db.mode} mode "
                     "(set SPANTALLY_PG_BIN to a Timescale License build's bin directory)")
        await configure_columnstore(db, ColumnstoreConfig(compress_after_days=1))
        async with db.pool.connection() as conn:
            await conn.execute("SELECT alter_job(job_id, scheduled => false) FROM "
                               "timescaledb_information.jobs WHERE proc_name = 'policy_compression'")
        t0 = stopwatch()
        ran = await MaintenanceRunner(db).run_once()
        assert ran is not None and "compression llm_calls" in ran, ran
        return stopwatch() - t0
    finally:
        await db.close()


async def _write_rate(url: str, days_ago: float, n: int, seed: int, again: bool = False) -> float:
    """Calls per second the writer stores (aggregates refreshed before each acknowledgement)
    for `n` calls around `days_ago`, in batches of 5,000; `again`: the same calls a second time
    (all duplicates)."""
    db = Database(StoreConfig(url))
    await db.open()
    try:
        writer = CallWriter(db)
        calls = list(synthetic_calls(n, now_utc() - days_ago * DAY, timedelta(hours=6),
                                     seed=seed, in_time_order=True))
        for attempt in range(2 if again else 1):
            t0 = stopwatch()
            for i in range(0, n, 5000):
                result = await writer.write(calls[i:i + 5000])
                assert result.inserted == (0 if attempt else len(calls[i:i + 5000]))
            elapsed = stopwatch() - t0
        return n / elapsed
    finally:
        await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--late-calls", type=int, default=20_000)
    parser.add_argument("--bulk-load", action="store_true",
                        help="load without the writer's refreshes, refreshing once at the end")
    parser.add_argument("--load-batch", type=int, default=5_000,
                        help="calls per write while loading (each older batch refreshes the "
                             "aggregates, so larger batches load faster)")
    args = parser.parse_args()
    with temporary_cluster("spantally-bench-") as cluster:
        url = cluster.url
        if args.bulk_load:
            rate = asyncio.run(_bulk_load(url, args.calls, args.load_batch))
            how = "stored without refreshes, then every aggregate refreshed once"
        else:
            rate = asyncio.run(load(url, args.calls, batch=args.load_batch))
            how = "through the writer"
        print(f"loaded {args.calls:,} calls over 30 days at {rate:,.0f} calls/s ({how}, "
              f"batches of {args.load_batch:,}, uncompressed hypertable)")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        before_bytes, calls, _ = _size(url)
        with spantally_up(url, "--compress-after-days", "0") as up:
            key = up.key
            answers = {name: _ask(up, path, params) for name, path, params in QUESTIONS}
            plain = {name: statistics.median(_time(lambda p=path, q=params: _ask(up, p, q),
                                                      args.runs))
                     for name, path, params in QUESTIONS}
        new_plain = asyncio.run(_write_rate(url, 2.5, args.late_calls, seed=11))
        dup_plain = asyncio.run(_write_rate(url, 3.5, args.late_calls, seed=12, again=True))

        seconds = asyncio.run(_compress(url))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        after_bytes, after_calls, compressed_chunks = _size(url)
        with spantally_up(url, "--compress-after-days", "0", api_key=key) as up:
            for name, path, params in QUESTIONS:
                assert _ask(up, path, params) == answers[name], name  # same figures
            packed = {name: statistics.median(_time(lambda p=path, q=params: _ask(up, p, q),
                                                      args.runs))
                      for name, path, params in QUESTIONS}
        new_packed = asyncio.run(_write_rate(url, 17.5, args.late_calls, seed=13))
        dup_packed = asyncio.run(_write_rate(url, 18.5, args.late_calls, seed=14, again=True))
        _, final_calls, final_compressed = _size(url)

    print(f"compressed {compressed_chunks} chunks (all but the newest day) in {seconds:.1f} s")
    print(f"{'llm_calls, bytes per call (with indexes)':<44}{before_bytes / calls:>10.0f}"
          f"{after_bytes / after_calls:>12.0f}{before_bytes / after_bytes:>10.1f}x smaller")
    print(f"\n{'7-day window, 20-13 days ago (HTTP)':<44}{'plain ms':>10}{'columnstore':>12}"
          f"{'ratio':>10}")
    for name, _, _ in QUESTIONS:
        print(f"{name:<44}{plain[name]:>10.1f}{packed[name]:>12.1f}"
              f"{packed[name] / plain[name]:>10.2f}")
    print(f"\n{'writes through the writer, calls/s':<44}{'plain':>10}{'columnstore':>12}"
          f"{'ratio':>10}")
    for name, a, b in (("new calls into old chunks", new_plain, new_packed),
                       ("the same calls again (duplicates)", dup_plain, dup_packed)):
        print(f"{name:<44}{a:>10,.0f}{b:>12,.0f}{b / a:>10.2f}")
    assert final_calls == calls + 4 * args.late_calls  # each duplicate stored once
    print(f"(chunks still compressed after the writes: {final_compressed})")


if __name__ == "__main__":
    main()
