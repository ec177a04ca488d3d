"""Configurable limits: request size, spans per request, attribute length."""

from __future__ import annotations

import gzip
import json
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import grpc
import pytest
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from spantally.collector import IngestLimits, NormalizeLimits
from spantally.store import ManagedCluster, RetentionConfig

from .harness import (
    CallSpec,
    Server,
    grpc_export_raw,
    http_post,
    make_spans,
    otlp_json,
    start_server,
)

LIMIT_BYTES = 64 * 1024


@pytest.fixture(scope="module")
def limited(cluster: ManagedCluster) -> Iterator[Server]:
    server = start_server(cluster.url, collector={
        "max_request_bytes": LIMIT_BYTES,
        "limits": IngestLimits(max_spans_per_request=10,
                               attributes=NormalizeLimits(max_value_chars=16)),
    })
    try:
        yield server
    finally:
        server.stop()


def _body(n: int, **extra: object) -> bytes:
    specs = [CallSpec(datetime(2026, 7, 1, 10, i), 100, extra=dict(extra)) for i in range(n)]
    return encode_spans(make_spans(specs)).SerializeToString()


def test_bodies_over_the_size_limit_are_413(limited: Server) -> None:
    project = limited.new_project()
    big = _body(5, padding="x" * (LIMIT_BYTES // 4))
    assert len(big) > LIMIT_BYTES
    status, body, _ = http_post(limited.http_endpoint, big, "application/x-protobuf", project.key)
    assert status == 413
    assert f"exceeds {LIMIT_BYTES} bytes" in status_pb2.Status.FromString(body).message
    # Small on the wire, too large once inflated.
    status, _, _ = http_post(limited.http_endpoint, gzip.compress(big), "application/x-protobuf",
                             project.key, encoding="gzip")
    assert status == 413
    assert grpc_export_raw(limited.grpc_endpoint, big, project.key) is (
        grpc.StatusCode.RESOURCE_EXHAUSTED)


def test_too_many_spans_in_one_request_is_413(limited: Server) -> None:
    project = limited.new_project()
    status, body, _ = http_post(limited.http_endpoint, _body(11), "application/x-protobuf",
                                project.key)
    assert status == 413
    assert "at most 10 are accepted" in status_pb2.Status.FromString(body).message
    assert grpc_export_raw(limited.grpc_endpoint, _body(11), project.key) is (
        grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert http_post(limited.http_endpoint, _body(10), "application/x-protobuf",
                     project.key)[0] == 200


def test_long_attribute_values_are_truncated_and_counted(limited: Server) -> None:
    project = limited.new_project()
    before = limited.runtime.collector.stats.attributes_truncated
    body = _body(1, team="t" * 100, **{"session.id": "s" * 50})
    assert http_post(limited.http_endpoint, body, "application/x-protobuf", project.key)[0] == 200
    rows = limited.sql("SELECT session_id, tags FROM llm_calls WHERE project_id = %s",
                       (project.id,))
    assert rows == [("s" * 16, {"team": "t" * 16})]
    after = limited.runtime.collector.stats.attributes_truncated
    assert after - before == 2
    with urllib.request.urlopen(limited.api_url + "/metrics", timeout=10) as response:
        assert f"spantally_attributes_truncated_total {after}" in response.read().decode()


def test_calls_older_than_the_retention_are_rejected(cluster: ManagedCluster) -> None:
    server = start_server(cluster.url, retention=RetentionConfig(raw_days=30))
    try:
        project = server.new_project()
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        specs = [CallSpec(now - timedelta(days=40), 100), CallSpec(now - timedelta(days=1), 100)]
        status, body, _ = http_post(server.http_endpoint, otlp_json(make_spans(specs)),
                                    "application/json", project.key)
        assert status == 200
        partial = json.loads(body)["partialSuccess"]
        assert partial["rejectedSpans"] == "1"
        assert "older than the retention of 30 days" in partial["errorMessage"]
        assert server.sql("SELECT count(*) FROM llm_calls WHERE project_id = %s",
                          (project.id,)) == [(1,)]
    finally:
        server.stop()
