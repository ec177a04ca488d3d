"""common.errors.report: the one way a handler turns an exception into its answer."""

from __future__ import annotations

import logging
import weakref

import pytest

from spantally.common.errors import Internal, Unavailable, report

log = logging.getLogger("spantally.tests.errors")


class _Body:
    """Stands for what a refused export's frames hold: its body, its parsed spans."""


def _export(body: _Body) -> None:
    raise Unavailable("the collector is at capacity; retry later")


def _handle() -> tuple[Unavailable, weakref.ref[_Body]]:
    body = _Body()
    held = weakref.ref(body)
    try:
        _export(body)
    except Exception as exc:  # noqa: BLE001 - as every handler does
        failure = report(exc, log, "export failed")
    del body
    assert isinstance(failure, Unavailable)
    return failure, held


def test_a_failure_is_its_own_answer_and_keeps_no_frame_it_was_raised_through(
        caplog: pytest.LogCaptureFixture) -> None:
    failure, held = _handle()
    # The handler still holds its answer; what the raising frames held is gone all the same,
    # without waiting for a collection of cyclic garbage.
    assert failure.__traceback__ is None and held() is None
    assert failure.retryable and failure.http_status == 503
    assert not caplog.records  # a client's doing (here: overload) is answered, not logged


def test_an_unexpected_exception_is_internal_and_logged_with_its_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    try:
        {}["missing"]
    except Exception as exc:  # noqa: BLE001
        failure = report(exc, log, "request %s failed", "/v1/traces")
    assert isinstance(failure, Internal) and failure.http_status == 500
    (record,) = caplog.records
    assert record.getMessage() == "request /v1/traces failed"
    assert record.exc_info is not None and record.exc_info[0] is KeyError
    assert record.exc_info[2] is not None  # the traceback, for whoever reads the log
