"""Counters of what the collector received and did, exposed at /metrics."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .normalize import Normalized

__all__ = ["CollectorStats"]


@dataclass(slots=True)
class CollectorStats:
    requests: int = 0
    requests_failed: int = 0
    spans_received: int = 0
    spans_skipped: Counter[str] = field(default_factory=Counter)
    """Spans accepted but not stored, by reason (see `Normalized.skipped`)."""
    spans_rejected: Counter[str] = field(default_factory=Counter)
    """Spans refused as invalid, by reason."""
    calls_written: int = 0
    calls_duplicate: int = 0
    """Calls already stored (a retried request): accepted, counted once."""
    calls_copies: int = 0
    """Copies of a call another copy stands for, from another request, trace or collector
    (store.copies): folded into one call."""
    runs_received: int = 0
    """Agent runs written (a retried request's again: they are stored once)."""
    tools_received: int = 0
    """Tool steps written, likewise."""
    queue_full: int = 0
    requests_throttled: int = 0
    """Requests refused (retryably) because too many were in flight."""
    requests_rate_limited: int = 0
    """OTLP requests refused (retryably) over their project's spans-per-minute limit."""
    spans_rate_limited: int = 0
    """The spans of those requests (sent again by the exporter's retries)."""
    attributes_truncated: int = 0
    attributes_dropped: int = 0
    """Attributes beyond the per-span limit (NormalizeLimits.max_attributes), ignored."""
    log_records_ignored: int = 0
    """OTLP log records accepted and dropped: usage they repeat is never added to calls."""
    metrics_ignored: int = 0
    """OTLP metrics accepted and dropped, likewise."""

    def count(self, normalized: Normalized) -> None:
        self.spans_received += normalized.spans
        self.spans_skipped.update(normalized.skipped)
        self.spans_rejected.update(normalized.rejected)
        self.attributes_truncated += normalized.truncated
        self.attributes_dropped += normalized.dropped_attributes

    def as_dict(self) -> dict[str, int | dict[str, int]]:
        """Counters by name; a counter kept by reason is a dict reason -> count, with every
        known reason present."""
        from .normalize import REJECT_REASONS, SKIP_REASONS

        known = {"spans_skipped": SKIP_REASONS, "spans_rejected": REJECT_REASONS}
        out: dict[str, int | dict[str, int]] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Counter):
                out[f.name] = {r: value[r] for r in sorted({*known[f.name], *value})}
            else:
                out[f.name] = value
        return out
