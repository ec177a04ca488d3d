"""`spantally.instrument_anthropic()`: `messages.create` (streamed or not) and `messages.stream`
of the official `anthropic` client, sync and async.

Clients that trace themselves (the `anthropic` client does, unless it was built with
`open_telemetry=False` or `ANTHROPIC_OPEN_TELEMETRY=false`) already make one GenAI span per
call; SpanTally then leaves the call alone, and `ContextSpanProcessor` adds the agent, session,
user and tags to that span, so there is never a second span for the same call.
"""

from __future__ import annotations

import functools
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Tracer

from . import semconv
from ._instrument import (
    ClientInstrumentation,
    InstrumentedCall,
    InstrumentOptions,
    begin_call,
    finish_call,
    given,
    to_json,
    wrap_async,
    wrap_sync,
)
from ._llm_call import LlmCallSpan

__all__ = ["AnthropicInstrumentation"]


def _traces_itself(resource: Any) -> bool:
    return getattr(getattr(resource, "_client", None), "_tracer", None) is not None


class _Usage:
    """Anthropic's usage, whose `input_tokens` leaves out cache reads and writes."""

    __slots__ = ("cache_read", "cache_write", "input", "output", "reasoning")

    def __init__(self) -> None:
        self.input: int | None = None
        self.output: int | None = None
        self.cache_read: int | None = None
        self.cache_write: int | None = None
        self.reasoning: int | None = None

    def update(self, usage: Any) -> None:
        # Streamed `message_delta` usage is cumulative: a value present replaces the last one.
        for slot, name in (("input", "input_tokens"), ("output", "output_tokens"),
                           ("cache_read", "cache_read_input_tokens"),
                           ("cache_write", "cache_creation_input_tokens")):
            value = getattr(usage, name, None)
            if isinstance(value, int):
                setattr(self, slot, value)
        thinking = getattr(getattr(usage, "output_tokens_details", None), "thinking_tokens", None)
        if isinstance(thinking, int):
            self.reasoning = thinking

    def record(self, span: LlmCallSpan) -> None:
        total_input = None
        if self.input is not None:
            total_input = self.input + (self.cache_read or 0) + (self.cache_write or 0)
        span.set_usage(input_tokens=total_input, output_tokens=self.output,
                       cache_read_tokens=self.cache_read, cache_write_tokens=self.cache_write,
                       reasoning_tokens=self.reasoning)


class _MessagesCall(InstrumentedCall):
    site = "an anthropic call"

    def __init__(self, resource: Any, kwargs: dict[str, Any], options: InstrumentOptions,
                 tracer: Tracer, stream_class: type | None, streaming: bool) -> None:
        model = kwargs.get("model")
        model = model if isinstance(model, str) else "unknown"
        attributes: dict[str, Any] = {
            semconv.PROVIDER_NAME: "anthropic",
            semconv.OPERATION_NAME: "chat",
            semconv.REQUEST_MODEL: model,
        }
        base_url = getattr(getattr(resource, "_client", None), "base_url", None)
        if base_url is not None:
            attributes[semconv.SERVER_ADDRESS] = base_url.host
        for key, name in ((semconv.REQUEST_MAX_TOKENS, "max_tokens"),
                          (semconv.REQUEST_TEMPERATURE, "temperature")):
            if given(kwargs.get(name)):
                attributes[key] = kwargs[name]
        if streaming:
            attributes[semconv.REQUEST_STREAM] = True
        self.capture = options.capture_content
        if self.capture:
            messages = kwargs.get("messages")
            if isinstance(messages, (list, tuple)):
                attributes[semconv.INPUT_MESSAGES] = to_json(list(messages))
            if given(kwargs.get("system")):
                attributes[semconv.SYSTEM_INSTRUCTIONS] = to_json(kwargs["system"])
        super().__init__(LlmCallSpan(f"chat {model}", attributes, tracer).start(), kwargs)
        self.stream_class = stream_class
        self.usage = _Usage()
        self.stop_reason: str | None = None
        self.texts: list[str] = []

    def is_stream(self, result: Any) -> bool:
        return self.stream_class is not None and isinstance(result, self.stream_class)

    def response(self, result: Any) -> None:
        usage = getattr(result, "usage", None)
        if usage is None:
            return  # a raw response: the caller parses it
        self.span.set_response(response_id=getattr(result, "id", None),
                               model=getattr(result, "model", None),
                               finish_reasons=[getattr(result, "stop_reason", None)])
        self.usage.update(usage)
        self.usage.record(self.span)
        if self.capture:
            content = [block.model_dump() if hasattr(block, "model_dump") else block
                       for block in getattr(result, "content", None) or ()]
            self.span.set_attribute(semconv.OUTPUT_MESSAGES, to_json(
                [{"role": "assistant", "content": content, "finish_reason": result.stop_reason}]))

    def item(self, event: Any) -> None:
        kind = getattr(event, "type", None)
        if kind == "message_start":
            message = event.message
            self.span.set_response(response_id=getattr(message, "id", None),
                                   model=getattr(message, "model", None))
            self.usage.update(getattr(message, "usage", None))
        elif kind == "message_delta":
            self.stop_reason = getattr(event.delta, "stop_reason", None) or self.stop_reason
            self.usage.update(getattr(event, "usage", None))
        elif kind == "content_block_delta" and self.capture:
            text = getattr(event.delta, "text", None)
            if text:
                self.texts.append(text)

    def stream_finished(self) -> None:
        self.usage.record(self.span)
        if self.stop_reason:
            self.span.set_response(finish_reasons=[self.stop_reason])
        if self.capture and self.texts:
            self.span.set_attribute(semconv.OUTPUT_MESSAGES, to_json(
                [{"role": "assistant", "content": "".join(self.texts),
                  "finish_reason": self.stop_reason}]))


class AnthropicInstrumentation(ClientInstrumentation):
    """Patches `anthropic` resource classes."""

    def instrument(self) -> bool:
        try:
            from anthropic import AsyncStream, Stream
            from anthropic.resources.messages import messages
        except ImportError:
            return False
        options, tracer = self.options, self.options.tracer()

        def begin(stream_class: type) -> Any:
            def start(resource: Any, kwargs: dict[str, Any]) -> _MessagesCall | None:
                if _traces_itself(resource):
                    return None
                return _MessagesCall(resource, kwargs, options, tracer, stream_class,
                                     kwargs.get("stream") is True)
            return start

        self._patches.replace(messages.Messages, "create",
                              lambda f: wrap_sync(f, begin(Stream), _MessagesCall.site))
        self._patches.replace(messages.AsyncMessages, "create",
                              lambda f: wrap_async(f, begin(AsyncStream), _MessagesCall.site))
        self._patches.replace(messages.Messages, "stream",
                              lambda f: self._wrap_stream_helper(f, tracer, Stream, "sync"))
        self._patches.replace(messages.AsyncMessages, "stream",
                              lambda f: self._wrap_stream_helper(f, tracer, AsyncStream, "async"))
        return bool(self._patches)

    def _wrap_stream_helper(self, original: Any, tracer: Tracer, stream_class: type,
                            flavour: str) -> Any:
        """`messages.stream(...)` returns a manager that makes its request on `with`: the span
        starts then, around the manager's own request function."""
        options = self.options
        attribute = ("_MessageStreamManager__api_request" if flavour == "sync"
                     else "_AsyncMessageStreamManager__api_request")

        @functools.wraps(original)
        def instrumented(resource: Any, *args: Any, **kwargs: Any) -> Any:
            manager = original(resource, *args, **kwargs)
            request = getattr(manager, attribute, None)
            if request is None or _traces_itself(resource):
                return manager

            def begin(_: Any, call_kwargs: dict[str, Any]) -> _MessagesCall:
                return _MessagesCall(resource, call_kwargs, options, tracer, stream_class, True)

            if flavour == "sync":
                def make_request() -> Any:
                    call = begin_call(begin, _MessagesCall.site, resource, kwargs)
                    if call is None:
                        return request()
                    token = otel_context.attach(trace.set_span_in_context(call.span.span))
                    try:
                        stream = request()
                    except BaseException as exc:
                        call.fail(exc)
                        raise
                    finally:
                        otel_context.detach(token)
                    return finish_call(call, stream)

                setattr(manager, attribute, make_request)
            else:
                async def make_request_async() -> Any:
                    call = begin_call(begin, _MessagesCall.site, resource, kwargs)
                    if call is None:
                        return await request
                    token = otel_context.attach(trace.set_span_in_context(call.span.span))
                    try:
                        stream = await request
                    except BaseException as exc:
                        call.fail(exc)
                        raise
                    finally:
                        otel_context.detach(token)
                    return finish_call(call, stream)

                setattr(manager, attribute, make_request_async())
            return manager

        instrumented.__spantally_original__ = original  # type: ignore[attr-defined]
        return instrumented
