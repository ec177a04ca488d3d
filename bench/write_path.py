"""The store's write path alone: calls per second, and the CPU each call costs the writer's
process and PostgreSQL, under two patterns of sessions.

    python bench/write_path.py [--calls 100000] [--preload 200000] [--baseline-python OTHER]

`CallWriter.write` in batches of 5,000 realistic calls (a response id, an instrumentation, two
tags) into a database already holding `--preload` calls of the day before, one writer at a
time. Sessions come in two patterns: `random`, each call in one of 100,000 sessions picked at
random (a session's calls hours apart: its row changes hour nearly every time), and `live`,
3,000 conversations going on at once, each with a call every few seconds (what a busy
application sends). PostgreSQL's CPU is its processes' user + system time from /proc.

With `--baseline-python`, the same measurement runs from another installed version too, in
the same cluster, each in a fresh database, alternating A B A B, and the ratios are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta

from ingest import cpu_seconds

from _common import fresh_database, now_utc, synthetic_calls

PATTERNS = ("random", "live")
LIVE_SESSIONS = 3_000
BATCH = 5_000


def postgres_cpu_seconds() -> float:
    """User + system CPU time of every PostgreSQL process on the machine so far."""
    total = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/comm") as comm:
                if not comm.read().startswith("postgres"):
                    continue
            total += cpu_seconds(int(pid))
        except OSError:  # gone meanwhile
            continue
    return total


def _calls(n: int, start_ago: timedelta, seed: int, pattern: str) -> list:
    calls = sorted(synthetic_calls(n, now_utc() - start_ago, timedelta(minutes=45), seed=seed),
                   key=lambda c: c.time)
    out = []
    for i, call in enumerate(calls):
        session = call.session_id if pattern == "random" else f"live-{i % LIVE_SESSIONS}"
        out.append(call._replace(session_id=session, instrumentation="openllmetry",
                                 response_id=f"chatcmpl-{call.span_id.hex()}",
                                 tags={**call.tags, "customer": f"customer-{i % 40}"}))
    return out


async def measure(url: str, calls: int, preload: int, pattern: str) -> dict[str, float]:
    from spantally.store import CallWriter, Database, StoreConfig

    db = Database(StoreConfig(url))
    await db.open()
    try:
        writer = CallWriter(db)
        before = _calls(preload, timedelta(days=1), 1, pattern)
        for i in range(0, len(before), BATCH):
            await writer.write(before[i:i + BATCH])
        measured = _calls(calls, timedelta(minutes=50), 2, pattern)
        pid = os.getpid()
        cpu, postgres, started = cpu_seconds(pid), postgres_cpu_seconds(), time.perf_counter()
        for i in range(0, len(measured), BATCH):
            await writer.write(measured[i:i + BATCH])
        elapsed = time.perf_counter() - started
        return {"calls_per_s": calls / elapsed,
                "writer_us": (cpu_seconds(pid) - cpu) / calls * 1e6,
                "postgres_us": (postgres_cpu_seconds() - postgres) / calls * 1e6}
    finally:
        await db.close()


def _run(python: str, url: str, args: argparse.Namespace, pattern: str) -> dict[str, float]:
    """One measurement from `python`'s SpanTally, in a process of its own."""
    command = [python, __file__, "--one", url, "--pattern", pattern, "--calls", str(args.calls),
               "--preload", str(args.preload)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--preload", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--patterns", default=",".join(PATTERNS))
    parser.add_argument("--baseline-python", default=None)
    parser.add_argument("--one", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--pattern", default="random", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(asyncio.run(measure(args.one, args.calls, args.preload, args.pattern))))
        return
    from spantally.store import temporary_cluster

    sides = [("this", sys.executable)]
    if args.baseline_python:
        sides.append(("base", args.baseline_python))
    print(f"{args.calls:,} calls in batches of {BATCH:,} after {args.preload:,}, one writer; "
          f"median of {args.rounds} rounds")
    print(f"{'pattern':<10}{'side':<6}{'calls/s':>10}{'writer us':>11}{'postgres us':>13}")
    with temporary_cluster("spantally-bench-") as cluster:
        for pattern in args.patterns.split(","):
            results: dict[str, list[dict[str, float]]] = {side: [] for side, _ in sides}
            for number in range(args.rounds):
                for side, python in sides if number % 2 == 0 else reversed(sides):
                    url = fresh_database(cluster.url, f"write_{side}_{pattern}_{number}")
                    results[side].append(_run(python, url, args, pattern))
            medians = {side: {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                       for side, runs in results.items()}
            for side, m in medians.items():
                print(f"{pattern:<10}{side:<6}{m['calls_per_s']:>10,.0f}{m['writer_us']:>11.1f}"
                      f"{m['postgres_us']:>13.1f}")
            if "base" in medians:
                this, base = medians["this"], medians["base"]
                print(f"{pattern:<10}{'ratio':<6}{this['calls_per_s'] / base['calls_per_s']:>10.2f}"
                      f"{this['writer_us'] / base['writer_us']:>11.2f}"
                      f"{this['postgres_us'] / base['postgres_us']:>13.2f}")


if __name__ == "__main__":
    main()
