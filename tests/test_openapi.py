"""The API against its own OpenAPI document: schemathesis generates valid and invalid requests
for every operation and checks every answer (status, content type, schema, no server error)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .harness import Project, Server

# The API's contract: the storage mode changes nothing here (see the Makefile).
pytestmark = pytest.mark.above_store

CONFIG = Path(__file__).resolve().parent / "schemathesis.toml"


def test_openapi_document_is_served(server: Server) -> None:
    status, body = server.api("/api/openapi.json", None)
    assert status == 200 and body["openapi"] == "3.1.0"
    assert {"/api/analytics/llm", "/api/calls", "/api/prices", "/api/analytics/runs",
            "/api/runs", "/api/runs/{traceId}/{spanId}"} <= set(body["paths"])


def test_schemathesis_finds_no_failure(server: Server, project: Project) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run",
         f"{server.api_url}/api/openapi.json", "--url", server.api_url,
         "-H", f"Authorization: Bearer {project.key}", "--checks", "all",
         "--max-examples", "40", "--seed", "20261122",
         # Its own rate limits, set at random, would throttle the rest of the run: tested in
         # tests/test_admin_api.py instead.
         "--exclude-path", "/api/admin/limits"],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    _, document = server.api("/api/openapi.json", None)
    operations = sum(len(methods) for path, methods in document["paths"].items()
                     if path != "/api/admin/limits")
    # every operation ran
    assert " passed" in done.stdout and f"Tested: {operations}" in done.stdout, done.stdout
