"""`spantally.instrument*()` with the real `openai` and `anthropic` clients against the local
fake API (tests/fake_llm.py): spans captured by the real SDK provider, and read back the way
the collector reads them."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import anthropic
import openai
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import spantally
from spantally import _instrument, _openai
from spantally.collector.normalize import normalize_request
from spantally.store import LlmCall

from .fake_llm import FakeLLMServer
from .harness import Project, Server

# The real clients' instrumentation: the storage mode changes nothing here (see the Makefile).
pytestmark = pytest.mark.above_store

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]
WORDS = len("Paris is the capital of France.".split(" "))
OPENAI_USAGE = dict(input_tokens=1200, output_tokens=300, cached_tokens=1024, reasoning_tokens=120,
                    response_model="gpt-4o-2024-08-06")
ANTHROPIC_USAGE = dict(input_tokens=1000, output_tokens=400, cached_tokens=2048,
                       cache_write_tokens=512, reasoning_tokens=150)


@pytest.fixture(scope="module", autouse=True)
def instrumented() -> Iterator[None]:
    assert spantally.instrument() == ["openai", "anthropic"]
    yield
    spantally.uninstrument()


def as_calls(spans: Sequence[ReadableSpan]) -> list[LlmCall]:
    """What the collector stores for these spans (its real normalization, no database)."""
    return normalize_request(encode_spans(spans), project_id=1).calls


def llm_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans()
            if s.attributes.get("gen_ai.operation.name") not in (None, "invoke_agent")]


def only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    spans = llm_spans(exporter)
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


# -- OpenAI --------------------------------------------------------------------------------------

def openai_chat(fake: FakeLLMServer, mode: str, stream: bool, **kwargs: Any) -> Any:
    """One chat completion; for a stream, the chunks the caller received."""
    if mode == "sync":
        client = openai.OpenAI(base_url=fake.openai_url, api_key="k", max_retries=0)
        result = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=stream,
                                                **kwargs)
        if stream:
            assert type(result) is openai.Stream
            return list(result)
        return result

    async def run() -> Any:
        async with openai.AsyncOpenAI(base_url=fake.openai_url, api_key="k",
                                      max_retries=0) as client:
            result = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES,
                                                          stream=stream, **kwargs)
            if stream:
                assert type(result) is openai.AsyncStream
                return [chunk async for chunk in result]
            return result

    return asyncio.run(run())


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_openai_chat_success(fake_llm: FakeLLMServer, captured: InMemorySpanExporter, mode: str,
                             stream: bool) -> None:
    fake_llm.set(**OPENAI_USAGE, first_chunk_delay=0.02)
    result = openai_chat(fake_llm, mode, stream)
    if stream:
        # role chunk, one per word, the finish chunk; not the usage chunk the SDK asked for
        assert len(result) == WORDS + 2
        assert all(chunk.usage is None and chunk.choices for chunk in result)
        assert fake_llm.requests[-1]["body"]["stream_options"] == {"include_usage": True}
        assert "".join(c.choices[0].delta.content or "" for c in result) == fake_llm.script.text
    else:
        assert type(result) is openai.types.chat.ChatCompletion
        assert result.usage.prompt_tokens == 1200
    span = only_span(captured)
    attributes = span.attributes
    assert span.name == "chat gpt-4o"
    assert span.status.status_code is StatusCode.UNSET
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.request.model"] == "gpt-4o"
    assert attributes["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    assert attributes["gen_ai.response.id"].startswith("chatcmpl-fake-")
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert "gen_ai.input.messages" not in attributes  # content is off by default
    (call,) = as_calls([span])
    assert (call.input_tokens, call.output_tokens, call.cache_read_tokens,
            call.reasoning_tokens) == (1200, 300, 1024, 120)
    assert call.streaming is (True if stream else None)
    assert call.status == "ok"
    if stream:
        assert attributes["gen_ai.response.time_to_first_chunk"] >= 0.02
        assert call.ttft_us is not None and call.ttft_us >= 20_000
    else:
        assert "gen_ai.response.time_to_first_chunk" not in attributes


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize(("status", "error"), [(429, openai.RateLimitError),
                                               (500, openai.InternalServerError)])
def test_openai_chat_errors(fake_llm: FakeLLMServer, captured: InMemorySpanExporter, mode: str,
                            stream: bool, status: int, error: type[Exception]) -> None:
    fake_llm.set(status=status)
    with pytest.raises(error):
        openai_chat(fake_llm, mode, stream)
    span = only_span(captured)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == error.__name__
    assert span.attributes["http.response.status_code"] == status
    (call,) = as_calls([span])
    assert (call.status, call.error_type, call.input_tokens) == ("error", error.__name__, 0)


def test_openai_retries_are_one_call(fake_llm: FakeLLMServer, captured: InMemorySpanExporter) -> None:
    fake_llm.set(**OPENAI_USAGE, fail_first=1)
    client = openai.OpenAI(base_url=fake_llm.openai_url, api_key="k", max_retries=1)
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert len(fake_llm.requests) >= 2
    span = only_span(captured)
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes["gen_ai.usage.input_tokens"] == 1200


@pytest.mark.parametrize("include_usage", [True, False])
def test_openai_stream_options_of_the_caller_are_kept(
    fake_llm: FakeLLMServer, captured: InMemorySpanExporter, include_usage: bool
) -> None:
    fake_llm.set(**OPENAI_USAGE)
    chunks = openai_chat(fake_llm, "sync", True, stream_options={"include_usage": include_usage})
    assert fake_llm.requests[-1]["body"]["stream_options"] == {"include_usage": include_usage}
    usage_chunks = [c for c in chunks if c.usage is not None]
    span = only_span(captured)
    if include_usage:  # asked for by the caller: delivered, and recorded
        assert len(usage_chunks) == 1 and len(chunks) == WORDS + 3
        assert span.attributes["gen_ai.usage.output_tokens"] == 300
    else:  # opted out: nothing added, so no usage is known
        assert usage_chunks == [] and len(chunks) == WORDS + 2
        assert "gen_ai.usage.output_tokens" not in span.attributes


def test_openai_stream_helper(fake_llm: FakeLLMServer, captured: InMemorySpanExporter) -> None:
    fake_llm.set(**OPENAI_USAGE)
    client = openai.OpenAI(base_url=fake_llm.openai_url, api_key="k", max_retries=0)
    with client.chat.completions.stream(model="gpt-4o", messages=MESSAGES) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == fake_llm.script.text
    (call,) = as_calls([only_span(captured)])
    assert (call.input_tokens, call.output_tokens, call.streaming) == (1200, 300, True)


def test_openai_abandoned_stream_ends_its_span(fake_llm: FakeLLMServer,
                                               captured: InMemorySpanExporter) -> None:
    fake_llm.set(**OPENAI_USAGE)
    client = openai.OpenAI(base_url=fake_llm.openai_url, api_key="k", max_retries=0)
    with client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True) as stream:
        for n, _ in enumerate(stream):
            if n == 1:
                break
    span = only_span(captured)
    assert span.status.status_code is StatusCode.UNSET
    assert "gen_ai.usage.input_tokens" not in span.attributes  # never arrived
    assert span.attributes["gen_ai.response.id"].startswith("chatcmpl-fake-")

    captured.clear()
    stream = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    del stream  # dropped without reading a chunk
    gc.collect()
    assert len(llm_spans(captured)) == 1


def test_openai_stream_failing_midway(fake_llm: FakeLLMServer, captured: InMemorySpanExporter) -> None:
    fake_llm.set(stream_error_after=2)
    received = []
    with pytest.raises(openai.APIError):
        for chunk in openai_chat_stream(fake_llm):
            received.append(chunk)
    assert len(received) == 3  # the role chunk and two words, then the error
    span = only_span(captured)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "APIError"


def openai_chat_stream(fake: FakeLLMServer) -> Any:
    client = openai.OpenAI(base_url=fake.openai_url, api_key="k", max_retries=0)
    return client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_openai_legacy_completions(fake_llm: FakeLLMServer, captured: InMemorySpanExporter,
                                   stream: bool) -> None:
    fake_llm.set(input_tokens=50, output_tokens=7)
    client = openai.OpenAI(base_url=fake_llm.openai_url, api_key="k", max_retries=0)
    result = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi",
                                       stream=stream)
    if stream:
        chunks = list(result)
        assert len(chunks) == WORDS + 1 and all(c.choices for c in chunks)
    span = only_span(captured)
    assert span.name == "text_completion gpt-3.5-turbo-instruct"
    (call,) = as_calls([span])
    assert (call.operation, call.input_tokens, call.output_tokens) == ("text_completion", 50, 7)


def test_openai_embeddings(fake_llm: FakeLLMServer, captured: InMemorySpanExporter) -> None:
    fake_llm.set(input_tokens=42)

    async def run() -> Any:
        async with openai.AsyncOpenAI(base_url=fake_llm.openai_url, api_key="k",
                                      max_retries=0) as client:
            return await client.embeddings.create(model="text-embedding-3-small",
                                                  input=["a", "b"])

    result = asyncio.run(run())
    assert len(result.data) == 2
    (call,) = as_calls([only_span(captured)])
    assert (call.operation, call.model, call.input_tokens, call.output_tokens) == (
        "embeddings", "text-embedding-3-small", 42, 0)


def test_raw_response_callers_get_the_raw_response(fake_llm: FakeLLMServer,
                                                   captured: InMemorySpanExporter) -> None:
    fake_llm.set(**OPENAI_USAGE)
    client = openai.OpenAI(base_url=fake_llm.openai_url, api_key="k", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES,
                                                           stream=True)
    chunks = list(raw.parse())
    assert "stream_options" not in fake_llm.requests[-1]["body"]  # nothing added for raw callers
    assert len(chunks) == WORDS + 2
    assert len(llm_spans(captured)) == 1


# -- Anthropic -----------------------------------------------------------------------------------

def anthropic_call(fake: FakeLLMServer, mode: str, style: str, tracing: str) -> Any:
    """One messages call; `tracing` "own" turns the client's own spans off (SpanTally makes
    the span), "native" leaves them on (SpanTally only stamps its scopes on them)."""
    options: dict[str, Any] = {"open_telemetry": False} if tracing == "own" else {}
    kwargs: dict[str, Any] = dict(model="claude-sonnet-4-6", max_tokens=1024, messages=MESSAGES)
    if mode == "sync":
        client = anthropic.Anthropic(base_url=fake.url, api_key="k", max_retries=0, **options)
        if style == "create":
            return client.messages.create(**kwargs)
        if style == "create-stream":
            stream = client.messages.create(**kwargs, stream=True)
            assert type(stream) is anthropic.Stream
            return list(stream)
        with client.messages.stream(**kwargs) as helper:
            return helper.get_final_message()

    async def run() -> Any:
        async with anthropic.AsyncAnthropic(base_url=fake.url, api_key="k", max_retries=0,
                                            **options) as client:
            if style == "create":
                return await client.messages.create(**kwargs)
            if style == "create-stream":
                stream = await client.messages.create(**kwargs, stream=True)
                assert type(stream) is anthropic.AsyncStream
                return [event async for event in stream]
            async with client.messages.stream(**kwargs) as helper:
                return await helper.get_final_message()

    return asyncio.run(run())


STYLES = ["create", "create-stream", "stream-helper"]


@pytest.mark.parametrize("tracing", ["own", "native"])
@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_anthropic_success(fake_llm: FakeLLMServer, captured: InMemorySpanExporter, mode: str,
                           style: str, tracing: str) -> None:
    fake_llm.set(**ANTHROPIC_USAGE)
    with spantally.session("conv-7"), spantally.user("alice"):
        result = anthropic_call(fake_llm, mode, style, tracing)
    if style == "create-stream":
        assert [e.type for e in result if e.type == "content_block_delta"] == ["content_block_delta"] * WORDS
    else:
        assert result.content[0].text == fake_llm.script.text
    span = only_span(captured)
    expected_scope = "spantally" if tracing == "own" else "com.anthropic.sdk.python"
    assert span.instrumentation_scope.name == expected_scope
    (call,) = as_calls([span])
    # Anthropic's input_tokens leave out cache reads and writes; the call's input includes them.
    assert (call.input_tokens, call.output_tokens, call.cache_read_tokens, call.cache_write_tokens,
            call.reasoning_tokens) == (1000 + 2048 + 512, 400, 2048, 512, 150)
    assert (call.provider, call.model, call.session_id, call.user_id, call.status) == (
        "anthropic", "claude-sonnet-4-6", "conv-7", "alice", "ok")
    if style != "create":
        assert call.ttft_us is not None


@pytest.mark.parametrize("tracing", ["own", "native"])
@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize(("status", "error"), [(429, anthropic.RateLimitError),
                                               (500, anthropic.InternalServerError)])
def test_anthropic_errors(fake_llm: FakeLLMServer, captured: InMemorySpanExporter, mode: str,
                          style: str, tracing: str, status: int, error: type[Exception]) -> None:
    fake_llm.set(status=status)
    with pytest.raises(error):
        anthropic_call(fake_llm, mode, style, tracing)
    span = only_span(captured)
    assert span.status.status_code is StatusCode.ERROR
    (call,) = as_calls([span])
    assert call.status == "error"
    # Each span's own stable value: the exception class, or the API's error type.
    assert call.error_type == (error.__name__ if tracing == "own"
                               else {429: "rate_limit_error", 500: "api_error"}[status])


def test_anthropic_stream_failing_midway(fake_llm: FakeLLMServer,
                                         captured: InMemorySpanExporter) -> None:
    fake_llm.set(**ANTHROPIC_USAGE, stream_error_after=1)
    client = anthropic.Anthropic(base_url=fake_llm.url, api_key="k", max_retries=0,
                                 open_telemetry=False)
    with pytest.raises(anthropic.APIStatusError):
        list(client.messages.create(model="claude-sonnet-4-6", max_tokens=10, messages=MESSAGES,
                                    stream=True))
    span = only_span(captured)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["gen_ai.usage.input_tokens"] == 1000 + 2048 + 512  # from message_start


# -- instrumentation as a whole ------------------------------------------------------------------

def test_instrumenting_twice_makes_one_span(fake_llm: FakeLLMServer,
                                            captured: InMemorySpanExporter) -> None:
    assert spantally.instrument_openai()
    assert spantally.instrument_openai()
    fake_llm.set()
    openai_chat(fake_llm, "sync", False)
    assert len(llm_spans(captured)) == 1


def test_uninstrument_restores_the_client(fake_llm: FakeLLMServer,
                                          captured: InMemorySpanExporter) -> None:
    from openai.resources.chat.completions import Completions

    wrapped = Completions.create
    spantally.uninstrument_openai()
    try:
        assert Completions.create is wrapped.__spantally_original__
        openai_chat(fake_llm, "sync", True)
        assert llm_spans(captured) == []
    finally:
        assert spantally.instrument_openai()
    openai_chat(fake_llm, "sync", False)
    assert len(llm_spans(captured)) == 1


def test_content_is_captured_only_when_asked(fake_llm: FakeLLMServer,
                                             captured: InMemorySpanExporter) -> None:
    spantally.uninstrument()
    spantally.instrument(capture_content=True)
    try:
        fake_llm.set()
        openai_chat(fake_llm, "sync", True)
        anthropic_call(fake_llm, "sync", "create", "own")
    finally:
        spantally.uninstrument()
        spantally.instrument()
    chat, messages = llm_spans(captured)
    assert "capital of France?" in chat.attributes["gen_ai.input.messages"]
    assert fake_llm.script.text in chat.attributes["gen_ai.output.messages"]
    assert fake_llm.script.text in messages.attributes["gen_ai.output.messages"]


def test_a_failing_instrumentation_never_breaks_the_call(
    fake_llm: FakeLLMServer, captured: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Any, result: Any) -> None:
        raise ValueError("a bug in the instrumentation")

    class Records(logging.Handler):
        def __init__(self) -> None:
            super().__init__(logging.WARNING)
            self.records: list[logging.LogRecord] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.records.append(record)

    monkeypatch.setattr(_openai._OpenAICall, "response", broken)
    monkeypatch.setattr(_openai._OpenAICall, "item", broken)
    monkeypatch.setattr(_instrument, "_reported", set())  # what earlier tests logged
    logger = logging.getLogger("spantally")
    records = Records()
    logger.addHandler(records)
    fake_llm.set(**OPENAI_USAGE)
    try:
        for _ in range(3):
            result = openai_chat(fake_llm, "sync", False)
            assert type(result) is openai.types.chat.ChatCompletion
            assert result.usage.completion_tokens == 300
            chunks = openai_chat(fake_llm, "sync", True)
            assert len(chunks) == WORDS + 2  # the usage chunk the SDK asked for stays hidden
    finally:
        logger.removeHandler(records)
    # once per site (whole response, stream item), not once per call
    assert len(records.records) == 2, [r.getMessage() for r in records.records]
    assert "the call itself is unaffected" in records.records[0].getMessage()
    assert len(llm_spans(captured)) == 6  # every span still ended


# -- through the collector -----------------------------------------------------------------------

def test_instrumented_agents_end_to_end(fake_llm: FakeLLMServer, server: Server,
                                        project: Project) -> None:
    """spantally.init + instrumented clients → OTLP/gRPC → collector → /api/analytics/llm."""
    spantally.init(server.grpc_endpoint, api_key=project.key, service_name="agents-e2e")
    fake_llm.set(**OPENAI_USAGE)
    with spantally.session("e2e-session"), spantally.user("erin"):
        with spantally.agent("planner"):
            openai_chat(fake_llm, "sync", False)
            openai_chat(fake_llm, "async", True)
        fake_llm.set(**ANTHROPIC_USAGE)
        with spantally.agent("writer"), spantally.tags(draft="1"):
            anthropic_call(fake_llm, "sync", "create", "native")
            anthropic_call(fake_llm, "async", "stream-helper", "own")
        fake_llm.set(status=429)
        with spantally.agent("writer"), pytest.raises(openai.RateLimitError):
            openai_chat(fake_llm, "sync", True)
    assert spantally.force_flush()

    rows = server.sql(
        "SELECT agent_id, provider, model, session_id, user_id, input_tokens, output_tokens,"
        " cache_read_tokens, cache_write_tokens, reasoning_tokens, status, error_type, tags,"
        " cost_nano_usd, time FROM llm_calls WHERE project_id = %s ORDER BY time",
        (project.id,))
    assert [r[:12] for r in rows] == [
        ("planner", "openai", "gpt-4o-2024-08-06", "e2e-session", "erin", 1200, 300, 1024, 0, 120,
         "ok", None),
        ("planner", "openai", "gpt-4o-2024-08-06", "e2e-session", "erin", 1200, 300, 1024, 0, 120,
         "ok", None),
        ("writer", "anthropic", "claude-sonnet-4-6", "e2e-session", "erin", 3560, 400, 2048, 512,
         150, "ok", None),
        ("writer", "anthropic", "claude-sonnet-4-6", "e2e-session", "erin", 3560, 400, 2048, 512,
         150, "ok", None),
        ("writer", "openai", "gpt-4o", "e2e-session", "erin", 0, 0, 0, 0, 0, "error",
         "RateLimitError"),
    ]
    assert rows[2][12]["draft"] == "1"
    expected_cost = sum(reference_cost_nano(r[1], r[2], r[5], r[6], r[7], r[8], r[14])
                        for r in rows[:4])
    assert sum(r[13] for r in rows[:4]) == expected_cost

    status, body = server.api("/api/analytics/llm", project.key)
    assert status == 200
    summary = body["summary"]
    assert (summary["totalCalls"], summary["totalInputTokens"], summary["totalOutputTokens"]) == (
        5, 2 * 1200 + 2 * 3560, 2 * 300 + 2 * 400)
    assert round(summary["totalCostUsd"] * 1e9) == expected_cost
    by_model = {m["model"]: m["calls"] for m in body["byModel"]}
    assert by_model == {"gpt-4o-2024-08-06": 2, "claude-sonnet-4-6": 2, "gpt-4o": 1}


def reference_cost_nano(provider: str, model: str, input_tokens: int, output_tokens: int,
                        cache_read: int, cache_write: int, at: Any) -> int:
    """genai-prices' own full calculation, as the independent reference."""
    from decimal import Decimal

    from genai_prices import Usage, calc_price

    price = calc_price(Usage(input_tokens=input_tokens, output_tokens=output_tokens,
                             cache_read_tokens=cache_read, cache_write_tokens=cache_write),
                       model, provider_id=provider, genai_request_timestamp=at).total_price
    return int((Decimal(price) * 1_000_000_000).to_integral_value())


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_init_from_otel_variables_flushes_at_exit(server: Server, project: Project,
                                                  fake_llm: FakeLLMServer, protocol: str) -> None:
    """A fresh process configured only by the standard variables; it never calls flush or
    shutdown, so its one call arrives through the exit-time flush."""
    # OTEL_EXPORTER_OTLP_ENDPOINT is the base URL; the HTTP exporter appends /v1/traces.
    endpoint = (server.grpc_endpoint if protocol == "grpc"
                else server.http_endpoint.removesuffix("/v1/traces"))
    script = (
        "import openai, spantally\n"
        "spantally.init()\n"
        "spantally.instrument()\n"
        f"client = openai.OpenAI(base_url={fake_llm.openai_url!r}, api_key='k', max_retries=0)\n"
        "with spantally.agent('cron'):\n"
        "    client.chat.completions.create(model='gpt-4o-mini', messages=[])\n"
    )
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
           "OTEL_EXPORTER_OTLP_PROTOCOL": protocol, "SPANTALLY_API_KEY": project.key,
           "OTEL_SERVICE_NAME": f"env-{protocol}"}
    fake_llm.set(input_tokens=77, output_tokens=11)
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)
    rows = server.sql("SELECT service_name, agent_id, model, input_tokens, output_tokens"
                      " FROM llm_calls WHERE project_id = %s", (project.id,))
    assert rows == [(f"env-{protocol}", "cron", "gpt-4o-mini", 77, 11)]
