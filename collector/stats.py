"""Counters of what the collector received and did, exposed at /metrics."""

from __future__ import annotations

from dataclasses import dataclass, fields

__all__ = ["CollectorStats"]


@dataclass(slots=True)
class CollectorStats:
    requests: int = 0
    requests_failed: int = 0
    spans_received: int = 0
    spans_skipped: int = 0
    """Spans that are not LLM calls (agent, tool, HTTP, ... spans): accepted, not stored."""
    spans_rejected: int = 0
    calls_written: int = 0
    calls_duplicate: int = 0
    """Calls already stored (a retried request): accepted, counted once."""
    queue_full: int = 0
    requests_throttled: int = 0
    """Requests refused (retryably) because too many were in flight."""
    attributes_truncated: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
