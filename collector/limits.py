"""Rate limits: spans per minute per project at ingest, API requests per second per key, and
failed authentications per minute per client address. Token buckets held by each process (with
several collectors, each allows the limit). Beyond a limit the answer is retryable (HTTP 429
with Retry-After; gRPC UNAVAILABLE, which OTLP exporters retry) and counted; nothing is dropped
without the client being told.

A project's own limits (store.project_limits, `spantally projects limits`) replace the
defaults; they are read again after `ttl_s`."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from spantally.common.errors import RateLimited
from spantally.store import ProjectLimits

__all__ = ["Limiter", "RateLimits", "TokenBucket"]

_MAX_TRACKED = 10_000
"""Buckets kept per kind; beyond it the idlest half is forgotten (a full bucket again)."""


@dataclass(frozen=True, slots=True)
class RateLimits:
    """The defaults; None: no limit."""

    spans_per_minute: int | None = None
    """Spans one project may send a minute (to one collector)."""
    api_requests_per_second: float | None = 100.0
    """API requests one key may make a second (bursts of up to twice that)."""
    failed_auth_per_minute: int | None = 60
    """Refused authentications one client address may cause a minute, after which its
    requests are refused before their key is looked up."""


@dataclass(slots=True)
class TokenBucket:
    """`rate` tokens a second, up to `capacity` saved."""

    rate: float
    capacity: float
    tokens: float = math.nan
    stamp: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if math.isnan(self.tokens):
            self.tokens = self.capacity

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def take(self, n: float, now: float) -> float:
        """Take `n` tokens: 0 when granted, else the seconds until they would be (nothing is
        taken then). More than the capacity is granted from a full bucket, leaving it in
        debt, so that one large request is slowed down, never refused for ever."""
        self.refill(now)
        if self.tokens >= min(n, self.capacity):
            self.tokens -= n
            return 0.0
        return (min(n, self.capacity) - self.tokens) / self.rate


LoadLimits = Callable[[int], Awaitable[ProjectLimits | None]]


class Limiter:
    def __init__(self, defaults: RateLimits, load: LoadLimits, ttl_s: float = 30.0) -> None:
        self.defaults = defaults
        self._load = load
        self._ttl_s = ttl_s
        self._own: dict[int, tuple[float, ProjectLimits | None]] = {}
        self._spans: dict[int, TokenBucket] = {}
        self._requests: dict[str, TokenBucket] = {}
        self._failures: dict[str, TokenBucket] = {}

    async def _project(self, project_id: int) -> ProjectLimits | None:
        now = time.monotonic()
        cached = self._own.get(project_id)
        if cached is not None and now - cached[0] < self._ttl_s:
            return cached[1]
        own = await self._load(project_id)
        self._own[project_id] = (now, own)
        return own

    def forget(self, project_id: int) -> None:
        """Read the project's own limits again at its next request."""
        self._own.pop(project_id, None)

    async def ingest(self, project_id: int, spans: int) -> None:
        """Count `spans` against the project's limit; RateLimited when over it."""
        own = await self._project(project_id)
        per_minute = own.spans_per_minute if own and own.spans_per_minute is not None else (
            self.defaults.spans_per_minute)
        if per_minute is None or spans == 0:
            return
        bucket = _bucket(self._spans, project_id, per_minute / 60.0, float(per_minute))
        wait = bucket.take(spans, time.monotonic())
        if wait:
            raise RateLimited(f"the project sends more than {per_minute:,} spans a minute; "
                              f"retry in {math.ceil(wait)} s", math.ceil(wait))

    async def api_request(self, project_id: int, key_id: str) -> None:
        own = await self._project(project_id)
        per_second = (own.api_requests_per_second if own and own.api_requests_per_second
                      is not None else self.defaults.api_requests_per_second)
        if per_second is None:
            return
        bucket = _bucket(self._requests, key_id, per_second, 2 * per_second)
        wait = bucket.take(1, time.monotonic())
        if wait:
            raise RateLimited(f"the API key makes more than {per_second:g} requests a second; "
                              f"retry in {math.ceil(wait)} s", math.ceil(wait))

    def check_client(self, client: str) -> None:
        """Refuse a client address that failed to authenticate too often."""
        per_minute = self.defaults.failed_auth_per_minute
        bucket = self._failures.get(client)
        if per_minute is None or bucket is None:
            return
        bucket.refill(time.monotonic())
        if bucket.tokens < 1:
            wait = math.ceil((1 - bucket.tokens) / bucket.rate)
            raise RateLimited(f"too many refused API keys from {client}; retry in {wait} s",
                              wait)

    def failed(self, client: str) -> None:
        """Count a refused authentication of `client`."""
        per_minute = self.defaults.failed_auth_per_minute
        if per_minute is not None:
            bucket = _bucket(self._failures, client, per_minute / 60.0, float(per_minute))
            bucket.take(1, time.monotonic())


K = TypeVar("K")


def _bucket(buckets: dict[K, TokenBucket], key: K, rate: float, capacity: float) -> TokenBucket:
    bucket = buckets.get(key)
    if bucket is None or bucket.rate != rate:
        if len(buckets) >= _MAX_TRACKED:
            for stale in sorted(buckets, key=lambda k: buckets[k].stamp)[:len(buckets) // 2]:
                del buckets[stale]
        bucket = buckets[key] = TokenBucket(rate, capacity)
    return bucket
