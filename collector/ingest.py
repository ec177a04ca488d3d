"""The processing chain both receivers share: authenticate -> normalize and price -> queue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from spantally.common.errors import PayloadTooLarge, RateLimited, Unavailable
from spantally.store import INGEST

from .auth import Authenticator
from .limits import Limiter
from .normalize import Normalized, NormalizeLimits, count_spans, normalize_request
from .pipeline import Pipeline
from .pricing import PriceBook
from .stats import CollectorStats

__all__ = ["Caller", "ExportOutcome", "IngestLimits", "TraceIngest", "count_log_records",
           "count_metrics"]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent an OTLP request: its Authorization header and its address."""

    authorization: str | None
    address: str | None = None


def count_log_records(request: ExportLogsServiceRequest) -> int:
    return sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)


def count_metrics(request: ExportMetricsServiceRequest) -> int:
    return sum(len(sm.metrics) for rm in request.resource_metrics for sm in rm.scope_metrics)


@dataclass(frozen=True, slots=True)
class IngestLimits:
    max_spans_per_request: int = 50_000
    """Larger requests are refused with 413 / RESOURCE_EXHAUSTED: split them, do not retry."""
    max_requests_in_flight: int = 256
    """Beyond this, requests are refused retryably before their bodies are read, which bounds
    the memory that requests waiting for the writer can hold."""
    attributes: NormalizeLimits = NormalizeLimits()
    max_call_age_days: int | None = None
    """Calls older than this (the raw retention) are rejected as invalid spans."""


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
        prices: PriceBook,
        stats: CollectorStats,
        limits: IngestLimits = IngestLimits(),
        limiter: Limiter | None = None,
    ) -> None:
        self._auth = authenticator
        self._pipeline = pipeline
        self._prices = prices
        self._stats = stats
        self._limits = limits
        self._limiter = limiter
        self._in_flight = 0

    @asynccontextmanager
    async def admitted(self) -> AsyncIterator[None]:
        """Hold one of the in-flight places for a request, or refuse it retryably."""
        if self._in_flight >= self._limits.max_requests_in_flight:
            self._stats.requests_throttled += 1
            raise Unavailable("too many requests in flight; retry later")
        self._in_flight += 1
        try:
            yield
        finally:
            self._in_flight -= 1

    async def export(self, request: ExportTraceServiceRequest, caller: Caller) -> ExportOutcome:
        """Store the calls, runs, tools and links of one request; returns once they are
        committed."""
        self._stats.requests += 1
        spans = 0
        try:
            project_id = await self._auth.project_for(caller.authorization, INGEST,
                                                      caller.address)
            spans = count_spans(request)
            if spans > self._limits.max_spans_per_request:
                raise PayloadTooLarge(
                    f"the request has {spans} spans; at most "
                    f"{self._limits.max_spans_per_request} are accepted: export smaller batches"
                )
            if self._limiter is not None:
                await self._limiter.ingest(project_id, spans)
            price = await self._prices.for_project(project_id)
            normalized = normalize_request(request, project_id, price, self._limits.attributes)
            if self._limits.max_call_age_days is not None:
                self._drop_expired(normalized, self._limits.max_call_age_days)
            records = normalized.records
            if len(records):
                await self._pipeline.submit(records)
        except RateLimited:
            self._stats.requests_failed += 1
            self._stats.requests_rate_limited += 1
            self._stats.spans_rate_limited += spans
            raise
        except Exception:
            self._stats.requests_failed += 1
            raise
        self._stats.count(normalized)
        rejected = normalized.rejected.total()
        if rejected:
            return ExportOutcome(rejected, "; ".join(normalized.errors))
        return ExportOutcome()

    async def ignore(self, signal: str, items: int, caller: Caller) -> ExportOutcome:
        """OTLP logs or metrics: authenticated and acknowledged, never added to any call.
        Instrumentations send usage there too (events, token histograms): it repeats the
        spans' usage, so counting it would count calls twice."""
        await self._auth.project_for(caller.authorization, INGEST, caller.address)
        if signal == "logs":
            self._stats.log_records_ignored += items
        else:
            self._stats.metrics_ignored += items
        return ExportOutcome()

    @staticmethod
    def _drop_expired(normalized: Normalized, days: int) -> None:
        cutoff = datetime.now(timezone.utc) - timedelta(days=days)
        expired = 0
        for name in ("calls", "runs", "tools", "links"):
            rows = getattr(normalized, name)
            kept = [row for row in rows if row.time >= cutoff]
            if len(kept) != len(rows):
                setattr(normalized, name, kept)
                # Links are not spans a client would count; they go without a word.
                expired += (len(rows) - len(kept)) if name != "links" else 0
        if expired:
            normalized.reject("expired", f"{expired} spans are older than the retention of "
                              f"{days} days", expired)
