"""The analytics endpoints against a reference computed in Python from the calls themselves:
random calls, ranges, filters, dimensions, granularities and time zones (hypothesis), written
through the real write path, read over HTTP."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import random
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spantally.server.export import flatten
from spantally.store import CallWriter, Granularity, LlmCall, raw_span
from spantally.store.totals import Filters, dimension_of

from . import analytics_reference as ref
from .harness import Project, Server

EXAMPLES = int(os.environ.get("SPANTALLY_PROPERTY_EXAMPLES", "40"))
ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata", "Asia/Kathmandu",
         "America/St_Johns", "Australia/Adelaide", "Pacific/Chatham"]
# Two windows holding daylight saving changes in both hemispheres.
BASES = [datetime(2026, 3, 1, tzinfo=timezone.utc), datetime(2026, 10, 20, tzinfo=timezone.utc)]
SPAN = timedelta(days=20)
DIMENSIONS = ["provider", "model", "agent", "service", "operation", "status", "environment",
              "error_type", "user", "session", "tags.feature"]
MAX_RAW = timedelta(days=7)  # the API's default max_raw_range_days

_ids = iter(range(1, 10**9))


def _get(server: Server, path: str, key: str, params: dict[str, Any]) -> tuple[int, Any, str]:
    url = f"{server.api_url}{path}?{urllib.parse.urlencode(params)}"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            text = response.read().decode()
            kind = response.headers.get("Content-Type", "")
            return response.status, json.loads(text) if "json" in kind and "nd" not in kind \
                else text, kind
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), "application/json"


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def random_calls(rng: random.Random, base: datetime, anchors: tuple[datetime, ...] = ()
                 ) -> list[dict[str, Any]]:
    """20 to 80 calls spread over SPAN from `base`, a third of them crowded within two hours of
    `anchors` (a window's edges), where the raw and aggregate parts of an answer meet."""
    specs = []
    for _ in range(rng.randint(20, 80)):
        if anchors and rng.random() < 0.35:
            moment = rng.choice(anchors) + timedelta(seconds=rng.uniform(-7200, 7200))
        else:
            moment = base + timedelta(seconds=rng.uniform(0, SPAN.total_seconds()))
        error = rng.random() < 0.2
        cost = None if rng.random() < 0.15 else rng.randint(0, 10**8)
        specs.append({
            "time": moment.replace(microsecond=rng.randrange(10**6)),
            "provider": rng.choice(["openai", "anthropic", None]),
            "model": rng.choice(["gpt-4o", "gpt-4o-mini", "claude-sonnet-4", None]),
            "agent_id": rng.choice(["planner", "writer", None]),
            "service_name": rng.choice(["api", "worker"]),
            "environment": rng.choice(["production", "staging", None]),
            "user_id": rng.choice(["u1", "u2", "u3", None]),
            "session_id": rng.choice(["s1", "s2", "s3", "s4", None]),
            "operation": rng.choice(["chat", "embeddings"]),
            "input_tokens": rng.randint(0, 5000), "output_tokens": rng.randint(0, 5000),
            "cache_read_tokens": rng.randint(0, 100), "reasoning_tokens": rng.randint(0, 100),
            "cost": cost,
            "latency_us": int(math.exp(rng.uniform(math.log(500), math.log(2e9)))),
            "ttft_us": None if rng.random() < 0.4 else rng.randint(1, 5_000_000),
            "error": error,
            "feature": rng.choice(["chat", "search", None]),
        })
    return specs


def random_window(rng: random.Random, base: datetime) -> tuple[datetime, datetime]:
    """A window over the calls' span: minutes, hours or days long, on whole hours or not."""
    start = base - timedelta(days=1) + timedelta(seconds=rng.uniform(0, 21 * 86400))
    if rng.random() < 0.3:  # whole hours, as dashboards ask
        start = start.replace(minute=0, second=0, microsecond=0)
    scale = rng.choice([3600, 86400, 7 * 86400])
    return start, start + timedelta(seconds=rng.uniform(0, 3 * scale))


def _llm_call(project_id: int, spec: dict[str, Any]) -> LlmCall:
    n = next(_ids)
    error = spec["error"]
    return LlmCall(
        time=spec["time"],
        project_id=project_id, trace_id=n.to_bytes(16, "big"), span_id=n.to_bytes(8, "big"),
        parent_span_id=None, service_name=spec["service_name"], environment=spec["environment"],
        agent_id=spec["agent_id"], agent_name=None, session_id=spec["session_id"],
        user_id=spec["user_id"], provider=spec["provider"], request_model=spec["model"],
        response_model=spec["model"], model=spec["model"], operation=spec["operation"],
        streaming=spec["ttft_us"] is not None, input_tokens=spec["input_tokens"],
        output_tokens=spec["output_tokens"], cache_read_tokens=spec["cache_read_tokens"],
        cache_write_tokens=0, reasoning_tokens=spec["reasoning_tokens"],
        cost_nano_usd=spec["cost"], cost_source=None if spec["cost"] is None else "catalog",
        latency_us=spec["latency_us"], ttft_us=spec["ttft_us"],
        status="error" if error else "ok", error_type="RateLimitError" if error else None,
        tags={"feature": spec["feature"]} if spec["feature"] else None,
    )


def _store(server: Server, calls: list[LlmCall]) -> None:
    async def write() -> None:
        assert server.runtime.database is not None
        result = await CallWriter(server.runtime.database).write(calls)
        assert result.inserted == len(calls)
    server.thread.run(write())


@st.composite
def windows(draw: st.DrawFn, base: datetime) -> tuple[datetime, datetime]:
    """A window over the calls' span, from a few seconds to 22 days long."""
    a = base - timedelta(days=1) + timedelta(seconds=draw(st.integers(0, 22 * 86400)))
    if draw(st.booleans()):  # whole hours, as dashboards ask
        a = a.replace(minute=0, second=0)
    length = timedelta(seconds=draw(st.integers(0, 22 * 86400)))
    return a, a + length


@st.composite
def filter_sets(draw: st.DrawFn) -> dict[str, str]:
    options = {
        "provider": st.sampled_from(["openai", "anthropic"]),
        "model": st.sampled_from(["gpt-4o", "claude-sonnet-4"]),
        "agentId": st.sampled_from(["planner", "writer"]),
        "service": st.sampled_from(["api", "worker"]),
        "environment": st.sampled_from(["production", "staging"]),
        "userId": st.sampled_from(["u1", "u2"]),
        "sessionId": st.sampled_from(["s1", "s2"]),
        "status": st.sampled_from(["ok", "error"]),
        "tags": st.sampled_from(["feature:chat", "feature:search"]),
    }
    chosen = draw(st.lists(st.sampled_from(sorted(options)), max_size=2, unique=True))
    return {name: draw(options[name]) for name in chosen}


def _filters(params: dict[str, str]) -> Filters:
    tags = tuple(tuple(p.split(":", 1)) for p in params["tags"].split(",")) \
        if "tags" in params else ()
    return Filters(agent_id=params.get("agentId"), model=params.get("model"),
                   provider=params.get("provider"), service=params.get("service"),
                   environment=params.get("environment"), user_id=params.get("userId"),
                   session_id=params.get("sessionId"), status=params.get("status"),
                   tags=tags)  # type: ignore[arg-type]


def _refused_for_raw(filters: dict[str, str], start: datetime, end: datetime,
                     **kwargs: Any) -> bool:
    typed = _filters(filters)
    return not typed.indexed and raw_span(start, end, typed, **kwargs) > MAX_RAW


def _assert_refused(status: int, body: Any) -> None:
    assert status == 400, body
    assert body["error"]["code"] == "INVALID_ARGUMENT"
    assert "max-raw-range-days" in body["error"]["message"]


PROPERTY = settings(max_examples=EXAMPLES, deadline=None, derandomize=False,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


@PROPERTY
@given(data=st.data())
def test_every_endpoint_equals_the_reference(server: Server, data: st.DataObject) -> None:
    rng = data.draw(st.randoms(use_true_random=False))
    base = data.draw(st.sampled_from(BASES))
    start, end = random_window(rng, base)
    project: Project = server.new_project()
    calls = [_llm_call(project.id, spec) for spec in random_calls(rng, base, (start, end))]
    _store(server, calls)
    filters = data.draw(filter_sets())
    params = {"from": _iso(start), "to": _iso(end), **filters}
    chosen = [c for c in calls if ref.matches(c, start, end, filters)]

    # summary
    status, body, _ = _get(server, "/api/analytics/summary", project.key, params)
    if _refused_for_raw(filters, start, end):
        _assert_refused(status, body)
    else:
        assert status == 200, body
        assert {k: body[k] for k in ref.measures([])} == ref.measures(chosen)

    # time series, in a time zone
    granularity = data.draw(st.sampled_from(["hour", "day", "week", "month"]))
    zone_name = data.draw(st.sampled_from(ZONES))
    zone = ZoneInfo(zone_name)
    ts_params = {**params, "granularity": granularity, "tz": zone_name}
    status, body, _ = _get(server, "/api/analytics/timeseries", project.key, ts_params)
    if _refused_for_raw(filters, start, end, granularity=Granularity(granularity), zone=zone):
        _assert_refused(status, body)
    else:
        assert status == 200, body
        expected: dict[str, list[LlmCall]] = {}
        for c in chosen:
            expected.setdefault(ref.bucket_of(c.time, granularity, zone), []).append(c)
        got = {row.pop("bucket"): row for row in body["data"]}
        assert got == {bucket: ref.measures(cs) for bucket, cs in expected.items()}

    # breakdown
    dimension = data.draw(st.sampled_from(DIMENSIONS))
    sort = data.draw(st.sampled_from(["cost", "calls", "tokens", "errors"]))
    limit = data.draw(st.integers(1, 4))
    status, body, _ = _get(server, f"/api/analytics/breakdown/{dimension}", project.key,
                           {**params, "sort": sort, "limit": limit})
    if _refused_for_raw(filters, start, end, dimension=dimension_of(dimension)):
        _assert_refused(status, body)
    else:
        assert status == 200, body
        assert body["data"] == ref.breakdown(chosen, dimension, sort, limit)
        if body["data"]:
            assert round(sum(r["percentageOfTotal"] for r in body["data"]), 2) in (0, 100)

    # sessions
    order = data.draw(st.sampled_from(["startedAt", "cost", "calls", "tokens"]))
    status, body, _ = _get(server, "/api/analytics/sessions", project.key,
                           {**params, "limit": 1000, "sort": order})
    if _refused_for_raw(filters, start, end, dimension=dimension_of("session")):
        _assert_refused(status, body)
    else:
        assert status == 200, body
        expected_sessions = ref.sessions(chosen, order)
        assert body["data"] == expected_sessions
        assert body["summary"]["totalSessions"] == len(expected_sessions)
        assert body["summary"]["totalCalls"] == sum(s["calls"] for s in expected_sessions)

    # compare with the previous period
    previous_start = start - (end - start)
    if not _refused_for_raw(filters, previous_start, end):
        status, body, _ = _get(server, "/api/analytics/compare", project.key, params)
        assert status == 200, body
        before = [c for c in calls if ref.matches(c, previous_start, start, filters)]
        now_m, before_m = ref.measures(chosen), ref.measures(before)
        assert {k: body["current"][k] for k in now_m} == now_m
        assert {k: body["previous"][k] for k in before_m} == before_m
        calls_change = body["changes"]["calls"]
        assert calls_change["change"] == now_m["calls"] - before_m["calls"]
        assert calls_change["trend"] == ("flat" if now_m["calls"] == before_m["calls"] or (
            before_m["calls"] and abs(now_m["calls"] - before_m["calls"]) <= 0.01 * before_m["calls"])
            else "up" if now_m["calls"] > before_m["calls"] else "down")
        assert body["changes"]["costUsd"]["change"] == (
            now_m["costNanoUsd"] - before_m["costNanoUsd"]) / 1e9


@settings(max_examples=max(10, EXAMPLES // 2), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_csv_and_ndjson_hold_the_json_rows(server: Server, data: st.DataObject) -> None:
    rng = data.draw(st.randoms(use_true_random=False))
    base = data.draw(st.sampled_from(BASES))
    project = server.new_project()
    calls = [_llm_call(project.id, spec) for spec in random_calls(rng, base)]
    _store(server, calls)
    params = {"from": _iso(base), "to": _iso(base + timedelta(days=6))}
    path, extra = data.draw(st.sampled_from([
        ("/api/analytics/timeseries", {"granularity": "day", "fill": "zero"}),
        ("/api/analytics/breakdown/model", {"limit": 2}),
        ("/api/analytics/breakdown/user", {"compare": "previous_period"}),
        ("/api/analytics/sessions", {}),
        ("/api/analytics/summary", {"compare": "previous_period"}),
    ]))
    status, body, _ = _get(server, path, project.key, {**params, **extra})
    assert status == 200, body
    rows = body["data"] if "data" in body else [body]
    status, text, kind = _get(server, path, project.key, {**params, **extra, "format": "csv"})
    assert status == 200 and kind.startswith("text/csv")
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert len(parsed) == len(rows)
    for line, row in zip(parsed, rows, strict=True):
        flat = flatten(row)
        assert list(line) == list(flat)  # the documented columns, in order
        for column, cell in line.items():
            value = flat[column]
            if value is None:
                assert cell == ""
            elif isinstance(value, bool):
                assert cell == str(value).lower()
            elif isinstance(value, (int, float)):
                assert type(value)(cell) == value
            else:
                assert cell == value
    status, text, kind = _get(server, path, project.key, {**params, **extra, "format": "ndjson"})
    assert status == 200 and kind.startswith("application/x-ndjson")
    assert [json.loads(line) for line in text.splitlines()] == rows
