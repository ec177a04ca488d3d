"""Anomalies with a lifecycle (store/anomaly_log.py): the hourly detector stores what it finds
with the id detection on request gives; an anomaly is active while its condition holds,
resolved when it clears, dismissed by a user; the native API and reference 002 list them by
status; one process judges at a time; sparse hours raise nothing; the runtime runs the
detector by itself."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg

from spantally.store import INGEST, AnomalyRules, Measures, detect_anomalies, judge_hours
from spantally.store.cluster import ManagedCluster

from .harness import Project, Server, start_server
from .test_analytics_api import _get, _llm_call, _spec, _store

SPIKE = datetime(2026, 6, 20, 14, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)


def _judge(server: Server, now: datetime) -> int | None:
    assert server.runtime.database is not None
    return server.thread.run(judge_hours(server.runtime.database, now=now), timeout=300)


def _stored(server: Server, key: str, status: str, **params: Any) -> list[dict[str, Any]]:
    code, body, _ = _get(server, "/api/analytics/anomalies", key,
                         {"from": "2026-06-20T00:00:00Z", "to": "2026-06-21T00:00:00Z",
                          "status": status, **params})
    assert code == 200, body
    assert body["status"] == status
    rows: list[dict[str, Any]] = body["data"]
    return rows


def _calls(project: Project, hour: datetime, cost: int, count: int = 24) -> list[Any]:
    return [_llm_call(project.id, _spec(hour + timedelta(minutes=2 * i), cost=cost))
            for i in range(count)]


def test_an_anomaly_is_active_then_resolved_dismissed_and_new_again(
        server: Server, project: Project) -> None:
    """A week of 24 calls at 14:00, 15:00 and 16:00 each day, then on 2026-06-20 a tenfold cost
    at 14:00, a normal 15:00, and a tenfold cost again at 16:00."""
    calls = []
    for day in range(1, 8):
        for hour in (SPIKE, SPIKE + HOUR, SPIKE + 2 * HOUR):
            calls += _calls(project, hour - timedelta(days=day), 1_000_000)
    calls += _calls(project, SPIKE, 10_000_000) + _calls(project, SPIKE + HOUR, 1_000_000) + \
        _calls(project, SPIKE + 2 * HOUR, 10_000_000)
    _store(server, calls)
    key = project.key

    # 15:00: the 24 hours before judged; 14:00's spike is active in three scopes.
    assert _judge(server, SPIKE + HOUR + timedelta(minutes=7))
    active = _stored(server, key, "active")
    assert {(a["type"], a["scope"], a["scopeKey"]) for a in active} == {
        ("cost_spike", "project", None), ("cost_spike", "agent", "planner"),
        ("cost_spike", "model", "gpt-4o")}
    assert {(a["hour"], a["lastHour"], a["resolvedAt"], a["dismissedAt"]) for a in active} == {
        ("2026-06-20T14:00:00Z", "2026-06-20T14:00:00Z", None, None)}
    assert {a["detectedAt"] for a in active} == {"2026-06-20T15:07:00Z"}
    # The same ids and figures as detection on request gives that hour.
    code, judged, _ = _get(server, "/api/analytics/anomalies", key,
                           {"from": "2026-06-20T14:00:00Z", "to": "2026-06-20T15:00:00Z"})
    assert code == 200
    on_request = {a["id"]: a for a in judged["data"]}
    assert set(on_request) == {a["id"] for a in active}
    for a in active:
        assert {k: a[k] for k in on_request[a["id"]] if k != "detectedAt"} == \
            {k: v for k, v in on_request[a["id"]].items() if k != "detectedAt"}

    # Judged again: nothing new, nothing twice.
    assert _judge(server, SPIKE + HOUR + timedelta(minutes=30)) == 0
    assert len(_stored(server, key, "any")) == 3

    # Dismissing: by id, twice the same, unknown 404, an ingest-only key 403.
    agent = next(a for a in active if a["scope"] == "agent")
    status, body = server.call("POST", f"/api/analytics/anomalies/{agent['id']}/dismiss", key)
    assert status == 200 and body["status"] == "dismissed" and body["id"] == agent["id"]
    again = server.call("POST", f"/api/analytics/anomalies/{agent['id']}/dismiss", key)
    assert again == (200, body)
    for missing in ("anomaly_0000000000000000", "nothing", "anomaly_%2F..%2F"):
        status, error = server.call("POST", f"/api/analytics/anomalies/{missing}/dismiss", key)
        assert status == 404 and error["error"]["code"] == "NOT_FOUND", (missing, error)
    ingest = server.new_key(project, [INGEST])
    status, error = server.call("POST", f"/api/analytics/anomalies/{agent['id']}/dismiss",
                                ingest)
    assert status == 403 and "admin" in error["error"]["message"]
    other = server.new_project()
    status, _ = server.call("POST", f"/api/analytics/anomalies/{agent['id']}/dismiss",
                            other.key)
    assert status == 404  # another project's anomaly is not there
    assert [a["id"] for a in _stored(server, key, "dismissed")] == [agent["id"]]

    # 16:00: the normal 15:00 hour clears them.
    assert _judge(server, SPIKE + 2 * HOUR)
    resolved = _stored(server, key, "resolved")
    assert {a["scope"] for a in resolved} == {"project", "model"}
    assert {a["resolvedAt"] for a in resolved} == {"2026-06-20T15:00:00Z"}
    assert _stored(server, key, "active") == []

    # 17:00: the spike at 16:00 is a new anomaly in each scope, the dismissed one's too.
    assert _judge(server, SPIKE + 3 * HOUR)
    new = _stored(server, key, "active")
    assert {(a["scope"], a["hour"]) for a in new} == {
        (scope, "2026-06-20T16:00:00Z") for scope in ("project", "agent", "model")}
    assert not {a["id"] for a in new} & {a["id"] for a in active}
    assert len(_stored(server, key, "any")) == 6
    # Only what held in from..to: the morning has none.
    assert _stored(server, key, "any", to="2026-06-20T14:00:00Z") == []

    # Reference 002 reads the same list.
    code, body, _ = _get(server, "/compat/infraprism/v1/analytics/anomalies", key,
                         {"start_date": "2026-06-20", "end_date": "2026-06-20",
                          "entity_type": "agent"})
    assert code == 200
    assert sorted((a["status"], a["entity_id"]) for a in body["data"]) == [
        ("active", "planner"), ("dismissed", "planner")]
    code, body, _ = _get(server, "/compat/infraprism/v1/analytics/anomalies", key,
                         {"start_date": "2026-06-20", "end_date": "2026-06-20",
                          "status": "resolved"})
    assert {a["entity_type"] for a in body["data"]} == {"project", "model"}

    # Filters and explain apply to detection on request only.
    for extra in ({"agentId": "planner"}, {"explain": "true"}):
        code, error, _ = _get(server, "/api/analytics/anomalies", key,
                              {"status": "active", **extra})
        assert code == 400 and error["error"]["message"].split(":")[0] in ("status",
                                                                            "explain"), error


def test_one_process_judges_at_a_time(server: Server, cluster: ManagedCluster) -> None:
    with psycopg.connect(cluster.url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(7342165007)")
        assert _judge(server, SPIKE) is None
        holder.execute("SELECT pg_advisory_unlock(7342165007)")
    assert _judge(server, SPIKE) is not None


def test_sparse_hours_raise_nothing() -> None:
    """An hour needs `min_calls` (20) calls before it is judged: 19 calls where 3 are usual are
    no volume spike; 20 are."""
    hour = SPIKE
    rules = AnomalyRules()
    for calls, found in ((rules.min_calls - 1, 0), (rules.min_calls, 1)):
        series = {hour - timedelta(days=d): Measures(calls=3) for d in range(1, 8)}
        series[hour] = Measures(calls=calls)
        anomalies = detect_anomalies({"project": {None: series}}, [hour], rules)
        assert [a.kind for a in anomalies] == ["volume_spike"] * found


def test_the_runtime_runs_the_detector(cluster: ManagedCluster) -> None:
    """With an interval, a `spantally up` process judges every project's last hours itself;
    a project without calls yet is left for when it has some (late ones too)."""
    running = start_server(cluster.url, anomaly_check_interval_s=0.2)
    try:
        project = running.new_project()
        time.sleep(1)  # rounds ran
        assert running.sql("SELECT judged_until FROM anomaly_watermarks WHERE project_id = %s",
                           (project.id,)) == []
        _store(running, _calls(project, datetime.now(timezone.utc) - timedelta(hours=3),
                               1_000_000, count=1))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            marks = running.sql("SELECT judged_until FROM anomaly_watermarks"
                                " WHERE project_id = %s", (project.id,))
            if marks:
                break
            time.sleep(0.2)
        assert marks, "the detector did not judge the new project's hours"
        now = datetime.now(timezone.utc)
        assert marks[0][0] == now.replace(minute=0, second=0, microsecond=0) or \
            now.minute == 0  # an hour may have just ended
    finally:
        running.stop()
