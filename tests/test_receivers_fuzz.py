"""Fuzz both receivers: arbitrary bytes and arbitrary OTLP content never produce a server error,
and spans with hostile attribute values are stored without failing their batch. Hostile
shapes: nesting of any depth (refused past 100 levels in every encoding, with a clear message),
200,000 attributes on a span, keys and values of a million characters."""

from __future__ import annotations

import json
import urllib.request

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


# -- hostile shapes: nesting, attribute counts, huge strings and keys ----------------------------

def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field, encoded by hand (the library refuses to build
    messages nested as deep as these)."""
    length, size = b"", len(payload)
    while True:
        byte, size = size & 0x7F, size >> 7
        length += bytes([byte | (0x80 if size else 0)])
        if not size:
            break
    return bytes([number << 3 | 2]) + length + payload


def _span_with_attribute(key_value: bytes, extra: int = 0) -> bytes:
    """An ExportTraceServiceRequest of one chat span holding `key_value` (a KeyValue's bytes),
    and `extra` further attributes."""
    span = ExportTraceServiceRequest().resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id = bytes(range(1, 17)), bytes(range(1, 9))
    span.start_time_unix_nano = 1_780_000_000_000_000_000
    span.end_time_unix_nano = span.start_time_unix_nano + 10**9
    span.attributes.extend([
        KeyValue(key="gen_ai.operation.name", value=AnyValue(string_value="chat")),
        KeyValue(key="gen_ai.request.model", value=AnyValue(string_value="gpt-4o")),
        KeyValue(key="gen_ai.usage.input_tokens", value=AnyValue(int_value=7)),
    ])
    span.attributes.extend(KeyValue(key=f"extra.{i}", value=AnyValue(int_value=i))
                           for i in range(extra))
    spans = span.SerializeToString() + _field(9, key_value)  # Span.attributes
    return _field(1, _field(2, _field(2, spans)))  # resource_spans, scope_spans, spans


def _nested_any_value(depth: int) -> bytes:
    value = _field(1, b"x")  # AnyValue.string_value
    for _ in range(depth):
        value = _field(5, _field(1, value))  # AnyValue.array_value, ArrayValue.values
    return value


def _nested_json_value(depth: int) -> str:
    return '{"arrayValue":{"values":[' * depth + '{"stringValue":"x"}' + "]}}" * depth


def _json_request(value: str) -> bytes:
    return ('{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e'
            '0f10","spanId":"0102030405060708","startTimeUnixNano":"1780000000000000000",'
            '"endTimeUnixNano":"1780000001000000000","attributes":[{"key":"gen_ai.operation.'
            'name","value":{"stringValue":"chat"}},{"key":"nested","value":' + value +
            "}]}]}]}]}").encode()


def test_json_nested_100000_levels_deep_is_400_naming_the_depth(
        server: Server, project: Project) -> None:
    for body in (_json_request(_nested_json_value(100_000)),
                 b"[" * 100_000 + b"]" * 100_000,
                 _json_request(_nested_json_value(40))):  # just past the limit
        status, answer, _ = http_post(server.http_endpoint, body, "application/json",
                                      project.key)
        assert status == 400, answer[:200]
        assert "levels deep" in json.loads(answer)["message"]
    # The same in protobuf, over HTTP and gRPC: the decoder's own limit.
    deep = _span_with_attribute(_field(1, b"nested") + _field(2, _nested_any_value(100_000)))
    assert http_post(server.http_endpoint, deep, "application/x-protobuf",
                     project.key)[0] == 400
    assert grpc_export_raw(server.grpc_endpoint, deep, project.key) is (
        grpc.StatusCode.INVALID_ARGUMENT)


def test_nesting_an_instrumentation_could_send_is_accepted(
        server: Server, project: Project) -> None:
    status, answer, _ = http_post(server.http_endpoint, _json_request(_nested_json_value(20)),
                                  "application/json", project.key)
    assert status == 200, answer[:200]
    shallow = _span_with_attribute(_field(1, b"nested") + _field(2, _nested_any_value(20)))
    assert grpc_export_raw(server.grpc_endpoint, shallow, project.key) is grpc.StatusCode.OK


@FUZZ
@given(depth=st.integers(0, 60) | st.integers(60, 3000),
       encoding=st.sampled_from(["json", "protobuf", "grpc"]))
def test_any_nesting_depth_is_200_or_400(server: Server, project: Project, depth: int,
                                         encoding: str) -> None:
    if encoding == "json":
        status = http_post(server.http_endpoint, _json_request(_nested_json_value(depth)),
                           "application/json", project.key)[0]
        assert status in (200, 400)
        return
    body = _span_with_attribute(_field(1, b"nested") + _field(2, _nested_any_value(depth)))
    if encoding == "protobuf":
        assert http_post(server.http_endpoint, body, "application/x-protobuf",
                         project.key)[0] in (200, 400)
    else:
        assert grpc_export_raw(server.grpc_endpoint, body, project.key) in (
            grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT)


def test_a_span_with_200000_attributes_is_stored_and_the_rest_counted(
        server: Server, project: Project) -> None:
    stats = server.runtime.collector.stats
    before = stats.attributes_dropped
    body = _span_with_attribute(_field(1, b"team") + _field(2, _field(1, b"core")),
                                extra=200_000)
    assert grpc_export_raw(server.grpc_endpoint, body, project.key) is grpc.StatusCode.OK
    # 3 GenAI attributes, 200,000 extras, the team tag: the first 1,024 are read.
    assert stats.attributes_dropped - before == 3 + 200_000 + 1 - 1024
    rows = server.sql("SELECT model, input_tokens, tags ? 'team', tags ? 'extra.0' "
                      "FROM llm_calls WHERE project_id = %s", (project.id,))
    assert rows == [("gpt-4o", 7, False, True)]
    with urllib.request.urlopen(server.api_url + "/metrics", timeout=10) as response:
        assert f"spantally_attributes_dropped_total {stats.attributes_dropped}" in (
            response.read().decode())


def test_huge_strings_and_key_names_are_cut_and_stored(server: Server, project: Project) -> None:
    stats = server.runtime.collector.stats
    before = stats.attributes_truncated
    huge_key, huge_value = "k" * 100_000, "v" * 1_000_000
    body = _span_with_attribute(_field(1, huge_key.encode())
                                + _field(2, _field(1, huge_value.encode())))
    for send in ("grpc", "protobuf"):
        if send == "grpc":
            assert grpc_export_raw(server.grpc_endpoint, body, project.key) is grpc.StatusCode.OK
        else:
            assert http_post(server.http_endpoint, body, "application/x-protobuf",
                             project.key)[0] == 200
    ((tags,),) = server.sql("SELECT tags FROM llm_calls WHERE project_id = %s", (project.id,))
    assert tags == {"k" * 1024: "v" * 1024}
    assert stats.attributes_truncated - before == 4  # key and value, twice (stored once)
