"""Patching client methods so that each call is an LLM span, without ever breaking the call.

A provider module describes its endpoints as `InstrumentedCall` subclasses; this module wraps
the methods (sync and async), makes the span current while the request runs, and hooks the
returned stream object in place, so callers get back exactly what the client returned.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from ._context import ContextSpanProcessor
from ._llm_call import LlmCallSpan

__all__ = [
    "ClientInstrumentation",
    "InstrumentOptions",
    "InstrumentedCall",
    "Patches",
    "begin_call",
    "ensure_context_processor",
    "finish_call",
    "given",
    "report_failure",
    "to_json",
    "wrap_async",
    "wrap_sync",
]

_log = logging.getLogger("spantally")
_reported: set[str] = set()
_reported_lock = threading.Lock()


def report_failure(site: str) -> None:
    """Log an instrumentation failure once per site; the caller's call goes on unchanged."""
    with _reported_lock:
        if site in _reported:
            return
        _reported.add(site)
    _log.warning("spantally could not record %s; the call itself is unaffected", site, exc_info=True)


def given(value: Any) -> bool:
    """False for an argument left out: the clients mark those with sentinels (`omit`, ...)."""
    return value is not None and type(value).__name__ not in ("Omit", "NotGiven")


def to_json(value: Any) -> str:
    """Request or response content as a JSON attribute value (pydantic models included)."""
    return json.dumps(value, default=lambda o: getattr(o, "model_dump", lambda: str(o))(),
                      ensure_ascii=False)


def _suppressed() -> bool:
    return bool(otel_context.get_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY))


@dataclass(frozen=True)
class InstrumentOptions:
    capture_content: bool = False
    """Record prompts and completions (`gen_ai.input.messages` / `gen_ai.output.messages`)."""
    stream_usage: bool = True
    """Ask OpenAI for usage on streams (`stream_options.include_usage`) when the caller did not."""
    tracer_provider: trace.TracerProvider | None = None

    def tracer(self) -> trace.Tracer:
        from ._version import __version__

        return trace.get_tracer("spantally", __version__, tracer_provider=self.tracer_provider)


class InstrumentedCall:
    """One call to an instrumented method. Subclasses record the request in `__init__` (via
    `self.span`), a whole response in `response()`, and a stream item by item in `item()`."""

    site = "a call"

    def __init__(self, span: LlmCallSpan, kwargs: dict[str, Any]) -> None:
        self.span = span
        self.kwargs = kwargs

    def response(self, result: Any) -> None:
        """Record a complete (non-streamed) result."""

    def is_stream(self, result: Any) -> bool:
        return False

    def item(self, item: Any) -> None:
        """Record one streamed item."""

    def hides(self, item: Any) -> bool:
        """True for an item the caller did not ask for (usage the SDK requested)."""
        return False

    def stream_finished(self) -> None:
        """Record what the stream items added up to (usage, finish reasons)."""

    # -- used by the wrappers -------------------------------------------------------------------

    def record_failure(self, exc: BaseException) -> None:
        try:
            if isinstance(exc, Exception):  # a cancellation is not the call failing
                self.span.record_error(exc)
        except Exception:
            report_failure(self.site + " (error)")

    def fail(self, exc: BaseException) -> None:
        self.record_failure(exc)
        self.span.end()

    def finish(self, result: Any) -> Any:
        if self.is_stream(result):
            _hook_stream(result, self)
        else:
            try:
                self.response(result)
            finally:
                self.span.end()
        return result

    def end_stream(self) -> None:
        if self.span.ended:
            return
        try:
            self.stream_finished()
        except Exception:
            report_failure(self.site + " (stream end)")
        finally:
            self.span.end()

    def safe_item(self, item: Any) -> bool:
        """Record `item`; whether the caller gets it does not depend on recording working."""
        try:
            self.span.mark_first_chunk()
            self.item(item)
        except Exception:
            report_failure(self.site + " (stream item)")
        try:
            return not self.hides(item)
        except Exception:
            report_failure(self.site + " (stream item)")
            return True


def _observe(inner: Iterator[Any], call: InstrumentedCall) -> Iterator[Any]:
    try:
        for item in inner:
            if call.safe_item(item):
                yield item
    except Exception as exc:
        call.record_failure(exc)
        raise
    finally:
        call.end_stream()  # with what is known, also when the caller abandons the stream
        close = getattr(inner, "close", None)
        if close is not None:
            close()


async def _observe_async(inner: AsyncIterator[Any], call: InstrumentedCall) -> AsyncIterator[Any]:
    try:
        async for item in inner:
            if call.safe_item(item):
                yield item
    except Exception as exc:
        call.record_failure(exc)
        raise
    finally:
        call.end_stream()
        aclose = getattr(inner, "aclose", None)
        if aclose is not None:
            await aclose()


def _hook_stream(stream: Any, call: InstrumentedCall) -> None:
    """Route the stream's items through `call` in place: the caller keeps the client's own
    stream object (same type, same methods). Closing it, or dropping it unread, ends the span."""
    inner = stream._iterator
    # Weak: a strong reference from the stream's own attributes back to it would keep a dropped
    # stream (and its open response) alive until the cycle collector runs.
    ref = weakref.ref(stream)
    close = type(stream).close
    if hasattr(inner, "__anext__"):
        stream._iterator = _observe_async(inner, call)

        async def close_async() -> None:
            call.end_stream()
            target = ref()
            if target is not None:
                await close(target)

        stream.close = close_async
    else:
        stream._iterator = _observe(inner, call)

        def close_sync() -> None:
            call.end_stream()
            target = ref()
            if target is not None:
                close(target)

        stream.close = close_sync
    weakref.finalize(stream, call.end_stream)


Begin = Callable[[Any, dict[str, Any]], "InstrumentedCall | None"]


def begin_call(
    begin: Begin, site: str, instance: Any, kwargs: dict[str, Any]
) -> InstrumentedCall | None:
    if _suppressed():
        return None
    try:
        return begin(instance, kwargs)
    except Exception:
        report_failure(site)
        return None


def finish_call(call: InstrumentedCall, result: Any) -> Any:
    try:
        return call.finish(result)
    except Exception:
        report_failure(call.site)
        call.span.end()
        return result


def wrap_sync(original: Callable[..., Any], begin: Begin, site: str) -> Callable[..., Any]:
    @functools.wraps(original)
    def instrumented(self: Any, *args: Any, **kwargs: Any) -> Any:
        call = begin_call(begin, site, self, kwargs)
        if call is None:
            return original(self, *args, **kwargs)
        token = otel_context.attach(trace.set_span_in_context(call.span.span))
        try:
            result = original(self, *args, **call.kwargs)
        except BaseException as exc:
            otel_context.detach(token)
            call.fail(exc)
            raise
        otel_context.detach(token)
        return finish_call(call, result)

    instrumented.__spantally_original__ = original  # type: ignore[attr-defined]
    return instrumented


def wrap_async(original: Callable[..., Any], begin: Begin, site: str) -> Callable[..., Any]:
    @functools.wraps(original)
    async def instrumented(self: Any, *args: Any, **kwargs: Any) -> Any:
        call = begin_call(begin, site, self, kwargs)
        if call is None:
            return await original(self, *args, **kwargs)
        token = otel_context.attach(trace.set_span_in_context(call.span.span))
        try:
            result = await original(self, *args, **call.kwargs)
        except BaseException as exc:
            otel_context.detach(token)
            call.fail(exc)
            raise
        otel_context.detach(token)
        return finish_call(call, result)

    instrumented.__spantally_original__ = original  # type: ignore[attr-defined]
    return instrumented


@dataclass
class Patches:
    """Methods replaced on client classes, so that they can be put back."""

    _applied: list[tuple[type, str, Any]] = field(default_factory=list)

    def replace(self, owner: type, name: str, make: Callable[[Any], Any]) -> None:
        original = owner.__dict__.get(name)
        if original is None or hasattr(original, "__spantally_original__"):
            return  # absent in this client version, or already ours
        setattr(owner, name, make(original))
        self._applied.append((owner, name, original))

    def undo(self) -> None:
        while self._applied:
            owner, name, original = self._applied.pop()
            setattr(owner, name, original)

    def __bool__(self) -> bool:
        return bool(self._applied)


class ClientInstrumentation:
    """The patches of one client library: `instrument()` applies them (False when the library
    is not installed), `uninstrument()` puts the originals back."""

    def __init__(self, options: InstrumentOptions) -> None:
        self.options = options
        self._patches = Patches()

    def instrument(self) -> bool:
        raise NotImplementedError

    def uninstrument(self) -> None:
        self._patches.undo()


def ensure_context_processor(provider: trace.TracerProvider | None = None) -> None:
    """Add `ContextSpanProcessor` to the SDK tracer provider once, so spans other code starts
    inside `spantally.agent()`/`session()`/... carry the scopes too."""
    provider = provider or trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        return
    processors = getattr(provider._active_span_processor, "_span_processors", ())
    if not any(isinstance(p, ContextSpanProcessor) for p in processors):
        provider.add_span_processor(ContextSpanProcessor())
