"""Which span and resource attributes mean what: the one table of attribute names.

Each field lists the attribute keys it is read from, best first: a span that carries several
keeps the value of the earliest one (the current OTel GenAI name before its deprecated one).
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = [
    "AGENT_OPERATIONS",
    "ATTRIBUTE_FIELDS",
    "FieldKind",
    "LLM_OPERATIONS",
    "PROVIDER_ALIASES",
    "TAG_EXCLUDED_PREFIXES",
]

FieldKind = Literal["str", "int", "float", "bool"]

# field -> (kind, attribute keys in order of preference)
ATTRIBUTE_FIELDS: Final[dict[str, tuple[FieldKind, tuple[str, ...]]]] = {
    "provider": ("str", ("gen_ai.provider.name", "gen_ai.system")),
    "operation": ("str", ("gen_ai.operation.name",)),
    "request_model": ("str", ("gen_ai.request.model",)),
    "response_model": ("str", ("gen_ai.response.model",)),
    "streaming": ("bool", ("gen_ai.request.stream",)),
    "input_tokens": ("int", ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")),
    "output_tokens": ("int", ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")),
    "cache_read_tokens": ("int", ("gen_ai.usage.cache_read.input_tokens",)),
    "cache_write_tokens": ("int", ("gen_ai.usage.cache_creation.input_tokens",
                                   "gen_ai.usage.cache_write.input_tokens")),
    "reasoning_tokens": ("int", ("gen_ai.usage.reasoning.output_tokens",)),
    "cost_usd": ("float", ("gen_ai.usage.cost",)),
    "ttft_s": ("float", ("gen_ai.response.time_to_first_chunk",)),
    "agent_id": ("str", ("gen_ai.agent.id",)),
    "agent_name": ("str", ("gen_ai.agent.name",)),
    "session_id": ("str", ("session.id", "gen_ai.conversation.id")),
    "user_id": ("str", ("user.id", "enduser.id")),
    "error_type": ("str", ("error.type",)),
    "service_name": ("str", ("service.name",)),
    "environment": ("str", ("deployment.environment.name", "deployment.environment")),
}

# Operations that are one call to a model.
LLM_OPERATIONS: Final = frozenset(
    {"chat", "text_completion", "generate_content", "embeddings", "completion", "responses"}
)
# GenAI operations that wrap calls (or are not calls at all): never counted as LLM calls.
AGENT_OPERATIONS: Final = frozenset(
    {"invoke_agent", "create_agent", "execute_tool", "invoke_workflow", "workflow", "task", "tool"}
)

# Provider names as instrumentations spell them -> one name per provider (the OTel GenAI
# `gen_ai.provider.name` well-known values).
PROVIDER_ALIASES: Final[dict[str, str]] = {
    "az.ai.openai": "azure.ai.openai",
    "azure_openai": "azure.ai.openai",
    "az.ai.inference": "azure.ai.inference",
    "vertex_ai": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "google": "gcp.gemini",
    "bedrock": "aws.bedrock",
    "aws_bedrock": "aws.bedrock",
    "mistral": "mistral_ai",
    "mistralai": "mistral_ai",
    "xai": "x_ai",
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
)
