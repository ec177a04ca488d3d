"""Key scopes, as the specification: every API operation of the OpenAPI document and every OTLP
service, with a key of every combination of scopes and with missing, malformed, unknown and
revoked keys, answers exactly what it should; and a refused request changes nothing. A
revocation reaches every collector within a second.

The expected scope is written here, not read from the server: reading (GET) needs `read`, any
change needs `admin`, OTLP export (traces, logs, metrics; gRPC and HTTP) needs `ingest`."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from spantally.store import SCOPES

from .harness import CallSpec, Project, Server, encode_spans, make_spans

EXPECTED_SCOPE = {"GET": "read", "POST": "admin", "PUT": "admin", "DELETE": "admin"}


def expected_scope(method: str, path: str) -> str:
    """Reading needs `read`, changing `admin`; the admin API needs `admin` even to read;
    projects need the server's admin token (`server`), which no key has."""
    if path.startswith("/api/admin/projects"):
        return "server"
    return "admin" if path.startswith("/api/admin/") else EXPECTED_SCOPE[method]


COMBINATIONS = [frozenset(c) for n in range(1, len(SCOPES) + 1)
                for c in itertools.combinations(SCOPES, n)]
_PATH_VALUES = {"dimension": "agent", "id": "987654321", "code": "EUR", "traceId": "00" * 16,
                "spanId": "00" * 8, "keyId": "0123456789ab"}
_BODIES = {"/api/prices": {"model": "scoped-model", "inputPerMTok": 1, "outputPerMTok": 2},
           "/api/admin/projects": {"name": "made-by-the-matrix"},
           "/api/currencies/{code}": {"perUsd": 0.9},
           "/api/admin/keys": {"name": "made by the matrix", "scopes": ["read"]},
           "/api/admin/limits": {"spansPerMinute": 100000, "apiRequestsPerSecond": None}}


def _operations(server: Server) -> list[tuple[str, str, str]]:
    """(method, path template, its x-spantally-scope) of every operation needing a key."""
    with urllib.request.urlopen(server.api_url + "/api/openapi.json", timeout=10) as response:
        document = json.load(response)
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "delete") and operation.get("security") != []:
                found.append((method.upper(), path, operation["x-spantally-scope"]))
    return found


def _request(server: Server, method: str, template: str, authorization: str | None
             ) -> tuple[int, Any]:
    path = template.format(**_PATH_VALUES)
    body = _BODIES.get(template) if method in ("POST", "PUT") else None
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    request = urllib.request.Request(server.api_url + path, method=method, headers=headers,
                                     data=None if body is None else json.dumps(body).encode())
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, raw
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _changeable(server: Server, project: Project) -> list[tuple[Any, ...]]:
    """What an admin operation would change in the project."""
    return server.sql(
        "SELECT 'price', model FROM model_prices WHERE project_id = %(p)s UNION ALL "
        "SELECT 'rate', currency FROM currency_rates WHERE project_id = %(p)s UNION ALL "
        "SELECT 'key', key_id || coalesce(revoked_at::text, '') FROM api_keys "
        "WHERE project_id = %(p)s UNION ALL "
        "SELECT 'limits', spans_per_minute::text FROM project_limits WHERE project_id = %(p)s "
        "ORDER BY 1, 2", {"p": project.id})


def test_the_document_names_the_scope_of_every_operation(server: Server) -> None:
    operations = _operations(server)
    assert len(operations) >= 26
    assert all(scope == expected_scope(method, path) for method, path, scope in operations), (
        operations)


@pytest.mark.parametrize("scopes", COMBINATIONS, ids=lambda s: "+".join(sorted(s)))
def test_every_api_operation_with_every_combination_of_scopes(
        server: Server, project: Project, scopes: frozenset[str]) -> None:
    key = server.new_key(project, sorted(scopes))
    for method, template, _ in _operations(server):
        needed = expected_scope(method, template)
        before = _changeable(server, project)
        status, body = _request(server, method, template, f"Bearer {key}")
        if needed in scopes:
            assert status not in (401, 403), (method, template, status, body)
        else:
            assert status == 403, (method, template, status, body)
            assert (f"'{needed}' scope" if needed != "server" else "admin token") in (
                body["error"]["message"]), body
            assert body["error"]["code"] == "PERMISSION_DENIED"
            assert _changeable(server, project) == before, (method, template)


def _revoked_key(server: Server, project: Project) -> str:
    key = server.new_key(project, list(SCOPES))
    key_id = key.split("_")[1]
    server.sql("UPDATE api_keys SET revoked_at = now() WHERE key_id = %s RETURNING 1", (key_id,))
    return key


@pytest.mark.parametrize("kind", ["missing", "not bearer", "malformed", "unknown", "revoked"])
def test_every_api_operation_without_a_valid_key(server: Server, project: Project,
                                                 kind: str) -> None:
    authorization = {
        "missing": None, "not bearer": "Basic dXNlcjpwYXNz", "malformed": "Bearer nonsense",
        "unknown": "Bearer st_0123456789ab_" + "x" * 43,
        "revoked": f"Bearer {_revoked_key(server, project)}" if kind == "revoked" else "",
    }[kind]
    expected = 401 if kind in ("missing", "not bearer") else 403
    before = _changeable(server, project)
    for method, template, _ in _operations(server):
        status, body = _request(server, method, template, authorization)
        assert status == expected, (kind, method, template, status, body)
        assert body["error"]["code"] in ("UNAUTHENTICATED", "PERMISSION_DENIED")
    assert _changeable(server, project) == before


_NOW = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0) - timedelta(minutes=5)


_ONE_CALL = encode_spans(make_spans([CallSpec(_NOW, 100)]))


def _trace_request() -> trace_service_pb2.ExportTraceServiceRequest:
    """One LLM call, the same each time (exported twice, stored once)."""
    return _ONE_CALL


_GRPC_SERVICES = {
    "traces": (trace_service_pb2_grpc.TraceServiceStub, _trace_request),
    "logs": (logs_service_pb2_grpc.LogsServiceStub, logs_service_pb2.ExportLogsServiceRequest),
    "metrics": (metrics_service_pb2_grpc.MetricsServiceStub,
                metrics_service_pb2.ExportMetricsServiceRequest),
}


def _grpc_export(server: Server, signal: str, key: str | None) -> grpc.StatusCode:
    stub_type, request = _GRPC_SERVICES[signal]
    with grpc.insecure_channel(server.grpc_endpoint.removeprefix("http://")) as channel:
        metadata = [("authorization", f"Bearer {key}")] if key else []
        try:
            stub_type(channel).Export(request(), metadata=metadata, timeout=10)
        except grpc.RpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


def _http_export(server: Server, signal: str, key: str | None) -> int:
    _, request = _GRPC_SERVICES[signal]
    url = server.http_endpoint.removesuffix("/v1/traces") + f"/v1/{signal}"
    headers = {"Content-Type": "application/x-protobuf"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    post = urllib.request.Request(url, data=request().SerializeToString(), headers=headers,
                                  method="POST")
    try:
        with urllib.request.urlopen(post, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.parametrize("scopes", COMBINATIONS, ids=lambda s: "+".join(sorted(s)))
def test_otlp_export_needs_the_ingest_scope(server: Server, scopes: frozenset[str]) -> None:
    project = server.new_project()
    key = server.new_key(project, sorted(scopes))
    allowed = "ingest" in scopes
    for signal in _GRPC_SERVICES:
        assert _grpc_export(server, signal, key) is (
            grpc.StatusCode.OK if allowed else grpc.StatusCode.PERMISSION_DENIED), signal
        assert _http_export(server, signal, key) == (200 if allowed else 403), signal
    stored = server.sql("SELECT count(*) FROM llm_calls WHERE project_id = %s", (project.id,))
    assert stored == [(1 if allowed else 0,)]  # the same call twice (gRPC, HTTP): stored once


def test_otlp_export_without_a_valid_key(server: Server) -> None:
    project = server.new_project()
    for key, code, status in [(None, grpc.StatusCode.UNAUTHENTICATED, 401),
                              ("nonsense", grpc.StatusCode.PERMISSION_DENIED, 403),
                              (_revoked_key(server, project), grpc.StatusCode.PERMISSION_DENIED,
                               403)]:
        for signal in _GRPC_SERVICES:
            assert _grpc_export(server, signal, key) is code, (key, signal)
            assert _http_export(server, signal, key) == status, (key, signal)
    assert server.sql("SELECT count(*) FROM llm_calls WHERE project_id = %s",
                      (project.id,)) == [(0,)]


def _listening(server: Server) -> None:
    authenticator = server.runtime.authenticator
    assert authenticator is not None
    deadline = time.monotonic() + 10
    while not authenticator.listening.is_set():
        assert time.monotonic() < deadline, "the key listener did not connect"
        time.sleep(0.01)


def test_a_revocation_takes_effect_within_a_second_on_every_collector(
        server: Server, second: Server) -> None:
    """The key is cached on both (used just before); revoked from the command line, both
    refuse it within a second, over OTLP and the API, though the cache would keep it a minute."""
    project = server.new_project()
    key = server.new_key(project, list(SCOPES))
    for s in (server, second):
        _listening(s)
        assert _grpc_export(s, "traces", key) is grpc.StatusCode.OK
        assert s.api("/api/analytics/summary", key)[0] == 200
    revoked = subprocess.run(
        [sys.executable, "-m", "spantally.server.cli", "keys", "revoke", key,
         "--database-url", server.database_url], capture_output=True, text=True, timeout=60)
    assert revoked.returncode == 0, revoked.stderr
    deadline = time.monotonic() + 1.0
    pending = {"server": server, "second": second}
    while pending:
        for name, s in list(pending.items()):
            if (s.api("/api/analytics/summary", key)[0] == 403
                    and _grpc_export(s, "traces", key) is grpc.StatusCode.PERMISSION_DENIED
                    and _http_export(s, "traces", key) == 403):
                del pending[name]
        assert pending == {} or time.monotonic() < deadline, f"still accepted by {pending}"
