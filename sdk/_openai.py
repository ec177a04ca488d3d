"""`spantally.instrument_openai()`: chat completions (create, parse, stream), legacy
completions and embeddings of the official `openai` client, sync and async."""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import Tracer

from . import semconv
from ._instrument import (
    ClientInstrumentation,
    InstrumentedCall,
    InstrumentOptions,
    given,
    to_json,
    wrap_async,
    wrap_sync,
)
from ._llm_call import LlmCallSpan

__all__ = ["OpenAIInstrumentation"]

_RAW_RESPONSE_HEADER = "X-Stainless-Raw-Response"


class _OpenAICall(InstrumentedCall):
    operation = "chat"
    site = "an openai call"

    def __init__(self, resource: Any, kwargs: dict[str, Any], options: InstrumentOptions,
                 tracer: Tracer, stream_class: type | None) -> None:
        model = kwargs.get("model")
        model = model if isinstance(model, str) else "unknown"
        client = getattr(resource, "_client", None)
        attributes: dict[str, Any] = {
            semconv.PROVIDER_NAME: "azure.ai.openai" if "Azure" in type(client).__name__ else "openai",
            semconv.OPERATION_NAME: self.operation,
            semconv.REQUEST_MODEL: model,
        }
        base_url = getattr(client, "base_url", None)
        if base_url is not None:
            attributes[semconv.SERVER_ADDRESS] = base_url.host
        for key, name in ((semconv.REQUEST_MAX_TOKENS, "max_completion_tokens"),
                          (semconv.REQUEST_MAX_TOKENS, "max_tokens"),
                          (semconv.REQUEST_TEMPERATURE, "temperature")):
            value = kwargs.get(name)
            if given(value) and key not in attributes:
                attributes[key] = value
        headers = kwargs.get("extra_headers")
        # With `with_raw_response` / `with_streaming_response` the caller parses the body itself.
        self.raw = bool(headers) and _RAW_RESPONSE_HEADER in headers
        self.streaming = kwargs.get("stream") is True
        if self.streaming:
            attributes[semconv.REQUEST_STREAM] = True
        self.capture = options.capture_content
        if self.capture:
            self.capture_request(kwargs, attributes)
        self.hidden_usage = False
        if self.streaming and not self.raw and options.stream_usage and self.accepts_stream_options:
            if not given(kwargs.get("stream_options")):
                kwargs = {**kwargs, "stream_options": {"include_usage": True}}
                self.hidden_usage = True
        super().__init__(LlmCallSpan(f"{self.operation} {model}", attributes, tracer).start(), kwargs)
        self.stream_class = stream_class
        self.first_chunk = True
        self.finish_reasons: dict[int, str] = {}
        self.texts: dict[int, list[str]] = {}

    accepts_stream_options = True

    def capture_request(self, kwargs: dict[str, Any], attributes: dict[str, Any]) -> None:
        messages = kwargs.get("messages")
        if isinstance(messages, (list, tuple)):  # an iterator would be consumed
            attributes[semconv.INPUT_MESSAGES] = to_json(list(messages))

    def is_stream(self, result: Any) -> bool:
        return self.stream_class is not None and isinstance(result, self.stream_class)

    def record_usage(self, usage: Any) -> None:
        if usage is None:
            return
        prompt = getattr(usage, "prompt_tokens", None)
        completion = getattr(usage, "completion_tokens", None)
        prompt_details = getattr(usage, "prompt_tokens_details", None)
        completion_details = getattr(usage, "completion_tokens_details", None)
        self.span.set_usage(
            input_tokens=prompt,
            output_tokens=completion,
            cache_read_tokens=getattr(prompt_details, "cached_tokens", None),
            cache_write_tokens=getattr(prompt_details, "cache_write_tokens", None),
            reasoning_tokens=getattr(completion_details, "reasoning_tokens", None),
        )

    def response(self, result: Any) -> None:
        if self.raw:
            return
        choices = getattr(result, "choices", None) or ()
        self.span.set_response(
            response_id=getattr(result, "id", None),
            model=getattr(result, "model", None),
            finish_reasons=[getattr(c, "finish_reason", None) for c in choices],
        )
        self.record_usage(getattr(result, "usage", None))
        if self.capture and choices:
            self.span.set_attribute(semconv.OUTPUT_MESSAGES, to_json([self.output(c) for c in choices]))

    def output(self, choice: Any) -> dict[str, Any]:
        message = getattr(choice, "message", None)
        return {"role": getattr(message, "role", "assistant"),
                "content": getattr(message, "content", None),
                "finish_reason": getattr(choice, "finish_reason", None)}

    def hides(self, chunk: Any) -> bool:
        # The usage-only chunk we asked for: the caller did not, so it never sees it.
        return self.hidden_usage and not chunk.choices and chunk.usage is not None

    def item(self, chunk: Any) -> None:
        span = self.span
        if self.first_chunk:
            self.first_chunk = False
            span.set_response(response_id=getattr(chunk, "id", None), model=getattr(chunk, "model", None))
        choices = getattr(chunk, "choices", None) or ()
        for choice in choices:
            reason = getattr(choice, "finish_reason", None)
            if reason:
                self.finish_reasons[getattr(choice, "index", 0)] = reason
            if self.capture:
                text = self.delta_text(choice)
                if text:
                    self.texts.setdefault(getattr(choice, "index", 0), []).append(text)
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.record_usage(usage)

    def delta_text(self, choice: Any) -> str | None:
        return getattr(getattr(choice, "delta", None), "content", None)

    def stream_finished(self) -> None:
        if self.finish_reasons:
            self.span.set_response(
                finish_reasons=[self.finish_reasons[i] for i in sorted(self.finish_reasons)]
            )
        if self.capture and self.texts:
            output = [{"role": "assistant", "content": "".join(self.texts[i]),
                       "finish_reason": self.finish_reasons.get(i)} for i in sorted(self.texts)]
            self.span.set_attribute(semconv.OUTPUT_MESSAGES, to_json(output))


class _CompletionCall(_OpenAICall):
    operation = "text_completion"

    def capture_request(self, kwargs: dict[str, Any], attributes: dict[str, Any]) -> None:
        prompt = kwargs.get("prompt")
        if isinstance(prompt, (str, list)):
            attributes[semconv.INPUT_MESSAGES] = to_json([{"role": "user", "content": prompt}])

    def output(self, choice: Any) -> dict[str, Any]:
        return {"role": "assistant", "content": getattr(choice, "text", None),
                "finish_reason": getattr(choice, "finish_reason", None)}

    def delta_text(self, choice: Any) -> str | None:
        return getattr(choice, "text", None)


class _EmbeddingsCall(_OpenAICall):
    operation = "embeddings"
    accepts_stream_options = False

    def capture_request(self, kwargs: dict[str, Any], attributes: dict[str, Any]) -> None:
        pass  # embedding inputs are not messages

    def response(self, result: Any) -> None:
        if self.raw:
            return
        self.span.set_response(model=getattr(result, "model", None))
        usage = getattr(result, "usage", None)
        if usage is not None:
            self.span.set_usage(input_tokens=getattr(usage, "prompt_tokens", None))


class OpenAIInstrumentation(ClientInstrumentation):
    """Patches `openai` resource classes."""

    def instrument(self) -> bool:
        try:
            from openai import AsyncStream, Stream
            from openai.resources import completions, embeddings
            from openai.resources.chat import completions as chat
        except ImportError:
            return False
        options, tracer = self.options, self.options.tracer()

        def begin(kind: type[_OpenAICall], stream_class: type | None) -> Any:
            return lambda resource, kwargs: kind(resource, kwargs, options, tracer, stream_class)

        chat_resources = getattr(chat, "completions", chat)  # a package in newer clients
        for owner, name, kind in (
            (chat_resources.Completions, "create", _OpenAICall),
            (chat_resources.Completions, "parse", _OpenAICall),
            (completions.Completions, "create", _CompletionCall),
            (embeddings.Embeddings, "create", _EmbeddingsCall),
        ):
            self._patches.replace(owner, name, lambda f, k=kind: wrap_sync(f, begin(k, Stream), k.site))
        for owner, name, kind in (
            (chat_resources.AsyncCompletions, "create", _OpenAICall),
            (chat_resources.AsyncCompletions, "parse", _OpenAICall),
            (completions.AsyncCompletions, "create", _CompletionCall),
            (embeddings.AsyncEmbeddings, "create", _EmbeddingsCall),
        ):
            self._patches.replace(owner, name,
                                  lambda f, k=kind: wrap_async(f, begin(k, AsyncStream), k.site))
        return bool(self._patches)
