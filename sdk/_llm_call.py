"""One LLM call as an OTel GenAI client span: `spantally.llm_call()`, `@spantally.llm(...)`,
and the span object that client instrumentations fill in as a response arrives."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from . import semconv
from ._context import AlsoAsync, current_attributes, run_inside, sdk_tracer

__all__ = ["LlmCallSpan", "current_call", "error_type", "llm", "llm_call"]

P = ParamSpec("P")
R = TypeVar("R")

_CURRENT: ContextVar[LlmCallSpan | None] = ContextVar("spantally_current_call", default=None)


def error_type(exc: BaseException) -> str:
    """A short, stable `error.type`: the exception's class name (`RateLimitError`, ...)."""
    return type(exc).__qualname__


def current_call() -> LlmCallSpan | None:
    """The `llm_call` / `@llm` block the caller is in, to add usage from inside a function."""
    return _CURRENT.get()


class LlmCallSpan(AlsoAsync):
    """The span of one LLM call; a sync and async context manager.

    On an exception the span records it, gets status ERROR and `error.type` (the exception's
    class name), and the exception propagates unchanged."""

    __slots__ = ("_attributes", "_ended", "_first_chunk_seen", "_name", "_pending", "_span",
                 "_started_ns", "_tokens", "_tracer")

    def __init__(
        self, name: str, attributes: Mapping[str, AttributeValue], tracer: trace.Tracer | None = None
    ) -> None:
        self._name = name
        self._attributes = attributes
        self._tracer = tracer
        self._span: Span = INVALID_SPAN
        self._started_ns = 0
        self._ended = False
        self._first_chunk_seen = False
        # Attributes learnt during the call, set on the span in one go when it ends: the SDK
        # validates and locks per call of set_attribute(s), which costs more than the dict.
        self._pending: dict[str, AttributeValue] = {}
        self._tokens: list[tuple[object, Token[LlmCallSpan | None]]] = []

    @property
    def span(self) -> Span:
        if self._span is INVALID_SPAN:
            raise RuntimeError("the call has not started: use it in a with block")
        return self._span

    # -- what a caller or an instrumentation records -------------------------------------------

    def set_usage(
        self,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        *,
        cache_read_tokens: int | None = None,
        cache_write_tokens: int | None = None,
        reasoning_tokens: int | None = None,
    ) -> None:
        """Token counts. `input_tokens` is the whole prompt, cached tokens included;
        `output_tokens` includes reasoning tokens."""
        self._check_started()
        pending = self._pending
        for key, value in (
            (semconv.USAGE_INPUT_TOKENS, input_tokens),
            (semconv.USAGE_OUTPUT_TOKENS, output_tokens),
            (semconv.USAGE_CACHE_READ_INPUT_TOKENS, cache_read_tokens),
            (semconv.USAGE_CACHE_CREATION_INPUT_TOKENS, cache_write_tokens),
            (semconv.USAGE_REASONING_OUTPUT_TOKENS, reasoning_tokens),
        ):
            if value is not None:
                pending[key] = int(value)

    def set_response_model(self, model: str) -> None:
        self.set_attribute(semconv.RESPONSE_MODEL, model)

    def set_response(
        self,
        *,
        response_id: str | None = None,
        model: str | None = None,
        finish_reasons: Iterable[str] | None = None,
    ) -> None:
        self._check_started()
        pending = self._pending
        if response_id:
            pending[semconv.RESPONSE_ID] = response_id
        if model:
            pending[semconv.RESPONSE_MODEL] = model
        if finish_reasons is not None:
            reasons = tuple(str(r) for r in finish_reasons if r is not None)
            if reasons:
                pending[semconv.RESPONSE_FINISH_REASONS] = reasons

    def set_cost(self, usd: float) -> None:
        """The call's cost as reported by the provider; it wins over SpanTally's price book."""
        self.set_attribute(semconv.USAGE_COST, float(usd))

    def set_time_to_first_chunk(self, seconds: float) -> None:
        self.set_attribute(semconv.TIME_TO_FIRST_CHUNK, float(seconds))

    def mark_first_chunk(self) -> None:
        """Record the time to first chunk now, once per call."""
        if not self._first_chunk_seen:
            self._first_chunk_seen = True
            elapsed = (time.monotonic_ns() - self._started_ns) / 1e9
            self._pending[semconv.TIME_TO_FIRST_CHUNK] = elapsed

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        self._check_started()
        self._pending[key] = value

    def _check_started(self) -> None:
        if self._span is INVALID_SPAN:
            raise RuntimeError("the call has not started: use it in a with block")

    def record_error(self, exc: BaseException) -> None:
        span = self.span
        self._pending[semconv.ERROR_TYPE] = error_type(exc)
        status_code = getattr(exc, "status_code", None)
        if isinstance(status_code, int):
            self._pending[semconv.HTTP_STATUS_CODE] = status_code
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, str(exc) or error_type(exc)))

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> LlmCallSpan:
        """Start the span (scopes' attributes first, the call's own win), not yet current."""
        scope = current_attributes()
        attributes = {**scope, **self._attributes} if scope else self._attributes
        tracer = self._tracer or sdk_tracer()
        self._started_ns = time.monotonic_ns()
        self._span = tracer.start_span(self._name, kind=SpanKind.CLIENT, attributes=attributes)
        return self

    def end(self) -> None:
        """End the span; later calls do nothing (a stream may be closed more than once)."""
        if not self._ended and self._span is not INVALID_SPAN:
            self._ended = True
            if self._pending:
                self._span.set_attributes(self._pending)
            self._span.end()

    @property
    def ended(self) -> bool:
        return self._ended

    def __enter__(self) -> LlmCallSpan:
        self.start()
        token = otel_context.attach(trace.set_span_in_context(self._span))
        self._tokens.append((token, _CURRENT.set(self)))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            self.record_error(exc)
        token, current = self._tokens.pop()
        _CURRENT.reset(current)
        otel_context.detach(token)  # type: ignore[arg-type]
        self.end()


def _call_attributes(
    provider: str,
    model: str,
    operation: str,
    agent_id: str | None,
    agent_name: str | None,
    session_id: str | None,
    user_id: str | None,
    streaming: bool | None,
    attributes: Mapping[str, AttributeValue] | None,
) -> dict[str, AttributeValue]:
    values: dict[str, Any] = {
        semconv.PROVIDER_NAME: provider,
        semconv.OPERATION_NAME: operation,
        semconv.REQUEST_MODEL: model,
        semconv.AGENT_ID: agent_id,
        semconv.AGENT_NAME: agent_name,
        semconv.SESSION_ID: session_id,
        semconv.USER_ID: user_id,
        semconv.REQUEST_STREAM: streaming,
    }
    merged = {k: v for k, v in values.items() if v is not None}
    if attributes:
        merged.update(attributes)
    return merged


def llm_call(
    provider: str,
    model: str,
    *,
    operation: str = "chat",
    agent_id: str | None = None,
    agent_name: str | None = None,
    session_id: str | None = None,
    user_id: str | None = None,
    streaming: bool | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> LlmCallSpan:
    """Wrap one call to a model: `with spantally.llm_call("openai", "gpt-4o") as call: ...`."""
    merged = _call_attributes(provider, model, operation, agent_id, agent_name, session_id,
                              user_id, streaming, attributes)
    return LlmCallSpan(f"{operation} {model}", merged)


def llm(
    provider: str,
    model: str,
    *,
    operation: str = "chat",
    agent_id: str | None = None,
    agent_name: str | None = None,
    session_id: str | None = None,
    user_id: str | None = None,
    streaming: bool | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a function that calls a model, sync or async: each call is one LLM span.
    Inside, `spantally.current_call()` returns the span to add usage to."""
    merged = _call_attributes(provider, model, operation, agent_id, agent_name, session_id,
                              user_id, streaming, attributes)
    name = f"{operation} {model}"

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        return run_inside(lambda: LlmCallSpan(name, merged), function)

    return decorate
