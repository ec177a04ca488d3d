"""OTLP spans -> LlmCall records, by the table in mapping.py.

A span is an LLM call when its GenAI operation is a model call (chat, embeddings, ...); spans
of the deprecated conventions without an operation count when they name a provider and a
model. Every other span is counted and skipped. Spans without valid ids or start time are
rejected, which the receivers report as OTLP partial success.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from spantally.store.records import LlmCall

from .mapping import (
    AGENT_OPERATIONS,
    ATTRIBUTE_FIELDS,
    LLM_OPERATIONS,
    PROVIDER_ALIASES,
    TAG_EXCLUDED_PREFIXES,
)

__all__ = ["Normalized", "normalize_request", "usd_to_nano"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MAX_TAGS = 64
_MAX_TAG_CHARS = 1024
_NANO = Decimal(1_000_000_000)
_MAX_USD = Decimal(1_000_000)  # per call; beyond this a reported cost is not a real one
_MAX_COUNT = 1 << 48  # any larger token count is not a real one, and sums must fit in bigint

# attribute key -> (field, kind, rank); lower rank wins.
_BY_KEY: dict[str, tuple[str, str, int]] = {
    key: (name, kind, rank)
    for name, (kind, keys) in ATTRIBUTE_FIELDS.items()
    for rank, key in enumerate(keys)
}


@dataclass(slots=True)
class Normalized:
    calls: list[LlmCall] = field(default_factory=list)
    spans: int = 0
    skipped: int = 0
    """Spans that are not LLM calls (agents, tools, HTTP, ...): accepted, not stored."""
    rejected: int = 0
    errors: list[str] = field(default_factory=list)


def usd_to_nano(value: float | str | Decimal) -> int | None:
    """An exact integer nano-USD amount from a USD figure, or None if it is not a figure."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0 or amount > _MAX_USD:
        return None
    return int((amount * _NANO).to_integral_value(ROUND_HALF_EVEN))


def _scalar(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        text = value.string_value
        # PostgreSQL text and jsonb cannot hold NUL; one such value must not fail a batch.
        return text.replace("\x00", "") if "\x00" in text else text
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        number = value.double_value
        return number if math.isfinite(number) else None  # JSON has no NaN or infinity
    if kind == "bool_value":
        return value.bool_value
    if kind == "array_value":
        return [_scalar(v) for v in value.array_value.values]
    return None  # bytes, kvlist, unset: not a call attribute


def _coerce(kind: str, raw: Any) -> Any:
    if raw is None or isinstance(raw, list):
        return None
    if kind == "str":
        text = str(raw).strip()
        return text or None
    if kind == "int":
        if isinstance(raw, bool):
            return None
        try:
            number = int(raw) if not isinstance(raw, float) or raw.is_integer() else None
        except ValueError:
            return None
        return number if number is not None and 0 <= number <= _MAX_COUNT else None
    if kind == "float":
        if isinstance(raw, bool):
            return None
        try:
            number = float(raw)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        return {"true": True, "false": False}.get(str(raw).lower())
    return None


def _read(
    attributes: Any, fields: dict[str, Any], ranks: dict[str, int], tags: dict[str, Any] | None
) -> None:
    """Fold `attributes` into `fields` (best-ranked key wins) and, if given, `tags`."""
    kv: KeyValue
    for kv in attributes:
        mapped = _BY_KEY.get(kv.key)
        if mapped is None:
            if (
                tags is not None
                and len(tags) < _MAX_TAGS
                and not kv.key.startswith(TAG_EXCLUDED_PREFIXES)
            ):
                raw = _scalar(kv.value)
                if isinstance(raw, str) and len(raw) > _MAX_TAG_CHARS:
                    raw = raw[:_MAX_TAG_CHARS]
                if raw is not None:
                    tags[kv.key.replace("\x00", "")] = raw
            continue
        name, kind, rank = mapped
        if rank >= ranks.get(name, 1 << 30):
            continue
        value = _coerce(kind, _scalar(kv.value))
        if value is not None:
            fields[name] = value
            ranks[name] = rank


def _error_type_from_events(span: Span) -> str | None:
    for event in span.events:
        if event.name == "exception":
            for kv in event.attributes:
                if kv.key == "exception.type" and kv.value.string_value:
                    return kv.value.string_value
    return None


def _is_llm_call(fields: dict[str, Any]) -> bool:
    operation = fields.get("operation")
    if operation is None:
        return "provider" in fields and ("request_model" in fields or "response_model" in fields)
    operation = operation.lower()
    if operation in AGENT_OPERATIONS:
        return False
    return operation in LLM_OPERATIONS or "request_model" in fields or "response_model" in fields


def normalize_request(request: ExportTraceServiceRequest, project_id: int) -> Normalized:
    """The LLM calls in one OTLP export request, for one project. Costs are not set here."""
    out = Normalized()
    for resource_spans in request.resource_spans:
        base: dict[str, Any] = {}
        base_ranks: dict[str, int] = {}
        _read(resource_spans.resource.attributes, base, base_ranks, None)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                out.spans += 1
                fields = dict(base)
                ranks = dict(base_ranks)
                tags: dict[str, Any] = {}
                _read(span.attributes, fields, ranks, tags)
                if not _is_llm_call(fields):
                    out.skipped += 1
                    continue
                call = _to_call(span, fields, tags, project_id)
                if isinstance(call, str):
                    out.rejected += 1
                    if len(out.errors) < 5:
                        out.errors.append(call)
                else:
                    out.calls.append(call)
    return out


def _to_call(span: Span, f: dict[str, Any], tags: dict[str, Any], project_id: int) -> LlmCall | str:
    """The call of an LLM span, or the reason it is rejected."""
    if len(span.trace_id) != 16 or not any(span.trace_id):
        return "span with an invalid trace_id (must be 16 bytes, not all zero)"
    if len(span.span_id) != 8 or not any(span.span_id):
        return "span with an invalid span_id (must be 8 bytes, not all zero)"
    if span.start_time_unix_nano <= 0:
        return "span without start_time_unix_nano"
    start = span.start_time_unix_nano
    end = span.end_time_unix_nano
    latency_us = max(0, (end - start) // 1000) if end else 0

    failed = span.status.code == Status.STATUS_CODE_ERROR or "error_type" in f
    error_type = f.get("error_type") or (_error_type_from_events(span) if failed else None)

    provider = f.get("provider")
    if provider is not None:
        provider = provider.lower()
        provider = PROVIDER_ALIASES.get(provider, provider)
    cost = usd_to_nano(f["cost_usd"]) if "cost_usd" in f else None
    ttft = f.get("ttft_s")
    if ttft is not None and not 0 <= ttft < 86_400:
        ttft = None
    response_model = f.get("response_model")
    request_model = f.get("request_model")
    return LlmCall(
        time=_EPOCH + timedelta(microseconds=start // 1000),
        project_id=project_id,
        trace_id=span.trace_id,
        span_id=span.span_id,
        parent_span_id=span.parent_span_id or None,
        service_name=f.get("service_name"),
        environment=f.get("environment"),
        agent_id=f.get("agent_id"),
        agent_name=f.get("agent_name"),
        session_id=f.get("session_id"),
        user_id=f.get("user_id"),
        provider=provider,
        request_model=request_model,
        response_model=response_model,
        model=response_model or request_model,
        operation=(f.get("operation") or "chat").lower(),
        streaming=f.get("streaming"),
        input_tokens=f.get("input_tokens", 0),
        output_tokens=f.get("output_tokens", 0),
        cache_read_tokens=f.get("cache_read_tokens", 0),
        cache_write_tokens=f.get("cache_write_tokens", 0),
        reasoning_tokens=f.get("reasoning_tokens", 0),
        cost_nano_usd=cost,
        cost_source="reported" if cost is not None else None,
        latency_us=latency_us,
        ttft_us=int(ttft * 1_000_000) if ttft is not None else None,
        status="error" if failed else "ok",
        error_type=error_type,
        tags=tags or None,
    )
