"""Every failure SpanTally reports, classified once: permanent or retryable, with its gRPC status
and the HTTP status derived from it. Receivers and the API shape their answers from here only.

The retryable set follows the OTLP specification: exporters retry gRPC UNAVAILABLE and HTTP
429/502/503/504, and give up on everything else.
"""

from __future__ import annotations

import logging

import grpc

from spantally.store.database import is_transient
from spantally.store.errors import StoreError
from spantally.store.prices import PriceOverlap

__all__ = [
    "AlreadyExists",
    "Failure",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "RateLimited",
    "Unauthenticated",
    "Unavailable",
    "UnsupportedMediaType",
    "classify",
    "http_status_for",
    "report",
]

# HTTP status for each gRPC code, as in the gRPC HTTP mapping (google.rpc.Code).
_HTTP_FOR_GRPC: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.INTERNAL: 500,
}


def http_status_for(code: grpc.StatusCode) -> int:
    return _HTTP_FOR_GRPC.get(code, 500)


class Failure(Exception):
    """A failure with a definite answer. `code` is the gRPC status; `http_status` derives from
    it unless a subclass names a more specific one (413, 415)."""

    grpc_code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    http_override: int | None = None
    code_override: str | None = None
    retry_after_s: int | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def code(self) -> str:
        """The stable error code of the JSON error body, e.g. "INVALID_ARGUMENT"."""
        return self.code_override or self.grpc_code.name

    @property
    def http_status(self) -> int:
        return self.http_override or http_status_for(self.grpc_code)

    @property
    def retryable(self) -> bool:
        return self.grpc_code is grpc.StatusCode.UNAVAILABLE


class InvalidArgument(Failure):
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT


class UnsupportedMediaType(Failure):
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT
    http_override = 415


class PayloadTooLarge(Failure):
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    http_override = 413


class Unauthenticated(Failure):
    grpc_code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(Failure):
    grpc_code = grpc.StatusCode.PERMISSION_DENIED


class NotFound(Failure):
    grpc_code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(Failure):
    """The request conflicts with what is stored (an overlapping price window)."""

    grpc_code = grpc.StatusCode.ALREADY_EXISTS


class RateLimited(Failure):
    """Over a rate limit (collector/limits.py): retry after `retry_after_s`. HTTP 429 with
    Retry-After and code RESOURCE_EXHAUSTED; gRPC UNAVAILABLE, which every OTLP exporter
    retries (RESOURCE_EXHAUSTED only with RetryInfo details). Nothing was done."""

    grpc_code = grpc.StatusCode.UNAVAILABLE
    http_override = 429
    code_override = "RESOURCE_EXHAUSTED"

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = max(1, retry_after_s)


class Unavailable(Failure):
    """Try again later: the database is down or the pipeline is full. Nothing was stored."""

    grpc_code = grpc.StatusCode.UNAVAILABLE

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Internal(Failure):
    grpc_code = grpc.StatusCode.INTERNAL


def classify(exc: BaseException) -> Failure:
    """The Failure an exception amounts to; unknown exceptions are internal errors."""
    if isinstance(exc, Failure):
        return exc
    if isinstance(exc, PriceOverlap):
        return AlreadyExists(str(exc))
    if is_transient(exc):  # StoreUnavailable, pool timeouts, lost connections
        return Unavailable("the database is unavailable; retry later")
    if isinstance(exc, StoreError):
        return Internal(f"the batch could not be stored: {exc}")
    return Internal(f"internal error: {type(exc).__name__}")


def report(exc: BaseException, log: logging.Logger, what: str, *args: object) -> Failure:
    """What a handler answers `exc` with: classify(exc), logged with its traceback (`what`, a
    message with `args`) when it is an internal error, a bug rather than anything a client did.
    A Failure raised is its own answer and the handler keeps it until the answer is made, so it
    is returned without its traceback: otherwise it would keep every frame it was raised through,
    and what they hold (a refused export's body and parsed spans), until the next collection of
    cyclic garbage, which `spantally up` runs seldom (server/runtime.py)."""
    failure = classify(exc)
    if failure.http_status >= 500 and not failure.retryable:
        log.exception(what, *args)
    return failure.with_traceback(None)
