"""Failures the store reports to its callers, already classified as transient or not."""

from __future__ import annotations

__all__ = ["StoreError", "StoreUnavailable"]


class StoreError(RuntimeError):
    """A store operation failed for a reason a retry will not fix."""


class StoreUnavailable(StoreError):
    """The database cannot be reached right now; the same operation may succeed later."""
