"""Fuzz both receivers: arbitrary bytes and arbitrary OTLP content never produce a server error,
and spans with hostile attribute values are stored without failing their batch."""

from __future__ import annotations

import json

import grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from .harness import Project, Server, grpc_export_raw, http_post

FUZZ = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["resourceSpans", "scopeSpans", "spans", "traceId",
                                       "spanId", "attributes", "key", "value", "stringValue",
                                       "startTimeUnixNano", "intValue"]) | st.text(max_size=8),
                      children, max_size=4),
    max_leaves=20,
)


@FUZZ
@given(body=st.binary(max_size=400))
def test_http_protobuf_bytes(server: Server, project: Project, body: bytes) -> None:
    status, _, _ = http_post(server.http_endpoint, body, "application/x-protobuf", project.key)
    assert status in (200, 400)


@FUZZ
@given(document=json_values)
def test_http_json_documents(server: Server, project: Project, document: object) -> None:
    status, _, _ = http_post(server.http_endpoint, json.dumps(document).encode(),
                             "application/json", project.key)
    assert status in (200, 400)


@FUZZ
@given(body=st.binary(max_size=400))
def test_grpc_bytes(server: Server, project: Project, body: bytes) -> None:
    assert grpc_export_raw(server.grpc_endpoint, body, project.key) in (
        grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT)


attribute_values = (
    st.builds(lambda s: AnyValue(string_value=s), st.text(max_size=50))
    | st.builds(lambda i: AnyValue(int_value=i), st.integers(-(2**63), 2**63 - 1))
    | st.builds(lambda f: AnyValue(double_value=f), st.floats())
    | st.builds(lambda b: AnyValue(bool_value=b), st.booleans())
    | st.builds(lambda b: AnyValue(bytes_value=b), st.binary(max_size=10))
)
attribute_keys = st.sampled_from([
    "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.usage.cost",
    "gen_ai.request.model", "gen_ai.response.model", "gen_ai.provider.name", "gen_ai.agent.id",
    "gen_ai.response.time_to_first_chunk", "gen_ai.request.stream", "session.id", "user.id",
    "error.type", "custom.tag",
]) | st.text(max_size=12)


@FUZZ
@given(attributes=st.lists(st.tuples(attribute_keys, attribute_values), max_size=12),
       start=st.integers(1, 2**63 - 1), duration=st.integers(0, 2**40))
def test_hostile_attribute_values_are_stored(
    server: Server, project: Project, attributes: list, start: int, duration: int
) -> None:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id = bytes(range(1, 17))
    span.span_id = start.to_bytes(8, "big")
    span.start_time_unix_nano = start
    span.end_time_unix_nano = min(start + duration, 2**64 - 1)
    span.attributes.extend([
        KeyValue(key="gen_ai.operation.name", value=AnyValue(string_value="chat")),
        KeyValue(key="gen_ai.request.model", value=AnyValue(string_value="gpt-4o")),
    ])
    span.attributes.extend(KeyValue(key=k, value=v) for k, v in attributes)
    assert grpc_export_raw(server.grpc_endpoint, request.SerializeToString(), project.key) is (
        grpc.StatusCode.OK)
