"""What the collector and the API share: the failures both report, classified once."""

from .errors import (
    AlreadyExists,
    Failure,
    Internal,
    InvalidArgument,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
    UnsupportedMediaType,
    classify,
    http_status_for,
)

__all__ = [
    "AlreadyExists",
    "Failure",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "Unauthenticated",
    "Unavailable",
    "UnsupportedMediaType",
    "classify",
    "http_status_for",
]
