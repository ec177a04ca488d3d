"""/api/analytics/llm is exact for any window: aggregates for whole buckets, raw rows at the
edges, compared with a direct SQL computation over llm_calls."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
from opentelemetry.sdk.trace.export import SpanExportResult

from spantally.store.catalog import CONTINUOUS_AGGREGATES

from .harness import CallSpec, Project, Server, export_grpc, make_spans

MODELS = [("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-20250514"),
          ("acme", "unpriced-model")]
AGENTS = ["planner", "writer", None]
START = datetime(2026, 4, 1, 0, 0)
DAYS = 10


@pytest.fixture(scope="module")
def dataset(server: Server) -> Project:
    rng = random.Random(20260401)
    project = server.new_project()
    specs = []
    for _ in range(1500):
        provider, model = rng.choice(MODELS)
        specs.append(CallSpec(
            start=START + timedelta(seconds=rng.randrange(DAYS * 86400), microseconds=rng.randrange(10**6)),
            latency_ms=rng.randint(5, 90_000), provider=provider, model=model,
            input_tokens=rng.randint(0, 50_000), output_tokens=rng.randint(0, 4000),
            cache_read_tokens=0, agent_id=rng.choice(AGENTS), error=rng.random() < 0.1,
        ))
    spans = make_spans(specs)
    for i in range(0, len(spans), 500):
        assert export_grpc(spans[i:i + 500], server.grpc_endpoint, project.key) is SpanExportResult.SUCCESS
    return project


def _sql_truth(server: Server, project: Project, start: datetime, end: datetime, unit: str,
               agent: str | None = None) -> tuple[dict, dict, dict]:
    agent_clause = "AND agent_id = %(agent)s" if agent else ""
    rows = server.sql(
        f"""SELECT date_trunc(%(unit)s, time, 'UTC'), provider, model, count(*),
                   coalesce(sum(cost_nano_usd), 0), count(*) FILTER (WHERE cost_nano_usd IS NULL),
                   sum(input_tokens), sum(output_tokens), sum(latency_us),
                   count(*) FILTER (WHERE status = 'error')
            FROM llm_calls WHERE project_id = %(p)s AND time >= %(s)s AND time < %(e)s {agent_clause}
            GROUP BY 1, 2, 3""",
        {"unit": unit, "p": project.id, "s": start, "e": end, "agent": agent},
    )
    summary = [0] * 7
    by_model: dict = {}
    by_time: dict = {}
    for bucket, provider, model, *measures in rows:
        errors = int(measures.pop())
        summary[6] += errors
        for target in (summary, by_model.setdefault((provider, model), [0] * 6),
                       by_time.setdefault(bucket.strftime("%Y-%m-%dT%H:%M:%SZ"), [0] * 6)):
            for i, m in enumerate(measures):
                target[i] += int(m)
    return summary, by_model, by_time


def _row(calls: int, cost: int, unpriced: int, inp: int, out: int, lat: int) -> dict:
    return {"calls": calls, "costUsd": cost / 1e9, "inputTokens": inp, "outputTokens": out,
            "avgLatencyMs": round(lat / calls / 1000, 3) if calls else 0}


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_random_windows_equal_direct_sql(server: Server, dataset: Project) -> None:
    rng = random.Random(7)
    for i in range(60):
        a = START - timedelta(hours=6) + timedelta(seconds=rng.randrange((DAYS + 1) * 86400),
                                                   microseconds=rng.randrange(10**6))
        b = a + timedelta(seconds=rng.randrange(1, 6 * 86400))
        if i % 10 == 0:  # aligned windows too
            a = a.replace(minute=0, second=0, microsecond=0)
            b = b.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        unit = rng.choice(["hour", "day", "week"])
        agent = rng.choice([None, None, "planner"])
        query = f"/api/analytics/llm?from={_iso(a)}&to={_iso(b)}&granularity={unit}"
        if agent:
            query += f"&agentId={agent}"
        status, body = server.api(query, dataset.key)
        assert status == 200, body
        summary, by_model, by_time = _sql_truth(
            server, dataset, a.replace(tzinfo=timezone.utc), b.replace(tzinfo=timezone.utc), unit,
            agent)
        calls, cost, unpriced, inp, out, lat, errors = summary
        assert body["summary"]["totalCalls"] == calls, query
        assert body["summary"]["errorCalls"] == errors, query
        assert body["summary"]["totalCostUsd"] == cost / 1e9, query
        assert body["summary"]["unpricedCalls"] == unpriced, query
        assert body["summary"]["totalInputTokens"] == inp, query
        assert body["summary"]["totalOutputTokens"] == out, query
        assert body["summary"]["avgLatencyMs"] == (round(lat / calls / 1000, 3) if calls else 0)
        assert {(m["provider"], m["model"]): {k: m[k] for k in _row(1, 0, 0, 0, 0, 0)}
                for m in body["byModel"]} == {k: _row(*v) for k, v in by_model.items()}, query
        assert {t["bucket"]: {k: t[k] for k in _row(1, 0, 0, 0, 0, 0)}
                for t in body["byTime"]} == {k: _row(*v) for k, v in by_time.items()}, query
        # summary == sum over byModel == sum over byTime, by construction and by check
        assert sum(m["calls"] for m in body["byModel"]) == calls
        assert sum(t["inputTokens"] for t in body["byTime"]) == inp


def test_whole_days_come_from_the_daily_aggregate(server: Server, dataset: Project) -> None:
    """The daily aggregate agrees with the raw rows, so the planner may read it."""
    rows = server.sql(
        """SELECT d.bucket, d.calls, r.calls FROM
             (SELECT bucket, sum(calls) AS calls FROM llm_calls_1d WHERE project_id = %(p)s
              GROUP BY bucket) d
           JOIN (SELECT date_trunc('day', time, 'UTC') AS bucket, count(*) AS calls FROM llm_calls
                 WHERE project_id = %(p)s GROUP BY 1) r USING (bucket)""",
        {"p": dataset.id},
    )
    assert len(rows) >= DAYS
    assert all(agg == raw for _, agg, raw in rows)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=yesterday", "from: 'yesterday' is not an ISO 8601 date"),
        ("to=2026-13-01", "to: '2026-13-01' is not an ISO 8601 date"),
        ("from=2026-02-02&to=2026-02-01", "is after to"),
        ("granularity=minute", "granularity: 'minute' is not one of hour, day, week"),
        ("from=2020-01-01&to=2026-01-01", "longer than 400 days"),
        ("model=", "model must be 1 to 512 characters"),
    ],
)
def test_bad_parameters_are_400_with_a_message(
    server: Server, project: Project, query: str, message: str
) -> None:
    status, body = server.api(f"/api/analytics/llm?{query}", project.key)
    assert status == 400
    assert body["error"]["code"] == "INVALID_ARGUMENT"
    assert message in body["error"]["message"]


def test_unknown_paths_are_json_errors(server: Server, project: Project) -> None:
    status, body = server.api("/api/nothing-here", project.key)
    assert status == 404 and body["error"]["code"] == "NOT_FOUND"


def test_healthz_reports_database_and_mode(server: Server) -> None:
    status, body = server.api("/healthz", None)
    assert status == 200
    assert body["database"]["reachable"] is True
    assert body["storageMode"] in ("timescale", "apache", "postgres")


def test_healthz_and_metrics_report_maintenance(server: Server) -> None:
    """The TimescaleDB version and edition; in `timescale` mode every policy SpanTally relies
    on, who ran it last and how, each aggregate's watermark and the columnstore's chunks."""
    status, body = server.api("/healthz", None)
    assert status == 200
    maintenance = body["maintenance"]
    mode = body["storageMode"]
    if mode == "postgres":
        assert maintenance["timescaledb"] is None
        assert maintenance["jobs"] == [] and maintenance["aggregateWatermarks"] == {}
        return
    (edition,) = server.sql("SELECT current_setting('timescaledb.license')")[0]
    (version,) = server.sql(
        "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")[0]
    assert maintenance["timescaledb"] == {"version": version, "edition": edition}
    if mode == "apache":
        assert maintenance["jobs"] == [] and "columnstore" not in maintenance
        return
    tasks = {job["task"]: job for job in maintenance["jobs"]}
    assert {f"refresh {a.name}" for a in CONTINUOUS_AGGREGATES} | {"compression llm_calls"} <= set(tasks)
    for job in tasks.values():
        assert job["lastRunBy"] in ("scheduler", "spantally", "nobody")
        assert isinstance(job["healthy"], bool) and job["scheduleSeconds"] > 0
    assert set(maintenance["aggregateWatermarks"]) == {a.name for a in CONTINUOUS_AGGREGATES}
    assert maintenance["columnstore"]["chunks"] >= maintenance["columnstore"]["compressedChunks"]
    metrics = server.metrics()
    assert 'spantally_job_healthy{task="refresh llm_calls_1h"}' in metrics
    assert "spantally_job_scheduler_failures_total" in metrics
    assert 'spantally_job_scheduler_runs_it{task="compression llm_calls"}' in metrics
