"""OpenTelemetry GenAI attribute names the SDK writes (semantic conventions, current names)."""

from __future__ import annotations

from typing import Final

__all__ = [
    "AGENT_ID", "AGENT_NAME", "CONVERSATION_ID", "ERROR_TYPE", "OPERATION_NAME", "PROVIDER_NAME",
    "REQUEST_MODEL", "REQUEST_STREAM", "RESPONSE_MODEL", "SESSION_ID",
    "TIME_TO_FIRST_CHUNK", "USAGE_CACHE_CREATION_INPUT_TOKENS", "USAGE_CACHE_READ_INPUT_TOKENS",
    "USAGE_COST", "USAGE_INPUT_TOKENS", "USAGE_OUTPUT_TOKENS", "USAGE_REASONING_OUTPUT_TOKENS",
    "USER_ID",
]

PROVIDER_NAME: Final = "gen_ai.provider.name"
OPERATION_NAME: Final = "gen_ai.operation.name"
REQUEST_MODEL: Final = "gen_ai.request.model"
RESPONSE_MODEL: Final = "gen_ai.response.model"
REQUEST_STREAM: Final = "gen_ai.request.stream"
USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
USAGE_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
USAGE_COST: Final = "gen_ai.usage.cost"
TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
AGENT_ID: Final = "gen_ai.agent.id"
AGENT_NAME: Final = "gen_ai.agent.name"
CONVERSATION_ID: Final = "gen_ai.conversation.id"
SESSION_ID: Final = "session.id"
USER_ID: Final = "user.id"
ERROR_TYPE: Final = "error.type"
