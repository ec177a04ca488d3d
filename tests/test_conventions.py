"""Spans from really installed third-party instrumentation libraries (pinned in the `dev`
extra), calling the real `openai` and `anthropic` clients against the local fake API, sent over
OTLP to the collector: stored calls and `/api/analytics/llm` totals must be exact."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from .harness import Project, Server

# The instrumentations' conventions: the storage mode changes nothing here (see the Makefile).
pytestmark = pytest.mark.above_store

ROOT = Path(__file__).resolve().parent.parent

# agent, provider, model, operation, streaming, input, output, cache read, cache write,
# reasoning, status, error type, session, user, priced
COMMON_ROWS = [
    ("planner", "openai", "gpt-4o-2024-08-06", "chat", None, 1200, 300, 1024, 0, 120, "ok", None),
    # The libraries do not ask OpenAI for usage on streams: no usage, so unpriced.
    ("planner", "openai", "gpt-4o-2024-08-06", "chat", True, 0, 0, 0, 0, 0, "ok", None),
    ("planner", "openai", "text-embedding-3-small", "embeddings", None, 42, 0, 0, 0, 0, "ok", None),
    ("writer", "anthropic", "claude-sonnet-4-6", "chat", None, 3560, 400, 2048, 512, 0, "ok", None),
    ("writer", "anthropic", "claude-sonnet-4-6", "chat", True, 3560, 400, 2048, 512, 0, "ok", None),
    ("writer", "anthropic", "claude-sonnet-4-6", "chat", None, 3560, 400, 2048, 512, 0, "ok", None),
    ("writer", "openai", "gpt-4o", "chat", None, 0, 0, 0, 0, 0, "error", "RateLimitError"),
    # The `anthropic` client's own span for it too has no response id: a copy all the same.
    ("writer", "anthropic", "claude-sonnet-4-6", "chat", None, 0, 0, 0, 0, 0, "error",
     "InternalServerError"),
]

# How the spans travel: transport, spans per export request, whether the calls are made
# inside agent spans or each at the root of a trace of its own.
SHAPES: dict[str, list[str]] = {
    "grpc": [],
    "http, a span per request": ["--http", "--batch", "1"],
    "roots, a span per request": ["--roots", "--batch", "1"],
    "http, roots": ["--http", "--roots"],
}


TRANSPORTS: dict[str, list[str]] = {"grpc": [], "http": ["--http"]}

_MEASURES = {"calls": "count(*)", "errorCalls": "count(*) FILTER (WHERE status = 'error')",
             "inputTokens": "sum(input_tokens)", "outputTokens": "sum(output_tokens)",
             "cacheReadTokens": "sum(cache_read_tokens)",
             "cacheWriteTokens": "sum(cache_write_tokens)",
             "reasoningTokens": "sum(reasoning_tokens)",
             "costNanoUsd": "coalesce(sum(cost_nano_usd), 0)",
             "unpricedCalls": "count(*) FILTER (WHERE cost_nano_usd IS NULL)"}


@pytest.fixture(autouse=True)
def _the_api_tells_the_stored_calls(server: Server, project: Project) -> Iterator[None]:
    """After each golden test: /api/analytics/summary and the breakdown by model give exactly
    the stored calls' figures (which each test checks call by call)."""
    yield
    since = (datetime.now(timezone.utc) - timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%SZ")
    columns = ", ".join(f"({sql})::bigint" for sql in _MEASURES.values())
    ((*total,),) = server.sql(f"SELECT {columns} FROM llm_calls WHERE project_id = %s",  # noqa: S608
                              (project.id,))
    status, summary = server.api(f"/api/analytics/summary?from={since}", project.key)
    assert status == 200, summary
    assert [summary[name] for name in _MEASURES] == [v or 0 for v in total]
    by_model = {row[0]: [v or 0 for v in row[1:]] for row in server.sql(
        f"SELECT model, {columns} FROM llm_calls WHERE project_id = %s GROUP BY model",  # noqa: S608
        (project.id,))}
    status, breakdown = server.api(
        f"/api/analytics/breakdown/model?from={since}&limit=1000", project.key)
    assert status == 200, breakdown
    assert {row["key"]: [row[name] for name in _MEASURES] for row in breakdown["data"]} == by_model
OPENLIT_PYTHON = ROOT / ".venv-openlit" / "bin" / "python"


def stored(server: Server, project: Project, columns: str) -> list[tuple[object, ...]]:
    """The project's calls in time order, as `columns` of llm_calls."""
    return server.sql(f"SELECT {columns} FROM llm_calls WHERE project_id = %s"  # noqa: S608
                      " ORDER BY time", (project.id,))


def agent_of(shape: str) -> Callable[[str], str | None]:
    """A call's agent as the shape's spans tell it: with a span per request, or at the root,
    a call's agent span is not in its request (docs/conventions.md)."""
    options = SHAPES[shape]
    if "--batch" in options or "--roots" in options:
        return lambda name: None
    return lambda name: name


def send(library: str, server: Server, project: Project, *options: str,
         python: str = sys.executable) -> None:
    endpoint = server.http_endpoint if "--http" in options else server.grpc_endpoint
    done = subprocess.run(
        [python, "-m", "tests.instrumented_clients", library, endpoint, project.key,
         *options], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("library", ["openllmetry", "openinference"])
def test_golden_calls(library: str, shape: str, server: Server, project: Project) -> None:
    """With the `anthropic` client's own spans beside the library's: every Anthropic call is
    sent twice, in one trace or two, in one export request or two."""
    before = (_counter(server, 'spantally_spans_skipped_total{reason="duplicate"}')
              + _counter(server, "spantally_calls_copies_total"))
    send(library, server, project, *SHAPES[shape])
    agent = agent_of(shape)
    rows = stored(server, project,
        "agent_id, provider, model, operation, streaming, input_tokens, output_tokens,"
        " cache_read_tokens, cache_write_tokens, reasoning_tokens, status, error_type,"
        " session_id, user_id, cost_nano_usd IS NOT NULL, service_name, ttft_us IS NOT NULL")
    # Libraries that say `stream: false` store False, the others NULL: both mean not streamed.
    assert [(*r[:4], bool(r[4]), *r[5:12]) for r in rows] == [
        (agent(e[0]), *e[1:4], bool(e[4]), *e[5:]) for e in COMMON_ROWS]
    assert {r[15] for r in rows} == {f"golden-{library}"}
    priced = [r[14] for r in rows]
    assert priced == [True, False, True, True, True, True, True, True]
    assert rows[1][16], "time to first chunk, from the library's first-chunk event"
    assert rows[4][16], "time to first chunk of the Anthropic stream, from one copy or other"
    if library == "openinference":  # its session and user context reached the planner's calls
        assert [(r[12], r[13]) for r in rows[:3]] == [("golden-session", "golden-user")] * 3

    status, body = server.api("/api/analytics/llm", project.key)
    assert status == 200
    summary = body["summary"]
    assert (summary["totalCalls"], summary["totalInputTokens"], summary["totalOutputTokens"],
            summary["unpricedCalls"]) == (8, 1200 + 42 + 3 * 3560, 300 + 3 * 400, 1)
    # The 3 Anthropic calls the client traced itself were each sent twice; the copy was
    # folded where it met the other: in the request (nested), or where calls are written.
    folded = (_counter(server, 'spantally_spans_skipped_total{reason="duplicate"}')
              + _counter(server, "spantally_calls_copies_total")) - before
    assert folded == 3


@pytest.mark.parametrize("shape", ["grpc", "http, a span per request"])
def test_golden_logfire(shape: str, server: Server, project: Project) -> None:
    """Logfire's OpenAI and Anthropic instrumentation: a stream is a span that ends when the
    stream is handed over and a log at its end (another trace at the root); reasoning and
    cached tokens of OpenAI only in the provider's usage JSON."""
    send("logfire", server, project, *SHAPES[shape])
    rows = stored(server, project,
        "agent_id, provider, model, operation, streaming, input_tokens, output_tokens,"
        " cache_read_tokens, cache_write_tokens, reasoning_tokens, status, error_type,"
        " cost_nano_usd, cost_source, instrumentation")
    agent = agent_of(shape)
    gpt, claude = ("openai", "gpt-4o-2024-08-06", "chat"), ("anthropic", "claude-sonnet-4-6", "chat")
    reported = (11_534_400, "reported", "logfire")
    assert rows == [
        # reasoning tokens only in gen_ai.usage.raw
        (agent("planner"), *gpt, None, 1200, 300, 1024, 0, 120, "ok", None, 4_720_000,
         "reported", "logfire"),
        # the stream: its start not a call, its log the call (no usage asked for: unpriced)
        (agent("planner"), *gpt, True, 0, 0, 0, 0, 0, "ok", None, None, None, "logfire"),
        (agent("planner"), "openai", "text-embedding-3-small", "embeddings", None, 42, 0, 0, 0,
         0, "ok", None, 840, "reported", "logfire"),
        (agent("writer"), *claude, None, 3560, 400, 2048, 512, 0, "ok", None, *reported),
        (agent("writer"), *claude, True, 3560, 400, 2048, 512, 0, "ok", None, *reported),
        (agent("writer"), *claude, None, 3560, 400, 2048, 512, 0, "ok", None, *reported),
        (agent("writer"), "openai", "gpt-4o", "chat", None, 0, 0, 0, 0, 0, "error",
         "RateLimitError", 0, "catalog", "logfire"),
        (agent("writer"), *claude[:2], "chat", None, 0, 0, 0, 0, 0, "error",
         "InternalServerError", 0, "catalog", "logfire"),
    ]
    # The stream's call lasts from its start to its end, not the log's zero length.
    ((latency_us,),) = server.sql(
        "SELECT latency_us FROM llm_calls WHERE project_id = %s AND streaming AND"
        " provider = 'anthropic'", (project.id,))
    assert latency_us > 0


@pytest.mark.skipif(not OPENLIT_PYTHON.exists(),
                    reason="OpenLIT's environment is missing: `make openlit-venv` makes it")
@pytest.mark.parametrize("shape", ["grpc", "http, roots"])
def test_golden_openlit(shape: str, server: Server, project: Project) -> None:
    """OpenLIT, run for real (its own environment: openai 2, anthropic 0.125): its Anthropic
    input without the cache, and its failed Anthropic call a span with no attributes at all."""
    logs_before = _counter(server, "spantally_log_records_ignored_total")
    base = server.http_endpoint.removesuffix("/v1/traces")
    send("openlit", server, project, *SHAPES[shape], "--logs", base, python=str(OPENLIT_PYTHON))
    rows = stored(server, project,
        "agent_id, provider, model, operation, streaming, input_tokens, output_tokens,"
        " cache_read_tokens, cache_write_tokens, reasoning_tokens, status, error_type,"
        " cost_source, instrumentation")
    agent = agent_of(shape)
    claude = ("anthropic", "claude-sonnet-4-6", "chat")
    assert rows == [
        # no reasoning tokens: OpenLIT does not send them
        (agent("planner"), "openai", "gpt-4o-2024-08-06", "chat", False, 1200, 300, 1024, 0, 0,
         "ok", None, "catalog", "openlit"),
        # no usage from OpenAI on the stream: OpenLIT counts the text's tokens itself
        (agent("planner"), "openai", "gpt-4o-2024-08-06", "chat", True, 18, 16, 0, 0, 0, "ok",
         None, "catalog", "openlit"),
        (agent("planner"), "openai", "text-embedding-3-small", "embeddings", False, 42, 0, 0,
         0, 0, "ok", None, "catalog", "openlit"),
        # Anthropic input without the cache, corrected; a stream's cache tokens lost at the source
        (agent("writer"), *claude, False, 3560, 400, 2048, 512, 0, "ok", None, "catalog",
         "openlit"),
        (agent("writer"), *claude, True, 1000, 400, 0, 0, 0, "ok", None, "catalog", "openlit"),
        (agent("writer"), *claude, False, 3560, 400, 2048, 512, 0, "ok", None, "catalog",
         "openlit"),
        (agent("writer"), "openai", "gpt-4o", "chat", False, 0, 0, 0, 0, 0, "error",
         "RateLimitError", "catalog", "openlit"),
        # the failed Anthropic call: a span without attributes, read from its name and scope
        (agent("writer"), *claude, None, 0, 0, 0, 0, 0, "error", "InternalServerError",
         "catalog", "openlit"),
    ]
    # Its log records (GenAI events) were sent too, and dropped: they repeat the spans.
    assert _counter(server, "spantally_log_records_ignored_total") > logs_before


@pytest.mark.parametrize("transport", ["grpc", "http"])
@pytest.mark.parametrize("opt_in", [False, True])
def test_golden_otel_contrib(opt_in: bool, transport: str, server: Server, project: Project,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The OpenTelemetry contrib instrumentation for OpenAI (its spans come from
    opentelemetry-util-genai's handler), with and without the latest-conventions opt-in, its
    log records exported too; Anthropic's calls traced by the `anthropic` client only."""
    if opt_in:
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental")
    # Content captured, so that it sends log records (events); SpanTally stores no content.
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_AND_EVENT")
    logs_before = _counter(server, "spantally_log_records_ignored_total")
    base = server.http_endpoint.removesuffix("/v1/traces")
    send("otel-contrib", server, project, "--logs", base, *TRANSPORTS[transport])
    rows = stored(server, project,
        "agent_id, provider, model, operation, streaming, input_tokens, output_tokens,"
        " cache_read_tokens, cache_write_tokens, reasoning_tokens, status, error_type,"
        " cost_nano_usd IS NOT NULL, instrumentation")
    claude = ("writer", "anthropic", "claude-sonnet-4-6", "chat")
    assert rows == [
        # no cached or reasoning tokens: the instrumentation does not send them
        ("planner", "openai", "gpt-4o-2024-08-06", "chat", None, 1200, 300, 0, 0, 0, "ok", None,
         True, "otel-contrib"),
        ("planner", "openai", "gpt-4o-2024-08-06", "chat", None, 0, 0, 0, 0, 0, "ok", None,
         False, "otel-contrib"),
        ("planner", "openai", "text-embedding-3-small", "embeddings", None, 42, 0, 0, 0, 0, "ok",
         None, True, "otel-contrib"),
        (*claude, None, 3560, 400, 2048, 512, 0, "ok", None, True, "anthropic-sdk"),
        (*claude, True, 3560, 400, 2048, 512, 0, "ok", None, True, "anthropic-sdk"),
        # (the client told not to trace itself sends nothing)
        ("writer", "openai", "gpt-4o", "chat", None, 0, 0, 0, 0, 0, "error", "RateLimitError",
         True, "otel-contrib"),
        (*claude, None, 0, 0, 0, 0, 0, "error", "api_error", True, "anthropic-sdk"),
    ]
    assert _counter(server, "spantally_log_records_ignored_total") > logs_before


@pytest.mark.parametrize("transport", ["grpc", "http"])
@pytest.mark.parametrize("library", ["langchain-openinference", "langchain-openllmetry",
                                     "langgraph-openinference", "langgraph-openllmetry"])
def test_golden_langchain(library: str, transport: str, server: Server,
                          project: Project) -> None:
    """LangChain's chat models and embeddings in a chain or a LangGraph graph, LangChain
    alone instrumented (by OpenInference or OpenLLMetry), the `anthropic` client tracing
    itself below it; a span per export request."""
    send(library, server, project, "--batch", "1", *TRANSPORTS[transport])
    rows = stored(server, project,
        "provider, model, operation, streaming, input_tokens, output_tokens,"
        " cache_read_tokens, cache_write_tokens, reasoning_tokens, status, error_type,"
        " cost_nano_usd IS NOT NULL, instrumentation")
    family = library.split("-", 1)[1]
    reasoning = 120 if family == "openinference" else 0  # OpenLLMetry's LangChain omits them
    claude = ("anthropic", "claude-sonnet-4-6", "chat")
    # Libraries that say `stream: false` store False, the others NULL: both mean not streamed.
    assert [(*r[:3], bool(r[3]), *r[4:]) for r in rows] == [
        ("openai", "gpt-4o-2024-08-06", "chat", False, 1200, 300, 1024, 0, reasoning, "ok", None,
         True, family),
        # LangChain does not ask OpenAI for a stream's usage (stream_usage=False)
        ("openai", "gpt-4o", "chat", False, 0, 0, 0, 0, 0, "ok", None, False, family),
        # (the embeddings are not traced by LangChain's instrumentations: no span, no call)
        (*claude, False, 3560, 400, 2048, 512, 0, "ok", None, True, family),
        # The library's copy of the stream lacks the input tokens: the client's copy is kept.
        (*claude, True, 3560, 400, 2048, 512, 0, "ok", None, True, "anthropic-sdk"),
        ("openai", "gpt-4o", "chat", False, 0, 0, 0, 0, 0, "error", "OpenAIRateLimitError",
         True, family),
        (*claude, False, 0, 0, 0, 0, 0, "error", "AnthropicRateLimitError", True, family),
    ]


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_golden_litellm(transport: str, server: Server, project: Project,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    """LiteLLM's OpenTelemetry callback: its request spans, with its own cost."""
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # its price list, offline
    send("litellm", server, project, *TRANSPORTS[transport])
    rows = stored(server, project,
        "provider, model, operation, streaming, input_tokens, output_tokens,"
        " cache_read_tokens, cache_write_tokens, reasoning_tokens, status, error_type,"
        " cost_nano_usd, cost_source, instrumentation")
    claude = ("anthropic", "claude-sonnet-4-6", "chat")
    assert rows == [
        # No cached or reasoning tokens: LiteLLM sends them only inside a Python repr of its
        # usage object; its own cost (from its bundled price list) counts them.
        ("openai", "gpt-4o-2024-08-06", "chat", False, 1200, 300, 0, 0, 0, "ok", None,
         4_720_000, "reported", "litellm"),
        ("openai", "gpt-4o", "chat", True, 1200, 300, 0, 0, 0, "ok", None, 4_720_000,
         "reported", "litellm"),
        # provider from its routed `openai/...` name; `embedding` is `embeddings`
        ("openai", "text-embedding-3-small", "embeddings", False, 42, 0, 0, 0, 0, "ok", None,
         840, "reported", "litellm"),
        (*claude, False, 3560, 400, 0, 0, 0, "ok", None, 11_534_400, "reported", "litellm"),
        (*claude, True, 3560, 400, 0, 0, 0, "ok", None, 11_534_400, "reported", "litellm"),
        ("openai", "gpt-4o", "chat", False, 0, 0, 0, 0, 0, "error", "RateLimitError", 0,
         "catalog", "litellm"),
        (*claude, False, 0, 0, 0, 0, 0, "error", "RateLimitError", 0, "catalog", "litellm"),
    ]


@pytest.mark.parametrize("shape", ["grpc", "http, a span per request"])
def test_golden_google_and_bedrock(shape: str, server: Server, project: Project) -> None:
    """OpenLLMetry's instrumentations of `google-genai` (Gemini, streamed and not) and of
    Bedrock (Converse), against the fake's Gemini and Bedrock APIs."""
    send("google-bedrock", server, project, *SHAPES[shape])
    rows = stored(server, project,
        "agent_id, provider, model, operation, input_tokens, output_tokens,"
        " cache_read_tokens, cache_write_tokens, reasoning_tokens, status, error_type,"
        " cost_nano_usd IS NOT NULL, instrumentation")
    agent = agent_of(shape)
    gemini = ("gcp.gen_ai", "gemini-2.5-flash", "generate_content")
    claude = ("aws.bedrock", "claude-3-5-sonnet-20240620-v1:0", "chat")
    assert rows == [
        # Gemini's 50 thinking tokens only in the total: added to output, as reasoning
        (agent("gemini"), *gemini, 1000, 250, 300, 0, 50, "ok", None, True, "openllmetry"),
        (agent("gemini"), *gemini, 1000, 250, 300, 0, 50, "ok", None, True, "openllmetry"),
        (agent("gemini"), *gemini, 0, 0, 0, 0, 0, "error", "ClientError", True, "openllmetry"),
        # Bedrock's input without the cache, as Converse reports it: cache added
        (agent("bedrock"), *claude, 500 + 64 + 32, 100, 64, 32, 0, "ok", None, True,
         "openllmetry"),
        (agent("bedrock"), *claude, 0, 0, 0, 0, 0, "error", "ClientError", True, "openllmetry"),
    ]


def _counter(server: Server, name: str) -> int:
    (line,) = [line for line in server.metrics().splitlines() if line.startswith(name + " ")]
    return int(line.split()[1])


def _runs_received(server: Server) -> int:
    return _counter(server, "spantally_runs_received_total")


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_golden_pydantic_ai_agents(transport: str, server: Server, project: Project) -> None:
    runs_before = _runs_received(server)
    send("pydantic-ai", server, project, *TRANSPORTS[transport])
    rows = server.sql(
        "SELECT agent_id, provider, model, input_tokens, output_tokens, cache_read_tokens,"
        " cache_write_tokens, reasoning_tokens, cost_nano_usd, cost_source,"
        " session_id IS NOT NULL FROM llm_calls WHERE project_id = %s ORDER BY time",
        (project.id,))
    assert rows == [
        # its own cost (operation.cost) is reported; reasoning comes under usage.details
        ("planner", "openai", "gpt-4o-2024-08-06", 1200, 300, 1024, 0, 120, 4_720_000,
         "reported", True),
        ("writer", "anthropic", "claude-sonnet-4-6", 3560, 400, 2048, 512, 0, 11_534_400,
         "reported", True),
    ]
    # Each agent run is a run, with the call below it rolled up.
    runs = server.sql(
        "SELECT kind, agent_id, llm_calls, input_tokens, output_tokens, cost_nano_usd,"
        " own_llm_calls, status FROM agent_runs WHERE project_id = %s ORDER BY time",
        (project.id,))
    assert runs == [("agent", "planner", 1, 1200, 300, 4_720_000, 1, "ok"),
                    ("agent", "writer", 1, 3560, 400, 11_534_400, 1, "ok")]
    assert _runs_received(server) - runs_before == 2
