"""Agent runs: what keeping their roll-ups costs at ingest, and what the run endpoints cost.

    python bench/runs.py [--traces 200000] [--batch 5000] [--rounds 6]
    python bench/runs.py --at-scale 3300000 [--rounds 6]

Ingest, through the store's write path (store.CallWriter, 2 writers as the collector runs
them), on one database, alternating batches so that both sides see the same machine:
- calls only (LLM spans without runs): the writer as it is, against the same writer without
  the roll-up step (`keep_rollups`): what every batch now pays for runs being possible;
- agent traces (a run, 3 calls, 1 tool, 1 link, the spans cut across two batches so that the
  late half repairs the roll-ups): spans/s against calls-only spans/s in the same run.
Then `--traces` agent traces over 30 days and every run endpoint over HTTP (median of
`--rounds` after one warm-up), against /api/analytics/summary of the same range.

`--at-scale N`: N runs over 30 days (3.3M: the runs of 10M calls at 3 calls a run) loaded by
SQL straight into agent_runs, the run aggregates then filled once from it (the catalog's
queries), so that the size, not the write path, is what is measured. Each run question over 30
days is answered by the store (in process, median of `--rounds`) as planned (whole days and
hours from the run aggregates, raw edges) and from agent_runs alone (one raw piece: what every
run question cost before the aggregates), on the same data in the same run; then the endpoints
over HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

import psycopg
from psycopg import sql

from _common import api_get, now_utc, spantally_up, stopwatch, synthetic_calls
from spantally.store import (
    RUN_DIMENSIONS,
    AgentRun,
    CallWriter,
    Database,
    Filters,
    Granularity,
    Plan,
    Question,
    SpanLink,
    SpanRecords,
    StoreConfig,
    ToolCall,
    WriteResult,
    ddl,
    execute,
    plan,
    temporary_cluster,
)
from spantally.store.buckets import Segment
from spantally.store.catalog import RUNS, aggregates_of
from spantally.store.planner import Piece

_AGENTS = ("billing", "planner", "researcher", "support")


class _WithoutRollups(CallWriter):
    """The writer without the roll-up step: the cost of the step is the difference."""

    async def _write_once(self, records: SpanRecords) -> tuple[int, datetime | None]:
        from spantally.store.runs import write_run_spans
        from spantally.store.writer import write_calls

        async with self._db.pool.connection() as conn:
            async with conn.cursor() as cur:
                inserted = await write_calls(cur, records.calls)
                await write_run_spans(cur, records)
        return inserted, None


def agent_traces(n: int, start: datetime, span: timedelta, project_id: int,
                 seed: int) -> Iterator[tuple[SpanRecords, SpanRecords]]:
    """Per trace: (first half, second half) of its spans. A run with a link below it, 3 calls
    (one inside the tool) and a tool; the first half holds two calls, the rest comes later."""
    rng = random.Random(seed)
    calls = synthetic_calls(3 * n, start, span, project_id, seed)
    for _ in range(n):
        trace = os.urandom(16)
        run_id, link_id, tool_id = os.urandom(8), os.urandom(8), os.urandom(8)
        c1, c2, c3 = next(calls), next(calls), next(calls)
        at = c1.time
        failed = rng.random() < 0.1
        run = AgentRun(at, project_id, trace, run_id, None, "agent", rng.choice(_AGENTS), None,
                       "bench", "production", c1.session_id, c1.user_id,
                       rng.randrange(1_000_000, 60_000_000), "error" if failed else "ok",
                       "StepFailed" if failed else None, None)
        link = SpanLink(at, project_id, trace, link_id, run_id)
        tool = ToolCall(at + timedelta(seconds=2), project_id, trace, tool_id, link_id, "search",
                        rng.randrange(10_000, 2_000_000), "ok", None)
        step = [c._replace(time=at + timedelta(seconds=i + 1), trace_id=trace,
                           span_id=os.urandom(8), parent_span_id=parent)
                for i, (c, parent) in enumerate(((c1, link_id), (c2, link_id), (c3, tool_id)))]
        yield (SpanRecords(calls=step[:2], links=[link]),
               SpanRecords(calls=step[2:], runs=[run], tools=[tool]))


def _batches(records: Sequence[SpanRecords], size: int) -> list[SpanRecords]:
    out, current = [], SpanRecords()
    for r in records:
        current.extend(r)
        if len(current) >= size:
            out.append(current)
            current = SpanRecords()
    if len(current):
        out.append(current)
    return out


async def _rate(writer: CallWriter, batches: list[SpanRecords]) -> float:
    slots = asyncio.Semaphore(2)

    async def write(batch: SpanRecords) -> WriteResult:
        async with slots:
            return await writer.write(batch)

    started = stopwatch()
    await asyncio.gather(*(write(b) for b in batches))
    return sum(len(b) for b in batches) / (stopwatch() - started)


async def ingest(url: str, spans: int, batch: int, rounds: int) -> dict[str, list[float]]:
    db = Database(StoreConfig(url))
    await db.open()
    rates: dict[str, list[float]] = {"calls": [], "calls, no roll-up step": [], "traces": []}
    try:
        with_step, without = CallWriter(db), _WithoutRollups(db)
        live = now_utc() - timedelta(minutes=50)
        for r in range(rounds):
            calls = list(synthetic_calls(spans, live, timedelta(minutes=45), 10 + r, seed=r))
            plain = [SpanRecords(calls=calls[i:i + batch]) for i in range(0, spans, batch)]
            other = list(synthetic_calls(spans, live, timedelta(minutes=45), 100 + r, seed=r))
            plain_other = [SpanRecords(calls=other[i:i + batch]) for i in range(0, spans, batch)]
            halves = list(agent_traces(spans // 6, live, timedelta(minutes=45), 1000 + r, r))
            # Every trace's first half, then every second half: late repairs in every batch.
            traces = _batches([h for h, _ in halves] + [h for _, h in halves], batch)
            order = [("calls", with_step, plain), ("calls, no roll-up step", without, plain_other),
                     ("traces", with_step, traces)]
            if r % 2:
                order.reverse()
            for name, writer, batches in order:
                rates[name].append(await _rate(writer, batches))
    finally:
        await db.close()
    return rates


async def load(url: str, traces: int) -> float:
    db = Database(StoreConfig(url))
    await db.open()
    try:
        writer = CallWriter(db)
        start = now_utc() - timedelta(days=30)
        halves = list(agent_traces(traces, start, timedelta(days=30) - timedelta(hours=2), 1, 7))
        batches = _batches([r for pair in halves for r in pair], 5000)
        return await _rate(writer, batches)
    finally:
        await db.close()


# N runs over the 30 days before now, in time order, as agents of 4 names in 2 services and 2
# environments record them; roll-ups as a run of 3 calls and a tool would have.
_BULK_RUNS = """
INSERT INTO agent_runs (time, project_id, trace_id, span_id, kind, agent_id, agent_name,
    service_name, environment, user_id, duration_us, status, error_type, llm_calls, tool_calls,
    input_tokens, output_tokens, cost_nano_usd, own_llm_calls, own_tool_calls, models,
    providers)
SELECT now() - interval '30 days' + (i::float8 / %(n)s) * interval '30 days', 1,
       decode(md5(i::text), 'hex'), substr(decode(md5(i::text), 'hex'), 1, 8),
       CASE WHEN i %% 10 = 0 THEN 'workflow' ELSE 'agent' END,
       (ARRAY['billing', 'planner', 'researcher', 'support'])[1 + i %% 4],
       (ARRAY['billing', 'planner', 'researcher', 'support'])[1 + i %% 4],
       (ARRAY['api', 'worker'])[1 + i %% 2], (ARRAY['prod', 'staging'])[1 + (i / 7) %% 2],
       'user-' || (i %% 5000), 200000 + (hashint4(i)::bigint & 65535) * 300,
       CASE WHEN i %% 17 = 0 THEN 'error' ELSE 'ok' END,
       CASE WHEN i %% 17 = 0 THEN 'Timeout' END, 3, 1, 3000, 300, 4500000, 3, 1,
       ARRAY[(ARRAY['gpt-4o', 'claude-3-5-sonnet'])[1 + i %% 2]], ARRAY['openai']
FROM generate_series(%(first)s::int, %(last)s::int) AS i
"""


async def load_at_scale(url: str, runs: int) -> float:
    """`runs` runs straight into agent_runs, then every run aggregate filled from it."""
    db = Database(StoreConfig(url))  # migrates
    await db.open()
    await db.close()
    started = stopwatch()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for at in range(0, runs, 500_000):
            await conn.execute(_BULK_RUNS, {"n": runs, "first": at + 1,
                                            "last": min(runs, at + 500_000)})
        for a in aggregates_of(RUNS):
            await conn.execute(ddl.fill_aggregate(a))
        await conn.execute("VACUUM ANALYZE agent_runs")
        for a in aggregates_of(RUNS):
            await conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(a.name)))
    return stopwatch() - started


def _raw_only(question: Question) -> Plan:
    """The plan that reads agent_runs alone (no granularity: one part, one piece)."""
    return Plan(question, (Segment(question.start, question.end, None),),  # type: ignore[arg-type]
                (Piece(question.start, question.end, RUNS.raw, None),), (question.start,),
                (None,))


async def store_timings(url: str, rounds: int) -> dict[str, tuple[float, float]]:
    """Median ms of each run question as planned and from agent_runs alone."""
    end = now_utc() - timedelta(minutes=3, seconds=7)
    start = end - timedelta(days=30) + timedelta(minutes=17)
    questions = {
        "runs summary": Question(start, end, fact=RUNS),
        "runs, agent = billing": Question(start, end, Filters(agent_id="billing"), fact=RUNS),
        "runs by agent": Question(start, end, group_by=(RUN_DIMENSIONS["agent"],), fact=RUNS),
        "runs by status": Question(start, end, group_by=(RUN_DIMENSIONS["status"],), fact=RUNS),
        "runs by model": Question(start, end, group_by=(RUN_DIMENSIONS["model"],), fact=RUNS),
        "runs, model = gpt-4o": Question(start, end, Filters(model="gpt-4o"), fact=RUNS),
        "runs by model, agent = billing": Question(
            start, end, Filters(agent_id="billing"), group_by=(RUN_DIMENSIONS["model"],),
            fact=RUNS),
    }
    out: dict[str, tuple[float, float]] = {}
    async with await psycopg.AsyncConnection.connect(url) as conn:
        for name, question in questions.items():
            timings = []
            for planned in (plan(question), _raw_only(question)):
                times = []
                await execute(conn, 1, planned)  # warm
                for _ in range(rounds):
                    t0 = stopwatch()
                    answered = await execute(conn, 1, planned)
                    times.append((stopwatch() - t0) * 1000)
                timings.append((statistics.median(times), answered.total()))
            (fast, one), (slow, other) = timings
            assert one == other, f"{name}: planned and raw answers differ"
            assert one.runs > 0, name
            out[name] = (fast, slow)
        daily = Question(start, end, granularity=Granularity.DAY, fact=RUNS)
        times = []
        for _ in range(rounds):
            t0 = stopwatch()
            await execute(conn, 1, plan(daily))
            times.append((stopwatch() - t0) * 1000)
        out["runs per day"] = (statistics.median(times), float("nan"))
    return out


def at_scale(runs: int, rounds: int) -> None:
    with temporary_cluster("spantally-bench-") as cluster:
        loaded = asyncio.run(load_at_scale(cluster.url, runs))
        print(f"loaded {runs:,} runs over 30 days and the run aggregates in {loaded:.0f} s")
        timed = asyncio.run(store_timings(cluster.url, rounds))
        print(f"\n{'over 30 days (store, in process)':<36}{'planned ms':>12}{'raw ms':>10}"
              f"{'ratio':>8}")
        for name, (fast, slow) in timed.items():
            print(f"{name:<36}{fast:>12,.1f}{slow:>10,.1f}{fast / slow:>8.3f}")
        with spantally_up(cluster.url) as up:
            end = now_utc().replace(microsecond=0)
            window = urllib.parse.urlencode({"from": (end - timedelta(days=30)).isoformat(),
                                             "to": end.isoformat()})
            cases = [("/api/analytics/runs", f"/api/analytics/runs?{window}"),
                     ("  compare=previous_period",
                      f"/api/analytics/runs?{window}&compare=previous_period"),
                     ("  agentId=billing", f"/api/analytics/runs?{window}&agentId=billing"),
                     ("/runs/timeseries (day)", f"/api/analytics/runs/timeseries?{window}"),
                     ("/runs/breakdown/agent", f"/api/analytics/runs/breakdown/agent?{window}"),
                     ("/runs/breakdown/kind", f"/api/analytics/runs/breakdown/kind?{window}"),
                     ("/runs/breakdown/model", f"/api/analytics/runs/breakdown/model?{window}"),
                     ("/runs/breakdown/user (raw)",
                      f"/api/analytics/runs/breakdown/user?{window}")]
            http = {name: _median_ms(up, path, rounds) for name, path in cases}
        print(f"\n{'over 30 days (HTTP)':<36}{'median ms':>12}")
        for name, ms in http.items():
            print(f"{name:<36}{ms:>12,.1f}")


def _median_ms(up, path: str, rounds: int) -> float:
    api_get(up, path)
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        api_get(up, path)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=200_000)
    parser.add_argument("--ingest-spans", type=int, default=60_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--at-scale", type=int, metavar="RUNS",
                        help="only the run questions over RUNS runs loaded by SQL")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores")
    if args.at_scale:
        at_scale(args.at_scale, args.rounds)
        return
    with temporary_cluster("spantally-bench-") as cluster:
        rates = asyncio.run(ingest(cluster.url, args.ingest_spans, args.batch, args.rounds))
        base = statistics.median(rates["calls, no roll-up step"])
        print(f"\ningest through the writer, {args.ingest_spans:,} spans a side, "
              f"{args.rounds} rounds, median spans/s")
        print(f"{'batches of':<34}{'spans/s':>12}{'ratio':>8}")
        for name, values in rates.items():
            rate = statistics.median(values)
            print(f"{name:<34}{rate:>12,.0f}{rate / base:>8.2f}")
        loaded = asyncio.run(load(cluster.url, args.traces))
        print(f"\nloaded {args.traces:,} traces ({6 * args.traces:,} spans, "
              f"{3 * args.traces:,} calls) over 30 days at {loaded:,.0f} spans/s")
        with spantally_up(cluster.url) as up:
            end = now_utc().replace(microsecond=0)
            window = urllib.parse.urlencode({"from": (end - timedelta(days=30)).isoformat(),
                                             "to": end.isoformat()})
            # The traces were written for project 1, whose key `spantally up` prints.
            cases = [("calls: /api/analytics/summary", f"/api/analytics/summary?{window}"),
                     ("runs: /api/analytics/runs", f"/api/analytics/runs?{window}"),
                     ("runs, compare", f"/api/analytics/runs?{window}&compare=previous_period"),
                     ("runs, agentId=billing", f"/api/analytics/runs?{window}&agentId=billing"),
                     ("runs/timeseries day", f"/api/analytics/runs/timeseries?{window}"),
                     ("runs/breakdown/agent", f"/api/analytics/runs/breakdown/agent?{window}"),
                     ("runs/breakdown/model", f"/api/analytics/runs/breakdown/model?{window}"),
                     ("/api/runs (newest 50)", f"/api/runs?{window}")]
            timed = {name: _median_ms(up, path, args.rounds) for name, path in cases}
            newest = api_get(up, f"/api/runs?{window}&limit=1")["data"][0]
            timed["/api/runs/{trace}/{span}"] = _median_ms(
                up, f"/api/runs/{newest['traceId']}/{newest['spanId']}", args.rounds)
    base_ms = timed["calls: /api/analytics/summary"]
    print(f"\n{'over 30 days':<34}{'median ms':>12}{'vs summary':>12}")
    for name, ms in timed.items():
        print(f"{name:<34}{ms:>12,.1f}{ms / base_ms:>12.2f}")


if __name__ == "__main__":
    main()
