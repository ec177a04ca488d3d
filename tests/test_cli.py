"""The `spantally` command (run as users run it, in a process of its own) and the Python API
client, against a live server."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from spantally.client import (
    AsyncClient,
    Client,
    ConnectionFailed,
    InvalidArgument,
    LlmAnalytics,
    PermissionDenied,
    Unauthenticated,
)

from .harness import CallSpec, Project, Server, export_grpc, make_spans

# The command line: the storage mode changes nothing here (see the Makefile).
pytestmark = pytest.mark.above_store


def spantally(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spantally.server.cli", *args],
                          capture_output=True, text=True, timeout=120, env=env)


def _data(server: Server, project: Project) -> None:
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    specs = [CallSpec(now - timedelta(hours=h + 1), 500 + h, provider, model, 1_000, 100 + h,
                      agent_id=agent, error=(h == 2))
             for h, (provider, model, agent) in enumerate([
                 ("openai", "gpt-4o", "planner"), ("openai", "gpt-4o-mini", "researcher"),
                 ("anthropic", "claude-sonnet-4-6", "writer"), ("openai", "gpt-4o", "planner")])]
    assert export_grpc(make_spans(specs), server.grpc_endpoint, project.key)


def test_projects_and_keys(server: Server) -> None:
    db = ["--database-url", server.database_url]
    created = spantally("projects", "create", "cli-project", *db)
    assert created.returncode == 0, created.stderr
    key = created.stdout.split("API key (shown once, keep it secret): ")[1].strip()
    assert Client(server.api_url, key).get_llm_analytics().summary.total_calls == 0
    again = spantally("projects", "create", "cli-project", *db)
    assert again.returncode == 1 and "exists already" in again.stderr
    listed = json.loads(spantally("projects", "list", "--json", *db).stdout)
    assert any(p["name"] == "cli-project" and p["active_keys"] == 1 for p in listed)

    second = spantally("keys", "create", "cli-project", "--name", "ci", *db)
    assert second.returncode == 0
    assert "its scopes: ingest, read" in second.stdout
    second_key = second.stdout.split("API key (shown once, keep it secret): ")[1].strip()
    key_id = second_key.split("_")[1]
    assert key_id in spantally("keys", "list", "cli-project", *db).stdout
    # Scopes: an admin-only key may change prices and may not read; an unknown scope is refused.
    admin = spantally("keys", "create", "cli-project", "--scope", "admin", *db)
    assert admin.returncode == 0 and "its scopes: admin" in admin.stdout
    admin_key = admin.stdout.split("API key (shown once, keep it secret): ")[1].strip()
    listed_keys = spantally("keys", "list", "cli-project", *db).stdout
    assert "admin" in listed_keys and "ingest, read" in listed_keys
    with pytest.raises(PermissionDenied) as no_read:
        Client(server.api_url, admin_key).get_llm_analytics()
    assert "'read' scope" in str(no_read.value)
    with pytest.raises(PermissionDenied) as no_admin:
        Client(server.api_url, key).create_price("cli-model", input_per_mtok=1, output_per_mtok=2)
    assert "'admin' scope" in str(no_admin.value)
    bad = spantally("keys", "create", "cli-project", "--scope", "owner", *db)
    assert bad.returncode == 2 and "unknown scope owner" in bad.stderr
    assert second_key not in spantally("keys", "list", "cli-project", *db).stdout  # never shown
    assert spantally("keys", "revoke", second_key, *db).returncode == 0
    # (never used before its revocation, so no server has it cached)
    with pytest.raises(PermissionDenied) as denied:
        Client(server.api_url, second_key).get_llm_analytics()
    assert denied.value.code == "PERMISSION_DENIED" and denied.value.status == 403
    missing = spantally("keys", "revoke", second_key, *db)
    assert missing.returncode == 1 and "no active key" in missing.stderr
    assert spantally("keys", "list", "no-such-project", *db).returncode == 1


def test_llm_commands_show_the_apis_figures(server: Server, project: Project) -> None:
    _data(server, project)
    api = ["--url", server.api_url, "--api-key", project.key, "--from", "7d"]
    stats = spantally("llm", "stats", *api, "--json")
    assert stats.returncode == 0, stats.stderr
    body = server.api("/api/analytics/llm?from=" + (datetime.now(timezone.utc) - timedelta(
        days=7)).strftime("%Y-%m-%dT%H:%M:%SZ"), project.key)[1]
    summary = json.loads(stats.stdout)
    assert (summary["total_calls"], summary["total_cost_usd"], summary["total_input_tokens"],
            summary["error_calls"]) == (4, body["summary"]["totalCostUsd"], 4_000, 1)
    models = json.loads(spantally("llm", "models", *api, "--json").stdout)
    assert [(m["model"], m["calls"]) for m in models] == [
        (m["model"], m["calls"]) for m in body["byModel"]]
    recent = spantally("llm", "recent", *api, "--limit", "3")
    assert recent.returncode == 0
    assert "planner" in recent.stdout and "error: RateLimitError" in recent.stdout
    assert len(json.loads(spantally("llm", "recent", *api, "--json", "--limit", "3").stdout)) == 3
    filtered = json.loads(spantally("llm", "stats", *api, "--json", "--agent", "planner").stdout)
    assert filtered["total_calls"] == 2
    table = spantally("llm", "models", *api)
    assert "gpt-4o-mini" in table.stdout and "claude-sonnet-4-6" in table.stdout


def test_clear_messages_and_exit_codes(server: Server, project: Project) -> None:
    unreachable = spantally("llm", "stats", "--url", "http://127.0.0.1:9", "--api-key", "k")
    assert unreachable.returncode == 1 and "cannot reach SpanTally" in unreachable.stderr
    bad_key = spantally("llm", "stats", "--url", server.api_url, "--api-key", "st_x_y")
    assert bad_key.returncode == 1 and "PERMISSION_DENIED" in bad_key.stderr
    no_key = spantally("llm", "stats", "--url", server.api_url,
                       env={k: v for k, v in __import__("os").environ.items()
                            if k != "SPANTALLY_API_KEY"})
    assert no_key.returncode == 1 and "no API key" in no_key.stderr
    bad_time = spantally("llm", "stats", "--url", server.api_url, "--api-key", project.key,
                         "--from", "last tuesday")
    assert bad_time.returncode == 1 and "not ISO 8601 or a time ago" in bad_time.stderr
    bad_choice = spantally("llm", "stats", "--granularity", "fortnight")
    # The spec's choices (month too: every granularity the API takes).
    assert bad_choice.returncode == 2 and "fortnight" in bad_choice.stderr
    assert "month" in bad_choice.stderr


def test_analytics_commands_show_the_apis_figures(server: Server, project: Project,
                                                  tmp_path: Path) -> None:
    specs = [CallSpec(datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(hours=h + 1),
                      400 + 100 * h, "openai", model, 1_000, 100, agent_id=agent,
                      error=(h == 3), extra={"session.id": f"s{h % 2}", "user.id": "u1"})
             for h, (model, agent) in enumerate([("gpt-4o", "planner"), ("gpt-4o", "planner"),
                                                 ("gpt-4o-mini", "writer"),
                                                 ("gpt-4o-mini", "writer")])]
    assert export_grpc(make_spans(specs), server.grpc_endpoint, project.key)
    api = ["--url", server.api_url, "--api-key", project.key, "--from", "1d"]

    def run(*args: str) -> str:
        done = spantally("analytics", *args, *api)
        assert done.returncode == 0, done.stderr
        return done.stdout

    summary = json.loads(run("summary", "--json"))
    assert (summary["calls"], summary["errorCalls"], summary["inputTokens"]) == (4, 1, 4_000)
    assert "success rate" in run("summary") and "75.0%" in run("summary")
    compared = json.loads(run("summary", "--compare", "--json"))
    assert compared["changes"]["calls"]["previous"] == 0
    assert "calls" in run("summary", "--compare")

    by_model = json.loads(run("breakdown", "model", "--sort", "calls", "--json"))
    assert [(r["key"], r["calls"], r["percentageOfTotal"]) for r in by_model["data"]] == [
        ("gpt-4o", 2, 50.0), ("gpt-4o-mini", 2, 50.0)]
    top = run("breakdown", "agent", "--limit", "1", "--sort", "calls")
    assert "(other)" in top and "50.00%" in top
    filtered = json.loads(run("breakdown", "session", "--agent", "writer", "--status", "ok",
                              "--json"))
    assert [(r["key"], r["calls"]) for r in filtered["data"]] == [("s0", 1)]

    # How the server answers: the plan's relations and the rows each query read
    explained = json.loads(run("explain", "summary", "--json"))
    assert {r["relation"] for r in explained["reads"]} <= {
        "llm_calls", "llm_calls_total_5m", "llm_calls_total_1h", "llm_calls_total_1d"}
    assert sum(r["rowsRead"] for r in explained["reads"] if r["relation"] == "llm_calls") <= 4
    shown = run("explain", "breakdown/model", "--param", "sort=calls", "--sql")
    assert "queries" in shown and "llm_calls" in shown and "GROUP BY" in shown

    # The CSV export streams the same rows as the JSON
    exported = run("export", "breakdown/model", "--param", "sort=calls")
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert [(r["key"], int(r["calls"]), r["costNanoUsd"]) for r in rows] == [
        (r["key"], r["calls"], str(r["costNanoUsd"])) for r in by_model["data"]]
    target = tmp_path / "calls.ndjson"
    run("export", "calls", "--format", "ndjson", "--tag", "missing:tag", "-o", str(target))
    assert target.read_text() == ""
    run("export", "calls", "--format", "ndjson", "-o", str(target))
    assert len(target.read_text().splitlines()) == 4

    series = json.loads(run("timeseries", "--granularity", "day", "--tz", "Asia/Kolkata",
                            "--json"))
    assert sum(r["calls"] for r in series["data"]) == 4
    assert "+05:30" in run("timeseries", "--granularity", "day", "--tz", "Asia/Kolkata")
    sessions = json.loads(run("sessions", "--sort", "calls", "--json"))
    assert sessions["summary"]["totalSessions"] == 2
    assert "s0" in run("sessions") and "2 sessions" in run("sessions")
    assert "no anomalies" in run("anomalies")
    assert json.loads(run("anomalies", "--status", "any", "--json"))["status"] == "any"
    missing = spantally("analytics", "dismiss", "anomaly_0123456789abcdef", *api[:4])
    assert missing.returncode == 1 and "NOT_FOUND" in missing.stderr, missing.stderr

    for args, message in ((["breakdown", "colour"], "dimension"),
                          (["timeseries", "--tz", "Mars/Olympus"], "tz"),
                          (["export", "sessions", "--param", "limit=0"], "limit"),
                          (["summary", "--tag", "nocolon"], "tags")):
        failed = spantally("analytics", *args, *api)
        assert failed.returncode == 1 and "INVALID_ARGUMENT" in failed.stderr, failed.stderr
        assert message in failed.stderr


def test_demo_sends_a_week_of_traffic_through_otlp(server: Server, project: Project) -> None:
    done = spantally("demo", "--endpoint", server.grpc_endpoint, "--api-key", project.key,
                     "--sessions", "30")
    assert done.returncode == 0, done.stderr
    sent = int(done.stdout.split("sent ")[1].split(" ")[0].replace(",", ""))
    rows = server.sql("SELECT count(*), count(DISTINCT agent_id), count(DISTINCT session_id),"
                      " count(DISTINCT date_trunc('day', time)), count(*) FILTER"
                      " (WHERE status = 'error') FROM llm_calls WHERE project_id = %s",
                      (project.id,))
    calls, agents, sessions, days, _errors = rows[0]
    assert calls == sent and agents == 4 and sessions == 30 and days >= 5
    said = re.search(r"in\s+([\d,]+)\s+agent\s+runs", done.stdout)  # the console wraps
    assert said, done.stdout
    runs = int(said[1].replace(",", ""))
    (stored_runs, with_steps, run_sessions), = server.sql(
        "SELECT count(*), count(*) FILTER (WHERE llm_calls > 0), count(DISTINCT session_id)"
        " FROM agent_runs WHERE project_id = %s", (project.id,))
    assert stored_runs == runs == with_steps and run_sessions == 30
    tagged, = server.sql("SELECT count(*) FROM llm_calls WHERE project_id = %s"
                         " AND tags ? 'feature' AND tags ? 'customer'", (project.id,))
    assert tagged == (calls,)


def test_python_client_sync_and_async(server: Server, project: Project) -> None:
    _data(server, project)
    client = Client(server.api_url, project.key)
    result = client.get_llm_analytics(from_="7d", granularity="day", provider="openai")
    assert isinstance(result, LlmAnalytics)
    assert (result.summary.total_calls, result.summary.error_calls) == (3, 0)
    assert {m.model for m in result.by_model} == {"gpt-4o", "gpt-4o-mini"}
    assert all(isinstance(t.bucket, datetime) for t in result.by_time)
    calls = client.get_recent_calls(from_=datetime.now(timezone.utc) - timedelta(days=1),
                                    limit=2)
    assert len(calls) == 2 and calls[0].time > calls[1].time

    async def run() -> tuple[LlmAnalytics, list]:
        async_client = AsyncClient(server.api_url, project.key)
        return await asyncio.gather(
            async_client.get_llm_analytics(from_="7d", agent_id="writer"),
            async_client.get_recent_calls(model="claude-sonnet-4-6"))

    by_agent, recent = asyncio.run(run())
    assert by_agent.summary.total_calls == 1 and recent[0].error_type == "RateLimitError"

    with pytest.raises(InvalidArgument) as bad:
        client.get_llm_analytics(granularity="fortnight")
    assert bad.value.code == "INVALID_ARGUMENT" and "granularity" in bad.value.message
    with pytest.raises(Unauthenticated):
        Client(server.api_url, api_key="").get_llm_analytics()
    with pytest.raises(ConnectionFailed):
        Client("http://127.0.0.1:9", project.key).get_llm_analytics()


def test_db_start_status_stop() -> None:
    import shutil
    import tempfile
    from pathlib import Path

    from .harness import free_port

    home = Path(tempfile.mkdtemp(prefix="spantally-cli-db-"))  # traversable by `postgres`
    home.chmod(0o755)
    args = ["--home", str(home / "spantally"), "--embedded-port", str(free_port())]
    bad = spantally("db", "start", "--home", "/proc/no-such-place/x", "--embedded-port", "1")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    status = spantally("db", "status", *args)
    assert status.returncode == 1 and "not initialised" in status.stdout
    started = spantally("db", "start", *args)
    assert started.returncode == 0 and "started" in started.stdout, started.stderr
    try:
        assert "running" in spantally("db", "status", *args).stdout
        assert "already running" in spantally("db", "start", *args).stdout
    finally:
        assert "stopped" in spantally("db", "stop", *args).stdout
    stopped = spantally("db", "status", *args)
    assert stopped.returncode == 1 and "stopped" in stopped.stdout
    shutil.rmtree(home, ignore_errors=True)
