"""Span -> OTLP (gRPC, HTTP protobuf, HTTP JSON) -> collector -> TimescaleDB -> /api/analytics/llm."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import pytest
from opentelemetry.sdk.trace.export import SpanExportResult

from .harness import (
    CallSpec,
    Project,
    Server,
    expected_cost_nano,
    export_grpc,
    export_http,
    export_json,
    make_spans,
)

# Three hours on 2026-02-08 and one call on the next day; two providers, three models.
SPECS = [
    CallSpec(datetime(2026, 2, 8, 10, 5), 1200, "openai", "gpt-4o", 1000, 200, agent_id="planner"),
    CallSpec(datetime(2026, 2, 8, 10, 40), 800, "openai", "gpt-4o", 3000, 500, cache_read_tokens=1024,
             agent_id="planner"),
    CallSpec(datetime(2026, 2, 8, 11, 15), 2500, "anthropic", "claude-sonnet-4-20250514", 5000, 900,
             cache_read_tokens=2048, agent_id="writer"),
    CallSpec(datetime(2026, 2, 8, 11, 59, 59), 400, "openai", "gpt-4o-mini", 700, 90,
             agent_id="researcher", error=True),
    CallSpec(datetime(2026, 2, 8, 13, 0), 1700, "anthropic", "claude-sonnet-4-20250514", 1200, 300,
             agent_id="writer"),
    CallSpec(datetime(2026, 2, 9, 0, 30), 950, "openai", "gpt-4o", 400, 60, agent_id="planner"),
]
RANGE = "from=2026-02-08T00:00:00Z&to=2026-02-10T00:00:00Z"


def _send_grpc(spans: Sequence[Any], server: Server, key: str) -> bool:
    return export_grpc(spans, server.grpc_endpoint, key) is SpanExportResult.SUCCESS


def _send_http(spans: Sequence[Any], server: Server, key: str) -> bool:
    return export_http(spans, server.http_endpoint, key) is SpanExportResult.SUCCESS


def _send_json(spans: Sequence[Any], server: Server, key: str) -> bool:
    return export_json(spans, server.http_endpoint, key) == 200


TRANSPORTS: dict[str, Callable[[Sequence[Any], Server, str], bool]] = {
    "grpc": _send_grpc,
    "http-protobuf": _send_http,
    "http-json": _send_json,
}


def _expected(specs: Sequence[CallSpec], bucket_of: Callable[[CallSpec], str]) -> dict[str, Any]:
    summary = defaultdict(int)
    by_model: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_time: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for spec in specs:
        cost = expected_cost_nano(spec)
        for target in (summary, by_model[(spec.provider, spec.model)], by_time[bucket_of(spec)]):
            target["calls"] += 1
            target["cost"] += cost
            target["input"] += spec.input_tokens
            target["output"] += spec.output_tokens
            target["latency_us"] += spec.latency_us
            target["errors"] += int(spec.error)
    return {"summary": summary, "by_model": by_model, "by_time": by_time}


def _avg_ms(sums: dict[str, int]) -> float:
    return round(sums["latency_us"] / sums["calls"] / 1000, 3)


def _assert_matches(body: dict[str, Any], expected: dict[str, Any]) -> None:
    summary = expected["summary"]
    assert body["summary"] == {
        "totalCalls": summary["calls"],
        "totalCostUsd": summary["cost"] / 1e9,
        "totalInputTokens": summary["input"],
        "totalOutputTokens": summary["output"],
        "avgLatencyMs": _avg_ms(summary),
        "avgCostPerCall": round(summary["cost"] / 1e9 / summary["calls"], 9),
        "unpricedCalls": 0,
        "errorCalls": summary["errors"],
    }
    got_models = {(m["provider"], m["model"]): m for m in body["byModel"]}
    assert set(got_models) == set(expected["by_model"])
    for key, sums in expected["by_model"].items():
        assert got_models[key] == {
            "provider": key[0], "model": key[1], "calls": sums["calls"],
            "costUsd": sums["cost"] / 1e9, "inputTokens": sums["input"],
            "outputTokens": sums["output"], "avgLatencyMs": _avg_ms(sums),
        }
    assert [t["bucket"] for t in body["byTime"]] == sorted(expected["by_time"])
    for row in body["byTime"]:
        sums = expected["by_time"][row["bucket"]]
        assert row == {
            "bucket": row["bucket"], "calls": sums["calls"], "costUsd": sums["cost"] / 1e9,
            "inputTokens": sums["input"], "outputTokens": sums["output"],
            "avgLatencyMs": _avg_ms(sums),
        }


@pytest.mark.parametrize("transport", list(TRANSPORTS))
def test_calls_arrive_exactly_by_hour_and_day(server: Server, project: Project, transport: str) -> None:
    spans = make_spans(SPECS, extra_non_llm=3)
    assert TRANSPORTS[transport](spans, server, project.key)

    status, body = server.api(f"/api/analytics/llm?{RANGE}&granularity=hour", project.key)
    assert status == 200
    _assert_matches(body, _expected(SPECS, lambda s: s.start.strftime("%Y-%m-%dT%H:00:00Z")))

    status, body = server.api(f"/api/analytics/llm?{RANGE}&granularity=day", project.key)
    assert status == 200
    _assert_matches(body, _expected(SPECS, lambda s: s.start.strftime("%Y-%m-%dT00:00:00Z")))

    status, body = server.api(f"/api/analytics/llm?{RANGE}&granularity=week", project.key)
    assert status == 200
    # 2026-02-08 is a Sunday: its ISO week began on Monday 2026-02-02, the 9th starts the next.
    weeks = {8: "2026-02-02T00:00:00Z", 9: "2026-02-09T00:00:00Z"}
    _assert_matches(body, _expected(SPECS, lambda s: weeks[s.start.day]))


def test_stored_rows_carry_the_call_record(server: Server, project: Project) -> None:
    spans = make_spans(SPECS[2:4], service="billing-agent")
    assert _send_grpc(spans, server, project.key)
    rows = server.sql(
        "SELECT model, provider, agent_id, service_name, status, error_type, input_tokens, "
        "cache_read_tokens, latency_us, cost_source, operation FROM llm_calls "
        "WHERE project_id = %s ORDER BY time",
        (project.id,),
    )
    assert rows == [
        ("claude-sonnet-4-20250514", "anthropic", "writer", "billing-agent", "ok", None, 5000,
         2048, 2_500_000, "catalog", "chat"),
        ("gpt-4o-mini", "openai", "researcher", "billing-agent", "error", "RateLimitError", 700,
         0, 400_000, "catalog", "chat"),
    ]


def test_filters_by_agent_model_and_provider(server: Server, project: Project) -> None:
    assert _send_grpc(make_spans(SPECS), server, project.key)
    for query, kept in [
        ("agentId=writer", [s for s in SPECS if s.agent_id == "writer"]),
        ("model=gpt-4o", [s for s in SPECS if s.model == "gpt-4o"]),
        ("provider=openai", [s for s in SPECS if s.provider == "openai"]),
        ("provider=openai&agentId=researcher", [SPECS[3]]),
    ]:
        status, body = server.api(f"/api/analytics/llm?{RANGE}&{query}", project.key)
        assert status == 200, body
        _assert_matches(body, _expected(kept, lambda s: s.start.strftime("%Y-%m-%dT%H:00:00Z")))
    status, body = server.api(f"/api/analytics/llm?{RANGE}&model=no-such-model", project.key)
    assert body["summary"]["totalCalls"] == 0 and body["byModel"] == [] and body["byTime"] == []


def test_deprecated_attribute_names_count_the_same(server: Server, project: Project) -> None:
    specs = [CallSpec(datetime(2026, 2, 8, 10, 5), 1000, "openai", "gpt-4o", 1000, 200,
                      deprecated_names=True)]
    assert _send_http(make_spans(specs), server, project.key)
    status, body = server.api(f"/api/analytics/llm?{RANGE}", project.key)
    _assert_matches(body, _expected(specs, lambda s: s.start.strftime("%Y-%m-%dT%H:00:00Z")))


def test_unknown_model_is_stored_unpriced(server: Server, project: Project) -> None:
    specs = [CallSpec(datetime(2026, 2, 8, 10, 5), 1000, "acme", "acme-llm-9000", 1000, 200),
             CallSpec(datetime(2026, 2, 8, 10, 6), 1000, "openai", "gpt-4o", 1000, 200)]
    assert _send_grpc(make_spans(specs), server, project.key)
    status, body = server.api(f"/api/analytics/llm?{RANGE}", project.key)
    assert body["summary"]["totalCalls"] == 2
    assert body["summary"]["unpricedCalls"] == 1
    assert body["summary"]["totalCostUsd"] == expected_cost_nano(specs[1]) / 1e9
    rows = server.sql(
        "SELECT cost_nano_usd, cost_source FROM llm_calls WHERE project_id = %s AND model = %s",
        (project.id, "acme-llm-9000"),
    )
    assert rows == [(None, None)]


def test_reported_cost_wins_over_the_catalog(server: Server, project: Project) -> None:
    specs = [CallSpec(datetime(2026, 2, 8, 10, 5), 1000, "openai", "gpt-4o", 1000, 200,
                      extra={"gen_ai.usage.cost": 0.123456789})]
    assert _send_grpc(make_spans(specs), server, project.key)
    rows = server.sql(
        "SELECT cost_nano_usd, cost_source FROM llm_calls WHERE project_id = %s", (project.id,)
    )
    assert rows == [(123_456_789, "reported")]


def test_sdk_llm_call_reaches_the_api(server: Server, project: Project) -> None:
    """spantally.init + spantally.llm_call through the global provider, over gRPC."""
    import spantally

    provider = spantally.init(server.grpc_endpoint, api_key=project.key, service_name="sdk-test")
    # "sdk-test" when init() made the process's provider; an earlier one keeps its resource.
    service = provider.resource.attributes["service.name"]
    with spantally.llm_call("openai", "gpt-4o", agent_id="planner", session_id="s-1") as call:
        call.set_usage(input_tokens=1500, output_tokens=250, cache_read_tokens=512)
        call.set_response_model("gpt-4o-2024-08-06")
    with pytest.raises(TimeoutError):
        with spantally.llm_call("anthropic", "claude-sonnet-4-20250514", agent_id="writer"):
            raise TimeoutError("no answer")
    assert spantally.force_flush()

    rows = server.sql(
        "SELECT provider, request_model, model, agent_id, session_id, service_name, input_tokens,"
        " output_tokens, cache_read_tokens, status, error_type FROM llm_calls"
        " WHERE project_id = %s ORDER BY provider",
        (project.id,),
    )
    assert rows == [
        ("anthropic", "claude-sonnet-4-20250514", "claude-sonnet-4-20250514", "writer", None,
         service, 0, 0, 0, "error", "TimeoutError"),
        ("openai", "gpt-4o", "gpt-4o-2024-08-06", "planner", "s-1", service, 1500, 250, 512,
         "ok", None),
    ]
    status, body = server.api("/api/analytics/llm", project.key)  # default: the last 24 hours
    assert status == 200
    assert body["summary"]["totalCalls"] == 2
    assert body["summary"]["totalInputTokens"] == 1500
