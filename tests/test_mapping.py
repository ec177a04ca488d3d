"""The convention tables (collector/mapping.py) span by span: what each instrumentation family
writes, and the corner cases the collector corrects. Attribute sets marked "recorded" were
captured from the named library's real spans (see docs/conventions.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from spantally.collector import normalize_request
from spantally.collector.mapping import ALL_CONVENTIONS, CONVENTIONS, GENAI_FIELDS
from spantally.collector.normalize import normalize_error_type
from spantally.collector.pricing import catalog_prices
from spantally.store.copies import collapse

START = 1_780_000_000 * 10**9
TRACE = b"\x07" * 16


@dataclass
class S:
    """A span to put in a request: attributes, its id and its parent's (small ints)."""

    attrs: dict[str, Any]
    id: int = 1
    parent: int | None = None
    name: str = "span"
    status: int = 0
    events: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    trace: bytes = TRACE
    kind: int = 0


def _value(v: Any) -> AnyValue:
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    if isinstance(v, (list, tuple)):
        out = AnyValue()
        out.array_value.values.extend(_value(x) for x in v)
        return out
    return AnyValue(string_value=v)


def request(spans: list[S], scope: str = "", version: str = "",
            resource: dict[str, Any] | None = None) -> ExportTraceServiceRequest:
    message = ExportTraceServiceRequest()
    rs = message.resource_spans.add()
    for k, v in (resource or {"service.name": "svc"}).items():
        rs.resource.attributes.append(KeyValue(key=k, value=_value(v)))
    ss = rs.scope_spans.add()
    ss.scope.name, ss.scope.version = scope, version
    for spec in spans:
        span = ss.spans.add(name=spec.name)
        span.trace_id = spec.trace
        span.span_id = spec.id.to_bytes(8, "big")
        if spec.parent is not None:
            span.parent_span_id = spec.parent.to_bytes(8, "big")
        span.start_time_unix_nano = START
        span.end_time_unix_nano = START + 2_000_000_000
        span.status.code = spec.status
        span.kind = spec.kind  # type: ignore[assignment]
        for k, v in spec.attrs.items():
            span.attributes.append(KeyValue(key=k, value=_value(v)))
        for name, offset_ns, attrs in spec.events:
            event = span.events.add(name=name, time_unix_nano=START + offset_ns)
            for k, v in attrs.items():
                event.attributes.append(KeyValue(key=k, value=_value(v)))
    return message


PRICES = catalog_prices()


def calls(spans: list[S], **kwargs: Any):  # noqa: ANN201
    return normalize_request(request(spans, **kwargs), project_id=1, price=PRICES)


# -- OpenInference ---------------------------------------------------------------------------

def test_openinference_llm_spans_whatever_their_kind() -> None:
    # recorded: openinference-instrumentation-openai 0.1.66, chat completion
    llm = S({"openinference.span.kind": "LLM", "llm.system": "openai",
             "llm.invocation_parameters": '{"model": "gpt-4o", "stream": true}',
             "llm.model_name": "gpt-4o-2024-08-06", "llm.token_count.prompt": 1200,
             "llm.token_count.completion": 300, "llm.token_count.prompt_details.cache_read": 1024,
             "llm.token_count.completion_details.reasoning": 120, "llm.token_count.total": 1500,
             "input.value": "secret prompt", "llm.input_messages.0.message.content": "secret",
             "metadata": '{"tenant": "acme"}'},
            id=3, parent=2, events=[("First Token Stream Event", 250_000_000, {})])
    chain = S({"openinference.span.kind": "CHAIN", "session.id": "s-1", "user.id": "u-1"},
              id=2, parent=1)
    agent = S({"openinference.span.kind": "AGENT"}, id=1, name="researcher")
    tool = S({"openinference.span.kind": "TOOL", "tool.name": "search"}, id=4, parent=1)
    out = calls([llm, chain, agent, tool], scope="openinference.instrumentation.openai")
    (call,) = out.calls
    assert (call.provider, call.request_model, call.model, call.operation, call.streaming) == (
        "openai", "gpt-4o", "gpt-4o-2024-08-06", "chat", True)
    assert (call.input_tokens, call.output_tokens, call.cache_read_tokens,
            call.reasoning_tokens) == (1200, 300, 1024, 120)
    assert (call.agent_id, call.agent_name, call.session_id, call.user_id) == (
        "researcher", "researcher", "s-1", "u-1")
    assert call.ttft_us == 250_000
    assert call.tags == {"metadata": '{"tenant": "acme"}'}  # content never becomes a tag
    assert out.skipped == {"wrapper": 1}


def test_openinference_embeddings_and_reported_cost() -> None:
    span = S({"openinference.span.kind": "EMBEDDING", "llm.system": "openai",
              "embedding.model_name": "text-embedding-3-small", "llm.token_count.prompt": 42,
              "embedding.embeddings.0.embedding.text": "secret", "llm.cost.total": 0.00000084})
    (call,) = calls([span], scope="openinference.instrumentation.openai").calls
    assert (call.operation, call.model, call.input_tokens) == (
        "embeddings", "text-embedding-3-small", 42)
    assert (call.cost_nano_usd, call.cost_source, call.tags) == (840, "reported", None)


# -- OpenLLMetry -----------------------------------------------------------------------------

def test_openllmetry_request_type_association_properties_and_aliases() -> None:
    span = S({"llm.request.type": "chat", "gen_ai.system": "OpenAI",
              "gen_ai.request.model": "gpt-4o", "gen_ai.usage.prompt_tokens": 100,
              "gen_ai.usage.completion_tokens": 20, "gen_ai.usage.reasoning_tokens": 5,
              "gen_ai.usage.cache_read_input_tokens": 40, "llm.is_streaming": False,
              "traceloop.association.properties.session_id": "s-9",
              "traceloop.association.properties.user_id": "u-9",
              "traceloop.association.properties.tenant": "acme",
              "traceloop.entity.input": "secret"}, id=2, parent=1)
    workflow = S({"traceloop.span.kind": "workflow", "traceloop.entity.name": "plan"}, id=1)
    out = calls([span, workflow], scope="opentelemetry.instrumentation.openai.v1",
                version="0.40.0")
    (call,) = out.calls
    assert (call.provider, call.operation, call.input_tokens, call.output_tokens,
            call.reasoning_tokens, call.cache_read_tokens, call.streaming) == (
        "openai", "chat", 100, 20, 5, 40, False)
    assert (call.session_id, call.user_id, call.tags) == ("s-9", "u-9", {"tenant": "acme"})
    assert out.skipped == {}


@pytest.mark.parametrize(("version", "streaming", "expected"),
                         [("0.62.4", True, 400), ("0.61.0", True, 400), ("0.63.0", True, 401),
                          ("0.62.4", False, 401), ("", True, 401)])
def test_openllmetry_streamed_anthropic_output_counted_once(version: str, streaming: bool,
                                                           expected: int) -> None:
    # recorded: opentelemetry-instrumentation-anthropic 0.62.4 adds message_start's
    # output_tokens (1) to message_delta's cumulative count on streams
    span = S({"gen_ai.provider.name": "anthropic", "gen_ai.operation.name": "chat",
              "gen_ai.request.model": "claude-sonnet-4-6", "gen_ai.usage.input_tokens": 3560,
              "gen_ai.usage.output_tokens": 401, "gen_ai.usage.cache_read.input_tokens": 2048,
              "gen_ai.usage.cache_creation.input_tokens": 512, "gen_ai.is_streaming": streaming})
    (call,) = calls([span], scope="opentelemetry.instrumentation.anthropic", version=version).calls
    assert (call.input_tokens, call.output_tokens) == (3560, expected)


# -- OpenLIT ---------------------------------------------------------------------------------

OPENLIT_ANTHROPIC = {  # recorded: openlit 1.45.0 with anthropic 0.125.0, offline
    "gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
    "gen_ai.request.model": "claude-sonnet-4-6", "gen_ai.request.stream": False,
    "gen_ai.response.model": "claude-sonnet-4-6", "gen_ai.response.id": "msg_1",
    "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 400,
    "gen_ai.usage.cache_read.input_tokens": 2048,
    "gen_ai.usage.cache_creation.input_tokens": 512, "gen_ai.usage.cost": 0,
    "gen_ai.server.time_to_first_token": 0.0345, "gen_ai.client.token.usage": 1400,
    "deployment.environment": "default", "openlit.agent.version_hash": "6ccdd619",
    "telemetry.sdk.name": "openlit", "gen_ai.sdk.version": "0.125.0",
}


def test_openlit_anthropic_input_without_cache_and_zero_cost() -> None:
    out = calls([S(OPENLIT_ANTHROPIC)], scope="openlit.instrumentation.anthropic",
                resource={"service.name": "svc", "telemetry.sdk.name": "openlit"})
    (call,) = out.calls
    assert (call.input_tokens, call.cache_read_tokens, call.cache_write_tokens) == (
        1000 + 2048 + 512, 2048, 512)
    assert call.environment == "default"
    # OpenLIT reports cost 0 when it has no price (its price list comes from the network):
    # the catalog prices the call instead.
    assert call.cost_source == "catalog" and call.cost_nano_usd > 0
    assert call.ttft_us is None  # OpenLIT puts the whole latency there for non-streamed calls
    assert call.tags is None


def test_openlit_input_is_corrected_even_when_larger_than_its_cache() -> None:
    # Only the library's known behaviour can tell: 5000 could be a total or an uncached count.
    span = S({**OPENLIT_ANTHROPIC, "gen_ai.usage.input_tokens": 5_000})
    (openlit,) = calls([span], scope="openlit.instrumentation.anthropic").calls
    (unknown,) = calls([span], scope="someone.else").calls
    assert (openlit.input_tokens, unknown.input_tokens) == (5_000 + 2_048 + 512, 5_000)


def test_openlit_detected_by_resource_sdk_name_alone() -> None:
    (call,) = calls([S(OPENLIT_ANTHROPIC)], scope="some.wrapper",
                    resource={"telemetry.sdk.name": "openlit"}).calls
    assert call.input_tokens == 3560


# -- Logfire / pydantic-ai -------------------------------------------------------------------

def test_logfire_reported_cost_and_agent_run_spans() -> None:
    # recorded: pydantic-ai 2.68.0 with openai 3.54.0
    chat = S({"gen_ai.operation.name": "chat", "gen_ai.system": "openai",
              "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
              "gen_ai.response.model": "gpt-4o-2024-08-06", "gen_ai.agent.name": "support",
              "gen_ai.conversation.id": "01a201fc-5413", "gen_ai.usage.input_tokens": 1200,
              "gen_ai.usage.output_tokens": 300, "gen_ai.usage.cache_read.input_tokens": 1024,
              "gen_ai.usage.details.reasoning_tokens": 120, "operation.cost": 0.00472,
              "pydantic_ai.cache.hit_ratio": 0.85, "model_request_parameters": "{}",
              "logfire.json_schema": "{}"}, id=2, parent=1, name="chat gpt-4o")
    # The agent run repeats the run's usage (as aggregated usage) and is not a call.
    run = S({"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support",
             "agent_name": "support", "model_name": "gpt-4o",
             "gen_ai.aggregated_usage.input_tokens": 1200, "logfire.msg": "support run"},
            id=1, name="invoke_agent support")
    out = calls([chat, run], scope="pydantic-ai", version="2.68.0")
    (call,) = out.calls
    assert (call.cost_nano_usd, call.cost_source, call.reasoning_tokens) == (
        4_720_000, "reported", 120)
    assert (call.agent_id, call.session_id, call.tags) == ("support", "01a201fc-5413", None)
    assert out.skipped == {}


# -- runs, tools and links -------------------------------------------------------------------

_INTERNAL, _SERVER, _CLIENT = 1, 2, 3


@pytest.mark.parametrize(("scope", "run", "tool", "wrapper"), [
    ("someone.else", {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "billing"},
     {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "charge"},
     {"gen_ai.operation.name": "create_agent"}),
    ("openinference.instrumentation.langchain",
     {"openinference.span.kind": "AGENT", "agent.name": "billing"},
     {"openinference.span.kind": "TOOL", "tool.name": "charge"},
     {"openinference.span.kind": "RETRIEVER"}),
    ("opentelemetry.instrumentation.openai_agents",
     {"traceloop.span.kind": "agent", "traceloop.entity.name": "billing"},
     {"traceloop.span.kind": "tool", "traceloop.entity.name": "charge"},
     {"traceloop.span.kind": "task"}),
])
def test_agent_and_tool_spans_are_runs_and_steps(scope: str, run: dict[str, Any],
                                                 tool: dict[str, Any],
                                                 wrapper: dict[str, Any]) -> None:
    llm = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
           "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 10}
    out = calls([
        S(run, id=1, name="invoke_agent billing", status=2),
        S(wrapper, id=2, parent=1), S(tool, id=3, parent=2, name="charge"),
        S(llm, id=4, parent=3, kind=_CLIENT),
        S({"http.request.method": "POST"}, id=5, parent=4, kind=_CLIENT),  # below the call
        S({"step": "plan"}, id=6, parent=1, kind=_INTERNAL),  # a hand-made span
        S({"http.route": "/run"}, id=7, parent=1, kind=_SERVER),
    ], scope=scope)
    (agent,) = out.runs
    assert (agent.kind, agent.agent_id, agent.agent_name, agent.status, agent.parent_span_id) == (
        "agent", "billing", "billing", "error", None)
    (step,) = out.tools
    assert (step.tool_name, step.parent_span_id, step.status) == ("charge", (2).to_bytes(8, "big"),
                                                                   "ok")
    assert sorted(int.from_bytes(link.span_id, "big") for link in out.links) == [2, 6]
    (call,) = out.calls
    assert call.agent_id == "billing"  # inherited from the run
    assert out.skipped == {"wrapper": 1, "not_llm": 3}


def test_a_root_chain_is_a_workflow_and_the_agents_sdk_trace_span_too() -> None:
    chain = S({"openinference.span.kind": "CHAIN"}, id=1, name="RunnableSequence")
    inner = S({"openinference.span.kind": "CHAIN"}, id=2, parent=1)
    (run,) = calls([chain, inner], scope="openinference.instrumentation.langchain").runs
    assert (run.kind, run.agent_name) == ("workflow", "RunnableSequence")
    # recorded: openinference-instrumentation-openai-agents 2.6.0
    trace_span = S({"openinference.span.kind": "AGENT"}, id=1, name="Agent workflow")
    agent = S({"openinference.span.kind": "AGENT", "agent.name": "researcher",
               "graph.node.id": "researcher"}, id=2, parent=1, name="researcher")
    out = calls([trace_span, agent], scope="openinference.instrumentation.openai_agents")
    assert [(r.kind, r.agent_name) for r in out.runs] == [("workflow", "Agent workflow"),
                                                          ("agent", "researcher")]
    # Elsewhere an unnamed agent at the root is an agent, named by its span.
    (alone,) = calls([trace_span], scope="openinference.instrumentation.langchain").runs
    assert (alone.kind, alone.agent_name) == ("agent", "Agent workflow")


# -- rules for every convention --------------------------------------------------------------

def test_anthropic_input_below_its_cached_part_gets_the_cache_added() -> None:
    span = S({"gen_ai.system": "anthropic", "gen_ai.request.model": "claude-sonnet-4-6",
              "gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 10,
              "gen_ai.usage.cache_read.input_tokens": 2048})
    (call,) = calls([span], scope="someone.else").calls
    assert call.input_tokens == 2058


@pytest.mark.parametrize(("raw", "expected"), [
    ("<class 'openai.RateLimitError'>", "RateLimitError"),
    ("openai.APIConnectionError", "APIConnectionError"),
    ("builtins.TimeoutError", "TimeoutError"),
    ("429", "429"),
    ("rate_limit_error", "rate_limit_error"),
    ("  timeout  ", "timeout"),
])
def test_error_types_are_short_and_stable(raw: str, expected: str) -> None:
    assert normalize_error_type(raw) == expected


def test_error_status_without_error_type() -> None:
    span = S({"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"},
             status=Status.STATUS_CODE_ERROR,
             events=[("exception", 1, {"exception.type": "openai.InternalServerError"})])
    (call,) = calls([span]).calls
    assert (call.status, call.error_type, call.cost_nano_usd) == ("error", "InternalServerError", 0)


def test_a_call_without_usage_is_unpriced_not_free() -> None:
    span = S({"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
              "gen_ai.request.model": "gpt-4o", "gen_ai.request.stream": True})
    (call,) = calls([span]).calls
    assert (call.status, call.cost_nano_usd, call.cost_source) == ("ok", None, None)


def test_one_call_traced_twice_counts_once() -> None:
    base = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-6"}
    usage = {"gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 10}
    # by hand around an instrumented client: the inner span has the usage and is kept
    manual = S(base, id=1)
    inner = S({**base, **usage}, id=2, parent=1)
    # two libraries side by side: the same response id, in one trace and in another
    first = S({**base, **usage, "gen_ai.response.id": "msg_1"}, id=3)
    second = S({**base, **usage, "gen_ai.response.id": "msg_1", "x": 1}, id=4)
    other_trace = S({**base, **usage, "gen_ai.response.id": "msg_1"}, id=3, trace=b"\x08" * 16)
    out = calls([manual, inner, first, second, other_trace])
    assert out.skipped == {"duplicate": 1}  # nesting is seen in the request
    # copies by response id meet where the calls are written, whichever request they came in
    kept, folded = collapse(out.calls)
    assert sorted((c.trace_id[:1], int.from_bytes(c.span_id, "big"), c.tags) for c in kept) == [
        (b"\x07", 2, None), (b"\x07", 3, {"x": 1})]
    assert folded == 2
    # and whichever order they come in
    assert collapse(out.calls[::-1])[0] == collapse(out.calls)[0][::-1]


def test_baggage_copied_onto_spans_names_session_and_user() -> None:
    span = S({"gen_ai.operation.name": "chat", "gen_ai.request.model": "m",
              "session_id": "from-baggage", "user_id": "u-b"})
    (call,) = calls([span], scope="opentelemetry.instrumentation.openai_v2").calls
    assert (call.session_id, call.user_id, call.tags) == ("from-baggage", "u-b", None)


def test_unknown_attributes_never_drop_a_span() -> None:
    span = S({"gen_ai.operation.name": "chat", "gen_ai.request.model": "m",
              "vendor.weird": [1, 2], "x.y.z": True, "": "empty key"})
    (call,) = calls([span]).calls
    assert call.tags == {"vendor.weird": [1, 2], "x.y.z": True, "": "empty key"}


def test_every_mapped_key_is_documented() -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "conventions.md").read_text()
    keys = {key for _, keys in GENAI_FIELDS.values() for key in keys}
    for convention in (*CONVENTIONS, ALL_CONVENTIONS):
        keys.update(key for _, names in convention.fields.values() for key in names)
        keys.update(convention.kinds)
    missing = sorted(key for key in keys if f"`{key}`" not in text)
    assert not missing, f"not in docs/conventions.md: {missing}"


@pytest.mark.parametrize("kind", [_CLIENT, _INTERNAL])
def test_invoke_agent_is_a_run_as_a_client_or_an_internal_span(kind: int) -> None:
    """The GenAI conventions split `invoke_agent` into a CLIENT span (an agent called remotely,
    e.g. a hosted agent service) and an INTERNAL one (an agent in-process): both are runs, and
    the calls inside take the agent."""
    run = S({"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "remote",
             "gen_ai.agent.id": "asst_1", "gen_ai.provider.name": "openai"}, id=1, kind=kind,
            name="invoke_agent remote")
    llm = S({"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
             "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 10}, id=2, parent=1,
            kind=_CLIENT)
    out = calls([run, llm])
    (agent,) = out.runs
    assert (agent.kind, agent.agent_id, agent.agent_name) == ("agent", "asst_1", "remote")
    (call,) = out.calls
    assert call.agent_id == "asst_1"
