"""Span -> LlmCall mapping on OTLP messages."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from spantally.collector import normalize_request

START = 1_780_000_000 * 10**9


def _value(v: Any) -> AnyValue:
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    return AnyValue(string_value=v)


def _request(span_attrs: dict[str, Any], resource: dict[str, Any] | None = None,
             status: int = 0, events: list[dict[str, Any]] | None = None) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    for k, v in (resource or {"service.name": "svc"}).items():
        rs.resource.attributes.append(KeyValue(key=k, value=_value(v)))
    span = rs.scope_spans.add().spans.add()
    span.trace_id = b"\x01" * 16
    span.span_id = b"\x02" * 8
    span.start_time_unix_nano = START
    span.end_time_unix_nano = START + 1_234_567_000
    span.status.code = status
    for k, v in span_attrs.items():
        span.attributes.append(KeyValue(key=k, value=_value(v)))
    for event in events or []:
        e = span.events.add(name=event["name"])
        for k, v in event["attributes"].items():
            e.attributes.append(KeyValue(key=k, value=_value(v)))
    return request


def _one(**kwargs: Any):  # noqa: ANN202
    result = normalize_request(_request(**kwargs), project_id=7)
    assert result.spans == 1
    return result.calls[0] if result.calls else None


def test_current_names_win_over_deprecated_ones() -> None:
    call = _one(span_attrs={
        "gen_ai.system": "openai", "gen_ai.provider.name": "anthropic",
        "gen_ai.usage.prompt_tokens": 1, "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 3, "gen_ai.usage.completion_tokens": 99,
        "gen_ai.operation.name": "chat", "gen_ai.request.model": "claude-sonnet-4-20250514",
    })
    assert (call.provider, call.input_tokens, call.output_tokens) == ("anthropic", 10, 3)
    assert call.latency_us == 1_234_567 and call.project_id == 7
    assert call.service_name == "svc" and call.model == "claude-sonnet-4-20250514"


def test_response_model_is_the_model() -> None:
    call = _one(span_attrs={"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                            "gen_ai.response.model": "gpt-4o-2024-08-06"})
    assert (call.request_model, call.response_model, call.model) == (
        "gpt-4o", "gpt-4o-2024-08-06", "gpt-4o-2024-08-06")


def test_agent_and_tool_spans_are_not_calls() -> None:
    for operation in ("invoke_agent", "execute_tool", "create_agent"):
        assert _one(span_attrs={"gen_ai.operation.name": operation,
                                "gen_ai.request.model": "gpt-4o"}) is None
    assert _one(span_attrs={"http.request.method": "POST"}) is None


def test_status_error_without_error_type_takes_the_exception_event() -> None:
    call = _one(span_attrs={"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"},
                status=Status.STATUS_CODE_ERROR,
                events=[{"name": "exception", "attributes": {"exception.type": "APITimeoutError"}}])
    assert (call.status, call.error_type) == ("error", "APITimeoutError")


def test_sessions_users_environment_and_tags() -> None:
    call = _one(
        span_attrs={"gen_ai.operation.name": "embeddings", "gen_ai.request.model": "m",
                    "gen_ai.conversation.id": "conv-1", "user.id": "u-1", "team": "search",
                    "gen_ai.input.messages": "secret prompt", "http.status_code": 200,
                    "retries": 2, "ratio": 0.5, "nan": float("nan"), "nul": "a\x00b"},
        resource={"service.name": "svc", "deployment.environment.name": "prod"},
    )
    assert (call.operation, call.session_id, call.user_id, call.environment) == (
        "embeddings", "conv-1", "u-1", "prod")
    assert call.tags == {"team": "search", "retries": 2, "ratio": 0.5, "nul": "ab"}


def test_tags_stay_right_past_the_remembered_keys() -> None:
    """Tag names are remembered per attribute key up to a bound (a client can send any number
    of keys): keys beyond it, seen once or twice, become the same tags as the first ones."""
    calls = [_one(span_attrs={"gen_ai.operation.name": "chat", "gen_ai.request.model": "m",
                              f"key{n}": n, f"llm.extra{n}": "not a tag",
                              f"traceloop.association.properties.team{n}": "search"})
             for n in (*range(2500), 1, 2499)]
    for n, call in zip((*range(2500), 1, 2499), calls, strict=True):
        assert call.tags == {f"key{n}": n, f"team{n}": "search"}


def test_bad_numbers_are_ignored_not_fatal() -> None:
    call = _one(span_attrs={"gen_ai.operation.name": "chat", "gen_ai.request.model": "m",
                            "gen_ai.usage.input_tokens": -5, "gen_ai.usage.output_tokens": 2**62,
                            "gen_ai.usage.cost": "abc", "gen_ai.response.time_to_first_chunk": 0.25})
    assert (call.input_tokens, call.output_tokens, call.cost_nano_usd) == (0, 0, None)
    assert call.ttft_us == 250_000


def test_invalid_ids_are_rejected_with_a_reason() -> None:
    request = _request({"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"})
    request.resource_spans[0].scope_spans[0].spans[0].span_id = b"\x00" * 8
    result = normalize_request(request, 1)
    assert (result.rejected, result.calls) == ({"invalid_span_id": 1}, [])
    assert "span_id" in result.errors[0]


def test_provider_aliases_normalize() -> None:
    call = _one(span_attrs={"gen_ai.system": "az.ai.openai", "gen_ai.request.model": "gpt-4o"})
    assert (call.provider, call.operation) == ("azure.ai.openai", "chat")
