"""TLS on all three listeners, with a self-signed CA made here: the real OTLP exporters (gRPC
and HTTP) and the API client over TLS, plaintext refused; with a client CA, only clients with
a certificate it signed get in. Bad TLS settings are a usage error naming the file."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from spantally.client import GrpcClient
from spantally.common.tls import TlsConfig
from spantally.store import ManagedCluster

from .harness import CallSpec, Server, export_grpc, make_spans, start_server

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None,
                                reason="needs the openssl command to make test certificates")


@pytest.fixture(autouse=True)
def _trust_only_the_given_ca(monkeypatch: pytest.MonkeyPatch) -> None:
    """requests (under the OTLP/HTTP exporter) prefers these to the exporter's
    certificate_file: a machine-wide bundle must not decide what the test trusts."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ca.pem; server.pem/.key for 127.0.0.1 and localhost; client.pem/.key; all CA-signed."""
    out = tmp_path_factory.mktemp("tls")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             "/CN=SpanTally test CA", "-keyout", out / "ca.key", "-out", out / "ca.pem")
    (out / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    (out / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name in ("server", "client"):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN=spantally-{name}",
                 "-keyout", out / f"{name}.key", "-out", out / f"{name}.csr")
        _openssl("x509", "-req", "-in", out / f"{name}.csr", "-CA", out / "ca.pem", "-CAkey",
                 out / "ca.key", "-CAcreateserial", "-days", "2", "-extfile",
                 out / f"{name}.ext", "-out", out / f"{name}.pem")
    return out


def _spans(seconds: int) -> list:
    start = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(minutes=5)
    return make_spans([CallSpec(start + timedelta(seconds=seconds), 100)])


def _api_status(server: Server, key: str, context: ssl.SSLContext) -> int:
    request = urllib.request.Request(server.api_url + "/api/analytics/summary",
                                     headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=10, context=context) as response:
        return response.status


@pytest.fixture(scope="module")
def tls_server(cluster: ManagedCluster, certificates: Path) -> Iterator[Server]:
    running = start_server(cluster.url, tls=TlsConfig(certificates / "server.pem",
                                                      certificates / "server.key"))
    try:
        yield running
    finally:
        running.stop()


def test_every_listener_speaks_tls_to_the_real_clients(tls_server: Server,
                                                       certificates: Path) -> None:
    project = tls_server.new_project()
    ca = (certificates / "ca.pem").read_bytes()
    assert tls_server.grpc_endpoint.startswith("https://")
    headers = {"authorization": f"Bearer {project.key}"}
    grpc_exporter = GrpcExporter(endpoint=tls_server.grpc_endpoint.removeprefix("https://"),
                                 credentials=grpc.ssl_channel_credentials(ca), headers=headers)
    http_exporter = HttpExporter(endpoint=tls_server.http_endpoint, headers=headers,
                                 certificate_file=str(certificates / "ca.pem"))
    try:
        assert grpc_exporter.export(_spans(1)) is SpanExportResult.SUCCESS
        assert http_exporter.export(_spans(2)) is SpanExportResult.SUCCESS
    finally:
        grpc_exporter.shutdown()
        http_exporter.shutdown()
    assert tls_server.sql("SELECT count(*) FROM llm_calls WHERE project_id = %s",
                          (project.id,)) == [(2,)]
    trusted = ssl.create_default_context(cafile=str(certificates / "ca.pem"))
    assert _api_status(tls_server, project.key, trusted) == 200
    # The analytics over gRPC, on the same port and certificate as OTLP.
    with GrpcClient(tls_server.grpc_endpoint.removeprefix("https://"), project.key,
                    credentials=grpc.ssl_channel_credentials(ca)) as rpc:
        assert rpc.summary(from_="1h")["calls"] == 2
    # In the clear, or trusting nobody, nothing gets through.
    plain = tls_server.grpc_endpoint.replace("https://", "http://")
    assert export_grpc(_spans(3), plain, project.key, timeout=2) is SpanExportResult.FAILURE
    with pytest.raises(urllib.error.URLError):
        _api_status(tls_server, project.key, ssl.create_default_context())
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(tls_server.api_url.replace("https://", "http://") + "/healthz",
                               timeout=5)
    assert tls_server.sql("SELECT count(*) FROM llm_calls WHERE project_id = %s",
                          (project.id,)) == [(2,)]


def test_with_a_client_ca_only_its_clients_get_in(cluster: ManagedCluster,
                                                  certificates: Path) -> None:
    server = start_server(cluster.url, tls=TlsConfig(
        certificates / "server.pem", certificates / "server.key", certificates / "ca.pem"))
    try:
        project = server.new_project()
        ca = (certificates / "ca.pem").read_bytes()
        headers = {"authorization": f"Bearer {project.key}"}
        target = server.grpc_endpoint.removeprefix("https://")
        with_certificate = GrpcExporter(endpoint=target, headers=headers, credentials=(
            grpc.ssl_channel_credentials(ca, (certificates / "client.key").read_bytes(),
                                         (certificates / "client.pem").read_bytes())))
        without = GrpcExporter(endpoint=target, headers=headers, timeout=2,
                               credentials=grpc.ssl_channel_credentials(ca))
        http_with = HttpExporter(endpoint=server.http_endpoint, headers=headers,
                                 certificate_file=str(certificates / "ca.pem"),
                                 client_certificate_file=str(certificates / "client.pem"),
                                 client_key_file=str(certificates / "client.key"))
        http_without = HttpExporter(endpoint=server.http_endpoint, headers=headers, timeout=2,
                                    certificate_file=str(certificates / "ca.pem"))
        try:
            assert with_certificate.export(_spans(1)) is SpanExportResult.SUCCESS
            assert http_with.export(_spans(2)) is SpanExportResult.SUCCESS
            assert without.export(_spans(3)) is SpanExportResult.FAILURE
            assert http_without.export(_spans(4)) is SpanExportResult.FAILURE
        finally:
            for exporter in (with_certificate, without, http_with, http_without):
                exporter.shutdown()
        client = ssl.create_default_context(cafile=str(certificates / "ca.pem"))
        client.load_cert_chain(certificates / "client.pem", certificates / "client.key")
        assert _api_status(server, project.key, client) == 200
        with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
            _api_status(server, project.key,
                        ssl.create_default_context(cafile=str(certificates / "ca.pem")))
        assert server.sql("SELECT count(*) FROM llm_calls WHERE project_id = %s",
                          (project.id,)) == [(2,)]
    finally:
        server.stop()


@pytest.mark.parametrize(("args", "message"), [
    (["--tls-cert", "server.pem"], "--tls-cert and --tls-key go together"),
    (["--tls-client-ca", "ca.pem"], "--tls-client-ca needs --tls-cert and --tls-key"),
    (["--tls-cert", "server.pem", "--tls-key", "client.key"], "cannot use the TLS certificate"),
    (["--tls-cert", "missing.pem", "--tls-key", "server.key"], "missing.pem"),
])
def test_bad_tls_settings_are_usage_errors(certificates: Path, args: list[str],
                                           message: str) -> None:
    done = subprocess.run([sys.executable, "-m", "spantally.server.cli", "up",
                           "--database-url", "postgresql://127.0.0.1:1/none", *args],
                          cwd=certificates, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
