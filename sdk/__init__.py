"""SpanTally SDK: LLM calls as OpenTelemetry GenAI spans, exported over OTLP.

    import spantally
    spantally.init(endpoint="http://localhost:4317", api_key="st_...")
    with spantally.llm_call("openai", "gpt-4o", agent_id="planner") as call:
        call.set_usage(input_tokens=1200, output_tokens=300)
"""

from ._llm_call import LlmCallSpan, llm_call
from ._setup import force_flush, init, shutdown
from ._version import __version__

__all__ = ["LlmCallSpan", "__version__", "force_flush", "init", "llm_call", "shutdown"]
