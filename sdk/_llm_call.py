"""`spantally.llm_call()`: one LLM call as an OTel GenAI client span."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from . import semconv
from ._version import __version__

__all__ = ["LlmCallSpan", "llm_call"]


class LlmCallSpan:
    """The span of one LLM call; a sync and async context manager.

    On an exception the span records it, gets status ERROR and `error.type` (the exception's
    class name), and the exception propagates unchanged."""

    def __init__(self, name: str, attributes: dict[str, AttributeValue]) -> None:
        self._name = name
        self._attributes = attributes
        self._span: Span | None = None
        self._token: object | None = None

    @property
    def span(self) -> Span:
        if self._span is None:
            raise RuntimeError("the call has not started: use it in a with block")
        return self._span

    def set_usage(
        self,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        *,
        cache_read_tokens: int | None = None,
        cache_write_tokens: int | None = None,
        reasoning_tokens: int | None = None,
    ) -> None:
        """Token counts. `input_tokens` is the whole prompt, cached tokens included."""
        for key, value in (
            (semconv.USAGE_INPUT_TOKENS, input_tokens),
            (semconv.USAGE_OUTPUT_TOKENS, output_tokens),
            (semconv.USAGE_CACHE_READ_INPUT_TOKENS, cache_read_tokens),
            (semconv.USAGE_CACHE_CREATION_INPUT_TOKENS, cache_write_tokens),
            (semconv.USAGE_REASONING_OUTPUT_TOKENS, reasoning_tokens),
        ):
            if value is not None:
                self.span.set_attribute(key, int(value))

    def set_response_model(self, model: str) -> None:
        self.span.set_attribute(semconv.RESPONSE_MODEL, model)

    def set_cost(self, usd: float) -> None:
        """The call's cost as reported by the provider; it wins over SpanTally's price book."""
        self.span.set_attribute(semconv.USAGE_COST, float(usd))

    def set_time_to_first_chunk(self, seconds: float) -> None:
        self.span.set_attribute(semconv.TIME_TO_FIRST_CHUNK, float(seconds))

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        self.span.set_attribute(key, value)

    def __enter__(self) -> LlmCallSpan:
        tracer = trace.get_tracer("spantally", __version__)
        self._span = tracer.start_span(self._name, kind=SpanKind.CLIENT, attributes=self._attributes)
        self._token = otel_context.attach(trace.set_span_in_context(self._span))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        span = self.span
        if exc is not None:
            span.set_attribute(semconv.ERROR_TYPE, type(exc).__qualname__)
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, str(exc) or type(exc).__qualname__))
        if self._token is not None:
            otel_context.detach(self._token)  # type: ignore[arg-type]
            self._token = None
        span.end()

    async def __aenter__(self) -> LlmCallSpan:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


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
    return LlmCallSpan(f"{operation} {model}", merged)
