"""`spantally.instrument*()` / `uninstrument*()`: patch the installed LLM clients once."""

from __future__ import annotations

import threading

from opentelemetry import trace

from ._anthropic import AnthropicInstrumentation
from ._instrument import ClientInstrumentation, InstrumentOptions, ensure_context_processor
from ._openai import OpenAIInstrumentation

__all__ = [
    "instrument",
    "instrument_anthropic",
    "instrument_openai",
    "uninstrument",
    "uninstrument_anthropic",
    "uninstrument_openai",
]


_FACTORIES = {"openai": OpenAIInstrumentation, "anthropic": AnthropicInstrumentation}
# Monkey-patching is process-wide by nature; this records what this process patched.
_active: dict[str, ClientInstrumentation] = {}
_lock = threading.Lock()


def _instrument(name: str, options: InstrumentOptions) -> bool:
    with _lock:
        if name in _active:
            return True  # once only: a second call must not wrap the wrappers
        instrumentation = _FACTORIES[name](options)
        if not instrumentation.instrument():
            return False
        _active[name] = instrumentation
    ensure_context_processor(options.tracer_provider)
    return True


def _uninstrument(name: str) -> None:
    with _lock:
        instrumentation = _active.pop(name, None)
    if instrumentation is not None:
        instrumentation.uninstrument()


def instrument_openai(
    *,
    capture_content: bool = False,
    stream_usage: bool = True,
    tracer_provider: trace.TracerProvider | None = None,
) -> bool:
    """Make every call of the `openai` client (chat completions incl. `parse` and `stream`,
    completions, embeddings; sync and async) an LLM span. False if `openai` is not installed.

    `stream_usage`: on streams, ask for usage (`stream_options.include_usage`) when the caller
    did not, and keep that extra usage-only chunk from the caller. `capture_content`: record
    prompts and completions on the span (off by default)."""
    return _instrument("openai", InstrumentOptions(capture_content, stream_usage, tracer_provider))


def instrument_anthropic(
    *,
    capture_content: bool = False,
    tracer_provider: trace.TracerProvider | None = None,
) -> bool:
    """Make every `messages.create` / `messages.stream` call of the `anthropic` client an LLM
    span (sync and async). A client that traces itself keeps its own span, which SpanTally's
    scopes are added to. False if `anthropic` is not installed."""
    return _instrument("anthropic", InstrumentOptions(capture_content, True, tracer_provider))


def instrument(
    *,
    capture_content: bool = False,
    tracer_provider: trace.TracerProvider | None = None,
) -> list[str]:
    """Instrument every supported client that is installed; returns their names."""
    done = []
    if instrument_openai(capture_content=capture_content, tracer_provider=tracer_provider):
        done.append("openai")
    if instrument_anthropic(capture_content=capture_content, tracer_provider=tracer_provider):
        done.append("anthropic")
    return done


def uninstrument_openai() -> None:
    _uninstrument("openai")


def uninstrument_anthropic() -> None:
    _uninstrument("anthropic")


def uninstrument() -> None:
    """Put every patched client method back."""
    for name in list(_FACTORIES):
        _uninstrument(name)
