"""The calls' bodies: a page of calls (flat rows, also CSV lines), one call whole, and the tag
keys. Ids are lowercase hex as OpenTelemetry writes them, times UTC with microseconds."""

from __future__ import annotations

from typing import Any

from spantally.store import LlmCall, RecentCall, TagKey

from .shape import iso_micro, usd

__all__ = ["CALL_COLUMNS", "TAG_KEY_COLUMNS", "call_json", "call_row", "tag_key_row"]

CALL_COLUMNS = ("time", "traceId", "spanId", "provider", "model", "agentId", "sessionId",
                "userId", "operation", "streaming", "inputTokens", "outputTokens", "costUsd",
                "latencyMs", "timeToFirstChunkMs", "status", "errorType")
TAG_KEY_COLUMNS = ("key", "calls", "values")


def _ms(us: int | None) -> float | None:
    return None if us is None else us / 1000


def _usd(nano_usd: int | None) -> float | None:
    return None if nano_usd is None else usd(nano_usd)


def call_row(c: RecentCall | LlmCall) -> dict[str, Any]:
    """A call in a list: who, which model, tokens, cost, latency, outcome."""
    return {
        "time": iso_micro(c.time), "traceId": c.trace_id.hex(), "spanId": c.span_id.hex(),
        "provider": c.provider, "model": c.model, "agentId": c.agent_id,
        "sessionId": c.session_id, "userId": c.user_id, "operation": c.operation,
        "streaming": c.streaming, "inputTokens": c.input_tokens,
        "outputTokens": c.output_tokens, "costUsd": _usd(c.cost_nano_usd),
        "latencyMs": c.latency_us / 1000, "timeToFirstChunkMs": _ms(c.ttft_us),
        "status": c.status, "errorType": c.error_type,
    }


def call_json(c: LlmCall) -> dict[str, Any]:
    """One call whole: its row, and what only a single call shows."""
    return {
        **call_row(c),
        "parentSpanId": c.parent_span_id.hex() if c.parent_span_id else None,
        "service": c.service_name, "environment": c.environment, "agentName": c.agent_name,
        "requestModel": c.request_model, "responseModel": c.response_model,
        "cacheReadTokens": c.cache_read_tokens, "cacheWriteTokens": c.cache_write_tokens,
        "reasoningTokens": c.reasoning_tokens, "costNanoUsd": c.cost_nano_usd,
        "costSource": c.cost_source, "responseId": c.response_id,
        "instrumentation": c.instrumentation, "tags": c.tags or {},
    }


def tag_key_row(t: TagKey) -> dict[str, Any]:
    return {"key": t.key, "calls": t.calls, "values": t.values}
