"""The SDK's manual API: `llm_call`, `@llm`, and the agent/session/user/tags scopes, with spans
captured by the real OpenTelemetry SDK."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import spantally
from spantally.collector.normalize import normalize_request

from .test_sdk_clients import as_calls


def test_llm_call_records_usage_and_errors(captured: InMemorySpanExporter) -> None:
    with spantally.llm_call("openai", "gpt-4o", agent_id="planner") as call:
        call.set_usage(input_tokens=1200, output_tokens=300, cache_read_tokens=1000,
                       reasoning_tokens=100)
        call.set_response(response_id="r-1", model="gpt-4o-2024-08-06", finish_reasons=["stop"])
        assert spantally.current_call() is call
    assert spantally.current_call() is None
    with pytest.raises(TimeoutError):
        with spantally.llm_call("anthropic", "claude-sonnet-4-6"):
            raise TimeoutError("no answer")
    ok, failed = captured.get_finished_spans()
    assert ok.kind is SpanKind.CLIENT
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes["error.type"] == "TimeoutError"
    first, second = as_calls([ok, failed])
    assert (first.model, first.input_tokens, first.cache_read_tokens, first.reasoning_tokens,
            first.agent_id) == ("gpt-4o-2024-08-06", 1200, 1000, 100, "planner")
    assert (second.status, second.error_type) == ("error", "TimeoutError")


def test_llm_decorator_sync_and_async(captured: InMemorySpanExporter) -> None:
    @spantally.llm("mistral_ai", "mistral-large-latest", session_id="s-9")
    def ask(question: str) -> str:
        spantally.current_call().set_usage(input_tokens=len(question), output_tokens=5)
        return "answer"

    @spantally.llm("mistral_ai", "mistral-small-latest")
    async def ask_async(question: str) -> str:
        spantally.current_call().set_usage(input_tokens=len(question), output_tokens=7)
        await asyncio.sleep(0)
        raise ValueError("model refused")

    assert ask("twelve chars") == "answer"
    assert ask.__name__ == "ask"
    with pytest.raises(ValueError):
        asyncio.run(ask_async("four"))
    sync_call, async_call = as_calls(captured.get_finished_spans())
    assert (sync_call.model, sync_call.input_tokens, sync_call.output_tokens,
            sync_call.session_id) == ("mistral-large-latest", 12, 5, "s-9")
    assert (async_call.input_tokens, async_call.status, async_call.error_type) == (
        4, "error", "ValueError")


def test_scopes_nest_and_stamp_every_call(captured: InMemorySpanExporter) -> None:
    with spantally.session("conv-1"), spantally.user("alice"), spantally.tags(team="search"):
        with spantally.agent("planner", agent_id="planner-v2"):
            with spantally.llm_call("openai", "gpt-4o"):
                pass
            with spantally.tags(tier="free", team="ranking"):  # inner value wins
                with spantally.llm_call("openai", "gpt-4o-mini"):
                    pass
        with spantally.llm_call("openai", "gpt-4o", user_id="bob"):  # explicit argument wins
            pass
    with spantally.llm_call("openai", "gpt-4o"):
        pass
    spans = captured.get_finished_spans()
    calls = as_calls(spans)
    assert [(c.agent_id, c.agent_name, c.session_id, c.user_id, c.tags) for c in calls] == [
        ("planner-v2", "planner", "conv-1", "alice", {"team": "search"}),
        ("planner-v2", "planner", "conv-1", "alice", {"team": "ranking", "tier": "free"}),
        (None, None, "conv-1", "bob", {"team": "search"}),
        (None, None, None, None, None),
    ]
    agent_span = next(s for s in spans if s.name == "invoke_agent planner")
    assert agent_span.attributes["gen_ai.operation.name"] == "invoke_agent"
    nested = [s for s in spans if s.parent is not None and s.parent.span_id
              == agent_span.context.span_id]
    assert len(nested) == 2  # the agent's calls are its children
    # The collector does not count the agent span as a call.
    assert len(normalize_request(encode_spans(spans), project_id=1).calls) == 4


def test_agent_records_its_failure(captured: InMemorySpanExporter) -> None:
    with pytest.raises(RuntimeError):
        with spantally.agent("critic"):
            raise RuntimeError("tool crashed")
    (span,) = captured.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "RuntimeError"


def test_scopes_follow_asyncio_tasks(captured: InMemorySpanExporter) -> None:
    async def conversation(session_id: str, turns: int) -> None:
        async with spantally.session(session_id):
            for _ in range(turns):
                await asyncio.sleep(0)  # interleave with the other conversations
                async with spantally.llm_call("openai", "gpt-4o"):
                    await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(conversation("a", 3), conversation("b", 2), conversation("c", 1))

    asyncio.run(main())
    sessions = sorted(c.session_id for c in as_calls(captured.get_finished_spans()))
    assert sessions == ["a", "a", "a", "b", "b", "c"]


def test_scopes_as_decorators(captured: InMemorySpanExporter) -> None:
    @spantally.agent("researcher")
    @spantally.session("deco")
    async def research() -> None:
        async with spantally.llm_call("openai", "gpt-4o"):
            pass

    asyncio.run(research())
    asyncio.run(research())
    calls = as_calls(captured.get_finished_spans())
    assert [(c.agent_name, c.session_id) for c in calls] == [("researcher", "deco")] * 2


def test_scopes_reach_thread_pools(captured: InMemorySpanExporter) -> None:
    def work(n: int) -> int:
        with spantally.llm_call("openai", "gpt-4o"):
            return n

    with spantally.session("pooled"), spantally.agent("fan-out"):
        with spantally.ContextThreadPoolExecutor(max_workers=3) as pool:
            assert list(pool.map(work, range(6))) == list(range(6))
        with ThreadPoolExecutor(max_workers=2) as plain:
            futures = [plain.submit(spantally.propagate(work), n) for n in range(4)]
            assert [f.result() for f in futures] == list(range(4))
    calls = as_calls(captured.get_finished_spans())
    assert len(calls) == 10
    assert {(c.session_id, c.agent_name) for c in calls} == {("pooled", "fan-out")}


def test_spans_of_other_instrumentations_get_the_scopes(captured: InMemorySpanExporter) -> None:
    spantally.instrument()  # adds the context processor to the global provider (idempotent)
    tracer = trace.get_tracer("some.other.instrumentation")
    with spantally.session("s-ext"), spantally.user("carol"):
        with tracer.start_as_current_span(
            "chat gpt-4o", attributes={"gen_ai.operation.name": "chat", "user.id": "dave",
                                       "gen_ai.request.model": "gpt-4o"}
        ):
            pass
    (span,) = captured.get_finished_spans()
    assert span.attributes["session.id"] == "s-ext"
    assert span.attributes["user.id"] == "dave"  # what the span says itself is kept


def test_tags_must_be_attribute_values() -> None:
    with pytest.raises(TypeError, match="tag 'owner'"):
        spantally.tags(owner={"name": "x"})  # type: ignore[arg-type]


def test_init_again_replaces_the_exporter(captured: InMemorySpanExporter) -> None:
    first, second = InMemorySpanExporter(), InMemorySpanExporter()
    spantally.init(exporter=first)
    with spantally.llm_call("openai", "gpt-4o"):
        pass
    spantally.init(exporter=second)  # flushes the first
    with spantally.llm_call("openai", "gpt-4o-mini"):
        pass
    assert spantally.force_flush()
    assert [s.name for s in first.get_finished_spans()] == ["chat gpt-4o"]
    assert [s.name for s in second.get_finished_spans()] == ["chat gpt-4o-mini"]
