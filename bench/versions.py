"""This tree against another installed version of SpanTally, on the same data, interleaved.

    python bench/versions.py --baseline-python OTHER/.venv/bin/python [--calls 1000000]

Both versions answer from one database: N calls are loaded through this tree's write path,
then `spantally up` runs from each Python (this one first, so its migrations apply) and every
analytics endpoint of bench/analytics.py, plus /api/analytics/llm by hour, is asked
of both in turn, request by request, so that whatever else the machine does weighs on both
alike (each going first in every other round), and each answer must be the same from both.
Then ingest: each version's collector in front of a fresh database of its own, OTLP requests
(`--shapes`, over `--transports`) sent to one and then the other in rounds of `--concurrency`
at a time, each side timed until its requests are acknowledged (committed), and its collector
process's CPU time per span read from /proc. Reported: each side's median (or rate) and their
ratio (this tree / baseline); `--ingest-only` skips the endpoints. Make the
baseline with e.g. `git worktree add /tmp/base REV && python -m venv /tmp/base/.venv &&
/tmp/base/.venv/bin/pip install /tmp/base[server]`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import urllib.parse
from contextlib import ExitStack

import psycopg
from analytics import CASES, _window
from ingest import cpu_seconds, encode_requests, send_grpc, send_http
from query import load

from _common import UpProcess, api_get, fresh_database, spantally_up, stopwatch

# (name, path, parameters, days)
EXTRA = [("llm, hour buckets", "/api/analytics/llm", {"granularity": "hour"}, 30)]


def _url(path: str, params: dict[str, str], days: int) -> str:
    start, end = _window(days)
    return path + "?" + urllib.parse.urlencode({"from": f"{start:%Y-%m-%dT%H:%M:%S.%fZ}",
                                                "to": f"{end:%Y-%m-%dT%H:%M:%S.%fZ}",
                                                **params})


def _timed(up: UpProcess, url: str) -> float:
    started = stopwatch()
    api_get(up, url)
    return (stopwatch() - started) * 1000


SENDERS = {"grpc": send_grpc, "http": send_http}


def _ingest(cluster_url: str, baseline_python: str, spans: int, concurrency: int,
            shape: str, transport: str) -> None:
    bodies = encode_requests(spans, 512, seed=3, shape=shape)
    send = SENDERS[transport]
    database = f"{shape}_{transport}"
    with ExitStack() as stack:
        mine = stack.enter_context(spantally_up(fresh_database(cluster_url, f"mine_{database}")))
        base = stack.enter_context(spantally_up(fresh_database(cluster_url, f"base_{database}"),
                                                python=baseline_python))
        spent = {"mine": 0.0, "base": 0.0}
        cpu = {"mine": 0.0, "base": 0.0}
        rounds = [bodies[i:i + concurrency] for i in range(0, len(bodies), concurrency)]
        for number, chunk in enumerate(rounds):
            order = [("mine", mine), ("base", base)]
            for side, up in order if number % 2 else reversed(order):
                started, cpu_before = stopwatch(), cpu_seconds(up.proc.pid)
                asyncio.run(send(up, chunk, concurrency))
                spent[side] += stopwatch() - started
                cpu[side] += cpu_seconds(up.proc.pid) - cpu_before
    a, b = spans / spent["mine"], spans / spent["base"]
    label = f"ingest, {shape} over OTLP/{transport}"
    print(f"{label:<48}{a:>9,.0f}{b:>9,.0f}{a / b:>7.2f}  (spans/s until acknowledged)")
    a, b = cpu["mine"] / spans * 1e6, cpu["base"] / spans * 1e6
    print(f"{'  collector CPU':<48}{a:>9.1f}{b:>9.1f}{a / b:>7.2f}  (us a span)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-python", required=True)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--ingest-spans", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--shapes", default="small",
                        help="span shapes to ingest, comma-separated: small, realistic")
    parser.add_argument("--transports", default="grpc",
                        help="OTLP transports to ingest over, comma-separated: grpc, http")
    parser.add_argument("--ingest-only", action="store_true",
                        help="only the ingest rounds, not the endpoints")
    args = parser.parse_args()
    version = subprocess.run([args.baseline_python, "-m", "spantally.server.cli", "--version"],
                             capture_output=True, text=True, check=True).stdout.strip()
    from spantally.store import temporary_cluster

    with temporary_cluster("spantally-bench-") as cluster, ExitStack() as stack:
        if not args.ingest_only:
            _endpoints(cluster.url, stack, args.calls, args.runs, args.baseline_python, version)
        stack.close()  # both servers stop before the ingest rounds
        for shape in args.shapes.split(","):
            for transport in args.transports.split(","):
                _ingest(cluster.url, args.baseline_python, args.ingest_spans, args.concurrency,
                        shape, transport)
    sys.stdout.flush()


def _endpoints(cluster_url: str, stack: ExitStack, calls: int, runs: int, baseline_python: str,
               version: str) -> None:
    """Every endpoint of both versions over one database, request by request."""
    mine = stack.enter_context(spantally_up(cluster_url, "--max-raw-range-days", "31"))
    rate = asyncio.run(load(cluster_url, calls))
    print(f"loaded {calls:,} calls at {rate:,.0f} calls/s; baseline: {version} "
          f"({baseline_python})")
    with psycopg.connect(cluster_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    base = stack.enter_context(spantally_up(cluster_url, "--max-raw-range-days", "31",
                                            python=baseline_python, api_key=mine.key))
    print(f"{'endpoint (HTTP, end to end)':<48}{'this ms':>9}{'base ms':>9}{'ratio':>7}")
    for name, path, params, days, *_ in [*EXTRA, *CASES]:
        url = _url(path, params, days)
        assert api_get(mine, url) == api_get(base, url), f"{name}: the answers differ"
        ours, theirs = [], []
        for number in range(runs):
            if number % 2:
                ours.append(_timed(mine, url))
                theirs.append(_timed(base, url))
            else:
                theirs.append(_timed(base, url))
                ours.append(_timed(mine, url))
        a, b = statistics.median(ours), statistics.median(theirs)
        print(f"{name + f', {days} d':<48}{a:>9.1f}{b:>9.1f}{a / b:>7.2f}")


if __name__ == "__main__":
    main()
