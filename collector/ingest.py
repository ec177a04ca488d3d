"""The processing chain both receivers share: authenticate -> normalize and price -> queue."""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from .auth import Authenticator
from .normalize import normalize_request
from .pipeline import Pipeline
from .pricing import Pricer
from .stats import CollectorStats

__all__ = ["ExportOutcome", "TraceIngest"]


@dataclass(frozen=True, slots=True)
class ExportOutcome:
    """What to tell the exporter: spans rejected as invalid (OTLP partial success)."""

    rejected_spans: int = 0
    error_message: str = ""


class TraceIngest:
    def __init__(
        self,
        authenticator: Authenticator,
        pipeline: Pipeline,
        pricer: Pricer,
        stats: CollectorStats,
    ) -> None:
        self._auth = authenticator
        self._pipeline = pipeline
        self._pricer = pricer
        self._stats = stats

    async def export(
        self, request: ExportTraceServiceRequest, authorization: str | None
    ) -> ExportOutcome:
        """Store the LLM calls of one request; returns once they are committed."""
        self._stats.requests += 1
        try:
            project_id = await self._auth.project_for(authorization)
            normalized = normalize_request(request, project_id, self._pricer.price)
            if normalized.calls:
                await self._pipeline.submit(normalized.calls)
        except Exception:
            self._stats.requests_failed += 1
            raise
        self._stats.spans_received += normalized.spans
        self._stats.spans_skipped += normalized.skipped
        self._stats.spans_rejected += normalized.rejected
        if normalized.rejected:
            return ExportOutcome(normalized.rejected, "; ".join(normalized.errors))
        return ExportOutcome()
