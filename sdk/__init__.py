"""SpanTally SDK: LLM calls as OpenTelemetry GenAI spans, exported over OTLP.

    import spantally
    spantally.init(endpoint="http://localhost:4317", api_key="st_...")
    spantally.instrument()                      # the openai and anthropic clients
    with spantally.agent("planner"), spantally.session("conversation-42"):
        client.chat.completions.create(model="gpt-4o", messages=[...])
    with spantally.llm_call("mistral_ai", "mistral-large") as call:   # any other provider
        call.set_usage(input_tokens=1200, output_tokens=300)
"""

from ._context import (
    ContextSpanProcessor,
    ContextThreadPoolExecutor,
    Scope,
    agent,
    propagate,
    session,
    tags,
    user,
)
from ._instrumentors import (
    instrument,
    instrument_anthropic,
    instrument_openai,
    uninstrument,
    uninstrument_anthropic,
    uninstrument_openai,
)
from ._llm_call import LlmCallSpan, current_call, llm, llm_call
from ._setup import force_flush, init, shutdown
from ._version import __version__

__all__ = [
    "ContextSpanProcessor",
    "ContextThreadPoolExecutor",
    "LlmCallSpan",
    "Scope",
    "__version__",
    "agent",
    "current_call",
    "force_flush",
    "init",
    "instrument",
    "instrument_anthropic",
    "instrument_openai",
    "llm",
    "llm_call",
    "propagate",
    "session",
    "shutdown",
    "tags",
    "uninstrument",
    "uninstrument_anthropic",
    "uninstrument_openai",
    "user",
]
