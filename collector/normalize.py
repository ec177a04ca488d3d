"""OTLP spans -> records (store.records), by the convention tables in mapping.py.

A span is an LLM call when its GenAI operation (or its convention's span kind) is a model
call, whatever the span's kind; spans without an operation count when they name a provider
and a model. An LLM span directly inside another one or repeating its response id (the same
call traced twice) is skipped. Agent and workflow spans are agent runs, tool spans tool steps;
every other span inside a trace that is internal to a service or a GenAI wrapper (a chain, a
task) is kept as a link, its place in the tree, so that the store can find the run above each
step (store/runs.py); the rest (HTTP, database spans) is counted and skipped. A call or run
without an agent, session or user takes them from its ancestors in the same request. Calls,
runs and tools without valid ids or start time are rejected, which the receivers report as
OTLP partial success.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, Final, Protocol

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from spantally.store.records import AgentRun, LlmCall, SpanLink, SpanRecords, ToolCall

from .mapping import (
    ALL_CONVENTIONS,
    CACHE_EXCLUSIVE_PROVIDERS,
    COMMON,
    CONVENTIONS,
    FIRST_CHUNK_EVENTS,
    GENAI_FIELDS,
    LLM_OPERATIONS,
    OPERATION_ALIASES,
    PROVIDER_ALIASES,
    ROOT_RUN_OPERATIONS,
    RUN_OPERATIONS,
    TAG_EXCLUDED_KEYS,
    TAG_EXCLUDED_PREFIXES,
    TAG_RENAMED_PREFIXES,
    THOUGHTS_OUTSIDE_OUTPUT_PROVIDERS,
    TOOL_OPERATIONS,
    USAGE_JSON_FIELDS,
    WRAPPER_OPERATIONS,
    Convention,
    detect_convention,
    family_of,
    provider_of_scope,
)

__all__ = [
    "REJECT_REASONS",
    "SKIP_REASONS",
    "NormalizeLimits",
    "Normalized",
    "PriceFunction",
    "count_spans",
    "normalize_error_type",
    "normalize_request",
    "usd_to_nano",
]

SKIP_REASONS: Final = ("duplicate", "not_llm", "stream_start", "wrapper")
REJECT_REASONS: Final = ("expired", "invalid_span_id", "invalid_trace_id", "no_start_time")

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
    max_attributes: int = 1024
    """Attributes read per span and per resource (instrumentations send about 30); the rest
    are ignored, and counted."""


@dataclass(slots=True)
class Normalized:
    calls: list[LlmCall] = field(default_factory=list)
    runs: list[AgentRun] = field(default_factory=list)
    tools: list[ToolCall] = field(default_factory=list)
    links: list[SpanLink] = field(default_factory=list)
    spans: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    """Spans accepted but not stored as a call, run or tool, by reason: `not_llm` (HTTP,
    database, custom ... spans), `wrapper` (chain, task, retriever ... spans), `duplicate` (the
    same call traced twice: an LLM span directly inside another, or with another's response
    id). `not_llm` spans internal to a service and `wrapper` spans are kept as links."""
    rejected: Counter[str] = field(default_factory=Counter)
    """Spans refused as invalid, by reason (reported as OTLP partial success)."""
    truncated: int = 0
    """Attribute values cut to NormalizeLimits.max_value_chars."""
    dropped_attributes: int = 0
    """Attributes beyond NormalizeLimits.max_attributes of their span or resource."""
    errors: list[str] = field(default_factory=list)

    @property
    def records(self) -> SpanRecords:
        return SpanRecords(self.calls, self.runs, self.tools, self.links)

    def reject(self, reason: str, message: str, count: int = 1) -> None:
        self.rejected[reason] += count
        if len(self.errors) < 5:
            self.errors.append(message)


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


def _read_json(value: AnyValue) -> dict[str, Any] | None:
    text = value.string_value
    if not text or len(text) > 65_536 or text[0] != "{":
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


_READERS: dict[str, Callable[[AnyValue], Any]] = {
    "str": _read_str, "int": _read_int, "float": _read_float, "bool": _read_bool,
    "json": _read_json,
}
_UNRANKED = 1 << 30
_KIND_FIELD = "kind:"
_TAGS_FIELD = "tags:"  # a run's tags, kept among its fields until its record is made


_Field = tuple[str, int, Callable[[AnyValue], Any]]
"""A mapped attribute key: the field it fills, its rank (a lower rank wins), its reader."""
_LEARNED_KEYS = 4096
_UNSEEN: Final = object()


@dataclass(frozen=True, slots=True)
class _Table:
    """One convention's attribute table, compiled: what each attribute key is. A mapped key is
    a `_Field` (span-kind attributes read into the field `kind:<attribute>`); an unmapped key is
    the tag it becomes, or None for one that is never a tag. Attribute keys repeat from span to
    span, so unmapped ones are learned as they arrive: then a real instrumentation's content and
    namespace attributes, which are no tag, cost one look-up and their value is never read.
    At most _LEARNED_KEYS are learned per table, since keys come from clients."""

    convention: Convention
    by_key: dict[str, _Field | str | None]
    mapped: int
    """How many of `by_key` the convention maps; those after them are learned."""

    def learn(self, key: str) -> str | None:
        """The tag an unmapped key becomes (or None), remembered while there is room."""
        name = _tag_name(key)
        if len(self.by_key) - self.mapped < _LEARNED_KEYS:
            self.by_key[key] = name
        return name


def _compile(convention: Convention) -> _Table:
    keys: dict[str, tuple[Any, list[str]]] = {
        name: (kind, list(names)) for name, (kind, names) in GENAI_FIELDS.items()
    }
    for source in (convention, COMMON):
        for name, (kind, names) in source.fields.items():
            keys.setdefault(name, (kind, []))[1].extend(n for n in names if n not in keys[name][1])
    by_key: dict[str, _Field | str | None] = {
        key: (name, rank, _READERS[kind])
        for name, (kind, names) in keys.items()
        for rank, key in enumerate(names)
    }
    for attribute in convention.kinds:
        by_key[attribute] = (_KIND_FIELD + attribute, 0, _read_str)
    return _Table(convention, by_key, len(by_key))


_TABLES: dict[str, _Table] = {c.name: _compile(c) for c in (*CONVENTIONS, ALL_CONVENTIONS)}


def _tag_name(key: str) -> str | None:
    """The tag an unmapped attribute key becomes (before NormalizeLimits cut it), or None for
    one that is never a tag (content, transport and runtime namespaces: mapping.py)."""
    if key.startswith(TAG_EXCLUDED_PREFIXES) or key in TAG_EXCLUDED_KEYS:
        return None
    if key.startswith(TAG_RENAMED_PREFIXES):
        key = key.split(".", 3)[-1]
    return key.replace("\x00", "")


def _add_tag(
    tags: dict[str, Any], name: str, value: AnyValue, limits: NormalizeLimits, out: Normalized
) -> None:
    if len(tags) >= limits.max_tags:
        return
    if len(name) > limits.max_value_chars:
        name = name[: limits.max_value_chars]
        out.truncated += 1
    raw = _scalar(value)
    if isinstance(raw, str) and len(raw) > limits.max_value_chars:
        raw = raw[: limits.max_value_chars]
        out.truncated += 1
    if raw is not None:
        tags[name] = raw


def _read(
    attributes: Any,
    table: _Table,
    fields: dict[str, Any],
    ranks: dict[str, int],
    tags: dict[str, Any] | None,
    limits: NormalizeLimits,
    out: Normalized,
) -> None:
    """Fold `attributes` into `fields` (best-ranked key wins) and, if given, `tags`. This loop
    runs for every attribute of every span: one look-up per key decides what it is."""
    max_chars = limits.max_value_chars
    if len(attributes) > limits.max_attributes:
        out.dropped_attributes += len(attributes) - limits.max_attributes
        attributes = attributes[:limits.max_attributes]
    what_is = table.by_key.get
    kv: KeyValue
    for kv in attributes:
        key = kv.key
        what = what_is(key, _UNSEEN)
        if what is None:
            continue
        if what.__class__ is tuple:
            name, rank, reader = what  # type: ignore[misc]
            if rank and ranks.get(name, _UNRANKED) < rank:
                continue  # a preferred key already gave this field its value
            value = reader(kv.value)
            if value is not None:
                if value.__class__ is str and len(value) > max_chars:
                    value = value[:max_chars]
                    out.truncated += 1
                fields[name] = value
                ranks[name] = rank
        elif tags is not None:
            if what is _UNSEEN:
                what = table.learn(key)
                if what is None:
                    continue
            _add_tag(tags, what, kv.value, limits, out)  # type: ignore[arg-type]


def normalize_error_type(value: str) -> str:
    """A short, stable error type: `<class 'openai.RateLimitError'>` and
    `openai.RateLimitError` become `RateLimitError`; `429` stays `429`."""
    text = value.strip()
    if text.startswith("<class '") and text.endswith("'>"):
        text = text[8:-2]
    if "." in text and " " not in text:
        text = text.rsplit(".", 1)[-1]
    return text[:64] or value[:64]


def _error_type_from_events(span: Span) -> str | None:
    for event in span.events:
        if event.name == "exception":
            for kv in event.attributes:
                if kv.key == "exception.type" and kv.value.string_value:
                    return kv.value.string_value
    return None


def _first_chunk_s(span: Span) -> float | None:
    """Time to first chunk from an event some instrumentations add at the first chunk."""
    for event in span.events:
        if event.name in FIRST_CHUNK_EVENTS and event.time_unix_nano >= span.start_time_unix_nano:
            return (event.time_unix_nano - span.start_time_unix_nano) / 1e9
    return None


# What a span is: a model call, an agent run, a tool step, another GenAI wrapper, or neither.
_CALL, _RUN, _TOOL, _WRAPPER, _OTHER = "call", "run", "tool", "wrapper", "other"


def _operation(fields: dict[str, Any], convention: Convention) -> str | None:
    """The span's GenAI operation, or what its convention's span kind stands for."""
    operation = fields.get("operation")
    if operation is not None:
        operation = operation.lower()
        return OPERATION_ALIASES.get(operation, operation)
    for attribute, operations in convention.kinds.items():
        kind = fields.get(_KIND_FIELD + attribute)
        if kind is None:
            continue
        for spelling in (kind, kind.upper(), kind.lower()):
            if spelling in operations:
                return operations[spelling]
    return None


def _classify(fields: dict[str, Any], convention: Convention, root: bool, scope: str) -> str:
    """What the span is; sets `operation` from a span kind when the span is a call, and
    `run_kind` for a run."""
    reported = fields.get("operation")
    operation = _operation(fields, convention)
    if operation is not None:
        if operation in LLM_OPERATIONS:
            fields["operation"] = operation
            return _CALL
        run_kind = RUN_OPERATIONS.get(operation) or (
            ROOT_RUN_OPERATIONS.get(operation) if root else None)
        if run_kind is not None:
            if (run_kind == "agent" and root and scope in convention.workflow_root_scopes
                    and "agent_name" not in fields):
                run_kind = "workflow"
            fields["run_kind"] = run_kind
            return _RUN
        if operation in TOOL_OPERATIONS:
            return _TOOL
        if operation in WRAPPER_OPERATIONS:
            return _WRAPPER
    if "request_model" in fields or "response_model" in fields:
        return _CALL if reported is not None or "provider" in fields else _OTHER
    return _OTHER


def _recovered(span: Span, fields: dict[str, Any], scope: str) -> bool:
    """A span of a provider's instrumentation that says nothing but its name, in the GenAI
    convention's `{operation} {model}` (OpenLIT's failed calls): read provider, operation and
    model from scope and name. Whether it was."""
    if any(k in fields for k in ("provider", "operation", "request_model", "response_model")):
        return False
    provider = provider_of_scope(scope)
    operation, _, model = span.name.partition(" ")
    model = model.strip()
    if provider is None or operation not in LLM_OPERATIONS or not model or " " in model:
        return False
    fields.update(provider=provider, operation=operation, request_model=model[:256])
    return True


def _stream_start(span: Span, fields: dict[str, Any], convention: Convention,
                  scope: str) -> bool:
    """Whether a call span is only the start of a stream whose call is another span (see
    Convention.stream_in_two_spans); marks the span that is the call."""
    if scope not in convention.stream_in_two_spans:
        return False
    if fields.get("span_type") == "log":
        fields["streaming"] = True
        return False
    return (span.status.code != Status.STATUS_CODE_ERROR and "response_id" not in fields
            and not _has_usage(fields))


class PriceFunction(Protocol):
    """The call's cost in nano-USD and its source (`custom`, `catalog`), or None."""

    def __call__(
        self, provider: str | None, model: str | None, at: datetime, input_tokens: int,
        output_tokens: int, cache_read_tokens: int = 0, cache_write_tokens: int = 0,
    ) -> tuple[int, str] | None: ...


@dataclass(slots=True)
class _Candidate:
    span: Span
    parent: bytes
    """The key of the span above it (trace id + parent span id)."""
    fields: dict[str, Any]
    tags: dict[str, Any]
    convention: Convention
    scope_name: str
    scope_version: str
    family: str | None


# Span kinds of spans inside a service (OTLP: an unspecified kind may be taken as internal).
_INTERNAL = frozenset({Span.SPAN_KIND_INTERNAL, Span.SPAN_KIND_UNSPECIFIED})

# Inherited from ancestors in the same request when a call has none of its own.
_INHERITED = ("agent_id", "agent_name", "session_id", "user_id")
_INHERITED_SET = frozenset(_INHERITED)
_MAX_ANCESTORS = 32


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
    # Keyed by trace id + span id: span ids are unique only within a trace.
    candidates: dict[bytes, _Candidate] = {}
    # span id -> (parent span id, what it passes on to the calls below it)
    lineage: dict[bytes, tuple[bytes, dict[str, Any] | None]] = {}
    # Runs, tools and links, with what they read: made into records once duplicates are known.
    steps: list[tuple[str, Span, dict[str, Any]]] = []
    all_table = _TABLES[ALL_CONVENTIONS.name]
    for resource_spans in request.resource_spans:
        base: dict[str, Any] = {}
        base_ranks: dict[str, int] = {}
        _read(resource_spans.resource.attributes, all_table, base, base_ranks, None, limits,
              out)
        sdk_name = next((kv.value.string_value for kv in resource_spans.resource.attributes
                         if kv.key == "telemetry.sdk.name"), None)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope
            scope_name, scope_version = scope.name, scope.version  # read once for its spans
            table = _TABLES[detect_convention(scope_name, sdk_name).name]
            convention = table.convention
            family = family_of(scope_name)
            for span in scope_spans.spans:
                out.spans += 1
                fields = dict(base)
                ranks = dict(base_ranks)
                tags: dict[str, Any] = {}
                _read(span.attributes, table, fields, ranks, tags, limits, out)
                trace_id, parent_span_id = span.trace_id, span.parent_span_id
                kind = _classify(fields, convention, not parent_span_id, scope_name)
                if kind == _OTHER and _recovered(span, fields, scope_name):
                    kind = _CALL
                key = trace_id + span.span_id
                if kind == _CALL and _stream_start(span, fields, convention, scope_name):
                    out.skipped["stream_start"] += 1
                    if parent_span_id:
                        steps.append((_WRAPPER, span, fields))
                elif kind == _CALL:
                    if len(key) != 24 or key in candidates:  # bad ids: rejected below, alone
                        key = b"!%d" % out.spans
                    candidates[key] = _Candidate(span, trace_id + parent_span_id, fields, tags,
                                                 convention, scope_name, scope_version, family)
                    continue
                elif kind == _RUN:
                    if fields["run_kind"] == "agent":  # the agent of the calls below it
                        name = _run_name(span, fields)
                        if name is not None:
                            fields.setdefault("agent_name", name)
                            # Its own id, not an enclosing agent's (see _inherit).
                            fields.setdefault("agent_id", fields["agent_name"])
                    steps.append((_RUN, span, fields))
                    if tags:
                        fields[_TAGS_FIELD] = tags
                elif kind == _TOOL:
                    steps.append((_TOOL, span, fields))
                else:
                    out.skipped["not_llm" if kind == _OTHER else "wrapper"] += 1
                    if parent_span_id and (kind == _WRAPPER or span.kind in _INTERNAL):
                        steps.append((_WRAPPER, span, fields))
                passed = {k: fields[k] for k in _INHERITED if k in fields and k not in base}
                lineage[key] = (trace_id + parent_span_id, passed or None)

    _drop_duplicates(candidates, out, lineage)
    for kind, span, fields in steps:
        if kind == _RUN and not _INHERITED_SET <= fields.keys():
            _inherit(_parent_key(span), fields, lineage, candidates)
        record = _to_step(kind, span, fields, project_id)
        if isinstance(record, AgentRun):
            out.runs.append(record)
        elif isinstance(record, ToolCall):
            out.tools.append(record)
        elif isinstance(record, SpanLink):
            out.links.append(record)
        elif record is not None:
            out.reject(*record)
    for candidate in candidates.values():
        if not _INHERITED_SET <= candidate.fields.keys():
            _inherit(candidate.parent, candidate.fields, lineage, candidates)
        call = _to_call(candidate, project_id, price)
        if isinstance(call, LlmCall):
            out.calls.append(call)
        else:
            out.reject(*call)
    return out


def _run_name(span: Span, fields: dict[str, Any]) -> str | None:
    """A run's name: its agent's (or workflow's) name, else the decorated function's
    (OpenLLMetry), else the span name without its operation."""
    preferred = ("workflow_name", "entity_name") if fields["run_kind"] == "workflow" else (
        "agent_name", "entity_name")
    for name in preferred:
        if fields.get(name):
            return str(fields[name])
    return span.name.removeprefix("invoke_agent ").removeprefix(
        "invoke_workflow ").strip()[:256] or None


def _identity_error(trace_id: bytes, span_id: bytes, start: int) -> tuple[str, str] | None:
    """Why a span of these ids and start time cannot be stored, or None."""
    if len(trace_id) != 16 or trace_id == _ZERO_TRACE_ID:
        return "invalid_trace_id", "span with an invalid trace_id (must be 16 bytes, not all zero)"
    if len(span_id) != 8 or span_id == _ZERO_SPAN_ID:
        return "invalid_span_id", "span with an invalid span_id (must be 8 bytes, not all zero)"
    if start <= 0:
        return "no_start_time", "span without start_time_unix_nano"
    return None


def _status(span: Span, fields: dict[str, Any]) -> tuple[str, str | None]:
    """(status, error type) of a span: an error when its status or `error.type` says so."""
    failed = span.status.code == Status.STATUS_CODE_ERROR or "error_type" in fields
    error_type = fields.get("error_type") or (_error_type_from_events(span) if failed else None)
    if error_type is not None:
        error_type = normalize_error_type(error_type)
    return ("error" if failed else "ok"), error_type


def _duration_us(start: int, end: int) -> int:
    return max(0, (end - start) // 1000) if end else 0


def _to_step(kind: str, span: Span, f: dict[str, Any],
             project_id: int) -> AgentRun | ToolCall | SpanLink | tuple[str, str] | None:
    """The record of a run, tool or link span; (reason, message) why a run or tool is rejected;
    None for a link with invalid ids (not stored, as a span that is not a record)."""
    start = span.start_time_unix_nano
    invalid = _identity_error(span.trace_id, span.span_id, start)
    if invalid is not None:
        return None if kind == _WRAPPER else invalid
    time = _EPOCH + timedelta(microseconds=start // 1000)
    parent = span.parent_span_id or None
    if kind == _WRAPPER:
        return SpanLink(time, project_id, span.trace_id, span.span_id, span.parent_span_id)
    status, error_type = _status(span, f)
    if kind == _TOOL:
        name = (f.get("tool_name") or f.get("entity_name")
                or span.name.removeprefix("execute_tool ").strip()[:256] or None)
        return ToolCall(time, project_id, span.trace_id, span.span_id, parent, name,
                        _duration_us(start, span.end_time_unix_nano), status, error_type)
    if f["run_kind"] == "workflow":
        agent_id = agent_name = _run_name(span, f)
    else:
        agent_name = f.get("agent_name")
        agent_id = f.get("agent_id") or agent_name
    return AgentRun(time, project_id, span.trace_id, span.span_id, parent, f["run_kind"],
                    agent_id, agent_name,
                    f.get("service_name"), f.get("environment"), f.get("session_id"),
                    f.get("user_id"), _duration_us(start, span.end_time_unix_nano), status,
                    error_type,
                    f.get(_TAGS_FIELD))


def _parent_key(span: Span) -> bytes:
    return span.trace_id + span.parent_span_id


def _has_usage(fields: dict[str, Any]) -> bool:
    return bool(fields.get("input_tokens") or fields.get("output_tokens"))


def _drop_duplicates(candidates: dict[bytes, _Candidate], out: Normalized,
                     lineage: dict[bytes, tuple[bytes, dict[str, Any] | None]]) -> None:
    """One call traced twice within one trace (by two instrumentations of one client, or by
    hand around an instrumented client) shows as LLM spans nested directly in one another: of
    each such chain keep the outermost span that has usage, else the outermost. Copies in
    other traces or requests (the same response id, ...) are the store's (store.copies)."""
    groups: dict[bytes, list[bytes]] = {}  # a group's first member -> its members
    member_of: dict[bytes, bytes] = {}

    def join(a: bytes, b: bytes) -> None:
        ga, gb = member_of.get(a, a), member_of.get(b, b)
        if ga == gb:
            return
        merged = groups.pop(ga, [ga]) + groups.pop(gb, [gb])
        groups[ga] = merged
        for member in merged:
            member_of[member] = ga

    for span_id, candidate in candidates.items():
        parent = candidate.parent
        if parent in candidates:
            join(parent, span_id)
    for members in groups.values():
        def rank(span_id: bytes) -> tuple[bool, int]:
            depth, parent = 0, candidates[span_id].parent
            while parent in candidates and depth < _MAX_ANCESTORS:
                depth, parent = depth + 1, candidates[parent].parent
            return (not _has_usage(candidates[span_id].fields), depth)

        keeper = min(members, key=rank)  # stable: ties keep the first in the request
        for span_id in members:
            if span_id != keeper:
                dropped = candidates.pop(span_id)
                lineage[span_id] = (dropped.parent, dropped.fields)
                out.skipped["duplicate"] += 1
                kept = candidates[keeper].fields
                for name in ("response_id", "ttft_s"):  # what the inner span knew
                    if name not in kept and name in dropped.fields:
                        kept[name] = dropped.fields[name]


def _inherit(parent: bytes, fields: dict[str, Any],
             lineage: dict[bytes, tuple[bytes, dict[str, Any] | None]],
             candidates: dict[bytes, _Candidate]) -> None:
    for _ in range(_MAX_ANCESTORS):
        if parent in lineage:
            parent, passed = lineage[parent]
        elif parent in candidates:
            c = candidates[parent]
            parent, passed = c.parent, c.fields
        else:
            return
        if passed:
            for key in _INHERITED:
                if key not in fields and key in passed:
                    fields[key] = passed[key]
            if all(k in fields for k in _INHERITED):
                return


def _version(text: str) -> tuple[int, ...] | None:
    try:
        return tuple(int(part) for part in text.split(".")[:3])
    except ValueError:
        return None


def _to_call(
    candidate: _Candidate, project_id: int, price: PriceFunction | None
) -> LlmCall | tuple[str, str]:
    """The call of an LLM span, or (reason, message) why it is rejected."""
    span, f, tags = candidate.span, candidate.fields, candidate.tags
    trace_id, span_id, start = span.trace_id, span.span_id, span.start_time_unix_nano
    invalid = _identity_error(trace_id, span_id, start)
    if invalid is not None:
        return invalid
    latency_us = _duration_us(start, span.end_time_unix_nano)
    if "log_duration_s" in f and f.get("span_type") == "log" and f.get("streaming"):
        # The log at a stream's end (Convention.stream_in_two_spans): the call is the stream.
        duration = f["log_duration_s"]
        if 0 <= duration < 86_400:
            latency_us = int(duration * 1_000_000)
            start = max(1, start - latency_us * 1000)
    status, error_type = _status(span, f)
    failed = status == "error"

    provider = f.get("provider")
    if provider is None and "/" in f.get("routed_model", ""):
        provider = f["routed_model"].split("/", 1)[0]
    if provider is not None:
        provider = provider.lower()
        provider = PROVIDER_ALIASES.get(provider, provider)
    get = f.get
    parameters = get("invocation_parameters")
    request_model = get("request_model")
    streaming = get("streaming")
    if parameters is not None:
        if request_model is None and isinstance(parameters.get("model"), str):
            request_model = parameters["model"].strip()[:256] or None
        if streaming is None and isinstance(parameters.get("stream"), bool):
            streaming = parameters["stream"]
    response_model = get("response_model")
    convention = candidate.convention
    if streaming is None and convention.stream_kinds and any(
            get(_KIND_FIELD + kind) in convention.stream_kinds for kind in convention.kinds):
        streaming = True
    ttft = get("ttft_s")
    if ttft is None and "ttft_ms" in f:
        ttft = f["ttft_ms"] / 1000
    if ttft is None and streaming:
        ttft = _first_chunk_s(span)
    if ttft is not None and (streaming is False or not 0 <= ttft < 86_400):
        ttft = None  # some libraries put the whole latency there for calls that do not stream

    usage = get("usage_json")
    if usage is not None:
        _fill_from_usage(f, usage)
    input_tokens = get("input_tokens", 0)
    output_tokens = get("output_tokens", 0)
    cache_read_tokens = get("cache_read_tokens", 0)
    cache_write_tokens = get("cache_write_tokens", 0)
    reasoning_tokens = get("reasoning_tokens", 0)
    total = get("total_tokens")
    if provider in THOUGHTS_OUTSIDE_OUTPUT_PROVIDERS and total and not reasoning_tokens:
        thoughts = total - input_tokens - output_tokens
        if thoughts > 0:
            output_tokens += thoughts
            reasoning_tokens = thoughts
    if provider in CACHE_EXCLUSIVE_PROVIDERS:
        input_tokens, output_tokens = _exclusive_usage(candidate, provider, streaming, input_tokens,
                                                       output_tokens, cache_read_tokens,
                                                       cache_write_tokens)
    time = _EPOCH + timedelta(microseconds=start // 1000)
    cost = usd_to_nano(f["cost_usd"]) if "cost_usd" in f else None
    if cost == 0 and candidate.convention.reported_zero_cost_is_unknown and _has_usage(f):
        cost = None
    source = None
    if cost is not None:
        source = "reported"
    elif price is not None and (failed or _has_usage(f)):
        # A successful call that reports no usage at all is unpriced, not free.
        priced = price(provider, response_model or request_model, time, input_tokens,
                       output_tokens, cache_read_tokens, cache_write_tokens)
        if priced is not None:
            cost, source = priced
    return LlmCall(
        time,
        project_id,
        trace_id,
        span_id,
        span.parent_span_id or None,
        get("service_name"),
        get("environment"),
        get("agent_id") or get("agent_name"),  # grouping by agent needs an id; a name will do
        get("agent_name"),
        get("session_id"),
        get("user_id"),
        provider,
        request_model,
        response_model,
        response_model or request_model,
        (get("operation") or "chat").lower(),
        streaming,
        input_tokens,
        output_tokens,
        cache_read_tokens,
        cache_write_tokens,
        reasoning_tokens,
        cost,
        source,
        latency_us,
        int(ttft * 1_000_000) if ttft is not None else None,
        status,
        error_type,
        tags or None,
        get("response_id"),
        candidate.family,
    )


def _fill_from_usage(fields: dict[str, Any], usage: dict[str, Any]) -> None:
    """Counts the flat attributes lack, from the provider's usage object (USAGE_JSON_FIELDS)."""
    for name, paths in USAGE_JSON_FIELDS.items():
        if name in fields:
            continue
        for path in paths:
            value: Any = usage
            for step in path:
                value = value.get(step) if isinstance(value, dict) else None
            number = _coerce("int", value) if not isinstance(value, dict) else None
            if number:
                fields[name] = number
                break


def _exclusive_usage(candidate: _Candidate, provider: str, streaming: bool | None,
                     input_tokens: int, output_tokens: int, cache_read: int,
                     cache_write: int) -> tuple[int, int]:
    """Usage of a provider of CACHE_EXCLUSIVE_PROVIDERS in SpanTally's meaning, whichever
    library reported it."""
    convention = candidate.convention
    cached = cache_read + cache_write
    # The provider's own `input_tokens` leaves cached tokens out; libraries that pass it on as
    # is are known by name, and any span whose input is below its cached part is one too.
    if cached and (provider in convention.input_excludes_cache or input_tokens < cached):
        input_tokens += cached
    newest_affected = convention.streamed_anthropic_output_extra.get(candidate.scope_name)
    if provider == "anthropic" and streaming and output_tokens > 0 and newest_affected:
        version = _version(candidate.scope_version)
        if version is not None and version <= _version(newest_affected):  # type: ignore[operator]
            output_tokens -= 1
    return input_tokens, output_tokens


def count_spans(request: ExportTraceServiceRequest) -> int:
    return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
