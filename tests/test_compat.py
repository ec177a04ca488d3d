"""The reference products' APIs under /compat (docs/compat.md): each document's own example
requests against a known dataset, every answer validated against the JSON Schema written from
the document, every figure equal to the native endpoint's for the same question (also over
random ranges and filters), and their errors."""

from __future__ import annotations

import csv
import io
import json
import random
import urllib.error
import urllib.parse
import urllib.request
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from opentelemetry.sdk.trace.export import SpanExportResult

from spantally.server.api.compat import PRODUCTS
from spantally.server.api.compat.dispersl import human_duration
from spantally.store import INGEST

from .harness import CallSpec, Project, Server, export_grpc, make_spans
from .run_traces import examples, random_tree, spans_of

NOW = datetime.now(timezone.utc)
BASE = NOW.replace(minute=0, second=0, microsecond=0) - timedelta(hours=50)
CUSTOMERS = ("acme", "globex", "initech")
MODELS = (("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-6"))
ENDPOINTS = {(p.name, e.operation): (p, e) for p in PRODUCTS for e in p.endpoints}


@pytest.fixture(scope="module")
def dataset(server: Server) -> Project:
    """Two days of calls of users, sessions, customers and profiles across three models with
    failures, and agent runs with their calls; a EUR rate."""
    project = server.new_project()
    rng = random.Random(19)
    specs = []
    for i in range(240):
        provider, model = rng.choice(MODELS)
        extra: dict[str, Any] = {"user.id": f"u-{rng.randint(1, 4)}",
                                 "session.id": f"s-{rng.randint(1, 8)}",
                                 "profile": rng.choice(["support", "writer"])}
        if i % 5:
            extra["customer"] = rng.choice(CUSTOMERS)
        specs.append(CallSpec(start=BASE + timedelta(seconds=rng.uniform(0, 48 * 3600)),
                              latency_ms=rng.randint(80, 9000), provider=provider, model=model,
                              input_tokens=rng.randint(1, 4000),
                              output_tokens=rng.randint(1, 900),
                              agent_id=rng.choice(["planner", "writer", None]),
                              error=rng.random() < 0.15, extra=extra))
    spans = make_spans(specs, service="compat")
    for i in range(10):
        spans += spans_of(random_tree(rng), BASE + timedelta(hours=4 * i + 1))
    assert export_grpc(spans, server.grpc_endpoint, project.key) is SpanExportResult.SUCCESS
    status, _ = server.call("PUT", "/api/currencies/EUR", project.key, {"perUsd": 0.5})
    assert status == 200
    return project


# -- helpers -----------------------------------------------------------------------------------

def _get(server: Server, path: str, key: str | None, **params: Any
         ) -> tuple[int, Any, dict[str, str]]:
    """The status, the decoded answer (JSON, else text) and the headers."""
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    request = urllib.request.Request(f"{server.api_url}{path}?{query}")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw, status, headers = response.read(), response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        raw, status, headers = exc.read(), exc.code, dict(exc.headers)
    text = raw.decode()
    if headers.get("Content-Type", "").startswith("application/json"):
        return status, json.loads(text), headers
    return status, text, headers


def _compat(server: Server, product: str, operation: str, key: str, path: str = "",
            **params: Any) -> Any:
    """A compatibility endpoint's JSON answer, checked against its document's schema."""
    found, endpoint = ENDPOINTS[(product, operation)]
    status, body, _ = _get(server, found.path(endpoint).replace("{dimension}", path), key,
                           **params)
    assert status == 200, body
    Draft202012Validator(endpoint.response,
                         format_checker=Draft202012Validator.FORMAT_CHECKER).validate(body)
    return body


def _native(server: Server, path: str, key: str, **params: Any) -> Any:
    status, body, _ = _get(server, path, key, **params)
    assert status == 200, body
    return body


def _iso(moment: datetime) -> str:
    """As C#'s DateTime.ToString("O") writes a UTC time: seven fractional digits."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def _micro(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _days(first: date, last: date) -> dict[str, str]:
    """A native from..to of the whole days first..last."""
    return {"from": first.isoformat(), "to": (last + timedelta(days=1)).isoformat()}


def _usage(row: dict[str, Any]) -> dict[str, Any]:
    return {"totalRequests": row["calls"], "inputTokens": row["inputTokens"],
            "outputTokens": row["outputTokens"], "totalTokens": row["totalTokens"],
            "successCount": row["successCalls"], "failureCount": row["errorCalls"],
            "successRate": row["successRate"] or 0, "averageDurationMs": row["avgLatencyMs"] or 0}


def _costs(row: dict[str, Any]) -> dict[str, Any]:
    return {"total_cost": row["costUsd"], "total_events": row["calls"],
            "total_input_tokens": row["inputTokens"], "total_output_tokens": row["outputTokens"],
            "avg_latency_ms": row["avgLatencyMs"]}


# -- reference 001: Umbraco.AI -----------------------------------------------------------------

_USAGE_KEYS = ("totalRequests", "inputTokens", "outputTokens", "totalTokens", "successCount",
               "failureCount", "successRate", "averageDurationMs")
_ALL_DIMENSIONS = ("provider", "model", "profile", "user")


def _check_umbraco(server: Server, key: str, start: datetime, end: datetime,
                   dimensions: tuple[str, ...] = _ALL_DIMENSIONS) -> None:
    """Summary, daily series and each breakdown for start..end (inclusive) equal the native
    answers for start..end + 1 µs."""
    query = {"from": _iso(start), "to": _iso(end)}
    native = {"from": _micro(start), "to": _micro(end + timedelta(microseconds=1))}
    summary = _compat(server, "umbraco-ai", "summary", key, **query)
    assert summary == _usage(_native(server, "/api/analytics/summary", key, **native))
    series = _compat(server, "umbraco-ai", "timeseries", key, **query, granularity="day")
    expected = _native(server, "/api/analytics/timeseries", key, **native, granularity="day",
                       fill="zero")["data"]
    assert series == [{"timestamp": row["bucket"], **_usage(row)} for row in expected]
    native_dimensions = {"provider": "provider", "model": "model", "profile": "tags.profile",
                         "user": "user"}
    for dimension in dimensions:
        native_dimension = native_dimensions[dimension]
        items = _compat(server, "umbraco-ai", "breakdown", key, dimension, **query)
        rows = _native(server, f"/api/analytics/breakdown/{native_dimension}", key, **native,
                       sort="calls", limit=1000)["data"]
        assert [(i["dimension"], {k: i[k] for k in _USAGE_KEYS}) for i in items] \
            == [(r["key"], _usage(r)) for r in rows]
        assert [i["percentage"] for i in items] == [round(r["percentageOfTotal"] / 100, 4)
                                                    for r in rows]


def test_umbraco_dashboard_query(server: Server, dataset: Project) -> None:
    """The document's example: the last 30 days' summary, daily series and providers (and
    models and users); profiles (a tag: raw calls) over the last 6 days."""
    _check_umbraco(server, dataset.key, NOW - timedelta(days=30), NOW,
                   ("provider", "model", "user"))
    _check_umbraco(server, dataset.key, NOW - timedelta(days=6), NOW)
    summary = _compat(server, "umbraco-ai", "summary", dataset.key,
                      **{"from": _iso(NOW - timedelta(days=30)), "to": _iso(NOW)})
    assert summary["totalRequests"] >= 240
    assert summary["totalTokens"] == summary["inputTokens"] + summary["outputTokens"]
    assert summary["successCount"] + summary["failureCount"] == summary["totalRequests"]
    providers = _compat(server, "umbraco-ai", "breakdown", dataset.key, "provider",
                        **{"from": _iso(NOW - timedelta(days=30)), "to": _iso(NOW)})
    assert {p["dimension"] for p in providers} >= {"openai", "anthropic"}
    assert round(sum(p["percentage"] for p in providers), 4) == 1


def test_umbraco_takes_to_inclusive(server: Server, project: Project) -> None:
    """A call at exactly `to` counts; a date as `to` is its whole day."""
    at = datetime(2026, 5, 4, 10, 0, tzinfo=timezone.utc)
    specs = [CallSpec(at, 100), CallSpec(at + timedelta(hours=5), 100)]
    assert export_grpc(make_spans(specs), server.grpc_endpoint, project.key) \
        is SpanExportResult.SUCCESS
    key = project.key
    exact = _compat(server, "umbraco-ai", "summary", key, **{"from": "2026-05-04T09:00:00Z",
                                                              "to": "2026-05-04T10:00:00Z"})
    assert exact["totalRequests"] == 1
    day = _compat(server, "umbraco-ai", "summary", key,
                  **{"from": "2026-05-04", "to": "2026-05-04"})
    assert day["totalRequests"] == 2
    empty = _compat(server, "umbraco-ai", "summary", key,
                    **{"from": "2026-05-05", "to": "2026-05-06"})
    assert empty == {"totalRequests": 0, "inputTokens": 0, "outputTokens": 0, "totalTokens": 0,
                     "successCount": 0, "failureCount": 0, "successRate": 0.0,
                     "averageDurationMs": 0.0}


# -- reference 002: InfraPrism -----------------------------------------------------------------

_COST_KEYS = ("total_cost", "total_events", "total_input_tokens", "total_output_tokens",
              "avg_latency_ms")


def _check_costs(server: Server, key: str, first: date, last: date, filters: dict[str, str],
                 native_filters: dict[str, str]) -> None:
    """Every group_by of /costs, and /costs/timeseries, against the native answers."""
    query = {"start_date": first.isoformat(), "end_date": last.isoformat(), **filters}
    native = {**_days(first, last), **native_filters}
    total = _native(server, "/api/analytics/summary", key, **native)
    for group_by in (None, "model", "day", "week", "month", "tags.profile", "entity"):
        if group_by == "entity" and "entity_type" not in filters:
            continue
        body = _compat(server, "infraprism", "costs", key, **query, group_by=group_by)
        assert body["summary"] == {"total_cost": total["costUsd"],
                                   "total_events": total["calls"],
                                   "period": {"start": first.isoformat(),
                                              "end": last.isoformat()}}
        if group_by is None:
            assert body["data"] == []
        elif group_by in ("day", "week", "month"):
            rows = _native(server, "/api/analytics/timeseries", key, **native,
                           granularity=group_by, fill="zero")["data"]
            assert body["data"] == [{"date": r["bucket"][:10], **_costs(r)} for r in rows]
        else:
            dimension = {"model": "model", "tags.profile": "tags.profile",
                         "entity": (filters.get("entity_type") if filters.get("entity_type")
                                    in ("user", "agent", "session") else
                                    f"tags.{filters.get('entity_type')}")}[group_by]
            rows = _native(server, f"/api/analytics/breakdown/{dimension}", key, **native,
                           sort="cost", limit=1000)["data"]
            keys = {"model": "model", "tags.profile": "tag_value", "entity": "entity_id"}
            assert [(r[keys[group_by]], {k: r[k] for k in _COST_KEYS})
                    for r in body["data"]] == [(r["key"], _costs(r)) for r in rows]
    series = _compat(server, "infraprism", "costs_timeseries", key,
                     **{k: v for k, v in query.items() if k != "group_by"}, interval="hour")
    rows = _native(server, "/api/analytics/timeseries", key, **native, granularity="hour",
                   fill="zero")["data"]
    assert series == {"interval": "hour", "data": [
        {"timestamp": r["bucket"], "cost": r["costUsd"], "events": r["calls"]} for r in rows]}


def test_infraprism_examples(server: Server, dataset: Project) -> None:
    """The document's requests: customer costs grouped by entity, the daily series, models,
    the leaderboard, sessions, anomalies, a comparison, tags, CSV: over the last 7 days, the
    raw-range limit of questions by tag or session (docs/compat.md)."""
    key = dataset.key
    first, last = (NOW - timedelta(days=6)).date(), NOW.date()
    _check_costs(server, key, first, last, {"entity_type": "customer"}, {})
    days = {"start_date": first.isoformat(), "end_date": last.isoformat()}
    customers = _compat(server, "infraprism", "costs", key, **days, entity_type="customer",
                        group_by="entity")
    assert {r["entity_id"] for r in customers["data"]} == {*CUSTOMERS, None}
    assert all(r["entity_type"] == "customer" for r in customers["data"])

    models = _compat(server, "infraprism", "models", key, **days)
    by_model = _native(server, "/api/analytics/llm", key, **_days(first, last),
                       granularity="day")["byModel"]
    assert sorted((r["provider"], r["model"], r["total_events"], r["total_cost"])
                  for r in models["data"]) == sorted(
        (r["provider"], r["model"], r["calls"], r["costUsd"]) for r in by_model)
    assert round(sum(r["percentage_of_total"] for r in models["data"]), 2) == 100
    assert [r["total_cost"] for r in models["data"]] == sorted(
        (r["total_cost"] for r in models["data"]), reverse=True)

    for order in ("desc", "asc"):
        top = _compat(server, "infraprism", "entities_top", key, **days,
                      entity_type="customer", limit=2, order=order)
        rows = _native(server, "/api/analytics/breakdown/tags.customer", key,
                       **_days(first, last), sort="cost", order=order, limit=2)["data"]
        assert top["data"] == [{"entity_type": "customer", "entity_id": r["key"],
                                "total_cost": r["costUsd"], "total_events": r["calls"],
                                "rank": rank} for rank, r in enumerate(rows[:2], start=1)]
    users = _compat(server, "infraprism", "entities_top", key, **days)
    assert [r["rank"] for r in users["data"]] == list(range(1, len(users["data"]) + 1))
    assert {r["entity_type"] for r in users["data"]} == {"user"}

    sessions = _compat(server, "infraprism", "sessions", key, **days, entity_type="user",
                       entity_id="u-1", limit=100)
    native = _native(server, "/api/analytics/sessions", key, **_days(first, last),
                     userId="u-1", limit=100)
    assert [(s["session_id"], s["turn_count"], s["total_cost"], s["total_tokens"])
            for s in sessions["data"]] == [(s["sessionId"], s["calls"], s["costUsd"],
                                            s["totalTokens"]) for s in native["data"]]
    assert {(s["entity_type"], s["entity_id"]) for s in sessions["data"]} == {("user", "u-1")}
    assert sessions["summary"]["total_sessions"] == native["summary"]["totalSessions"]

    yesterday, today = NOW.date() - timedelta(days=1), NOW.date()
    compared = _compat(server, "infraprism", "compare", key,
                       period1_start=today.isoformat(), period1_end=today.isoformat(),
                       period2_start=yesterday.isoformat(), period2_end=yesterday.isoformat(),
                       model="gpt-4o")
    one = _native(server, "/api/analytics/summary", key, **_days(today, today), model="gpt-4o")
    two = _native(server, "/api/analytics/summary", key, **_days(yesterday, yesterday),
                  model="gpt-4o")
    assert (compared["period1"]["total_events"], compared["period2"]["total_events"]) == \
        (one["calls"], two["calls"])
    assert compared["changes"]["events_change"] == one["calls"] - two["calls"]
    assert compared["changes"]["cost_change"] == round(one["costUsd"] - two["costUsd"], 9)

    tagged = _compat(server, "infraprism", "costs", key, **days,
                     tags="customer:acme,profile:support")
    assert tagged["summary"]["total_events"] == _native(
        server, "/api/analytics/summary", key, **_days(first, last),
        tags="customer:acme,profile:support")["calls"] > 0

    status, text, headers = _get(server, "/compat/infraprism/v1/analytics/costs", key, **days,
                                 group_by="model", format="csv")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(text)))
    assert list(table[0]) == ["model", "total_cost", "total_events", "total_input_tokens",
                              "total_output_tokens", "avg_latency_ms"]
    assert sum(int(r["total_events"]) for r in table) == customers["summary"]["total_events"]
    assert _compat(server, "infraprism", "anomalies", key, **days)["data"] == []


# -- reference 000: Dispersl -------------------------------------------------------------------

def test_dispersl_reports(server: Server, dataset: Project) -> None:
    """usage, performance and costs for the month (the default), in the envelope; tasks are
    runs, API calls and tokens the LLM calls'; exports as CSV and JSON."""
    key = dataset.key
    window = {"from": _micro(NOW - timedelta(days=31)), "to": _micro(NOW + timedelta(hours=1))}
    runs = _native(server, "/api/analytics/runs", key, **window)
    calls = _native(server, "/api/analytics/summary", key, **window)

    usage = _compat(server, "dispersl", "usage", key)
    assert (usage["status"], usage["message"]) == ("success",
                                                   "Usage statistics retrieved successfully")
    data = usage["data"]
    assert data["period"] == "month"
    assert data["summary"] == {
        "total_tasks": runs["runs"], "completed_tasks": runs["completedRuns"],
        "failed_tasks": runs["failedRuns"], "success_rate": round(runs["successRate"] * 100, 1),
        "total_steps": runs["steps"], "total_tokens": calls["totalTokens"],
        "total_api_calls": calls["calls"],
        "average_task_duration": human_duration(runs["avgDurationMs"])}
    agents = _native(server, "/api/analytics/runs/breakdown/agent", key, **window, sort="runs",
                     limit=1000)["data"]
    assert data["by_agent"] == {r["key"]: {"tasks": r["runs"], "steps": r["steps"],
                                           "tokens": r["totalTokens"],
                                           "success_rate": round(r["successRate"] * 100, 1)}
                                for r in agents}
    assert sum(d["api_calls"] for d in data["daily_breakdown"]) == calls["calls"]
    assert sum(d["tasks"] for d in data["daily_breakdown"]) == runs["runs"]
    assert len(data["daily_breakdown"]) in (30, 31)

    performance = _compat(server, "dispersl", "performance", key)["data"]
    assert set(performance["metrics"]) == {"task_completion_rate", "average_task_duration",
                                           "token_efficiency", "error_rate"}
    completion = performance["metrics"]["task_completion_rate"]
    assert (completion["current"], completion["previous"], completion["trend"]) == \
        (round(runs["successRate"] * 100, 1), None, None)  # no runs the month before
    assert performance["metrics"]["token_efficiency"]["current"] == runs["tokensPerMinute"]
    only = _compat(server, "dispersl", "performance", key, metric="duration")["data"]
    assert list(only["metrics"]) == ["average_task_duration"]

    costs = _compat(server, "dispersl", "costs", key, currency="EUR")["data"]
    calls_eur = _native(server, "/api/analytics/summary", key, **window, currency="EUR")
    assert costs["currency"] == "EUR" and costs["total_cost"] == calls_eur["cost"]
    assert costs["total_cost"] == pytest.approx(calls["costUsd"] * 0.5, abs=1e-9)
    assert round(sum(m["percentage"] for m in costs["cost_by_model"].values()), 2) == 100
    assert sum(d["tokens"] for d in costs["daily_costs"]) == calls["totalTokens"]

    status, text, headers = _get(server, "/compat/dispersl/v1/analytics/usage/export", key,
                                 format="csv", period="month")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert 'filename="usage_analytics.csv"' in headers["Content-Disposition"]
    table = list(csv.DictReader(io.StringIO(text)))
    assert [r["date"] for r in table] == [d["date"] for d in data["daily_breakdown"]]
    assert sum(int(r["api_calls"]) for r in table) == calls["calls"]
    status, body, headers = _get(server, "/compat/dispersl/v1/analytics/performance/export",
                                 key, format="json")
    assert status == 200 and body["data"]["metrics"] == performance["metrics"]
    assert 'filename="performance_analytics.json"' in headers["Content-Disposition"]


def test_dispersl_custom_period_against_the_previous(server: Server, project: Project) -> None:
    """from_date..to_date against the period of the same length before: trend and change."""
    day = datetime(2026, 4, 10, tzinfo=timezone.utc)
    rng = random.Random(7)
    spans = []
    for i in range(6):  # two runs the day before, four (one failing) on the day
        root = random_tree(rng)
        root.error = i == 5
        spans += spans_of(root, day + timedelta(hours=(i - 2) * 5 + 1))
    assert export_grpc(spans, server.grpc_endpoint, project.key) is SpanExportResult.SUCCESS
    body = _compat(server, "dispersl", "performance", project.key, period="day",
                   from_date="2026-04-10", to_date="2026-04-10")["data"]
    assert (body["from_date"], body["to_date"]) == ("2026-04-10T00:00:00Z",
                                                    "2026-04-10T23:59:59Z")
    runs = _native(server, "/api/analytics/runs", project.key, **{"from": "2026-04-10",
                                                                  "to": "2026-04-11"},
                   compare="previous_period")
    errors = body["metrics"]["error_rate"]
    assert errors["current"] == round(runs["failedRuns"] / runs["runs"] * 100, 1)
    assert errors["previous"] == round(runs["previous"]["failedRuns"]
                                       / runs["previous"]["runs"] * 100, 1)
    assert errors["change"] == round(errors["current"] - errors["previous"], 3)
    assert errors["trend"] == ("up" if errors["change"] > 0 else "down"
                               if errors["change"] < 0 else "flat")
    assert body["metrics"]["average_task_duration"]["current"] == \
        human_duration(runs["avgDurationMs"])


def test_durations_read_as_the_document_writes_them() -> None:
    assert [human_duration(ms) for ms in (None, 850, 12_400, 45 * 60_000, 9_000_000,
                                          2 * 3_600_000, -15 * 60_000)] == \
        [None, "850ms", "12s", "45m", "2h 30m", "2h", "-15m"]


# -- random questions, same figures ------------------------------------------------------------

_ENTITIES = [({}, {}), ({"entity_type": "user", "entity_id": "u-2"}, {"userId": "u-2"}),
             ({"entity_type": "customer", "entity_id": "acme"}, {"tags": "customer:acme"}),
             ({"entity_type": "agent", "entity_id": "planner"}, {"agentId": "planner"}),
             ({"entity_type": "session"}, {}), ({"entity_type": "customer"}, {}),
             ({"model": "gpt-4o-mini"}, {"model": "gpt-4o-mini"}),
             ({"tags": "profile:writer"}, {"tags": "profile:writer"})]


@settings(max_examples=examples(8), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_compat_figures_equal_the_native_ones(server: Server, dataset: Project,
                                              data: st.DataObject) -> None:
    first = BASE.date() + timedelta(days=data.draw(st.integers(-2, 2)))
    last = first + timedelta(days=data.draw(st.integers(0, 3)))
    filters, native_filters = data.draw(st.sampled_from(_ENTITIES))
    _check_costs(server, dataset.key, first, last, filters, native_filters)
    start = BASE + timedelta(minutes=data.draw(st.integers(-600, 3000)))
    end = start + timedelta(minutes=data.draw(st.integers(0, 3000)), seconds=0.25)
    _check_umbraco(server, dataset.key, start, end)
    _check_dispersl(server, dataset.key, start, end)


def _check_dispersl(server: Server, key: str, start: datetime, end: datetime) -> None:
    """usage and costs for from_date..to_date (inclusive) against the native runs and calls
    for start..end + 1 µs."""
    query = {"from_date": _micro(start), "to_date": _micro(end)}
    native = {"from": _micro(start), "to": _micro(end + timedelta(microseconds=1))}
    usage = _compat(server, "dispersl", "usage", key, **query)["data"]["summary"]
    runs = _native(server, "/api/analytics/runs", key, **native)
    calls = _native(server, "/api/analytics/summary", key, **native)
    assert (usage["total_tasks"], usage["failed_tasks"], usage["total_steps"],
            usage["total_tokens"], usage["total_api_calls"]) == (
        runs["runs"], runs["failedRuns"], runs["steps"], calls["totalTokens"], calls["calls"])
    costs = _compat(server, "dispersl", "costs", key, **query)["data"]
    models = _native(server, "/api/analytics/breakdown/model", key, **native, sort="cost",
                     limit=1000)["data"]
    assert costs["total_cost"] == calls["costUsd"]
    assert {name: (m["cost"], m["tokens"]) for name, m in costs["cost_by_model"].items()} == {
        r["key"] or "(no model)": (r["costUsd"], r["totalTokens"]) for r in models}


# -- errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "params", "named"), [
    ("/compat/umbraco-ai/analytics/summary", {"to": "2026-01-01"}, "from is required"),
    ("/compat/umbraco-ai/analytics/timeseries", {"from": "2026-01-01", "to": "2026-01-02",
                                                 "granularity": "minute"}, "granularity"),
    ("/compat/umbraco-ai/analytics/breakdown/agent", {"from": "2026-01-01",
                                                      "to": "2026-01-02"}, "dimension"),
    ("/compat/umbraco-ai/analytics/summary", {"from": "2026-02-01", "to": "2026-01-01"}, "from"),
    ("/compat/infraprism/v1/analytics/costs", {"start_date": "2026-01-01"},
     "end_date is required"),
    ("/compat/infraprism/v1/analytics/costs", {"start_date": "2026-1-1",
                                               "end_date": "2026-01-02"}, "start_date"),
    ("/compat/infraprism/v1/analytics/costs", {"start_date": "2026-01-01T00:00:00Z",
                                               "end_date": "2026-01-02"}, "start_date"),
    ("/compat/infraprism/v1/analytics/costs", {"start_date": "2026-01-03",
                                               "end_date": "2026-01-02"}, "start_date"),
    ("/compat/infraprism/v1/analytics/costs", {"start_date": "2026-01-01",
                                               "end_date": "2026-01-02", "entity_id": "acme"},
     "entity_id needs entity_type"),
    ("/compat/infraprism/v1/analytics/costs", {"start_date": "2026-01-01",
                                               "end_date": "2026-01-02", "group_by": "entity"},
     "group_by: entity needs entity_type"),
    ("/compat/infraprism/v1/analytics/costs", {"start_date": "2020-01-01",
                                               "end_date": "2026-01-02"}, "start_date..end_date"),
    ("/compat/infraprism/v1/analytics/costs", {"start_date": "2026-01-01",
                                               "end_date": "2026-01-02", "tags": "nocolon"},
     "tags"),
    ("/compat/infraprism/v1/analytics/entities/top", {"start_date": "2026-01-01",
                                                      "end_date": "2026-01-02", "limit": "101"},
     "limit"),
    ("/compat/infraprism/v1/analytics/anomalies", {"start_date": "2026-01-01",
                                                   "end_date": "2026-01-02", "status": "open"},
     "status"),
    ("/compat/infraprism/v1/analytics/compare", {"period1_start": "2026-01-01"},
     "period1_end is required"),
    ("/compat/infraprism/v1/analytics/costs", {"start_date": "2026-01-01",
                                               "end_date": "2026-01-02", "format": "xml"},
     "format"),
    ("/compat/infraprism/v1/analytics/costs", {"start_date": "2026-01-01",
                                               "end_date": "2026-01-02", "startDate": "x"},
     "'startDate' is not a parameter"),
    ("/compat/dispersl/v1/analytics/usage", {"period": "decade"}, "period"),
    ("/compat/dispersl/v1/analytics/usage", {"from_date": "2026-01-01"},
     "from_date and to_date go together"),
    ("/compat/dispersl/v1/analytics/costs", {"currency": "JPY"}, "currency"),
    ("/compat/dispersl/v1/analytics/performance", {"metric": "speed"}, "metric"),
    ("/compat/dispersl/v1/analytics/usage/export", {"format": "xlsx"}, "format"),
])
def test_bad_requests_name_the_parameter(server: Server, project: Project, path: str,
                                         params: dict[str, str], named: str) -> None:
    status, body, _ = _get(server, path, project.key, **params)
    assert status == 400, body
    message = body["error"]["message"]
    assert body["error"]["code"] == "INVALID_ARGUMENT" and named in message, message
    if path.startswith("/compat/dispersl"):  # the document's envelope
        assert (body["status"], body["message"], body["data"]) == ("error", message, None)


def test_keys_and_errors_in_each_product_s_style(server: Server, project: Project) -> None:
    days = {"start_date": "2026-01-01", "end_date": "2026-01-02"}
    for path, params in (("/compat/umbraco-ai/analytics/summary",
                          {"from": "2026-01-01", "to": "2026-01-02"}),
                         ("/compat/infraprism/v1/analytics/costs", days),
                         ("/compat/dispersl/v1/analytics/usage", {})):
        for key, status in ((None, 401), ("st_not-a-key", 403),
                            (server.new_key(project, [INGEST]), 403), (project.key, 200)):
            got, body, _ = _get(server, path, key, **params)
            assert got == status, (path, key, body)
            if status != 200 and path.startswith("/compat/dispersl"):
                assert body["status"] == "error" and body["error"]["code"] in (
                    "UNAUTHENTICATED", "PERMISSION_DENIED")
    status, body, _ = _get(server, "/compat/dispersl/v1/analytics/tasks", project.key)
    assert status == 404 and body["status"] == "error" and body["error"]["code"] == "NOT_FOUND"
    status, body, _ = _get(server, "/compat/infraprism/v1/analytics/nothing", project.key)
    assert status == 404 and set(body) == {"error"}


def test_the_openapi_document_describes_every_compat_endpoint(server: Server) -> None:
    status, document = server.api("/api/openapi.json", None)
    assert status == 200
    for product in PRODUCTS:
        for endpoint in product.endpoints:
            operation = document["paths"][product.path(endpoint)]["get"]
            assert [p["name"] for p in operation["parameters"]] == \
                [p.name for p in endpoint.params]
            assert operation["responses"]["200"]["content"]["application/json"]["schema"] == \
                endpoint.response
            required = {p["name"] for p in operation["parameters"] if p.get("required")}
            assert required == {p.name for p in endpoint.params if p.required or p.in_path}
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()
           if "operationId" in op]
    assert len(ids) == len(set(ids))
    status, index = server.api("/api", None)
    assert index["compat"]["infraprism"][0] == "/compat/infraprism/v1/analytics/costs"
