"""What counts: retries once, non-LLM spans never, invalid spans reported, auth before anything."""

from __future__ import annotations

import gzip
import json
from datetime import datetime

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace.export import SpanExportResult

from .harness import (
    CallSpec,
    Project,
    Server,
    export_grpc,
    export_http,
    export_json,
    grpc_export_raw,
    http_post,
    make_spans,
    otlp_json,
)

RANGE = "from=2026-03-01&to=2026-03-02"
SPECS = [CallSpec(datetime(2026, 3, 1, 9, m), 500 + m, input_tokens=100 + m) for m in range(10)]


def _calls(server: Server, key: str) -> int:
    status, body = server.api(f"/api/analytics/llm?{RANGE}", key)
    assert status == 200, body
    return body["summary"]["totalCalls"]


def _stored(server: Server) -> int:
    return server.sql("SELECT count(*) FROM llm_calls")[0][0]


def test_the_same_batch_twice_counts_once(server: Server, project: Project) -> None:
    spans = make_spans(SPECS)
    assert export_grpc(spans, server.grpc_endpoint, project.key) is SpanExportResult.SUCCESS
    assert export_http(spans, server.http_endpoint, project.key) is SpanExportResult.SUCCESS
    assert export_json(spans, server.http_endpoint, project.key) == 200
    assert _calls(server, project.key) == 10
    status, body = server.api(f"/api/analytics/llm?{RANGE}&granularity=day", project.key)
    assert body["summary"]["totalInputTokens"] == sum(s.input_tokens for s in SPECS)
    # The aggregates saw each call once too: they all agree with the raw table.
    for table in ("llm_calls_1h", "llm_calls_1d", "llm_calls_total_1h", "llm_calls_total_1d",
                  "llm_calls_user_1d"):
        assert server.sql(f"SELECT sum(calls) FROM {table} WHERE project_id = %s",
                          (project.id,))[0][0] == 10


def test_a_batch_overlapping_a_stored_one_adds_only_the_new_calls(
    server: Server, project: Project
) -> None:
    spans = make_spans(SPECS)
    assert export_grpc(spans[:6], server.grpc_endpoint, project.key) is SpanExportResult.SUCCESS
    assert export_grpc(spans[3:], server.grpc_endpoint, project.key) is SpanExportResult.SUCCESS
    assert _calls(server, project.key) == 10


def test_non_llm_spans_are_counted_not_stored_and_agent_spans_are_runs(
        server: Server, project: Project) -> None:
    stats = server.runtime.collector.stats
    skipped, runs = stats.spans_skipped["not_llm"], stats.runs_received
    spans = make_spans(SPECS[:2], extra_non_llm=4)  # 2 agent spans, 2 HTTP spans
    assert export_grpc(spans, server.grpc_endpoint, project.key) is SpanExportResult.SUCCESS
    assert _calls(server, project.key) == 2
    assert (stats.spans_skipped["not_llm"] - skipped, stats.runs_received - runs) == (2, 2)
    assert server.sql("SELECT count(*) FROM agent_runs WHERE project_id = %s",
                      (project.id,)) == [(2,)]


def test_invalid_spans_are_rejected_as_partial_success(server: Server, project: Project) -> None:
    document = json.loads(otlp_json(make_spans(SPECS[:3])))
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans[0]["spanId"] = ""  # no span id
    spans[1]["traceId"] = "00" * 16  # all-zero trace id
    status, body, _ = http_post(
        server.http_endpoint, json.dumps(document).encode(), "application/json", project.key
    )
    assert status == 200
    answer = json.loads(body)
    assert answer["partialSuccess"]["rejectedSpans"] == "2"
    assert "span_id" in answer["partialSuccess"]["errorMessage"]
    assert _calls(server, project.key) == 1


def test_gzip_protobuf_body_is_accepted(server: Server, project: Project) -> None:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    body = gzip.compress(encode_spans(make_spans(SPECS[:4])).SerializeToString())
    status, raw, headers = http_post(
        server.http_endpoint, body, "application/x-protobuf", project.key, encoding="gzip"
    )
    assert status == 200 and headers["Content-Type"] == "application/x-protobuf"
    ExportTraceServiceResponse().ParseFromString(raw)
    assert _calls(server, project.key) == 4


def test_missing_and_unknown_keys_store_nothing(server: Server, project: Project) -> None:
    spans = make_spans(SPECS[:3])
    stored = _stored(server)
    body = ExportTraceServiceRequest()
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    body = encode_spans(spans).SerializeToString()
    assert grpc_export_raw(server.grpc_endpoint, body, None) is grpc.StatusCode.UNAUTHENTICATED
    assert grpc_export_raw(server.grpc_endpoint, body, "st_0000_nope") is (
        grpc.StatusCode.PERMISSION_DENIED
    )
    assert http_post(server.http_endpoint, body, "application/x-protobuf", None)[0] == 401
    assert http_post(server.http_endpoint, body, "application/x-protobuf", "not-a-key")[0] == 403
    assert export_json(spans, server.http_endpoint, "st_abcdef_wrong") == 403
    assert export_grpc(spans, server.grpc_endpoint, None) is SpanExportResult.FAILURE
    assert _stored(server) == stored
    assert _calls(server, project.key) == 0


def test_api_requires_a_valid_key(server: Server, project: Project) -> None:
    assert server.api("/api/analytics/llm", None) == (
        401,
        {"error": {"code": "UNAUTHENTICATED",
                   "message": "missing API key: send the header 'Authorization: Bearer <key>'"}},
    )
    status, body = server.api("/api/analytics/llm", "st_123456_wrong")
    assert status == 403 and body["error"]["code"] == "PERMISSION_DENIED"


def test_projects_see_only_their_own_calls(server: Server) -> None:
    first, second = server.new_project(), server.new_project()
    assert export_grpc(make_spans(SPECS[:3]), server.grpc_endpoint, first.key) is (
        SpanExportResult.SUCCESS
    )
    assert export_grpc(make_spans(SPECS[:5]), server.grpc_endpoint, second.key) is (
        SpanExportResult.SUCCESS
    )
    assert _calls(server, first.key) == 3
    assert _calls(server, second.key) == 5


def test_malformed_otlp_is_invalid_argument(server: Server, project: Project) -> None:
    garbage = b"\x0a\xff\xff\xff\xff\x0f not protobuf"
    assert grpc_export_raw(server.grpc_endpoint, garbage, project.key) is (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    status, body, _ = http_post(server.http_endpoint, garbage, "application/x-protobuf", project.key)
    assert status == 400
    status, body, _ = http_post(server.http_endpoint, b"{not json", "application/json", project.key)
    assert status == 400 and json.loads(body)["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    status, _, _ = http_post(server.http_endpoint, b"{}", "text/plain", project.key)
    assert status == 415
    status, _, _ = http_post(server.http_endpoint, b"junk", "application/x-protobuf", project.key,
                             encoding="gzip")
    assert status == 400
