"""`spantally.init()`: an OTLP exporter to SpanTally on the global tracer provider."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.util.re import parse_env_headers

from ._instrument import ensure_context_processor

__all__ = ["force_flush", "init", "shutdown"]

_log = logging.getLogger("spantally")


class _ExportSlot(SpanProcessor):
    """The one place on the provider where init()'s exporter sits: a second init() replaces
    the first exporter instead of adding one, so each span is sent once."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self._current: SpanProcessor | None = None

    def replace(self, processor: SpanProcessor) -> None:
        previous, self._current = self._current, processor
        if previous is not None:
            previous.shutdown()  # sends what it holds first

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        current = self._current
        if current is not None:
            current.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        current = self._current
        if current is not None:
            current.on_end(span)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        current = self._current
        return current.force_flush(timeout_millis) if current is not None else True

    def shutdown(self) -> None:
        if self._current is not None:
            self._current.shutdown()


# The slot on the global provider (itself process-wide by the OpenTelemetry API).
_exporting: _ExportSlot | None = None
_lock = threading.Lock()

_PROTOCOLS = {"grpc": "grpc", "http": "http", "http/protobuf": "http"}


def _protocol(explicit: str | None) -> str:
    value = (
        explicit
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "grpc"
    ).strip().lower()
    if value not in _PROTOCOLS:
        raise ValueError(f"protocol must be grpc or http/protobuf, not {value!r}")
    return _PROTOCOLS[value]


def _headers(api_key: str | None) -> dict[str, str] | None:
    api_key = api_key or os.environ.get("SPANTALLY_API_KEY")
    if not api_key:
        return None  # the exporter reads OTEL_EXPORTER_OTLP_(TRACES_)HEADERS itself
    env = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS") or os.environ.get(
        "OTEL_EXPORTER_OTLP_HEADERS", ""
    )
    headers = dict(parse_env_headers(env, liberal=True))
    headers["authorization"] = f"Bearer {api_key}"
    return headers


def _exporter(protocol: str, endpoint: str | None, headers: Mapping[str, str] | None) -> SpanExporter:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        insecure = None
        if endpoint is not None:
            insecure = urlsplit(endpoint).scheme != "https"
        return OTLPSpanExporter(endpoint=endpoint, insecure=insecure, headers=headers)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpSpanExporter,
    )

    if endpoint is not None and urlsplit(endpoint).path in ("", "/"):
        endpoint = endpoint.rstrip("/") + "/v1/traces"
    return HttpSpanExporter(endpoint=endpoint, headers=headers)


def init(
    endpoint: str | None = None,
    api_key: str | None = None,
    service_name: str | None = None,
    protocol: str | None = None,
    *,
    exporter: SpanExporter | None = None,
) -> TracerProvider:
    """Export spans to SpanTally.

    Arguments win over the standard variables (`OTEL_EXPORTER_OTLP_ENDPOINT`,
    `OTEL_EXPORTER_OTLP_PROTOCOL`, `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_SERVICE_NAME`, ...) and
    `SPANTALLY_API_KEY`. An SDK tracer provider already installed globally is reused (the
    exporter is added to it); otherwise one is created and installed, and flushed at exit.
    Spans that other instrumentations start inside `spantally.agent()` / `session()` /
    `user()` / `tags()` get those attributes too. Returns the provider.
    """
    global _exporting
    if exporter is None:
        exporter = _exporter(_protocol(protocol), endpoint, _headers(api_key))
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        provider = current
        if service_name and current.resource.attributes.get(SERVICE_NAME) != service_name:
            _log.warning("service_name=%r not applied: the tracer provider set up before "
                         "spantally.init() keeps its resource", service_name)
    else:
        attributes = {SERVICE_NAME: service_name} if service_name else {}
        provider = TracerProvider(resource=Resource.create(attributes))
        trace.set_tracer_provider(provider)
    with _lock:
        if _exporting is None or _exporting.provider is not provider:
            _exporting = _ExportSlot(provider)
            provider.add_span_processor(_exporting)
        slot = _exporting
    slot.replace(BatchSpanProcessor(exporter))
    ensure_context_processor(provider)
    return provider


def force_flush(timeout_millis: int = 30_000) -> bool:
    """Export every finished span now."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        return provider.force_flush(timeout_millis)
    return True


def shutdown() -> None:
    """Flush and stop exporting (also done at interpreter exit)."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.shutdown()
