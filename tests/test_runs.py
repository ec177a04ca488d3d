"""Agent runs end to end: spans of real SDKs and libraries through the real OTLP exporters, one
run's spans shuffled across requests and two collectors, and each run's roll-ups compared with
a reference computed from the span tree alone (tests/run_traces.py)."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import SpanKind
from psycopg import sql

from spantally.client import Client
from spantally.store import bin_of, percentile_ms
from spantally.store.catalog import RUNS, aggregates_of, each_element
from spantally.store.measures import BIN_HIGH_MS, BIN_LOW_MS, BINS, bin_bounds_ms

from .harness import Project, Server, export_grpc, export_http
from .run_traces import Node, examples, expected_rollups, random_tree, recent, spans_of, walk

_ROLLUP_SQL = """
SELECT span_id, parent_run_span_id, llm_calls, llm_errors, tool_calls, tool_errors,
       input_tokens, output_tokens, cost_nano_usd, unpriced_calls,
       own_llm_calls, own_llm_errors, own_tool_calls, own_tool_errors, own_input_tokens,
       own_output_tokens, own_cost_nano_usd, own_unpriced_calls, models, status, agent_name
FROM agent_runs WHERE project_id = %s AND trace_id = %s
"""


def stored_rollups(server: Server, project: Project, trace_id: bytes) -> dict[bytes, Any]:
    return {row[0]: row[1:] for row in server.sql(_ROLLUP_SQL, (project.id, trace_id))}


def expected_rows(root: Node) -> dict[bytes, Any]:
    rows = {}
    for span_id, (inclusive, own, parent, models) in expected_rollups(root).items():
        node = next(n for n in walk(root) if n.span_id == span_id)
        rows[span_id] = (
            parent, inclusive.llm_calls, inclusive.llm_errors, inclusive.tool_calls,
            inclusive.tool_errors, inclusive.input_tokens, inclusive.output_tokens,
            inclusive.cost_nano_usd, inclusive.unpriced_calls, own.llm_calls, own.llm_errors,
            own.tool_calls, own.tool_errors, own.input_tokens, own.output_tokens,
            own.cost_nano_usd, own.unpriced_calls, sorted(models),
            "error" if node.error else "ok", node.name)
    return rows


def _trace_id(spans: list[ReadableSpan]) -> bytes:
    return spans[0].context.trace_id.to_bytes(16, "big")


def _send_shuffled(spans: list[ReadableSpan], servers: list[Server], key: str,
                   rng: random.Random) -> None:
    """The spans in random order, cut into random requests, each to a random collector over
    gRPC or HTTP."""
    order = list(spans)
    rng.shuffle(order)
    while order:
        size = rng.randrange(1, len(order) + 1)
        part, order = order[:size], order[size:]
        target = rng.choice(servers)
        export = rng.choice([export_grpc, export_http])
        endpoint = target.grpc_endpoint if export is export_grpc else target.http_endpoint
        assert export(part, endpoint, key) is SpanExportResult.SUCCESS


def test_nested_runs_roll_up_inclusive_and_exclusive(server: Server, project: Project) -> None:
    # planner -> (call, tool(search) -> call, link -> researcher -> (call, failed call))
    researcher = Node("run", "researcher", children=[
        Node("call", input_tokens=300, output_tokens=30, cost_usd=0.003),
        Node("call", error=True, input_tokens=10, cost_usd=None, model="house-model-1"),
    ])
    root = Node("run", "planner", children=[
        Node("call", input_tokens=1000, output_tokens=100, cost_usd=0.01),
        Node("tool", "search", children=[Node("call", input_tokens=50, output_tokens=5,
                                              cost_usd=0.0005)]),
        Node("link", "plan", children=[researcher]),
    ])
    spans = spans_of(root, recent())
    assert export_grpc(spans, server.grpc_endpoint, project.key) is SpanExportResult.SUCCESS
    stored = stored_rollups(server, project, _trace_id(spans))
    assert stored == expected_rows(root)
    planner = stored[root.span_id]
    # Inclusive: all 4 calls and the tool; exclusive: the researcher's 2 calls are its own.
    assert (planner[1], planner[3], planner[9], planner[11]) == (4, 1, 2, 1)
    assert stored[researcher.span_id][0] == root.span_id


def test_a_failed_step_leaves_its_run_successful(server: Server, project: Project) -> None:
    root = Node("run", "billing", children=[Node("call", error=True, cost_usd=None),
                                            Node("tool", "charge", error=True)])
    spans = spans_of(root, recent())
    assert export_http(spans, server.http_endpoint, project.key) is SpanExportResult.SUCCESS
    (row,) = stored_rollups(server, project, _trace_id(spans)).values()
    assert (row[1], row[2], row[3], row[4], row[-2]) == (1, 1, 1, 1, "ok")


def _nearest_rank(values_us: list[int], fraction: float) -> float:
    """The percentile the API reports: read from the durations' histogram (store.measures),
    checked against the exact nearest-rank value it stands for."""
    ordered = sorted(values_us)
    exact_ms = ordered[max(0, math.ceil(fraction * len(ordered)) - 1)] / 1000
    hist = [0] * BINS
    for value in values_us:
        hist[bin_of(value)] += 1
    reported = percentile_ms(hist, round(fraction * 100))
    assert reported is not None
    if BIN_LOW_MS <= exact_ms < BIN_HIGH_MS:  # never outside the exact value's bin
        low, high = bin_bounds_ms(bin_of(round(exact_ms * 1000)))
        assert low <= reported <= high, (fraction, exact_ms, reported)
    return reported


def run_aggregates_mismatches(server: Server, project: Project) -> list[str]:
    """Each run aggregate, per bucket, against the same measures computed from agent_runs (the
    catalog's expressions): kept at ingest in the rollup modes, continuous aggregates in
    `timescale` mode."""
    found = []
    for a in aggregates_of(RUNS):
        columns = sql.SQL(", ").join(sql.SQL("sum({})::bigint").format(sql.Identifier(c))
                                     for c in a.columns)
        stored = server.sql(sql.SQL(
            "SELECT bucket, {} FROM {} WHERE project_id = %s GROUP BY 1 "
            "HAVING sum(runs) <> 0 ORDER BY 1").format(
            columns, sql.Identifier(a.name)).as_string(None), (project.id,))
        measures = [sql.SQL(s.over_rows) for s in RUNS.sums] + [
            sql.SQL(h.over_rows(i)) for h in RUNS.histograms for i in range(len(h.columns))]
        # A per-model aggregate holds a run once per model it used.
        elements = sql.SQL(each_element(a.each[1], a.each[0]) if a.each else "")
        raw = server.sql(sql.SQL(
            "SELECT {}, {} FROM agent_runs c{} WHERE project_id = %s "
            "GROUP BY 1 ORDER BY 1").format(
            sql.SQL(a.grain.bucket_of("time")), sql.SQL(", ").join(measures), elements).as_string(None),
            (project.id,))
        if stored != raw:
            found.append(f"{a.name}: {stored} != agent_runs {raw}")
    return found


def check_run_endpoints(server: Server, project: Project, root: Node, trace_id: bytes) -> None:
    """Every run endpoint against figures computed from the tree (the project holds only it)."""
    assert run_aggregates_mismatches(server, project) == []
    expected = expected_rollups(root)
    runs = [n for n in walk(root) if n.kind == "run"]
    window = f"from={(root.start - timedelta(hours=1)).isoformat()}&to=" \
             f"{(root.start + timedelta(hours=1)).isoformat()}".replace("+", "%2B")
    status, summary = server.api(f"/api/analytics/runs?{window}", project.key)
    assert status == 200, summary
    durations = [n.duration_ms * 1000 for n in runs]
    assert (summary["runs"], summary["failedRuns"], summary["llmCalls"], summary["toolCalls"],
            summary["inputTokens"], summary["costNanoUsd"], summary["unpricedCalls"],
            summary["p50DurationMs"], summary["p95DurationMs"]) == (
        len(runs), sum(n.error for n in runs),
        sum(expected[n.span_id][0].llm_calls for n in runs),
        sum(expected[n.span_id][0].tool_calls for n in runs),
        sum(expected[n.span_id][0].input_tokens for n in runs),
        sum(expected[n.span_id][0].cost_nano_usd for n in runs),
        sum(expected[n.span_id][0].unpriced_calls for n in runs),
        _nearest_rank(durations, 0.5), _nearest_rank(durations, 0.95))
    status, by_agent = server.api(f"/api/analytics/runs/breakdown/agent?{window}&limit=100",
                                  project.key)
    assert status == 200, by_agent
    agents: dict[str, list[int]] = {}
    for n in runs:
        agents.setdefault(n.name, [0, 0])[0] += 1
        agents[n.name][1] += expected[n.span_id][0].llm_calls
    assert {row["key"]: [row["runs"], row["llmCalls"]] for row in by_agent["data"]} == agents
    status, by_model = server.api(f"/api/analytics/runs/breakdown/model?{window}&limit=100",
                                  project.key)
    assert status == 200, by_model
    models: dict[str | None, int] = {}
    for n in runs:
        for model in expected[n.span_id][3] or {None}:
            models[model] = models.get(model, 0) + 1
    assert {row["key"]: row["runs"] for row in by_model["data"]} == models
    for model in sorted(m for m in models if m is not None)[:1]:
        # Runs that used the model: grouped by model, only its own row.
        status, used = server.api(f"/api/analytics/runs/breakdown/model?{window}&limit=100"
                                  f"&model={model}", project.key)
        assert status == 200, used
        assert {row["key"]: row["runs"] for row in used["data"]} == {model: models[model]}
        status, used_summary = server.api(f"/api/analytics/runs?{window}&model={model}",
                                          project.key)
        assert status == 200, used_summary
        assert used_summary["runs"] == models[model]
        assert used_summary["llmCalls"] == sum(expected[n.span_id][0].llm_calls for n in runs
                                               if model in expected[n.span_id][3])
    status, series = server.api(f"/api/analytics/runs/timeseries?{window}&granularity=hour",
                                project.key)
    assert status == 200, series
    hours: dict[str, int] = {}
    for n in runs:
        assert n.start is not None
        hour = n.start.replace(minute=0, second=0, microsecond=0).strftime("%Y-%m-%dT%H:00:00Z")
        hours[hour] = hours.get(hour, 0) + 1
    assert {row["bucket"]: row["runs"] for row in series["data"]} == hours
    status, listed = server.api(f"/api/runs?{window}&limit=1000", project.key)
    assert status == 200, listed
    assert sorted(r["spanId"] for r in listed["data"]) == sorted(n.span_id.hex() for n in runs)
    status, one = server.api(f"/api/runs/{trace_id.hex()}/{root.span_id.hex()}", project.key)
    assert status == 200, one
    below = [n for n in walk(root) if n is not root and n.kind != "link"]
    assert sorted(s["spanId"] for s in one["stepsInOrder"]) == sorted(
        n.span_id.hex() for n in below)
    starts = [s["startTime"] for s in one["stepsInOrder"]]
    assert starts == sorted(starts)
    assert one["llmCalls"] == expected[root.span_id][0].llm_calls


@pytest.mark.parametrize("seed", range(examples(25)))
def test_rollups_are_exact_whatever_order_and_collector(
        server: Server, second: Server, project: Project, seed: int) -> None:
    rng = random.Random(seed)
    root = random_tree(rng)
    spans = spans_of(root, recent(rng.randrange(5, 600)))
    _send_shuffled(spans, [server, second], project.key, rng)
    assert stored_rollups(server, project, _trace_id(spans)) == expected_rows(root)
    check_run_endpoints(server, project, root, _trace_id(spans))


def test_rollups_are_exact_when_spans_of_many_runs_arrive_at_once(
        server: Server, second: Server, project: Project) -> None:
    """Several traces interleaved, sent concurrently through both collectors."""
    import concurrent.futures

    rng = random.Random(7)
    roots = [random_tree(rng) for _ in range(12)]
    spans = [span for root in roots for span in spans_of(root, recent(rng.randrange(5, 600)))]
    rng.shuffle(spans)
    parts = [spans[i::6] for i in range(6)]
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        results = list(pool.map(
            lambda ip: export_grpc(ip[1], [server, second][ip[0] % 2].grpc_endpoint,
                                   project.key), enumerate(parts)))
    assert results == [SpanExportResult.SUCCESS] * 6
    for root in roots:
        trace_id = next(s for s in spans if s.context.span_id.to_bytes(8, "big")
                        == root.span_id).context.trace_id.to_bytes(16, "big")
        assert stored_rollups(server, project, trace_id) == expected_rows(root)


def test_run_lists_and_measures_as_csv_and_ndjson(server: Server, project: Project) -> None:
    root = Node("run", "exporter", children=[Node("call", input_tokens=5, cost_usd=0.001),
                                             Node("run", "helper", children=[Node("tool", "t")])])
    assert export_grpc(spans_of(root, recent()), server.grpc_endpoint,
                       project.key) is SpanExportResult.SUCCESS
    client = Client(server.api_url, project.key)
    lines = b"".join(client.export("runs/breakdown/agent", "csv", from_="2h")).decode()
    header, *rows = lines.strip().splitlines()
    assert header.split(",")[:3] == ["key", "runs", "completedRuns"]
    assert sorted(row.split(",")[0] for row in rows) == ["exporter", "helper"]
    status, body = server.api("/api/runs?from=2000-01-01&to=2000-01-02&limit=0", project.key)
    assert (status, body["error"]["code"]) == (400, "INVALID_ARGUMENT")
    assert "limit" in body["error"]["message"]
    import urllib.request
    since = (recent(120)).strftime("%Y-%m-%dT%H:%M:%SZ")
    request = urllib.request.Request(f"{server.api_url}/api/runs?format=ndjson&from={since}",
                                     headers={"Authorization": f"Bearer {project.key}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        listed = [json.loads(line) for line in response.read().splitlines()]
    assert {(r["agentName"], r["own"]["toolCalls"], r["toolCalls"]) for r in listed} == {
        ("exporter", 0, 1), ("helper", 1, 1)}


def test_a_repeated_request_changes_nothing(server: Server, project: Project) -> None:
    root = random_tree(random.Random(99))
    spans = spans_of(root, recent())
    for _ in range(2):
        assert export_grpc(spans, server.grpc_endpoint, project.key) is SpanExportResult.SUCCESS
    assert stored_rollups(server, project, _trace_id(spans)) == expected_rows(root)
    (count,), = server.sql("SELECT count(*) FROM agent_runs WHERE project_id = %s",
                           (project.id,))
    assert count == sum(1 for n in walk(root) if n.kind == "run")


@pytest.mark.parametrize("run_first", [True, False])
def test_a_run_and_its_call_written_at_the_same_time_by_two_writers(
        server: Server, project: Project, run_first: bool) -> None:
    """The locking protocol of store/runs.py, step by step on two connections: whichever of
    the two transactions locks second waits for the first to commit, and reads its rows."""
    import asyncio

    import psycopg
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    from spantally.collector import normalize_request
    from spantally.store import SpanRecords, ddl, queries
    from spantally.store.runs import keep_rollups, write_run_spans
    from spantally.store.writer import write_calls

    root = Node("run", "solo", children=[Node("call", input_tokens=7, cost_usd=0.001)])
    spans = spans_of(root, recent())
    normalized = normalize_request(encode_spans(spans), project.id)
    run_part = SpanRecords(runs=normalized.runs)
    call_part = SpanRecords(calls=normalized.calls)
    first, then = (run_part, call_part) if run_first else (call_part, run_part)

    # The run aggregates are tables kept by the writers, or continuous aggregates.
    ((kind,),) = server.sql("SELECT relkind FROM pg_class WHERE relname = 'agent_runs_1h'")
    kept = ddl.aggregates_kept(RUNS, timescale=kind != "r")

    async def write(conn: psycopg.AsyncConnection[Any], records: SpanRecords) -> None:
        async with conn.cursor() as cur:
            await cur.execute(queries.CREATE_STAGING_TABLE)
            await write_calls(cur, records.calls)
            inserted = await write_run_spans(cur, records)
        await keep_rollups(conn, records, inserted, kept)

    async def scenario() -> None:
        url = server.database_url
        async with await psycopg.AsyncConnection.connect(url) as a, \
                await psycopg.AsyncConnection.connect(url) as b:
            await write(a, first)  # holds its locks, not committed
            second_write = asyncio.create_task(write(b, then))
            await asyncio.sleep(0.5)
            assert not second_write.done(), "the second writer must wait for the first"
            await a.commit()
            await asyncio.wait_for(second_write, 10)
            await b.commit()

    asyncio.run(scenario())
    (row,) = stored_rollups(server, project, _trace_id(spans)).values()
    assert (row[1], row[5], row[7]) == (1, 7, 1_000_000)
    assert run_aggregates_mismatches(server, project) == []
    assert server.sql("SELECT sum(runs), sum(llm_calls), sum(cost_nano_usd) FROM agent_runs_1h "
                      "WHERE project_id = %s", (project.id,)) == [(1, 1, 1_000_000)]


# -- real frameworks -----------------------------------------------------------------------------

_ROOT = Path(__file__).resolve().parent.parent


def _run_framework(framework: str, server: Server, project: Project) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.agent_frameworks", framework, server.grpc_endpoint,
         project.key], cwd=_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


_RUNS_SQL = """
SELECT kind, agent_name, status, llm_calls, tool_calls, input_tokens, output_tokens,
       own_llm_calls, own_tool_calls, models, parent_run_span_id IS NOT NULL
FROM agent_runs WHERE project_id = %s ORDER BY time, span_id
"""


_RESEARCHER = ("agent", "researcher", "ok", 2, 1, 1000, 100, 2, 1, ["gpt-4o"])
# The OpenAI Agents SDK's trace span is the workflow around the agent; OpenLLMetry's
# instrumentation sends no usage for the Chat Completions model (docs/conventions.md).
_FRAMEWORK_RUNS = {
    "pydantic-ai": [(*_RESEARCHER, False)],
    "openai-agents-openinference": [
        ("workflow", "Agent workflow", "ok", 2, 1, 1000, 100, 0, 0, ["gpt-4o"], False),
        (*_RESEARCHER, True)],
    "openai-agents-openllmetry": [
        ("workflow", "Agent Workflow", "ok", 2, 1, 0, 0, 0, 0, ["gpt-4o"], False),
        ("agent", "researcher", "ok", 2, 1, 0, 0, 2, 1, ["gpt-4o"], True)],
}


@pytest.mark.parametrize("framework", list(_FRAMEWORK_RUNS))
def test_an_agent_with_a_tool_is_one_run_with_its_steps(
        server: Server, project: Project, framework: str) -> None:
    """A researcher run: two LLM calls (the second with the tool's result) and one tool."""
    _run_framework(framework, server, project)
    runs = server.sql(_RUNS_SQL, (project.id,))
    assert runs == _FRAMEWORK_RUNS[framework]
    (tool,), = server.sql("SELECT tool_name FROM tool_calls WHERE project_id = %s",
                          (project.id,))
    assert tool == "lookup_capital"


def test_sdk_agent_scopes_nest(server: Server, project: Project) -> None:
    """spantally.agent("planner") around its own call and a researcher with two calls."""
    _run_framework("sdk", server, project)
    runs = server.sql(_RUNS_SQL, (project.id,))
    assert runs == [
        ("agent", "planner", "ok", 3, 0, 1500, 150, 1, 0, ["gpt-4o"], False),
        ("agent", "researcher", "ok", 2, 0, 1000, 100, 2, 0, ["gpt-4o"], True),
    ]
    # The API, the Python client and the CLI tell the same.
    client = Client(server.api_url, project.key)
    listed = client.runs(from_="1h")["data"]
    assert [r["agentName"] for r in listed] == ["researcher", "planner"]
    planner = client.run(listed[1]["traceId"], listed[1]["spanId"])
    assert [(s["type"], s["depth"], s["name"]) for s in planner["stepsInOrder"]] == [
        ("call", 0, "gpt-4o"), ("run", 0, "researcher"), ("call", 1, "gpt-4o"),
        ("call", 1, "gpt-4o")]
    by_agent = client.analytics("runs/breakdown/agent", from_="1h")
    assert {row["key"]: row["llmCalls"] for row in by_agent["data"]} == {
        "planner": 3, "researcher": 2}
    env = {**os.environ, "SPANTALLY_URL": server.api_url, "SPANTALLY_API_KEY": project.key}
    cli = [sys.executable, "-m", "spantally.server.cli", "runs"]
    shown = subprocess.run([*cli, "show", planner["traceId"], planner["spanId"]], env=env,
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "researcher" in shown.stdout and "3 calls" in shown.stdout
    stats = subprocess.run([*cli, "stats", "--by", "agent", "--from", "1h", "--json"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["data"] == by_agent["data"]
    missing = subprocess.run([*cli, "show", planner["traceId"], "00" * 7 + "01"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and "no run" in missing.stderr


def test_repricing_a_runs_calls_moves_its_cost(server: Server, project: Project) -> None:
    """Calls of a model without a price, priced after the fact: the runs above them follow."""
    inner = Node("run", "inner", children=[Node("call", input_tokens=1_000_000, cost_usd=None,
                                                model="house-model-1")])
    root = Node("run", "outer", children=[inner, Node("call", input_tokens=10, cost_usd=0.5)])
    spans = spans_of(root, recent())
    assert export_grpc(spans, server.grpc_endpoint, project.key) is SpanExportResult.SUCCESS
    body = {"model": "house-model-1", "inputPerMTok": 3, "outputPerMTok": 15}
    assert server.call("POST", "/api/prices", project.key, body)[0] == 201
    done = subprocess.run(
        [sys.executable, "-m", "spantally.server.cli", "reprice", "--database-url",
         server.database_url, "--from", "2h", "--project", str(project.id)],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    stored = stored_rollups(server, project, _trace_id(spans))
    # (cost, unpriced calls) inclusive, then own
    assert (stored[root.span_id][7], stored[root.span_id][8]) == (3_500_000_000, 0)
    assert (stored[inner.span_id][7], stored[inner.span_id][15]) == (3_000_000_000, 3_000_000_000)
    assert (stored[root.span_id][15], stored[root.span_id][16]) == (500_000_000, 0)
    assert run_aggregates_mismatches(server, project) == []


def test_run_measures_come_from_the_run_aggregates_and_say_so(
        server: Server, project: Project) -> None:
    """Over days, whole days and hours are read from agent_runs_1d and agent_runs_1h (per model
    used: agent_runs_model_1d and _1h), the edges from agent_runs; what no aggregate carries
    (the run's user) reads agent_runs alone."""
    root = Node("run", "planner", children=[Node("call", input_tokens=40, cost_usd=0.25),
                                            Node("run", "helper", children=[Node("tool")])])
    spans = spans_of(root, recent())
    assert export_grpc(spans, server.grpc_endpoint, project.key) is SpanExportResult.SUCCESS
    end = root.start + timedelta(hours=2)
    window = f"from={(end - timedelta(days=3)).isoformat()}&to={end.isoformat()}".replace(
        "+", "%2B")
    status, summary = server.api(f"/api/analytics/runs?{window}&explain=true", project.key)
    assert status == 200, summary
    (planned,) = summary["explain"]["plans"]
    assert planned["of"] == "runs"
    assert {p["relation"] for p in planned["pieces"]} == {
        "agent_runs_1d", "agent_runs_1h", "agent_runs"}
    # Inclusive: the helper's tool counts for it and for the planner above it.
    assert (summary["runs"], summary["llmCalls"], summary["toolCalls"], summary["inputTokens"]) \
        == (2, 1, 2, 40)
    status, by_model = server.api(
        f"/api/analytics/runs/breakdown/model?{window}&explain=true", project.key)
    assert status == 200, by_model
    assert {p["relation"] for plan in by_model["explain"]["plans"]
            for p in plan["pieces"]} == {"agent_runs_model_1d", "agent_runs_model_1h",
                                         "agent_runs"}
    assert {row["key"]: row["runs"] for row in by_model["data"]} == {"gpt-4o": 1, None: 1}
    # Filtered by a model it used, the planner grouped by agent: the per-model aggregates too.
    status, used = server.api(
        f"/api/analytics/runs/breakdown/agent?{window}&model=gpt-4o&explain=true", project.key)
    assert status == 200, used
    assert "agent_runs_model_1d" in {p["relation"] for p in used["explain"]["plans"][0]["pieces"]}
    assert {row["key"]: row["runs"] for row in used["data"]} == {"planner": 1}
    # What no aggregate carries (the run's user) reads agent_runs alone.
    status, by_user = server.api(
        f"/api/analytics/runs/breakdown/user?{window}&explain=true", project.key)
    assert status == 200, by_user
    assert {p["relation"] for p in by_user["explain"]["plans"][0]["pieces"]} == {"agent_runs"}
    status, by_agent = server.api(
        f"/api/analytics/runs/breakdown/agent?{window}&explain=true&compare=previous_period",
        project.key)
    assert status == 200, by_agent
    assert len(by_agent["explain"]["plans"]) == 2
    assert {row["key"]: row["llmCalls"] for row in by_agent["data"]} == {"planner": 1,
                                                                         "helper": 0}
    status, refused = server.api(f"/api/analytics/runs/timeseries?{window}&explain=true"
                                 "&format=csv", project.key)
    assert status == 400 and "explain" in refused["error"]["message"], refused
    assert run_aggregates_mismatches(server, project) == []
    env = {**os.environ, "SPANTALLY_URL": server.api_url, "SPANTALLY_API_KEY": project.key}
    shown = subprocess.run([sys.executable, "-m", "spantally.server.cli", "analytics", "explain",
                            "runs/breakdown/agent", "--from", "3d"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "agent_runs_1d" in shown.stdout and "h from agent_runs" in shown.stdout


def test_a_late_step_of_an_older_run_reaches_its_aggregates(
        server: Server, project: Project) -> None:
    """A run from five hours ago, its aggregates then materialized (`timescale` mode: refreshed
    past it, as the policies do); then a call of that run arrives, one that itself started
    minutes ago (newer than any policy's end). Acknowledged means counted: the rollup tables
    move the run in the same transaction, the continuous aggregates are refreshed before the
    answer."""
    import psycopg

    root = Node("run", "archivist", children=[
        Node("call", input_tokens=11, cost_usd=0.1),
        Node("call", input_tokens=22, cost_usd=0.2, after=timedelta(hours=4, minutes=50))])
    spans = spans_of(root, recent(5 * 60))
    late = next(s for s in spans if s.kind is SpanKind.CLIENT
                and s.attributes["gen_ai.usage.input_tokens"] == 22)
    early = [s for s in spans if s is not late]
    assert export_grpc(early, server.grpc_endpoint, project.key) is SpanExportResult.SUCCESS
    ((kind,),) = server.sql("SELECT relkind FROM pg_class WHERE relname = 'agent_runs_1h'")
    if kind != "r":  # continuous aggregates: materialize up to each policy's end
        with psycopg.connect(server.database_url, autocommit=True) as conn:
            for a in aggregates_of(RUNS):
                if not a.continuous:
                    continue  # a table the writers keep
                conn.execute(sql.SQL("CALL refresh_continuous_aggregate({}, NULL, now() - {})")
                             .format(sql.Literal(a.name), sql.Literal(a.grain.width)))
    before = server.sql("SELECT sum(llm_calls) FROM agent_runs_1h WHERE project_id = %s",
                        (project.id,))
    assert before == [(1,)]
    assert export_http([late], server.http_endpoint, project.key) is SpanExportResult.SUCCESS
    assert run_aggregates_mismatches(server, project) == []
    assert server.sql("SELECT sum(llm_calls), sum(input_tokens) FROM agent_runs_1h "
                      "WHERE project_id = %s", (project.id,)) == [(2, 33)]
    end = root.start + timedelta(days=1)
    window = f"from={(end - timedelta(days=3)).isoformat()}&to={end.isoformat()}".replace(
        "+", "%2B")
    status, summary = server.api(f"/api/analytics/runs?{window}", project.key)
    assert status == 200, summary
    assert (summary["runs"], summary["llmCalls"], summary["inputTokens"]) == (1, 2, 33)


def test_retention_deletes_expired_rows_of_the_tables_the_writers_keep(
        server: Server, project: Project) -> None:
    """In every mode, agent_runs_model_1h/_1d are tables: SpanTally's retention pass deletes
    their expired rows (in `timescale` mode the policies drop the rest)."""
    import asyncio

    from spantally.store import Database, RetentionConfig, StoreConfig, apply_retention

    for a in aggregates_of(RUNS):
        if a.continuous:
            continue
        server.sql(sql.SQL("INSERT INTO {} (bucket, project_id, model, runs) VALUES "
                           "(now() - interval '4000 days', %s, 'old-model', 1), "
                           "(now() - interval '10 days', %s, 'kept-model', 1) "
                           "RETURNING 1").format(sql.Identifier(a.name)).as_string(None),
                   (project.id, project.id))

    async def run() -> bool:
        db = Database(StoreConfig(server.database_url))
        await db.open()
        try:
            return await apply_retention(db, RetentionConfig(raw_days=3650, aggregate_days=3650))
        finally:
            await db.close()

    assert asyncio.run(run())
    for a in aggregates_of(RUNS):
        if not a.continuous:
            assert server.sql(sql.SQL("SELECT model FROM {} WHERE project_id = %s").format(
                sql.Identifier(a.name)).as_string(None), (project.id,)) == [("kept-model",)]
