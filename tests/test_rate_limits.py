"""Rate limits, on a server of its own with small ones: spans per minute per project at ingest
(with a project's own limit replacing the default), API requests per second per key, refused
keys per client address. Beyond a limit: a retryable answer with Retry-After, counted, and
nothing stored that was not acknowledged. Keys never appear in the logs."""

from __future__ import annotations

import logging
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from spantally.collector import RateLimits
from spantally.store import ManagedCluster, ProjectLimits, set_project_limits

from .harness import CallSpec, Project, Server, grpc_export_raw, http_post, make_spans, start_server

SPANS_PER_MINUTE = 120
REQUESTS_PER_SECOND = 4.0
FAILED_AUTH_PER_MINUTE = 5


@pytest.fixture(scope="module")
def limited(cluster: ManagedCluster) -> Iterator[Server]:
    running = start_server(cluster.url, limits=RateLimits(
        spans_per_minute=SPANS_PER_MINUTE, api_requests_per_second=REQUESTS_PER_SECOND,
        failed_auth_per_minute=FAILED_AUTH_PER_MINUTE))
    try:
        yield running
    finally:
        running.stop()


def _body(n: int, first: int = 0) -> bytes:
    start = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(minutes=5)
    return encode_spans(make_spans([CallSpec(start + timedelta(milliseconds=first + i), 100)
                                    for i in range(n)])).SerializeToString()


def _stored(server: Server, project: Project) -> int:
    ((count,),) = server.sql("SELECT count(*) FROM llm_calls WHERE project_id = %s",
                             (project.id,))
    return int(count)


def _metric(server: Server, name: str) -> int:
    with urllib.request.urlopen(server.api_url + "/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " "):
                return int(float(line.split()[1]))
    raise AssertionError(f"{name} is not in /metrics")


def test_spans_beyond_a_projects_limit_are_refused_retryably(limited: Server) -> None:
    project = limited.new_project()
    before = _metric(limited, "spantally_requests_rate_limited_total")
    assert http_post(limited.http_endpoint, _body(100), "application/x-protobuf",
                     project.key)[0] == 200
    status, _, headers = http_post(limited.http_endpoint, _body(100, 1000),
                                   "application/x-protobuf", project.key)
    assert status == 429 and int(headers["Retry-After"]) >= 1
    assert grpc_export_raw(limited.grpc_endpoint, _body(100, 2000), project.key) is (
        grpc.StatusCode.UNAVAILABLE)
    assert _stored(limited, project) == 100  # what was refused was not stored
    assert _metric(limited, "spantally_requests_rate_limited_total") - before == 2
    # Another project has a minute of its own.
    other = limited.new_project()
    assert http_post(limited.http_endpoint, _body(100), "application/x-protobuf",
                     other.key)[0] == 200


def test_a_burst_from_several_clients_gets_exactly_the_limit(limited: Server) -> None:
    """Eight clients at once, 40 spans each, against 120 a minute: what was acknowledged is
    stored, all of it and only it; the rest was refused retryably."""
    project = limited.new_project()
    bodies = [_body(40, 1000 * i) for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda body: http_post(
            limited.http_endpoint, body, "application/x-protobuf", project.key), bodies))
    accepted = [status for status, _, _ in answers if status == 200]
    assert all(status in (200, 429) for status, _, _ in answers)
    assert all(int(headers["Retry-After"]) >= 1 for status, _, headers in answers
               if status == 429)
    assert len(accepted) == SPANS_PER_MINUTE // 40  # the bucket holds a minute's spans
    assert _stored(limited, project) == 40 * len(accepted)


def test_a_projects_own_limit_replaces_the_default(limited: Server) -> None:
    project = limited.new_project()

    async def raise_limit() -> None:
        assert limited.runtime.database is not None
        async with limited.runtime.database.pool.connection() as conn:
            await set_project_limits(conn, project.id, ProjectLimits(spans_per_minute=1000))

    limited.thread.run(raise_limit())
    for part in range(3):  # 300 spans: over the default, within its own limit
        assert http_post(limited.http_endpoint, _body(100, 1000 * part),
                         "application/x-protobuf", project.key)[0] == 200
    assert _stored(limited, project) == 300
    # The command line shows and changes it.
    cli = [sys.executable, "-m", "spantally.server.cli", "projects", "limits", str(project.id),
           "--database-url", limited.database_url]
    shown = subprocess.run(cli, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "spans per minute: 1000" in shown.stdout, shown.stderr
    reset = subprocess.run([*cli, "--spans-per-minute", "default"], capture_output=True,
                           text=True, timeout=60)
    assert reset.returncode == 0 and "spans per minute: the default" in reset.stdout
    refused = subprocess.run([*cli, "--spans-per-minute", "-3"], capture_output=True,
                             text=True, timeout=60)
    assert refused.returncode == 2 and "more than 0" in refused.stderr


def _get(server: Server, key: str) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(server.api_url + "/api/analytics/summary",
                                     headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


def test_api_requests_beyond_a_keys_rate_get_429(limited: Server) -> None:
    project = limited.new_project()
    statuses = [_get(limited, project.key) for _ in range(int(4 * REQUESTS_PER_SECOND))]
    codes = [status for status, _ in statuses]
    # A burst of twice the rate passes, then the key waits.
    assert codes[:int(2 * REQUESTS_PER_SECOND)] == [200] * int(2 * REQUESTS_PER_SECOND)
    assert 429 in codes
    assert all(int(headers["Retry-After"]) >= 1 for status, headers in statuses
               if status == 429)
    # Another key of the same project has its own rate.
    other_key = limited.new_key(project, ["read"])
    assert _get(limited, other_key)[0] == 200


def test_an_address_sending_bad_keys_is_refused_for_a_while(cluster: ManagedCluster) -> None:
    server = start_server(cluster.url, limits=RateLimits(
        failed_auth_per_minute=FAILED_AUTH_PER_MINUTE, api_requests_per_second=None))
    try:
        project = server.new_project()
        bad = "st_0123456789ab_" + "x" * 43
        assert [_get(server, bad)[0] for _ in range(FAILED_AUTH_PER_MINUTE)] == [403] * (
            FAILED_AUTH_PER_MINUTE)
        # Then every request from that address waits, a good key too, and OTLP as well.
        status, headers = _get(server, project.key)
        assert status == 429 and int(headers["Retry-After"]) >= 1
        assert http_post(server.http_endpoint, _body(1), "application/x-protobuf",
                         project.key)[0] == 429
        assert _stored(server, project) == 0
    finally:
        server.stop()


def test_keys_never_appear_in_the_logs(limited: Server, caplog: pytest.LogCaptureFixture
                                       ) -> None:
    project = limited.new_project()
    revoked = limited.new_key(project, ["ingest", "read"])
    caplog.set_level(logging.DEBUG)
    http_post(limited.http_endpoint, _body(3), "application/x-protobuf", project.key)
    http_post(limited.http_endpoint, _body(500), "application/x-protobuf", project.key)
    _get(limited, project.key)
    _get(limited, "st_0123456789ab_" + "y" * 43)
    limited.sql("UPDATE api_keys SET revoked_at = now() WHERE key_id = %s RETURNING 1",
                (revoked.split("_")[1],))
    _get(limited, revoked)  # the server logs in its handlers, before answering
    text = "\n".join(record.getMessage() for record in caplog.records)
    for key in (project.key, revoked, "y" * 43):
        secret = key.split("_", 2)[-1]
        assert secret not in text
