"""Fixtures: a real PostgreSQL + TimescaleDB cluster started by the suite, and SpanTally
runtimes on ephemeral ports in front of it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest

from spantally.store import ManagedCluster, temporary_cluster

from .harness import Project, Server, free_port, start_server


def pytest_report_header(config: pytest.Config) -> list[str]:
    return ["spantally tests: real PostgreSQL + TimescaleDB cluster started by the suite"]


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

