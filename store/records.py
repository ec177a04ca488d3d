"""The normalized LLM call: one row of `llm_calls`, whatever convention its span used."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

__all__ = ["LlmCall", "STAGING_COLUMNS", "STAGING_TYPES"]


class LlmCall(NamedTuple):
    """Field order is the column order of the staging COPY; see migrations/0001_core.sql."""

    time: datetime
    project_id: int
    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes | None
    service_name: str | None
    environment: str | None
    agent_id: str | None
    agent_name: str | None
    session_id: str | None
    user_id: str | None
    provider: str | None
    request_model: str | None
    response_model: str | None
    model: str | None
    operation: str
    streaming: bool | None
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    cost_nano_usd: int | None
    cost_source: str | None
    latency_us: int
    ttft_us: int | None
    status: str
    error_type: str | None
    tags: dict[str, Any] | None


STAGING_COLUMNS: tuple[str, ...] = LlmCall._fields

# PostgreSQL types of the columns, for binary COPY (which does not infer them).
STAGING_TYPES: tuple[str, ...] = (
    "timestamptz", "int8", "bytea", "bytea", "bytea",
    "text", "text", "text", "text", "text", "text", "text", "text", "text", "text", "text",
    "bool", "int8", "int8", "int8", "int8", "int8", "int8", "text", "int8", "int8",
    "text", "text", "jsonb",
)  # fmt: skip

assert len(STAGING_TYPES) == len(STAGING_COLUMNS)
