"""Run agents of real frameworks against the local fake API, exporting their spans over
OTLP/gRPC, in a process of their own (instrumentations patch libraries for good):

    python -m tests.agent_frameworks FRAMEWORK OTLP_ENDPOINT API_KEY

FRAMEWORK:
- `sdk`: SpanTally's own `spantally.agent()` scopes, nested, around the instrumented OpenAI client;
- `pydantic-ai`: a pydantic-ai agent with a tool (Logfire's conventions);
- `openai-agents-openinference`, `openai-agents-openllmetry`: an OpenAI Agents SDK agent with a
  tool, traced by OpenInference's or OpenLLMetry's instrumentation.

Every framework runs the same work: agent `researcher` makes one call that asks for tool
`lookup_capital`, runs it, and makes a second call with its result; the `sdk` run nests it in an
`planner` agent that makes one call of its own first. What each must count as is in
tests/test_runs.py.
"""

from __future__ import annotations

import asyncio
import sys

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from tests.fake_llm import FakeLLMServer, fake_llm_server

USAGE = dict(input_tokens=500, output_tokens=50)
TOOL = "lookup_capital"
QUESTION = "What is the capital of France?"


def lookup_capital() -> str:
    """The capital of France."""
    return "Paris"


def _sdk(fake: FakeLLMServer, endpoint: str, key: str) -> None:
    import openai

    import spantally

    spantally.init(endpoint=endpoint, api_key=key, protocol="grpc")
    spantally.instrument_openai()
    client = openai.OpenAI(base_url=fake.openai_url, api_key="k", max_retries=0)
    tools = [{"type": "function", "function": {"name": TOOL, "parameters": {
        "type": "object", "properties": {}}}}]
    with spantally.agent("planner"):
        client.chat.completions.create(model="gpt-4o", messages=[
            {"role": "user", "content": QUESTION}])
        with spantally.agent("researcher"):
            first = client.chat.completions.create(model="gpt-4o", tools=tools, messages=[
                {"role": "user", "content": QUESTION}])
            call = first.choices[0].message.tool_calls[0]
            client.chat.completions.create(model="gpt-4o", tools=tools, messages=[
                {"role": "user", "content": QUESTION},
                first.choices[0].message.model_dump(exclude_none=True),
                {"role": "tool", "tool_call_id": call.id, "content": lookup_capital()}])
    spantally.shutdown()


def _pydantic_ai(fake: FakeLLMServer, provider: TracerProvider) -> None:
    from pydantic_ai import Agent, InstrumentationSettings
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    Agent.instrument_all(InstrumentationSettings(tracer_provider=provider,
                                                 include_content=False))
    researcher = Agent(OpenAIChatModel("gpt-4o", provider=OpenAIProvider(
        base_url=fake.openai_url, api_key="k")), name="researcher")
    researcher.tool_plain(lookup_capital)
    researcher.run_sync(QUESTION)


def _openai_agents(fake: FakeLLMServer, provider: TracerProvider, library: str) -> None:
    import agents
    import openai

    # No export of the Agents SDK's own traces to OpenAI: only the instrumentation's processor.
    agents.set_trace_processors([])
    if library == "openinference":
        from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor
    else:
        from opentelemetry.instrumentation.openai_agents import OpenAIAgentsInstrumentor
    OpenAIAgentsInstrumentor().instrument(tracer_provider=provider)
    model = agents.OpenAIChatCompletionsModel(model="gpt-4o", openai_client=openai.AsyncOpenAI(
        base_url=fake.openai_url, api_key="k", max_retries=0))
    researcher = agents.Agent(name="researcher", model=model,
                              tools=[agents.function_tool(lookup_capital)])
    asyncio.run(agents.Runner.run(researcher, QUESTION))


def main() -> None:
    framework, endpoint, key = sys.argv[1:4]
    with fake_llm_server() as fake:
        fake.set(**USAGE, tool_call=TOOL)
        if framework == "sdk":
            _sdk(fake, endpoint, key)
            return
        provider = TracerProvider(resource=Resource.create(
            {"service.name": f"agents-{framework}"}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(
            endpoint=endpoint, insecure=True, headers={"authorization": f"Bearer {key}"})))
        trace.set_tracer_provider(provider)
        if framework == "pydantic-ai":
            _pydantic_ai(fake, provider)
        elif framework.startswith("openai-agents-"):
            _openai_agents(fake, provider, framework.removeprefix("openai-agents-"))
        else:
            raise SystemExit(f"unknown framework {framework!r}")
        provider.shutdown()


if __name__ == "__main__":
    main()
