"""How far the API's percentiles are from the exact ones, in every view, on realistic latency
distributions.

    python bench/percentiles.py [--calls 1000000]

For each distribution, N calls over the 30 days before now are loaded through the store's
write path (bench/_common.py's calls, their latencies and times to first token redrawn), then
`spantally up` is asked, over HTTP, for the summary, the breakdown by model and the time series
by day and by hour over those 30 days; each p50/p95/p99 of latency and p95 of time to first
token is set against the exact nearest-rank percentile of the same calls (`percentile_disc`
over llm_calls, the baseline). Reported per view: how many percentiles were compared, the
median and the largest relative error, and how many were more than 2% off.

Distributions, per model (five models with different speeds):
- lognormal: latency median 0.6–3 s, sigma 0.8; time to first token median 300 ms, sigma 0.6.
- bimodal: 70% fast (median 0.4 s, sigma 0.3) and 30% slow (median 6 s, sigma 0.4), as cache
  hits and tool-using calls mix; the same time to first token.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import psycopg
from psycopg.rows import dict_row

from _common import MODELS, api_get, now_utc, spantally_up, synthetic_calls
from spantally.store import CallWriter, Database, LlmCall, StoreConfig, temporary_cluster

DAYS = 30
Draw = Callable[[random.Random, int], int]
"""(random source, model index) -> a latency in microseconds."""


def _lognormal(median_ms: float, sigma: float) -> Callable[[random.Random], int]:
    return lambda rng: max(1, int(rng.lognormvariate(math.log(median_ms * 1000), sigma)))


_TTFT = _lognormal(300, 0.6)
_FAST, _SLOW = _lognormal(400, 0.3), _lognormal(6000, 0.4)
DISTRIBUTIONS: dict[str, Draw] = {
    "lognormal": lambda rng, model: _lognormal(600 * (1 + model), 0.8)(rng),
    "bimodal": lambda rng, model: (_FAST if rng.random() < 0.7 else _SLOW)(rng),
}

# A UTC bucket as the API names it (2026-02-08T10:00:00Z).
_UTC_BUCKET = """to_char(date_trunc('{unit}', time, 'UTC'), 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""
# (view, API path, parameters, the exact percentiles' SQL grouping)
VIEWS = [
    ("summary", "/api/analytics/summary", {}, None),
    ("breakdown/model", "/api/analytics/breakdown/model", {}, "model"),
    ("timeseries, day", "/api/analytics/timeseries", {"granularity": "day"},
     _UTC_BUCKET.format(unit="day")),
    ("timeseries, hour", "/api/analytics/timeseries", {"granularity": "hour"},
     _UTC_BUCKET.format(unit="hour")),
]
# API field -> (column, fraction)
FIELDS = {"p50LatencyMs": ("latency_us", 0.5), "p95LatencyMs": ("latency_us", 0.95),
          "p99LatencyMs": ("latency_us", 0.99), "p95TtftMs": ("ttft_us", 0.95)}
_MODEL_INDEX = {model: i for i, (_, model) in enumerate(MODELS)}


def _calls(n: int, draw: Draw, start: datetime) -> Iterator[LlmCall]:
    rng = random.Random(7)
    for call in synthetic_calls(n, start, timedelta(days=DAYS), in_time_order=True):
        latency = draw(rng, _MODEL_INDEX[call.model])
        ttft = min(_TTFT(rng), latency) if call.ttft_us is not None else None
        yield call._replace(latency_us=latency, ttft_us=ttft)


async def _load(url: str, calls: Iterator[LlmCall], batch: int = 5000) -> None:
    db = Database(StoreConfig(url))
    await db.open()
    try:
        writer = CallWriter(db)
        chunk: list[LlmCall] = []
        for call in calls:
            chunk.append(call)
            if len(chunk) == batch:
                await writer.write(chunk)
                chunk = []
        if chunk:
            await writer.write(chunk)
    finally:
        await db.close()


def _exact(conn: psycopg.Connection, group: str | None, start: datetime,
           end: datetime) -> dict[str | None, dict[str, float | None]]:
    """The exact nearest-rank percentiles per group (None: the whole range), in ms."""
    columns = ", ".join(
        f'percentile_disc({fraction}) WITHIN GROUP (ORDER BY {column}) / 1000.0 AS "{field}"'
        for field, (column, fraction) in FIELDS.items())
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"SELECT ({group or 'NULL'})::text AS key, {columns} FROM llm_calls "
            f"WHERE project_id = 1 AND time >= %s AND time < %s GROUP BY 1",
            (start, end)).fetchall()
    return {row.pop("key"): {f: None if v is None else float(v) for f, v in row.items()}
            for row in rows}


def _api_groups(view: str, body: dict) -> dict[str | None, dict]:
    if view == "summary":
        return {None: body}
    if view == "breakdown/model":
        return {row["key"]: row for row in body["data"]}
    return {row["bucket"]: row for row in body["data"]}


def measure(n: int, name: str, draw: Draw) -> list[tuple[str, int, float, float, int]]:
    rows = []
    with temporary_cluster("spantally-bench-") as cluster:
        end = now_utc().replace(microsecond=0)
        start = end - timedelta(days=DAYS)
        asyncio.run(_load(cluster.url, _calls(n, draw, start)))
        with psycopg.connect(cluster.url, options="-c TimeZone=UTC", autocommit=True) as conn, \
                spantally_up(cluster.url, "--max-raw-range-days", "31") as up:
            conn.execute("VACUUM ANALYZE")
            window = {"from": f"{start:%Y-%m-%dT%H:%M:%SZ}", "to": f"{end:%Y-%m-%dT%H:%M:%SZ}"}
            for view, path, params, group in VIEWS:
                body = api_get(up, f"{path}?{urllib.parse.urlencode({**window, **params})}")
                answered = _api_groups(view, body)
                exact = _exact(conn, group, start, end)
                errors = []
                for key, values in exact.items():
                    got = answered[key]
                    for field, want in values.items():
                        if want:
                            errors.append(abs(got[field] - want) / want)
                rows.append((f"{name}, {view}", len(errors), statistics.median(errors),
                             max(errors), sum(e > 0.02 for e in errors)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    args = parser.parse_args()
    rows = [row for name, draw in DISTRIBUTIONS.items() for row in measure(args.calls, name, draw)]
    print(f"{'distribution, view':<32}{'compared':>9}{'median err':>12}{'max err':>9}"
          f"{'over 2%':>9}")
    for label, count, median, worst, over in rows:
        print(f"{label:<32}{count:>9}{median * 100:>11.2f}%{worst * 100:>8.2f}%{over:>9}")


if __name__ == "__main__":
    main()
