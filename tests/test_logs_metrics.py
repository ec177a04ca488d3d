"""OTLP logs and metrics: accepted (after the API key is checked) and never added to calls,
sent by the real OTLP log and metric exporters over gRPC and HTTP."""

from __future__ import annotations

import pytest
from opentelemetry._logs import LogRecord
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogs
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as HttpMetrics,
)
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExportResult

from .harness import Project, Server, http_post


def _calls(server: Server, project: Project) -> int:
    return server.sql("SELECT count(*) FROM llm_calls WHERE project_id = %s", (project.id,))[0][0]


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_usage_log_events_are_acknowledged_not_counted(server: Server, project: Project,
                                                       protocol: str) -> None:
    headers = {"authorization": f"Bearer {project.key}"}
    if protocol == "grpc":
        exporter = OTLPLogExporter(endpoint=server.grpc_endpoint, insecure=True, headers=headers)
    else:
        exporter = HttpLogs(endpoint=server.http_endpoint.replace("/v1/traces", "/v1/logs"),
                            headers=headers)
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("genai")
    stats = server.runtime.collector.stats
    before = stats.log_records_ignored
    for _ in range(3):  # what GenAI instrumentations emit beside their spans
        logger.emit(LogRecord(event_name="gen_ai.choice", body="gen_ai.choice", attributes={
            "gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 300,
            "gen_ai.request.model": "gpt-4o"}))
    provider.shutdown()
    assert stats.log_records_ignored - before == 3
    assert _calls(server, project) == 0


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_token_usage_metrics_are_acknowledged_not_counted(server: Server, project: Project,
                                                          protocol: str) -> None:
    headers = {"authorization": f"Bearer {project.key}"}
    if protocol == "grpc":
        exporter = OTLPMetricExporter(endpoint=server.grpc_endpoint, insecure=True,
                                      headers=headers)
    else:
        exporter = HttpMetrics(endpoint=server.http_endpoint.replace("/v1/traces", "/v1/metrics"),
                               headers=headers)
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    histogram = provider.get_meter("genai").create_histogram("gen_ai.client.token.usage")
    histogram.record(1200, {"gen_ai.token.type": "input", "gen_ai.request.model": "gpt-4o"})
    histogram.record(300, {"gen_ai.token.type": "output", "gen_ai.request.model": "gpt-4o"})
    stats = server.runtime.collector.stats
    before = stats.metrics_ignored
    assert exporter.export(reader.get_metrics_data()) is MetricExportResult.SUCCESS
    provider.shutdown()
    assert stats.metrics_ignored - before == 1
    assert _calls(server, project) == 0


def test_logs_need_a_key_and_a_valid_body(server: Server, project: Project) -> None:
    url = server.http_endpoint.replace("/v1/traces", "/v1/logs")
    body = ExportLogsServiceRequest().SerializeToString()
    status, _, _ = http_post(url, body, "application/x-protobuf", None)
    assert status == 401
    status, _, _ = http_post(url, b"\xff\x00garbage", "application/x-protobuf", project.key)
    assert status == 400
    status, raw, _ = http_post(url, b"{}", "application/json", project.key)
    assert (status, raw) == (200, b"{}")
