"""Which span and resource attributes mean what: one declarative table per convention.

Every convention starts from the OpenTelemetry GenAI semantic conventions (current names before
deprecated ones) and adds the names its instrumentations write. A span is read with the table
of the convention its instrumentation scope (or its resource's `telemetry.sdk.name`) belongs
to; a span of an unknown scope is read with all tables at once, the GenAI names first, so an
attribute any convention knows is never lost. docs/conventions.md shows these tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

__all__ = [
    "ALL_CONVENTIONS",
    "CACHE_EXCLUSIVE_PROVIDERS",
    "COMMON",
    "CONVENTIONS",
    "Convention",
    "FIRST_CHUNK_EVENTS",
    "FAMILIES",
    "FieldKind",
    "GENAI_FIELDS",
    "LLM_OPERATIONS",
    "OPERATION_ALIASES",
    "PROVIDER_ALIASES",
    "ROOT_RUN_OPERATIONS",
    "RUN_OPERATIONS",
    "TAG_EXCLUDED_KEYS",
    "THOUGHTS_OUTSIDE_OUTPUT_PROVIDERS",
    "TAG_EXCLUDED_PREFIXES",
    "TAG_RENAMED_PREFIXES",
    "SCOPE_PROVIDERS",
    "TOOL_OPERATIONS",
    "USAGE_JSON_FIELDS",
    "WRAPPER_OPERATIONS",
    "detect_convention",
    "family_of",
    "provider_of_scope",
]

FieldKind = Literal["str", "int", "float", "bool", "json"]
Fields = dict[str, tuple[FieldKind, tuple[str, ...]]]

# field -> (kind, attribute keys in order of preference)
GENAI_FIELDS: Final[Fields] = {
    "provider": ("str", ("gen_ai.provider.name", "gen_ai.system")),
    "operation": ("str", ("gen_ai.operation.name",)),
    "request_model": ("str", ("gen_ai.request.model",)),
    "response_model": ("str", ("gen_ai.response.model",)),
    "response_id": ("str", ("gen_ai.response.id",)),
    "streaming": ("bool", ("gen_ai.request.stream",)),
    "input_tokens": ("int", ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")),
    "output_tokens": ("int", ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")),
    "cache_read_tokens": ("int", ("gen_ai.usage.cache_read.input_tokens",)),
    "cache_write_tokens": ("int", ("gen_ai.usage.cache_write.input_tokens",
                                   "gen_ai.usage.cache_creation.input_tokens")),
    "reasoning_tokens": ("int", ("gen_ai.usage.reasoning.output_tokens",)),
    "total_tokens": ("int", ("gen_ai.usage.total_tokens",)),
    "cost_usd": ("float", ("gen_ai.usage.cost",)),
    "ttft_s": ("float", ("gen_ai.response.time_to_first_chunk",)),
    "agent_id": ("str", ("gen_ai.agent.id",)),
    "agent_name": ("str", ("gen_ai.agent.name",)),
    "workflow_name": ("str", ("gen_ai.workflow.name",)),
    "tool_name": ("str", ("gen_ai.tool.name",)),
    "session_id": ("str", ("session.id", "gen_ai.conversation.id")),
    "user_id": ("str", ("user.id", "enduser.id")),
    "error_type": ("str", ("error.type",)),
    "service_name": ("str", ("service.name",)),
    "environment": ("str", ("deployment.environment.name", "deployment.environment")),
    # The provider's usage object as JSON, which some libraries add beside (or instead of) the
    # flat counts: read for what the flat names lack (USAGE_JSON_FIELDS).
    "usage_json": ("json", ("gen_ai.usage.raw",)),
}

# field -> paths into a provider's usage object (OpenAI chat, OpenAI responses, Anthropic),
# read when the span has no flat attribute for the field.
USAGE_JSON_FIELDS: Final[dict[str, tuple[tuple[str, ...], ...]]] = {
    "cache_read_tokens": (("prompt_tokens_details", "cached_tokens"),
                          ("input_tokens_details", "cached_tokens"),
                          ("cache_read_input_tokens",)),
    "cache_write_tokens": (("cache_creation_input_tokens",),),
    "reasoning_tokens": (("completion_tokens_details", "reasoning_tokens"),
                         ("output_tokens_details", "reasoning_tokens")),
}


@dataclass(frozen=True)
class Convention:
    """How one family of instrumentations writes an LLM call."""

    name: str
    fields: Fields = field(default_factory=dict)
    """Extra keys per field, read after the GenAI names of that field."""
    kinds: dict[str, dict[str, str]] = field(default_factory=dict)
    """Span-kind attributes: attribute -> value -> the GenAI operation it stands for (an
    operation of LLM_OPERATIONS, RUN_OPERATIONS, TOOL_OPERATIONS or WRAPPER_OPERATIONS)."""
    scopes: tuple[str, ...] = ()
    """Instrumentation scope names (prefixes) that identify the convention."""
    sdk_names: tuple[str, ...] = ()
    """Resource `telemetry.sdk.name` values that identify it."""
    input_excludes_cache: tuple[str, ...] = ()
    """Providers (of CACHE_EXCLUSIVE_PROVIDERS) whose `input_tokens` its spans report as the
    provider's API does, without cache reads and writes."""
    reported_zero_cost_is_unknown: bool = False
    """Its cost attribute says 0 when it has no price for the model: then the catalog prices."""
    workflow_root_scopes: tuple[str, ...] = ()
    """Scopes whose agent span at the root of a trace, with no agent name, is the workflow
    around the agents (the OpenAI Agents SDK's trace span, as OpenInference writes it)."""
    streamed_anthropic_output_extra: dict[str, str] = field(default_factory=dict)
    """scope name -> newest affected version (as `major.minor.patch`) of instrumentations
    whose streamed Anthropic output counts `message_start`'s `output_tokens` (1) twice."""
    scope_names: tuple[str, ...] = ()
    """Instrumentation scope names (whole) that identify the convention."""
    stream_kinds: tuple[str, ...] = ()
    """Span-kind values that are streamed calls."""
    stream_in_two_spans: tuple[str, ...] = ()
    """Scopes where a streamed call is two spans: one around the request that ends when the stream is
    handed over (no usage, no response id), and a log span when the stream ends (zero length,
    its `duration` attribute the stream's, with usage and response id). The first is not a
    call; the second is, over its stream's duration (Logfire's OpenAI and Anthropic
    instrumentation)."""


OPENINFERENCE: Final = Convention(
    name="openinference",
    fields={
        "provider": ("str", ("llm.provider", "llm.system")),
        "request_model": ("str", ("llm.request.model_name",)),
        "response_model": ("str", ("llm.response.model_name", "llm.model_name",
                                   "embedding.model_name")),
        "invocation_parameters": ("json", ("llm.invocation_parameters",
                                           "embedding.invocation_parameters")),
        "input_tokens": ("int", ("llm.token_count.prompt",)),
        "output_tokens": ("int", ("llm.token_count.completion",)),
        "cache_read_tokens": ("int", ("llm.token_count.prompt_details.cache_read",)),
        "cache_write_tokens": ("int", ("llm.token_count.prompt_details.cache_write",)),
        "reasoning_tokens": ("int", ("llm.token_count.completion_details.reasoning",)),
        "cost_usd": ("float", ("llm.cost.total",)),
        "agent_name": ("str", ("agent.name",)),
        "tool_name": ("str", ("tool.name",)),
    },
    kinds={"openinference.span.kind": {
        "LLM": "chat", "EMBEDDING": "embeddings", "CHAIN": "chain", "AGENT": "invoke_agent",
        "TOOL": "execute_tool", "RETRIEVER": "retrieve", "RERANKER": "rerank",
        "GUARDRAIL": "guardrail", "EVALUATOR": "evaluate", "PROMPT": "prompt",
        "UNKNOWN": "unknown",
    }},
    scopes=("openinference.",),
    workflow_root_scopes=("openinference.instrumentation.openai_agents",),
)

OPENLLMETRY: Final = Convention(
    name="openllmetry",
    fields={
        "streaming": ("bool", ("gen_ai.is_streaming", "llm.is_streaming")),
        "input_tokens": ("int", ("llm.usage.prompt_tokens",)),
        "output_tokens": ("int", ("llm.usage.completion_tokens",)),
        "cache_read_tokens": ("int", ("gen_ai.usage.cache_read_input_tokens",)),
        "cache_write_tokens": ("int", ("gen_ai.usage.cache_creation_input_tokens",)),
        "reasoning_tokens": ("int", ("gen_ai.usage.reasoning_tokens", "llm.usage.reasoning_tokens")),
        "session_id": ("str", ("traceloop.association.properties.session_id",)),
        "user_id": ("str", ("traceloop.association.properties.user_id",)),
        # Its agent, workflow and tool spans are named by the decorated function.
        "workflow_name": ("str", ("traceloop.workflow.name",)),
        "entity_name": ("str", ("traceloop.entity.name",)),
    },
    kinds={
        "llm.request.type": {"chat": "chat", "completion": "text_completion",
                             "embedding": "embeddings", "rerank": "rerank",
                             "unknown": "unknown"},
        "traceloop.span.kind": {"workflow": "invoke_workflow", "task": "task",
                                "agent": "invoke_agent", "tool": "execute_tool"},
    },
    scopes=("opentelemetry.instrumentation.", "traceloop."),
    sdk_names=("traceloop",),
    input_excludes_cache=("aws.bedrock",),
    streamed_anthropic_output_extra={"opentelemetry.instrumentation.anthropic": "0.62.4"},
)

OPENLIT: Final = Convention(
    name="openlit",
    fields={
        "ttft_s": ("float", ("gen_ai.server.time_to_first_token",)),
        "cost_usd": ("float", ("gen_ai.usage.total_cost",)),
        "reasoning_tokens": ("int", ("gen_ai.usage.reasoning_tokens",)),
        "streaming": ("bool", ("gen_ai.request.is_stream",)),
    },
    scopes=("openlit",),
    sdk_names=("openlit",),
    input_excludes_cache=("anthropic",),
    reported_zero_cost_is_unknown=True,
)

LOGFIRE: Final = Convention(
    name="logfire",
    fields={
        "cost_usd": ("float", ("operation.cost",)),
        "reasoning_tokens": ("int", ("gen_ai.usage.details.reasoning_tokens",)),
        "agent_name": ("str", ("agent_name",)),
        "request_model": ("str", ("model_name",)),
        "span_type": ("str", ("logfire.span_type",)),
        "log_duration_s": ("float", ("duration",)),
    },
    scopes=("logfire", "pydantic-ai", "pydantic_ai"),
    sdk_names=("logfire",),
    stream_in_two_spans=("logfire.openai", "logfire.anthropic"),
)

LITELLM: Final = Convention(
    name="litellm",
    fields={
        "cost_usd": ("float", ("gen_ai.cost.total_cost",)),
        "streaming": ("bool", ("llm.is_streaming",)),
        # `provider/model` as LiteLLM routes it: the provider when the span names none (its
        # embedding spans say `gen_ai.system` "").
        "routed_model": ("str", ("litellm.provider.model",)),
    },
    scopes=("litellm",),
)

# The Vercel AI SDK (Node.js, `experimental_telemetry`): `ai.<function>` spans around
# `ai.<function>.do<Generate|Stream|Embed>` spans, the provider calls; its own `ai.*` names.
VERCEL_AI: Final = Convention(
    name="vercel-ai",
    fields={
        "provider": ("str", ("ai.model.provider",)),
        "request_model": ("str", ("ai.model.id",)),
        "response_model": ("str", ("ai.response.model",)),
        "response_id": ("str", ("ai.response.id",)),
        "input_tokens": ("int", ("ai.usage.inputTokens", "ai.usage.promptTokens",
                                 "ai.usage.tokens")),
        "output_tokens": ("int", ("ai.usage.outputTokens", "ai.usage.completionTokens")),
        "cache_read_tokens": ("int", ("ai.usage.inputTokenDetails.cacheReadTokens",
                                      "ai.usage.cachedInputTokens")),
        "cache_write_tokens": ("int", ("ai.usage.inputTokenDetails.cacheWriteTokens",)),
        "reasoning_tokens": ("int", ("ai.usage.outputTokenDetails.reasoningTokens",
                                     "ai.usage.reasoningTokens")),
        "ttft_ms": ("float", ("ai.response.msToFirstChunk",)),
        "tool_name": ("str", ("ai.toolCall.name",)),
    },
    kinds={"ai.operationId": {
        "ai.generateText.doGenerate": "chat", "ai.streamText.doStream": "chat",
        "ai.generateObject.doGenerate": "chat", "ai.streamObject.doStream": "chat",
        "ai.embed.doEmbed": "embeddings", "ai.embedMany.doEmbed": "embeddings",
        "ai.generateText": "task", "ai.streamText": "task", "ai.generateObject": "task",
        "ai.streamObject": "task", "ai.embed": "task", "ai.embedMany": "task",
        "ai.toolCall": "execute_tool",
    }},
    scope_names=("ai",),
    stream_kinds=("ai.streamText.doStream", "ai.streamObject.doStream"),
)

# Other names in wide use outside one family: Langfuse's own attributes, and the plain keys
# that baggage carries when a BaggageSpanProcessor copies it onto spans.
COMMON: Final = Convention(
    name="common",
    fields={
        "session_id": ("str", ("langfuse.session.id", "session_id")),
        "user_id": ("str", ("langfuse.user.id", "user_id")),
    },
)

CONVENTIONS: Final = (OPENINFERENCE, OPENLLMETRY, OPENLIT, LOGFIRE, LITELLM, VERCEL_AI)

# An unknown scope: every convention's names at once (no convention-specific corrections).
ALL_CONVENTIONS: Final = Convention(
    name="otel-genai",
    fields={
        name: (kind, tuple(key for c in (*CONVENTIONS, COMMON) if name in c.fields
                           for key in c.fields[name][1]))
        for c in (*CONVENTIONS, COMMON) for name, (kind, _) in c.fields.items()
    },
    kinds={k: v for c in CONVENTIONS for k, v in c.kinds.items()},
)


# Which family of instrumentation a span comes from, by its scope name (first prefix that
# matches). Two spans of one call from different families are copies of it (store.copies);
# a scope not listed has no family, and its calls meet others only by response id.
FAMILIES: Final[tuple[tuple[str, str], ...]] = (
    ("com.anthropic.", "anthropic-sdk"),
    ("openinference.", "openinference"),
    ("opentelemetry.instrumentation.openai_v2", "otel-contrib"),
    ("opentelemetry.instrumentation.google_genai", "otel-contrib"),
    ("opentelemetry.instrumentation.vertexai", "otel-contrib"),
    ("opentelemetry.util.genai", "otel-contrib"),
    ("opentelemetry.instrumentation.", "openllmetry"),
    ("traceloop.", "openllmetry"),
    ("openlit", "openlit"),
    ("pydantic-ai", "pydantic-ai"),
    ("pydantic_ai", "pydantic-ai"),
    ("logfire", "logfire"),
    ("litellm", "litellm"),
    ("spantally", "spantally"),
)

# Scope names whose last part names the provider they instrument (`openlit.instrumentation.
# anthropic`): with the span name `{operation} {model}`, enough to recover a call whose
# span carries no attributes (OpenLIT's failed calls).
PROVIDER_SCOPES: Final = ("openlit.instrumentation.", "opentelemetry.instrumentation.",
                          "openinference.instrumentation.")
SCOPE_PROVIDERS: Final[dict[str, str]] = {
    "openai": "openai", "openai_v2": "openai", "anthropic": "anthropic",
    "google_genai": "gcp.gemini", "vertexai": "gcp.vertex_ai", "bedrock": "aws.bedrock",
    "mistralai": "mistral_ai", "groq": "groq", "cohere": "cohere", "ollama": "ollama",
}


FAMILY_SCOPES: Final[dict[str, str]] = {"ai": "vercel-ai"}
"""Families known by a whole scope name (the Vercel AI SDK's tracer is `ai`)."""


def family_of(scope_name: str) -> str | None:
    if scope_name in FAMILY_SCOPES:
        return FAMILY_SCOPES[scope_name]
    for prefix, family in FAMILIES:
        if scope_name.startswith(prefix):
            return family
    return None


def provider_of_scope(scope_name: str) -> str | None:
    """The provider a scope's name says it instruments, or None."""
    for prefix in PROVIDER_SCOPES:
        if scope_name.startswith(prefix):
            return SCOPE_PROVIDERS.get(scope_name[len(prefix):].split(".", 1)[0])
    return None


def detect_convention(scope_name: str, sdk_name: str | None) -> Convention:
    """The convention of the spans of one instrumentation scope under one resource."""
    for convention in CONVENTIONS:
        if (convention.scopes and scope_name.startswith(convention.scopes)
                or scope_name in convention.scope_names):
            return convention
    if sdk_name:
        for convention in CONVENTIONS:
            if sdk_name in convention.sdk_names:
                return convention
    return ALL_CONVENTIONS


# Span events some instrumentations add when the first chunk of a stream arrives.
FIRST_CHUNK_EVENTS: Final = frozenset(
    {"First Token Stream Event", "gen_ai.content.completion.chunk", "llm.content.completion.chunk",
     "ai.stream.firstChunk"}
)

# What a span is, by its operation (the GenAI `gen_ai.operation.name`, or what its convention's
# span kind stands for). Operations that are one call to a model:
LLM_OPERATIONS: Final = frozenset(
    {"chat", "text_completion", "generate_content", "embeddings", "completion", "responses"}
)
# An agent run (stored in agent_runs), by the run kind it is:
RUN_OPERATIONS: Final[dict[str, str]] = {"invoke_agent": "agent", "invoke_workflow": "workflow",
                                         "workflow": "workflow"}
# A run when it is the root of its trace (an OpenInference CHAIN at the top is the workflow):
ROOT_RUN_OPERATIONS: Final[dict[str, str]] = {"chain": "workflow"}
# A tool step (stored in tool_calls):
TOOL_OPERATIONS: Final = frozenset({"execute_tool", "tool"})
# Spans that wrap calls or are something else of an agent: never a call; stored only as their
# place in the tree (span_links).
WRAPPER_OPERATIONS: Final = frozenset(
    {"create_agent", "task", "chain", "retrieve", "rerank", "guardrail", "evaluate", "prompt",
     "unknown"}
)

# Providers whose APIs report input tokens without the cache reads and writes (Anthropic's
# Messages API, Bedrock's Converse): a span's input below its cached part cannot include them,
# and conventions say which of their libraries pass the provider's figure on as is.
CACHE_EXCLUSIVE_PROVIDERS: Final = frozenset({"anthropic", "aws.bedrock"})

# Providers whose output count leaves out the model's thinking (Gemini's candidatesTokenCount,
# beside thoughtsTokenCount), which a library may report only in the total: the total beyond
# input and output is thinking, added to output (where SpanTally counts it) and reasoning.
THOUGHTS_OUTSIDE_OUTPUT_PROVIDERS: Final = frozenset({"gcp.gen_ai", "gcp.gemini", "gcp.vertex_ai"})

# Operation names as some instrumentations spell them -> the GenAI name.
OPERATION_ALIASES: Final[dict[str, str]] = {"embedding": "embeddings"}

# Provider names as instrumentations spell them -> one name per provider (the OTel GenAI
# `gen_ai.provider.name` well-known values).
PROVIDER_ALIASES: Final[dict[str, str]] = {
    "az.ai.openai": "azure.ai.openai",
    "azure_openai": "azure.ai.openai",
    "azure": "azure.ai.openai",
    "az.ai.inference": "azure.ai.inference",
    "vertex_ai": "gcp.vertex_ai",
    "vertexai": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "google": "gcp.gemini",
    "bedrock": "aws.bedrock",
    "aws_bedrock": "aws.bedrock",
    "aws": "aws.bedrock",
    "mistral": "mistral_ai",
    "mistralai": "mistral_ai",
    "xai": "x_ai",
    # the Vercel AI SDK's `<provider>.<API>` ids
    "openai.chat": "openai", "openai.responses": "openai", "openai.completion": "openai",
    "openai.embedding": "openai", "anthropic.messages": "anthropic",
    "google.generative-ai": "gcp.gemini", "google.vertex.chat": "gcp.vertex_ai",
    "amazon-bedrock": "aws.bedrock", "mistral.chat": "mistral_ai", "xai.chat": "x_ai",
}

# Unmapped attributes become the call's tags, except content (never stored) and the
# transport/runtime namespaces that describe the process rather than the call.
TAG_EXCLUDED_PREFIXES: Final = (
    "gen_ai.",
    "llm.",
    "http.",
    "url.",
    "server.",
    "net.",
    "network.",
    "rpc.",
    "otel.",
    "telemetry.",
    "process.",
    "thread.",
    "code.",
    "exception.",
    "error.",
    "input.",
    "output.",
    "embedding.",
    "openinference.",
    "traceloop.entity.",
    "traceloop.span.",
    "traceloop.workflow.",
    "logfire.",
    "pydantic_ai.",
    "openlit.",
    "openai.",
    "anthropic.",
)
TAG_EXCLUDED_KEYS: Final = frozenset(
    {"events", "all_messages_events", "final_result", "model_request_parameters"}
)
# Prefixes whose remainder is the tag's name (OpenLLMetry's association properties).
TAG_RENAMED_PREFIXES: Final = ("traceloop.association.properties.",)
