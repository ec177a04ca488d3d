"""OTLP spans -> LlmCall records, by the table in mapping.py.

A span is an LLM call when its GenAI operation is a model call (chat, embeddings, ...); spans
of the deprecated conventions without an operation count when they name a provider and a
model. Every other span is counted and skipped. Spans without valid ids or start time are
rejected, which the receivers report as OTLP partial success.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, Protocol

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

__all__ = [
    "NormalizeLimits",
    "Normalized",
    "PriceFunction",
    "count_spans",
    "normalize_request",
    "usd_to_nano",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ZERO_TRACE_ID = bytes(16)
_ZERO_SPAN_ID = bytes(8)
_NANO = Decimal(1_000_000_000)
_MAX_USD = Decimal(1_000_000)  # per call; beyond this a reported cost is not a real one
_MAX_COUNT = 1 << 48  # any larger token count is not a real one, and sums must fit in bigint


@dataclass(frozen=True, slots=True)
class NormalizeLimits:
    max_value_chars: int = 1024
    """Longer string attribute values are cut to this length, and counted."""
    max_tags: int = 64
    """Unmapped attributes kept as tags per call; the rest are dropped."""


@dataclass(slots=True)
class Normalized:
    calls: list[LlmCall] = field(default_factory=list)
    spans: int = 0
    skipped: int = 0
    """Spans that are not LLM calls (agents, tools, HTTP, ...): accepted, not stored."""
    rejected: int = 0
    truncated: int = 0
    """Attribute values cut to NormalizeLimits.max_value_chars."""
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


# Readers: the attribute's value as the field's type, or None. Each tries the usual encoding
# first (a string for a name, an int for a count) and falls back to the general conversion;
# this loop runs for every attribute of every span.


def _read_str(value: AnyValue) -> str | None:
    text = value.string_value
    if text:
        if "\x00" in text:
            text = text.replace("\x00", "")
        return text.strip() or None
    return _coerce("str", _scalar(value))


def _read_int(value: AnyValue) -> int | None:
    number = value.int_value
    if number:
        return number if 0 < number <= _MAX_COUNT else None
    return _coerce("int", _scalar(value))


def _read_float(value: AnyValue) -> float | None:
    number = value.double_value
    if number and math.isfinite(number):
        return number
    return _coerce("float", _scalar(value))


def _read_bool(value: AnyValue) -> bool | None:
    return _coerce("bool", _scalar(value))


_READERS: dict[str, Callable[[AnyValue], Any]] = {
    "str": _read_str, "int": _read_int, "float": _read_float, "bool": _read_bool,
}

# attribute key -> (field, rank, reader); a lower rank wins.
_BY_KEY: dict[str, tuple[str, int, Callable[[AnyValue], Any]]] = {
    key: (name, rank, _READERS[kind])
    for name, (kind, keys) in ATTRIBUTE_FIELDS.items()
    for rank, key in enumerate(keys)
}
_UNRANKED = 1 << 30


def _add_tag(
    tags: dict[str, Any], key: str, value: AnyValue, limits: NormalizeLimits, out: Normalized
) -> None:
    if len(tags) >= limits.max_tags or key.startswith(TAG_EXCLUDED_PREFIXES):
        return
    raw = _scalar(value)
    if isinstance(raw, str) and len(raw) > limits.max_value_chars:
        raw = raw[: limits.max_value_chars]
        out.truncated += 1
    if raw is not None:
        tags[key.replace("\x00", "")] = raw


def _read(
    attributes: Any,
    fields: dict[str, Any],
    ranks: dict[str, int],
    tags: dict[str, Any] | None,
    limits: NormalizeLimits,
    out: Normalized,
) -> None:
    """Fold `attributes` into `fields` (best-ranked key wins) and, if given, `tags`."""
    by_key = _BY_KEY
    max_chars = limits.max_value_chars
    kv: KeyValue
    for kv in attributes:
        key = kv.key
        mapped = by_key.get(key)
        if mapped is None:
            if tags is not None:
                _add_tag(tags, key, kv.value, limits, out)
            continue
        name, rank, reader = mapped
        if rank and ranks.get(name, _UNRANKED) < rank:
            continue  # a preferred key already gave this field its value
        value = reader(kv.value)
        if value is not None:
            if value.__class__ is str and len(value) > max_chars:
                value = value[:max_chars]
                out.truncated += 1
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


class PriceFunction(Protocol):
    def __call__(
        self, provider: str | None, model: str | None, at: datetime, input_tokens: int,
        output_tokens: int, cache_read_tokens: int = 0, cache_write_tokens: int = 0,
    ) -> int | None: ...


def normalize_request(
    request: ExportTraceServiceRequest,
    project_id: int,
    price: PriceFunction | None = None,
    limits: NormalizeLimits = NormalizeLimits(),
) -> Normalized:
    """The LLM calls in one OTLP export request, for one project.

    `price` is the pricing stage (see pricing.py): it prices each call that reported no cost
    of its own, while the record is built, so a record is never built twice."""
    out = Normalized()
    for resource_spans in request.resource_spans:
        base: dict[str, Any] = {}
        base_ranks: dict[str, int] = {}
        _read(resource_spans.resource.attributes, base, base_ranks, None, limits, out)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                out.spans += 1
                fields = dict(base)
                ranks = dict(base_ranks)
                tags: dict[str, Any] = {}
                _read(span.attributes, fields, ranks, tags, limits, out)
                if not _is_llm_call(fields):
                    out.skipped += 1
                    continue
                call = _to_call(span, fields, tags, project_id, price)
                if isinstance(call, str):
                    out.rejected += 1
                    if len(out.errors) < 5:
                        out.errors.append(call)
                else:
                    out.calls.append(call)
    return out


def _to_call(
    span: Span, f: dict[str, Any], tags: dict[str, Any], project_id: int,
    price: PriceFunction | None,
) -> LlmCall | str:
    """The call of an LLM span, or the reason it is rejected."""
    trace_id, span_id, start = span.trace_id, span.span_id, span.start_time_unix_nano
    if len(trace_id) != 16 or trace_id == _ZERO_TRACE_ID:
        return "span with an invalid trace_id (must be 16 bytes, not all zero)"
    if len(span_id) != 8 or span_id == _ZERO_SPAN_ID:
        return "span with an invalid span_id (must be 8 bytes, not all zero)"
    if start <= 0:
        return "span without start_time_unix_nano"
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
    get = f.get
    time = _EPOCH + timedelta(microseconds=start // 1000)
    input_tokens = get("input_tokens", 0)
    output_tokens = get("output_tokens", 0)
    cache_read_tokens = get("cache_read_tokens", 0)
    cache_write_tokens = get("cache_write_tokens", 0)
    source = None
    if cost is not None:
        source = "reported"
    elif price is not None:
        model = response_model or request_model
        cost = price(provider, model, time, input_tokens, output_tokens, cache_read_tokens,
                     cache_write_tokens)
        source = "catalog" if cost is not None else None
    return LlmCall(
        time,
        project_id,
        trace_id,
        span_id,
        span.parent_span_id or None,
        get("service_name"),
        get("environment"),
        get("agent_id"),
        get("agent_name"),
        get("session_id"),
        get("user_id"),
        provider,
        request_model,
        response_model,
        response_model or request_model,
        (get("operation") or "chat").lower(),
        get("streaming"),
        input_tokens,
        output_tokens,
        cache_read_tokens,
        cache_write_tokens,
        get("reasoning_tokens", 0),
        cost,
        source,
        latency_us,
        int(ttft * 1_000_000) if ttft is not None else None,
        "error" if failed else "ok",
        error_type,
        tags or None,
    )


def count_spans(request: ExportTraceServiceRequest) -> int:
    return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
