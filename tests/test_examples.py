"""The runnable examples, run as users run them (a fresh process, no provider API keys, so
against the fake API), against a live SpanTally."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .harness import Project, Server

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str, server: Server, project: Project, *extra: str) -> str:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "SPANTALLY_API_KEY")}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), "--endpoint", server.grpc_endpoint,
         "--api-key", project.key, *extra],
        env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_agents_example(server: Server, project: Project) -> None:
    out = run_example("agents.py", server, project, "--api", server.api_url)
    assert '"totalCalls": 6' in out
    rows = server.sql(
        "SELECT agent_id, user_id, session_id, provider, model, count(*) FROM llm_calls"
        " WHERE project_id = %s GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2", (project.id,))
    assert rows == [
        ("planner", "alice", "trip-2026-11", "openai", "gpt-4o-mini", 1),
        ("planner", "bob", "taxes-2026", "openai", "gpt-4o-mini", 1),
        ("researcher", "alice", "trip-2026-11", "anthropic", "claude-haiku-4-5", 2),
        ("researcher", "bob", "taxes-2026", "anthropic", "claude-haiku-4-5", 2),
    ]


def test_openai_example(server: Server, project: Project) -> None:
    out = run_example("openai_chat.py", server, project)
    assert "Paris is the capital of France." in out
    rows = server.sql("SELECT operation, streaming, session_id FROM llm_calls"
                      " WHERE project_id = %s ORDER BY operation, streaming", (project.id,))
    assert rows == [("chat", True, "example-session"), ("chat", None, "example-session"),
                    ("embeddings", None, "example-session")]


def test_quickstart_example(server: Server, project: Project) -> None:
    out = run_example("quickstart.py", server, project, "--api", server.api_url)
    assert '"totalCalls": 6' in out
