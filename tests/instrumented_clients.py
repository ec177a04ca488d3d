"""Run a fixed set of OpenAI and Anthropic calls under a third-party instrumentation library,
exporting its spans over OTLP: the golden tests' traffic, in a process of its own
(instrumentation libraries patch the clients for good).

    python -m tests.instrumented_clients LIBRARY OTLP_ENDPOINT API_KEY
        [--http] [--batch N] [--roots] [--logs URL]

LIBRARY: openllmetry | openinference | otel-contrib | pydantic-ai | logfire |
langchain-openinference | langchain-openllmetry | langgraph-openinference |
langgraph-openllmetry | litellm | google-bedrock | openlit (which needs
`openai<3` and `anthropic<1`: run with the Python of `make openlit-venv`). `--http`: OTLP/HTTP protobuf
(OTLP_ENDPOINT is then the traces URL) instead of OTLP/gRPC; `--batch N`: at most N spans per
export request (1: every span alone, so that copies of a call arrive apart); `--roots`: the
calls made outside any span of the application, as most scripts do (each instrumentation's
span then starts a trace of its own, and so does the `anthropic` client's). The calls go to the
local fake API (tests/fake_llm.py); what each should count as is in tests/test_conventions.py.
"""

from __future__ import annotations

import argparse
import asyncio
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import anthropic
import openai
from opentelemetry import _logs, trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from tests.fake_llm import FakeLLMServer, fake_llm_server

_ANTHROPIC_TRACES_ITSELF = int(anthropic.__version__.split(".")[0]) >= 2
MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]
OPENAI_USAGE = dict(input_tokens=1200, output_tokens=300, cached_tokens=1024,
                    reasoning_tokens=120, response_model="gpt-4o-2024-08-06")
ANTHROPIC_USAGE = dict(input_tokens=1000, output_tokens=400, cached_tokens=2048,
                       cache_write_tokens=512)


def instrument(library: str, provider: TracerProvider) -> None:
    if library == "openllmetry":
        from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor
    elif library == "openinference":
        from openinference.instrumentation.anthropic import AnthropicInstrumentor
        from openinference.instrumentation.openai import OpenAIInstrumentor
    elif library == "pydantic-ai":
        from pydantic_ai import Agent, InstrumentationSettings

        Agent.instrument_all(InstrumentationSettings(tracer_provider=provider,
                                                     include_content=False))
        return
    elif library.startswith(("langchain-", "langgraph-")):
        # LangChain alone instrumented (LangGraph runs on it): its chat models' own spans are
        # the calls (and the `anthropic` client's, below LangChain's Anthropic model).
        if library.endswith("-openinference"):
            from openinference.instrumentation.langchain import LangChainInstrumentor
        else:
            from opentelemetry.instrumentation.langchain import (
                LangchainInstrumentor as LangChainInstrumentor,
            )
        LangChainInstrumentor().instrument(tracer_provider=provider)
        return
    elif library == "google-bedrock":
        # OpenLLMetry's instrumentations of Google's `google-genai` client and of Bedrock.
        from opentelemetry.instrumentation.bedrock import BedrockInstrumentor
        from opentelemetry.instrumentation.google_generativeai import (
            GoogleGenerativeAiInstrumentor,
        )

        GoogleGenerativeAiInstrumentor().instrument(tracer_provider=provider)
        BedrockInstrumentor().instrument(tracer_provider=provider)
        return
    elif library == "litellm":
        import litellm

        litellm.callbacks = ["otel"]  # into the tracer provider set
        return
    elif library == "otel-contrib":
        # The OpenTelemetry contrib GenAI instrumentation for OpenAI; Anthropic's calls are
        # traced by the `anthropic` client itself.
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

        OpenAIInstrumentor().instrument(tracer_provider=provider)
        return
    elif library == "openlit":
        import tempfile

        import openlit

        # It reuses the tracer provider set (ours, with its exporter); its price list would
        # come from the network, which the tests do not reach: an empty one (so its costs
        # are 0, which SpanTally prices itself: docs/conventions.md).
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as prices:
            prices.write("{}")
        # Its log records (GenAI events) go through the logger provider set (`--logs`), else
        # to the console.
        openlit.init(application_name="golden-openlit", disable_metrics=True,
                     pricing_json=prices.name)
        return
    elif library == "logfire":
        import logfire

        # Logfire's own provider, sending to SpanTally through the exporter of `main`.
        logfire.configure(send_to_logfire=False, console=False, service_name="golden-logfire",
                          additional_span_processors=list(_processors(provider)))
        logfire.instrument_openai()
        logfire.instrument_anthropic()
        return
    else:
        raise SystemExit(f"unknown library {library!r}")
    OpenAIInstrumentor().instrument(tracer_provider=provider)
    AnthropicInstrumentor().instrument(tracer_provider=provider)


def session_scope(library: str, session_id: str, user_id: str) -> AbstractContextManager[Any]:
    if library == "openinference":
        from openinference.instrumentation import using_attributes

        return using_attributes(session_id=session_id, user_id=user_id)
    return nullcontext()


def export_logs(endpoint: str, headers: dict[str, str]) -> None:
    """Log records (instrumentations send GenAI events as logs) exported over OTLP/HTTP."""
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    logs = LoggerProvider()
    logs.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(
        endpoint=endpoint, headers=headers)))
    _logs.set_logger_provider(logs)
    try:  # the Events API, which some instrumentations emit through
        from opentelemetry import _events
        from opentelemetry.sdk._events import EventLoggerProvider
    except ImportError:
        return
    _events.set_event_logger_provider(EventLoggerProvider(logs))


def _processors(provider: TracerProvider) -> Any:
    return provider._active_span_processor._span_processors  # noqa: SLF001 - its exporter


def run(library: str, fake: FakeLLMServer, tracer: trace.Tracer, roots: bool) -> None:
    oai = openai.OpenAI(base_url=fake.openai_url, api_key="k", max_retries=0)
    # A client that traces itself too: its span lands inside the library's span, or (at the
    # root) in a trace of its own.
    claude = anthropic.Anthropic(base_url=fake.url, api_key="k", max_retries=0)

    def agent(name: str) -> AbstractContextManager[Any]:
        if roots:
            return nullcontext()
        return tracer.start_as_current_span(f"invoke_agent {name}", attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name})

    with agent("planner"), session_scope(library, "golden-session", "golden-user"):
        fake.set(**OPENAI_USAGE)
        oai.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        list(oai.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
        fake.set(input_tokens=42, response_model="text-embedding-3-small")
        oai.embeddings.create(model="text-embedding-3-small", input=["golden"])
    with agent("writer"):
        fake.set(**ANTHROPIC_USAGE)
        claude.messages.create(model="claude-sonnet-4-6", max_tokens=1024, messages=MESSAGES)
        list(claude.messages.create(model="claude-sonnet-4-6", max_tokens=1024,
                                    messages=MESSAGES, stream=True))

        async def async_call() -> None:
            # A client told not to trace itself (anthropic 2 and later trace themselves).
            untraced = {"open_telemetry": False} if _ANTHROPIC_TRACES_ITSELF else {}
            async with anthropic.AsyncAnthropic(base_url=fake.url, api_key="k", max_retries=0,
                                                **untraced) as client:
                await client.messages.create(model="claude-sonnet-4-6", max_tokens=1024,
                                             messages=MESSAGES)

        asyncio.run(async_call())
        fake.set(status=429)
        try:
            oai.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        except openai.RateLimitError:
            pass
        fake.set(status=500)
        try:
            claude.messages.create(model="claude-sonnet-4-6", max_tokens=1024, messages=MESSAGES)
        except anthropic.InternalServerError:
            pass


def _langchain_steps(fake: FakeLLMServer) -> tuple[Any, Any]:
    """The planner's and the writer's calls through LangChain's chat models and embeddings."""
    from langchain_anthropic import ChatAnthropic
    from langchain_openai import ChatOpenAI, OpenAIEmbeddings

    gpt = ChatOpenAI(model="gpt-4o", base_url=fake.openai_url, api_key="k", max_retries=0)
    claude = ChatAnthropic(model="claude-sonnet-4-6", base_url=fake.url, api_key="k",
                           max_retries=0, max_tokens=1024)

    def planner(text: str) -> str:
        fake.set(**OPENAI_USAGE)
        gpt.invoke(text)
        "".join(str(chunk.content) for chunk in gpt.stream(text))
        fake.set(input_tokens=42, response_model="text-embedding-3-small")
        OpenAIEmbeddings(model="text-embedding-3-small", base_url=fake.openai_url, api_key="k",
                         max_retries=0, check_embedding_ctx_length=False).embed_query("golden")
        return text

    def writer(text: str) -> str:
        fake.set(**ANTHROPIC_USAGE)
        claude.invoke(text)
        "".join(str(chunk.content) for chunk in claude.stream(text))
        fake.set(status=429)
        for failing in (gpt, claude):
            try:
                failing.invoke(text)
            except Exception:  # noqa: BLE001 - each provider's rate-limit error
                pass
        return text

    return planner, writer


def run_langchain(fake: FakeLLMServer) -> None:
    """The calls in a LangChain chain (`planner | writer`)."""
    from langchain_core.runnables import RunnableLambda

    planner, writer = _langchain_steps(fake)
    (RunnableLambda(planner) | RunnableLambda(writer)).invoke("What is the capital of France?")


def run_langgraph(fake: FakeLLMServer) -> None:
    """The calls in a LangGraph graph of two nodes, planner then writer."""
    from typing import TypedDict

    from langgraph.graph import END, START, StateGraph

    class State(TypedDict):
        question: str

    planner, writer = _langchain_steps(fake)
    graph = StateGraph(State)
    graph.add_node("planner", lambda state: {"question": planner(state["question"])})
    graph.add_node("writer", lambda state: {"question": writer(state["question"])})
    graph.add_edge(START, "planner")
    graph.add_edge("planner", "writer")
    graph.add_edge("writer", END)
    graph.compile().invoke({"question": "What is the capital of France?"})


def run_litellm(fake: FakeLLMServer) -> None:
    """The same calls through LiteLLM (which calls both providers over HTTP itself), each at
    the root: inside an application's span, LiteLLM 1.110 writes a call onto that span rather
    than a span of its own (docs/conventions.md)."""
    import litellm

    gpt = {"model": "openai/gpt-4o", "api_base": fake.openai_url, "api_key": "k",
           "messages": MESSAGES, "num_retries": 0}
    claude = {"model": "anthropic/claude-sonnet-4-6", "api_base": fake.url, "api_key": "k",
              "messages": MESSAGES, "max_tokens": 1024, "num_retries": 0}
    fake.set(**OPENAI_USAGE)
    litellm.completion(**gpt)
    list(litellm.completion(**gpt, stream=True, stream_options={"include_usage": True}))
    fake.set(input_tokens=42, response_model="text-embedding-3-small")
    litellm.embedding(model="openai/text-embedding-3-small", input=["golden"],
                      api_base=fake.openai_url, api_key="k")
    fake.set(**ANTHROPIC_USAGE)
    litellm.completion(**claude)
    list(litellm.completion(**claude, stream=True))
    fake.set(status=429)
    for failing in (gpt, claude):
        try:
            litellm.completion(**failing)
        except litellm.RateLimitError:
            pass


GEMINI_USAGE = dict(input_tokens=1000, output_tokens=200, cached_tokens=300, reasoning_tokens=50)
BEDROCK_USAGE = dict(input_tokens=500, output_tokens=100, cached_tokens=64, cache_write_tokens=32)
BEDROCK_MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"


def run_google_bedrock(fake: FakeLLMServer, tracer: trace.Tracer) -> None:
    """Gemini through `google-genai` (streamed and not) and Claude on Bedrock (Converse)."""
    import boto3
    from botocore.exceptions import ClientError
    from google import genai
    from google.genai import errors, types

    gemini = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=fake.url))
    bedrock = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=fake.url,
                           aws_access_key_id="a", aws_secret_access_key="b")
    messages = [{"role": "user", "content": [{"text": "What is the capital of France?"}]}]
    with tracer.start_as_current_span("invoke_agent gemini", attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "gemini"}):
        fake.set(**GEMINI_USAGE)
        gemini.models.generate_content(model="gemini-2.5-flash", contents="France?")
        for _ in gemini.models.generate_content_stream(model="gemini-2.5-flash",
                                                       contents="France?"):
            pass
        fake.set(status=429)
        try:
            gemini.models.generate_content(model="gemini-2.5-flash", contents="France?")
        except errors.ClientError:
            pass
    with tracer.start_as_current_span("invoke_agent bedrock", attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "bedrock"}):
        fake.set(**BEDROCK_USAGE)
        bedrock.converse(modelId=BEDROCK_MODEL, messages=messages)
        fake.set(status=429)
        try:
            bedrock.converse(modelId=BEDROCK_MODEL, messages=messages)
        except ClientError:
            pass


def run_agents(fake: FakeLLMServer) -> None:
    """pydantic-ai agents (Logfire's conventions): one OpenAI and one Anthropic model."""
    from pydantic_ai import Agent
    from pydantic_ai.models.anthropic import AnthropicModel
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.anthropic import AnthropicProvider
    from pydantic_ai.providers.openai import OpenAIProvider

    fake.set(**OPENAI_USAGE)
    planner = Agent(OpenAIChatModel("gpt-4o", provider=OpenAIProvider(
        base_url=fake.openai_url, api_key="k")), name="planner")
    planner.run_sync("What is the capital of France?")
    fake.set(**ANTHROPIC_USAGE)
    # The anthropic client traces itself as well: its span lands inside pydantic-ai's.
    writer = Agent(AnthropicModel("claude-sonnet-4-6", provider=AnthropicProvider(
        anthropic_client=anthropic.AsyncAnthropic(base_url=fake.url, api_key="k",
                                                  max_retries=0))), name="writer")
    writer.run_sync("Write it down.")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("library")
    parser.add_argument("endpoint")
    parser.add_argument("key")
    parser.add_argument("--http", action="store_true")
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--roots", action="store_true")
    parser.add_argument("--logs", default=None,
                        help="OTLP/HTTP base URL to export log records to (GenAI events)")
    args = parser.parse_args()
    headers = {"authorization": f"Bearer {args.key}"}
    exporter = (HttpSpanExporter(endpoint=args.endpoint, headers=headers) if args.http
                else OTLPSpanExporter(endpoint=args.endpoint, insecure=True, headers=headers))
    provider = TracerProvider(resource=Resource.create({"service.name": f"golden-{args.library}"}))
    provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=args.batch))
    trace.set_tracer_provider(provider)
    if args.logs:
        export_logs(f"{args.logs}/v1/logs", headers)
    instrument(args.library, provider)
    with fake_llm_server() as fake:
        if args.library == "pydantic-ai":
            run_agents(fake)
        elif args.library.startswith("langchain-"):
            run_langchain(fake)
        elif args.library.startswith("langgraph-"):
            run_langgraph(fake)
        elif args.library == "litellm":
            run_litellm(fake)
        elif args.library == "google-bedrock":
            run_google_bedrock(fake, provider.get_tracer("golden"))
        else:
            run(args.library, fake, provider.get_tracer("golden"), args.roots)
    if args.library == "logfire":
        import logfire

        logfire.force_flush()
    provider.shutdown()
    logs = _logs.get_logger_provider()  # the library's log records, if it set up their export
    if hasattr(logs, "shutdown"):
        logs.shutdown()


if __name__ == "__main__":
    main()
