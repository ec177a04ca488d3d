"""Faults injected for real: the database stopped and restarted, the writer blocked by a lock,
the process sent SIGTERM. Nothing acknowledged is lost, nothing retried is doubled."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import grpc
import psycopg
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace.export import SpanExportResult

from spantally.store import ClusterConfig, ManagedCluster, temporary_cluster

from .harness import (
    CallSpec,
    Server,
    export_grpc,
    free_port,
    grpc_export_raw,
    http_get,
    http_post,
    make_spans,
    start_server,
)

pytestmark = pytest.mark.slow

SPECS = [CallSpec(datetime(2026, 6, 1, 12, i), 700 + i, input_tokens=10 + i) for i in range(20)]
RANGE = "from=2026-06-01&to=2026-06-02"


def _wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _calls(server: Server, key: str) -> int:
    status, body = server.api(f"/api/analytics/llm?{RANGE}", key)
    assert status == 200, body
    return body["summary"]["totalCalls"]


@pytest.fixture
def own_cluster() -> Iterator[ManagedCluster]:
    """A cluster this test may stop and start."""
    with temporary_cluster("spantally-fault-") as managed:
        yield managed


def test_database_outage_is_retryable_and_nothing_doubles(own_cluster: ManagedCluster) -> None:
    server = start_server(own_cluster.url)
    try:
        project = server.new_project()
        spans = make_spans(SPECS)
        body = encode_spans(spans).SerializeToString()
        first = encode_spans(spans[:5]).SerializeToString()  # stored before the outage
        assert grpc_export_raw(server.grpc_endpoint, first, project.key) is grpc.StatusCode.OK

        own_cluster.stop()
        status, _, headers = http_post(server.http_endpoint, body, "application/x-protobuf",
                                       project.key)
        assert status == 503 and int(headers["Retry-After"]) >= 1
        assert grpc_export_raw(server.grpc_endpoint, body, project.key) is (
            grpc.StatusCode.UNAVAILABLE)
        status, health = server.api("/healthz", None)
        assert status == 503 and health["database"]["reachable"] is False
        status, error = server.api(f"/api/analytics/llm?{RANGE}", project.key)
        assert status == 503 and error["error"]["code"] == "UNAVAILABLE"

        own_cluster.start()
        _wait_for(lambda: server.api("/healthz", None)[0] == 200, 20, "the database to return")
        # The exporter retries the same batch, perhaps more than once: each call counts once.
        for _ in range(2):
            assert http_post(server.http_endpoint, body, "application/x-protobuf",
                             project.key)[0] == 200
        assert grpc_export_raw(server.grpc_endpoint, body, project.key) is grpc.StatusCode.OK
        assert _calls(server, project.key) == 20
    finally:
        server.stop()


def test_exporter_retries_through_an_outage(own_cluster: ManagedCluster) -> None:
    server = start_server(own_cluster.url)
    try:
        project = server.new_project()
        spans = make_spans(SPECS)
        own_cluster.stop()
        result: list[SpanExportResult] = []
        sender = threading.Thread(
            target=lambda: result.append(
                export_grpc(spans, server.grpc_endpoint, project.key, timeout=40)))
        sender.start()
        time.sleep(3)  # the exporter is now retrying UNAVAILABLE answers
        assert sender.is_alive()
        own_cluster.start()
        sender.join(60)
        assert result == [SpanExportResult.SUCCESS]
        assert _calls(server, project.key) == 20
    finally:
        server.stop()


class _WriteBlock:
    """Holds a SHARE lock on llm_calls: inserts wait, reads and new connections do not."""

    def __init__(self, url: str) -> None:
        self._conn = psycopg.connect(url)
        self._conn.execute("LOCK TABLE llm_calls IN SHARE MODE")

    def release(self) -> None:
        self._conn.rollback()
        self._conn.close()


def test_a_full_queue_answers_retryably(cluster: ManagedCluster) -> None:
    server = start_server(cluster.url, max_queue_calls=5, writers=1)
    try:
        project = server.new_project()
        five = encode_spans(make_spans(SPECS[:5])).SerializeToString()
        one = encode_spans(make_spans(SPECS[5:6])).SerializeToString()
        block = _WriteBlock(cluster.url)
        answers: list[int] = []
        sender = threading.Thread(target=lambda: answers.append(
            http_post(server.http_endpoint, five, "application/x-protobuf", project.key)[0]))
        try:
            sender.start()
            _wait_for(lambda: server.runtime.collector.pipeline.queued_calls == 5, 10,
                      "the first request to be queued")
            status, _, headers = http_post(server.http_endpoint, one, "application/x-protobuf",
                                           project.key)
            assert status == 503 and headers["Retry-After"] == "1"
            assert grpc_export_raw(server.grpc_endpoint, one, project.key) is (
                grpc.StatusCode.UNAVAILABLE)
            assert sender.is_alive()  # not acknowledged before it is committed
        finally:
            block.release()
        sender.join(20)
        assert answers == [200]
        status, body, _ = http_post(server.http_endpoint, one, "application/x-protobuf", project.key)
        assert status == 200, (body, server.runtime.database.last_error)
        assert _calls(server, project.key) == 6
    finally:
        server.stop()


class _Process:
    """`spantally up` as users run it, its output collected line by line."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "spantally.server.cli", "up", *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, **env},
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def wait_ready(self, timeout: float = 90) -> str:
        _wait_for(lambda: any("Send spans with" in line for line in self.lines)
                  or self.proc.poll() is not None, timeout, "spantally up to start")
        output = "".join(self.lines)
        assert self.proc.poll() is None, output
        return output

    def terminate(self, timeout: float = 60) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)


def _ports() -> tuple[list[str], int, int, int]:
    grpc_port, http_port, api_port = free_port(), free_port(), free_port()
    args = ["--grpc-port", str(grpc_port), "--http-port", str(http_port),
            "--api-port", str(api_port)]
    return args, grpc_port, http_port, api_port


def test_sigterm_drains_accepted_requests_and_exits_0(cluster: ManagedCluster, server: Server) -> None:
    project = server.new_project()
    args, _, http_port, _ = _ports()
    process = _Process(["--database-url", cluster.url, *args], {})
    process.wait_ready()
    body = encode_spans(make_spans(SPECS[:7])).SerializeToString()
    block = _WriteBlock(cluster.url)
    answers: list[int] = []
    sender = threading.Thread(target=lambda: answers.append(http_post(
        f"http://127.0.0.1:{http_port}/v1/traces", body, "application/x-protobuf", project.key)[0]))
    try:
        sender.start()
        time.sleep(1)  # the request is queued behind the lock
        process.proc.send_signal(signal.SIGTERM)
        time.sleep(1)
        assert process.proc.poll() is None  # still draining
    finally:
        block.release()
    assert process.proc.wait(30) == 0, "".join(process.lines)
    sender.join(10)
    assert answers == [200]
    assert _calls(server, project.key) == 7


def test_up_with_the_embedded_default() -> None:
    """No database URL: SpanTally initialises, starts and stops its own cluster, and shows the
    default project's key on every start."""
    home = Path(tempfile.mkdtemp(prefix="spantally-home-"))
    env = {"SPANTALLY_HOME": str(home), "SPANTALLY_EMBEDDED_PORT": str(free_port())}
    try:
        keys = []
        for _ in range(2):
            args, _, _, api_port = _ports()
            process = _Process(args, env)
            output = process.wait_ready()
            assert re.search(r"storage mode\s+(apache|timescale) \(embedded cluster", output), output
            key = re.search(r"API key\s+(st_\S+)", output)
            assert key, output
            keys.append(key.group(1))
            status, body = http_get(f"http://127.0.0.1:{api_port}/api/analytics/llm", keys[-1])
            assert status == 200 and body["summary"]["totalCalls"] == 0
            assert process.terminate() == 0, "".join(process.lines)
            cluster = ManagedCluster(ClusterConfig(home=home, port=int(env["SPANTALLY_EMBEDDED_PORT"])))
            assert not cluster.is_running()
        assert keys[0] == keys[1]
    finally:
        shutil.rmtree(home, ignore_errors=True)
