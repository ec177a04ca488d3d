"""Fixtures: a real PostgreSQL + TimescaleDB cluster started by the suite, and SpanTally
runtimes on ephemeral ports in front of it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spantally.store import ManagedCluster, temporary_cluster

from .fake_llm import FakeLLMServer, fake_llm_server
from .harness import STORAGE_MODE, Project, Server, free_port, start_server


def pytest_report_header(config: pytest.Config) -> list[str]:
    return ["spantally tests: real PostgreSQL + TimescaleDB cluster started by the suite, "
            f"servers in storage mode {STORAGE_MODE!r} (SPANTALLY_TEST_STORAGE_MODE)"]


@pytest.fixture(scope="session")
def cluster() -> Iterator[ManagedCluster]:
    with temporary_cluster("spantally-test-") as managed:
        yield managed


@pytest.fixture(scope="session")
def server(cluster: ManagedCluster) -> Iterator[Server]:
    running = start_server(cluster.url)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def second(server: Server, cluster: ManagedCluster) -> Iterator[Server]:
    """Another collector and API on the same database (started after `server`)."""
    running = start_server(cluster.url)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def project(server: Server) -> Project:
    """A fresh project with its own API key, so tests never see each other's data."""
    return server.new_project()


@pytest.fixture
def fresh_database(cluster: ManagedCluster) -> Iterator[str]:
    """URL of a new, empty database on the test cluster."""
    name = f"t_{free_port()}_{os.getpid()}"
    admin = cluster.url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield cluster.url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')



@pytest.fixture(scope="session")
def _global_capture() -> InMemorySpanExporter:
    """The process-wide SDK tracer provider (OpenTelemetry allows one), with an in-memory
    exporter on it. `spantally.init()` in other tests reuses this provider."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture
def captured(_global_capture: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    """Spans finished during the test, through the real SDK provider."""
    _global_capture.clear()
    yield _global_capture
    _global_capture.clear()


@pytest.fixture(scope="session")
def fake_llm() -> Iterator[FakeLLMServer]:
    with fake_llm_server() as fake:
        yield fake
