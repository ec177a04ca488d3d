"""OpenTelemetry GenAI attribute names the SDK writes (semantic conventions, current names)."""

from __future__ import annotations

from typing import Final

__all__ = [
    "AGENT_DESCRIPTION", "AGENT_ID", "AGENT_NAME", "CONVERSATION_ID", "ERROR_TYPE",
    "HTTP_STATUS_CODE", "INPUT_MESSAGES", "OPERATION_NAME", "OUTPUT_MESSAGES", "PROVIDER_NAME",
    "REQUEST_MAX_TOKENS", "REQUEST_MODEL", "REQUEST_STREAM", "REQUEST_TEMPERATURE",
    "RESPONSE_FINISH_REASONS", "RESPONSE_ID", "RESPONSE_MODEL", "SERVER_ADDRESS", "SERVER_PORT",
    "SESSION_ID", "SYSTEM_INSTRUCTIONS", "TIME_TO_FIRST_CHUNK",
    "USAGE_CACHE_CREATION_INPUT_TOKENS", "USAGE_CACHE_READ_INPUT_TOKENS", "USAGE_COST",
    "USAGE_INPUT_TOKENS", "USAGE_OUTPUT_TOKENS", "USAGE_REASONING_OUTPUT_TOKENS", "USER_ID",
]

PROVIDER_NAME: Final = "gen_ai.provider.name"
OPERATION_NAME: Final = "gen_ai.operation.name"
REQUEST_MODEL: Final = "gen_ai.request.model"
REQUEST_STREAM: Final = "gen_ai.request.stream"
REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
RESPONSE_MODEL: Final = "gen_ai.response.model"
RESPONSE_ID: Final = "gen_ai.response.id"
RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
USAGE_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
USAGE_COST: Final = "gen_ai.usage.cost"
TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
INPUT_MESSAGES: Final = "gen_ai.input.messages"
OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
AGENT_ID: Final = "gen_ai.agent.id"
AGENT_NAME: Final = "gen_ai.agent.name"
AGENT_DESCRIPTION: Final = "gen_ai.agent.description"
CONVERSATION_ID: Final = "gen_ai.conversation.id"
SESSION_ID: Final = "session.id"
USER_ID: Final = "user.id"
ERROR_TYPE: Final = "error.type"
HTTP_STATUS_CODE: Final = "http.response.status_code"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
