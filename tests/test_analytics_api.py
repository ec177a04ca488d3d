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

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spantally.server.api.export import flatten
from spantally.store import (
    CallWriter,
    Dimension,
    Filters,
    Granularity,
    LlmCall,
    Question,
    bin_of,
    dimension_of,
    plan,
    sessions_stored,
)
from spantally.store.measures import bin_bounds_ms

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
DECLARED_TAG_KEYS = frozenset({"feature", "customer", "team"})  # a new project's (0021)
LLM_GROUPS = (dimension_of("provider"), dimension_of("model"))  # /api/analytics/llm's byModel

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


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


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


def _refused_for_raw(filters: dict[str, str], start: datetime, end: datetime, *,
                     dimension: Dimension | None = None,
                     group_by: tuple[Dimension, ...] = (), **kwargs: Any) -> bool:
    typed = _filters(filters)
    question = Question(start, end, typed, (dimension,) if dimension else group_by,
                        tag_keys=DECLARED_TAG_KEYS, **kwargs)
    return not typed.indexed and plan(question).raw_span > MAX_RAW


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

    # /api/analytics/llm (the reference's shape) agrees, filters included; it groups by model,
    # so a tag filter reads raw rows there
    status, body, _ = _get(server, "/api/analytics/llm", project.key, params)
    if _refused_for_raw(filters, start, end, group_by=LLM_GROUPS,
                        granularity=Granularity.HOUR):
        _assert_refused(status, body)
    else:
        assert status == 200, body
        expected_summary = ref.measures(chosen)
        assert (body["summary"]["totalCalls"], body["summary"]["totalInputTokens"],
                body["summary"]["errorCalls"], round(body["summary"]["totalCostUsd"] * 1e9)) \
            == (expected_summary["calls"], expected_summary["inputTokens"],
                expected_summary["errorCalls"], expected_summary["costNanoUsd"])

    # recent calls, filters included, newest first, and the same a page at a time
    status, body, _ = _get(server, "/api/calls", project.key, {**params, "limit": 1000})
    assert status == 200, body
    newest_first = sorted(chosen, key=lambda c: (-c.time.timestamp(), c.trace_id))
    assert [(c["traceId"], c["spanId"], c["time"]) for c in body["calls"]] == \
        [(c.trace_id.hex(), c.span_id.hex(), _iso(c.time)) for c in newest_first]
    page = data.draw(st.integers(max(1, len(chosen) // 4), max(1, len(chosen))))
    paged = []  # at most five pages, the last one empty or short
    for offset in range(0, len(chosen) + 1, page):
        status, answer, _ = _get(server, "/api/calls", project.key,
                                 {**params, "limit": page, "offset": offset})
        assert status == 200, answer
        paged += answer["calls"]
    assert paged == body["calls"]

    # tag keys, under the same limit as a tag's breakdown
    status, body, _ = _get(server, "/api/analytics/tags", project.key, params)
    if _refused_for_raw(filters, start, end, dimension=dimension_of("tags.*")):
        _assert_refused(status, body)
    else:
        assert status == 200, body
        tagged = [c.tags["feature"] for c in chosen if c.tags]
        assert body["data"] == ([{"key": "feature", "calls": len(tagged),
                                  "values": len(set(tagged))}] if tagged else [])

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
    order = data.draw(st.sampled_from(["desc", "asc"]))
    status, body, _ = _get(server, f"/api/analytics/breakdown/{dimension}", project.key,
                           {**params, "sort": sort, "limit": limit, "order": order})
    if _refused_for_raw(filters, start, end, dimension=dimension_of(dimension),
                        histograms=False):
        _assert_refused(status, body)
    else:
        assert status == 200, body
        assert body["data"] == ref.breakdown(chosen, dimension, sort, limit, order)
        if body["data"]:
            assert round(sum(r["percentageOfTotal"] for r in body["data"]), 2) in (0, 100)

    # users ranked without filters: whole UTC days from their daily aggregate, over any range
    status, body, _ = _get(server, "/api/analytics/breakdown/user", project.key,
                           {"from": _iso(start), "to": _iso(end), "sort": sort, "limit": limit})
    assert status == 200, body
    assert body["data"] == ref.breakdown([c for c in calls if ref.matches(c, start, end, {})],
                                         "user", sort, limit)

    # sessions: without filters from llm_sessions over any range, else grouped from raw calls
    order = data.draw(st.sampled_from(["startedAt", "cost", "calls", "tokens"]))
    status, body, _ = _get(server, "/api/analytics/sessions", project.key,
                           {**params, "limit": 1000, "sort": order})
    if not sessions_stored(_filters(filters)) and _refused_for_raw(
            filters, start, end, dimension=dimension_of("session")):
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


def test_an_export_named_after_a_tag_key_has_a_safe_file_name(
        server: Server, project: Project) -> None:
    key = 'team "\x1e/ops'  # a quote, a control character and a slash: none fit a header
    moment = datetime.now(timezone.utc) - timedelta(hours=1)
    _store(server, [_llm_call(project.id, _spec(moment))._replace(tags={key: "search"})])
    query = urllib.parse.urlencode({"format": "csv", "from": _iso(moment - timedelta(hours=1))})
    request = urllib.request.Request(
        f"{server.api_url}/api/analytics/breakdown/{urllib.parse.quote('tags.' + key, safe='')}?{query}",
        headers={"Authorization": f"Bearer {project.key}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        disposition = response.headers["Content-Disposition"]
        rows = list(csv.DictReader(io.StringIO(response.read().decode())))
    assert disposition == 'attachment; filename="breakdown-tags.team_ops.csv"'
    assert [(row["key"], row["calls"]) for row in rows] == [("search", "1")]


# -- fixed cases ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "params", "named"), [
    ("/api/analytics/breakdown/colour", {}, "dimension"),
    ("/api/analytics/timeseries", {"tz": "Mars/Olympus_Mons"}, "tz"),
    ("/api/analytics/timeseries", {"tz": "../../etc/passwd"}, "tz"),
    ("/api/analytics/timeseries", {"granularity": "fortnight"}, "granularity"),
    ("/api/analytics/timeseries", {"fill": "previous"}, "fill"),
    ("/api/analytics/breakdown/model", {"limit": "0"}, "limit"),
    ("/api/analytics/breakdown/model", {"limit": "1001"}, "limit"),
    ("/api/analytics/breakdown/model", {"sort": "vibes"}, "sort"),
    ("/api/analytics/summary", {"format": "xml"}, "format"),
    ("/api/analytics/compare", {"format": "csv"}, "format"),
    ("/api/analytics/sessions", {"limit": "-1"}, "limit"),
    ("/api/analytics/summary", {"status": "maybe"}, "status"),
    ("/api/analytics/summary", {"tags": "feature"}, "tags"),
    ("/api/analytics/summary", {"from": "yesterday"}, "from"),
    ("/api/analytics/summary", {"from": "2026-03-02", "to": "2026-03-01"}, "from"),
    ("/api/analytics/summary", {"compare": "last_year"}, "compare"),
    ("/api/analytics/summary", {"compareFrom": "2026-03-01"}, "compareFrom"),
    ("/api/calls", {"format": "parquet"}, "format"),
    ("/api/analytics/anomalies", {"from": "2026-01-01", "to": "2026-03-01"}, "from..to"),
    ("/api/analytics/llm", {"from": "2026-01-01", "to": "2026-03-01", "tags": "a:b"},
     "from..to"),
    ("/api/analytics/llm", {"granularity": "fortnight"}, "granularity"),
    ("/api/analytics/timeseries", {"explain": "true", "format": "csv"}, "explain"),
    ("/api/analytics/summary", {"explain": "yes"}, "explain"),
    ("/api/calls", {"limit": "\u00b2"}, "limit"),
])
def test_invalid_parameters_are_named(server: Server, project: Project, path: str,
                                      params: dict[str, str], named: str) -> None:
    status, body, _ = _get(server, path, project.key, params)
    assert status == 400, body
    assert body["error"]["code"] == "INVALID_ARGUMENT"
    assert body["error"]["message"].startswith(named), body


def test_raw_only_ranges_are_refused_with_a_hint(server: Server, project: Project) -> None:
    month = {"from": "2026-03-01", "to": "2026-03-31"}
    # A tag the project does not declare, or a declared one beside another filter, reads raw
    # rows.
    for path, params in [("/api/analytics/breakdown/user", {**month, "model": "gpt-4o"}),
                         ("/api/analytics/breakdown/tags.region", month),
                         ("/api/analytics/breakdown/tags.feature", {**month, "model": "gpt-4o"}),
                         ("/api/analytics/sessions", {**month, "model": "gpt-4o"}),
                         ("/api/analytics/summary", {**month, "tags": "region:eu"}),
                         ("/api/analytics/timeseries", {**month, "granularity": "hour",
                                                        "tz": "Asia/Kolkata",
                                                        "agentId": "planner"})]:
        status, body, _ = _get(server, path, project.key, params)
        assert status == 400, (path, body)
        message = body["error"]["message"]
        assert message.startswith("from..to") and "--max-raw-range-days" in message, message
    # The same month answers from the aggregates (users unfiltered from their daily one, hours
    # starting at :30 UTC from the 5-minute level, a declared tag from the tag aggregates,
    # sessions from their rows), or through an index for one user.
    for path, params in [("/api/analytics/breakdown/model", month),
                         ("/api/analytics/breakdown/tags.feature", month),
                         ("/api/analytics/summary", {**month, "tags": "feature:chat"}),
                         ("/api/analytics/timeseries", {**month, "granularity": "day",
                                                        "tags": "customer:acme"}),
                         ("/api/analytics/breakdown/user", month),
                         ("/api/analytics/breakdown/user",
                          {**month, "compare": "previous_period"}),
                         ("/api/analytics/sessions", month),
                         ("/api/analytics/breakdown/environment", month),
                         ("/api/analytics/summary", {**month, "userId": "u1"}),
                         ("/api/analytics/timeseries", {**month, "granularity": "hour",
                                                        "tz": "Europe/Paris"}),
                         ("/api/analytics/timeseries", {**month, "granularity": "hour",
                                                        "tz": "Asia/Kolkata"})]:
        status, body, _ = _get(server, path, project.key, params)
        assert status == 200, (path, body)


def test_fill_zero_gives_every_local_bucket(server: Server, project: Project) -> None:
    """New York's spring-forward day lasts 23 hours: the buckets are local midnights, and
    fill=zero lists each day once whether it had calls or not."""
    spec = {"time": datetime(2026, 3, 8, 12, tzinfo=timezone.utc), "provider": "openai",
            "model": "gpt-4o", "agent_id": None, "service_name": "api", "environment": None,
            "user_id": None, "session_id": None, "operation": "chat", "input_tokens": 10,
            "output_tokens": 5, "cache_read_tokens": 0, "reasoning_tokens": 0, "cost": 7,
            "latency_us": 1_500_000, "ttft_us": None, "error": False, "feature": None}
    _store(server, [_llm_call(project.id, spec)])
    status, body, _ = _get(server, "/api/analytics/timeseries", project.key, {
        "from": "2026-03-07T05:00:00Z", "to": "2026-03-10T04:00:00Z", "granularity": "day",
        "tz": "America/New_York", "fill": "zero"})
    assert status == 200, body
    assert [(r["bucket"], r["calls"]) for r in body["data"]] == [
        ("2026-03-07T00:00:00-05:00", 0), ("2026-03-08T00:00:00-05:00", 1),
        ("2026-03-09T00:00:00-04:00", 0)]
    assert body["data"][0]["avgLatencyMs"] is None and body["data"][1]["costNanoUsd"] == 7


def test_percentiles_are_within_the_documented_bound(server: Server, project: Project) -> None:
    rng = random.Random(3)
    latencies = [int(math.exp(rng.uniform(math.log(8_000), math.log(600_000_000))))
                 for _ in range(2000)]
    base = {"provider": "openai", "model": "gpt-4o", "agent_id": None, "service_name": "api",
            "environment": None, "user_id": None, "session_id": None, "operation": "chat",
            "input_tokens": 1, "output_tokens": 1, "cache_read_tokens": 0,
            "reasoning_tokens": 0, "cost": 1, "ttft_us": None, "error": False, "feature": None}
    start = datetime(2026, 5, 1, tzinfo=timezone.utc)
    _store(server, [_llm_call(project.id, {**base, "time": start + timedelta(seconds=i),
                                           "latency_us": us})
                    for i, us in enumerate(latencies)])
    status, body, _ = _get(server, "/api/analytics/summary", project.key,
                           {"from": "2026-05-01", "to": "2026-05-02"})
    assert status == 200
    ordered = sorted(latencies)
    for percent in (50, 95, 99):
        exact_us = ordered[math.ceil(percent / 100 * len(ordered)) - 1]
        low, high = bin_bounds_ms(bin_of(exact_us))
        reported = body[f"p{percent}LatencyMs"]
        assert low <= reported <= high, (percent, exact_us, reported)


def _spec(moment: datetime, **changes: Any) -> dict[str, Any]:
    return {"time": moment, "provider": "openai", "model": "gpt-4o", "agent_id": "planner",
            "service_name": "api", "environment": None, "user_id": None, "session_id": None,
            "operation": "chat", "input_tokens": 100, "output_tokens": 10,
            "cache_read_tokens": 0, "reasoning_tokens": 0, "cost": 1_000_000,
            "latency_us": 800_000, "ttft_us": None, "error": False, "feature": None,
            **changes}


def test_anomalies_find_spikes_against_the_same_hour_of_previous_days(
        server: Server, project: Project) -> None:
    """Seven quiet days of 20 calls at 14:00 (and at 15:00), then on day 8 at 14:00 the calls
    cost 8 times more than usual, and at 15:00 half of them fail."""
    day0 = datetime(2026, 6, 1, tzinfo=timezone.utc)
    specs = []
    for day in range(8):
        for hour in (14, 15):
            for i in range(20):
                moment = day0 + timedelta(days=day, hours=hour, minutes=i)
                spike_cost = day == 7 and hour == 14
                failing = day == 7 and hour == 15 and i < 10
                specs.append(_spec(moment, cost=8_000_000 if spike_cost else 1_000_000,
                                   error=failing,
                                   latency_us=800_000 + 10_000 * (day % 3) + 1000 * i))
    _store(server, [_llm_call(project.id, s) for s in specs])
    status, body, _ = _get(server, "/api/analytics/anomalies", project.key,
                           {"from": "2026-06-08T00:00:00Z", "to": "2026-06-09T00:00:00Z"})
    assert status == 200, body
    found = {(a["type"], a["scope"], a["scopeKey"], a["hour"]): a for a in body["data"]}
    assert set(found) == {
        (kind, scope, key, hour)
        for kind, hour in (("cost_spike", "2026-06-08T14:00:00Z"),
                           ("error_rate_spike", "2026-06-08T15:00:00Z"))
        for scope, key in (("project", None), ("agent", "planner"), ("model", "gpt-4o"))}
    cost = found[("cost_spike", "project", None, "2026-06-08T14:00:00Z")]
    assert (cost["expectedValue"], cost["actualValue"], cost["severity"]) == (0.02, 0.16, "high")
    assert cost["baselineDays"] == 7 and cost["unit"] == "usd"
    assert "700% above the average of the same hour over the previous 7 days" in \
        cost["description"]
    errors = found[("error_rate_spike", "model", "gpt-4o", "2026-06-08T15:00:00Z")]
    assert (errors["expectedValue"], errors["actualValue"], errors["severity"]) == \
        (0.0, 0.5, "high")
    # Newest first; with only three days of history nothing is judged.
    assert [a["hour"] for a in body["data"]] == sorted((a["hour"] for a in body["data"]),
                                                       reverse=True)
    status, body, _ = _get(server, "/api/analytics/anomalies", project.key,
                           {"from": "2026-06-03T00:00:00Z", "to": "2026-06-04T00:00:00Z"})
    assert status == 200 and body["data"] == []
    # A filter narrows what is judged: the anthropic calls had no baseline at all.
    status, body, _ = _get(server, "/api/analytics/anomalies", project.key,
                           {"from": "2026-06-08T00:00:00Z", "to": "2026-06-09T00:00:00Z",
                            "provider": "anthropic"})
    assert status == 200 and body["data"] == []


def test_breakdown_compares_with_the_previous_period(server: Server, project: Project) -> None:
    day = datetime(2026, 7, 10, tzinfo=timezone.utc)
    specs = [_spec(day - timedelta(hours=12) + timedelta(minutes=i), model="gpt-4o")
             for i in range(4)]
    specs += [_spec(day + timedelta(hours=3, minutes=i), model=m)
              for i, m in enumerate(["gpt-4o", "gpt-4o", "o3", "o4-mini", "gpt-4o"])]
    _store(server, [_llm_call(project.id, s) for s in specs])
    status, body, _ = _get(server, "/api/analytics/breakdown/model", project.key, {
        "from": "2026-07-10", "to": "2026-07-11", "compare": "previous_period", "limit": "1",
        "sort": "calls"})
    assert status == 200, body
    top, other = body["data"]
    assert (top["key"], top["calls"], top["previous"]["calls"]) == ("gpt-4o", 3, 4)
    assert top["changes"]["calls"] == {"current": 3, "previous": 4, "change": -1,
                                       "changePercent": -25.0, "trend": "down"}
    assert (other["other"], other["calls"], other["previous"]["calls"]) == (True, 2, 0)
    assert other["changes"]["calls"]["changePercent"] is None  # from nothing
    assert [top["percentageOfTotal"], other["percentageOfTotal"]] == [60.0, 40.0]
    assert body["previous"]["from"] == "2026-07-09T00:00:00Z"


def test_costs_in_another_currency(server: Server, project: Project) -> None:
    day = datetime(2026, 8, 3, tzinfo=timezone.utc)
    _store(server, [_llm_call(project.id, _spec(day + timedelta(minutes=i), cost=123_456_789))
                    for i in range(3)])
    params = {"from": "2026-08-03", "to": "2026-08-04", "currency": "EUR"}
    status, body, _ = _get(server, "/api/analytics/summary", project.key, params)
    assert status == 400 and body["error"]["message"].startswith("currency: no exchange rate")
    assert server.call("PUT", "/api/currencies/EUR", project.key, {"perUsd": "0.5"})[0] == 200
    status, body, _ = _get(server, "/api/analytics/summary", project.key, params)
    assert status == 200, body
    assert (body["currency"], body["cost"], body["costNanoUsd"]) == ("EUR", 0.185185184,
                                                                      370_370_367)
    status, body, _ = _get(server, "/api/analytics/breakdown/model", project.key, params)
    assert [(r["key"], r["cost"]) for r in body["data"]] == [("gpt-4o", 0.185185184)]
    status, text, _ = _get(server, "/api/analytics/timeseries", project.key,
                           {**params, "format": "csv"})
    line = next(csv.DictReader(io.StringIO(text)))
    assert (line["currency"], line["cost"]) == ("EUR", "0.185185184")


def test_the_client_reaches_every_endpoint(server: Server, project: Project) -> None:
    from spantally.client import AsyncClient, Client, InvalidArgument

    day = datetime(2026, 9, 1, tzinfo=timezone.utc)
    _store(server, [_llm_call(project.id, _spec(day + timedelta(minutes=i), user_id="u9",
                                                session_id="s9", feature="chat"))
                    for i in range(4)])
    client = Client(server.api_url, project.key)
    window = {"from_": "2026-09-01", "to": "2026-09-02"}
    assert client.analytics("summary", **window, user_id="u9")["calls"] == 4
    assert client.analytics("breakdown/tags.feature", **window, tags={"feature": "chat"}
                            )["data"][0]["key"] == "chat"
    assert client.analytics("compare", **window, compare_from="2026-08-01",
                            compare_to="2026-08-02")["changes"]["calls"]["trend"] == "up"
    assert client.analytics("sessions", **window)["data"][0]["calls"] == 4
    with pytest.raises(InvalidArgument, match="granularity: .fortnight. is not one of"):
        client.analytics("timeseries", granularity="fortnight")
    import asyncio
    body = asyncio.run(AsyncClient(server.api_url, project.key).analytics(
        "timeseries", **window, granularity="hour", tz="Asia/Kolkata"))
    assert [row["bucket"] for row in body["data"]] == ["2026-09-01T05:00:00+05:30"]


def test_one_call_whole(server: Server, project: Project) -> None:
    """A call listed by /api/calls opens at /api/calls/{traceId}/{spanId} with everything
    stored about it; another project's call, an unknown one and a bad id are refused."""
    moment = datetime(2026, 9, 3, 12, 30, 1, 250_000, tzinfo=timezone.utc)
    call = _llm_call(project.id, _spec(moment, user_id="u7", session_id="s7", feature="search"))
    _store(server, [call])
    status, listed, _ = _get(server, "/api/calls", project.key,
                             {"from": "2026-09-03", "to": "2026-09-04"})
    assert status == 200, listed
    row = listed["calls"][0]
    status, body, _ = _get(server, f"/api/calls/{row['traceId']}/{row['spanId']}", project.key,
                           {})
    assert status == 200, body
    assert {k: body[k] for k in row} == row  # the listed row, and more
    assert (body["traceId"], body["spanId"], body["time"]) == \
        (call.trace_id.hex(), call.span_id.hex(), "2026-09-03T12:30:01.250000Z")
    assert (body["service"], body["environment"], body["requestModel"], body["responseModel"],
            body["cacheReadTokens"], body["reasoningTokens"], body["costNanoUsd"],
            body["costSource"], body["tags"], body["parentSpanId"]) == \
        (call.service_name, call.environment, call.request_model, call.response_model,
         call.cache_read_tokens, call.reasoning_tokens, call.cost_nano_usd, call.cost_source,
         {"feature": "search"}, None)
    other = server.new_project()
    status, body, _ = _get(server, f"/api/calls/{row['traceId']}/{row['spanId']}", other.key, {})
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND"), body
    status, body, _ = _get(server, f"/api/calls/{'0' * 32}/{'0' * 16}", project.key, {})
    assert status == 404 and body["error"]["message"].startswith("no call 000"), body
    status, body, _ = _get(server, f"/api/calls/xyz/{row['spanId']}", project.key, {})
    assert status == 400 and body["error"]["message"].startswith("traceId"), body


def test_explain_shows_the_plan_and_the_rows_each_query_read(server: Server,
                                                             project: Project) -> None:
    """explain=true on every analytics endpoint: the answer stays the same, and the plan says
    which relation read which part of the range; the rows read add up to the calls."""
    day = datetime(2026, 9, 14, tzinfo=timezone.utc)
    moments = [day + timedelta(hours=h, minutes=m) for h in (0, 5, 30) for m in (10, 20)]
    end = day + timedelta(days=2, hours=1, minutes=30)
    start = day - timedelta(minutes=32)  # neither end on a 5-minute boundary
    moments += [start + timedelta(minutes=1), day - timedelta(minutes=20),  # raw, 5 minutes,
                end - timedelta(minutes=85), end - timedelta(minutes=20),  # an hour, 5 minutes
                end + timedelta(minutes=1)]  # and the raw minutes at the other end
    _store(server, [_llm_call(project.id, _spec(t, model="gpt-4o", session_id="s1"))
                    for t in moments])
    window = {"from": _iso(start), "to": _iso(end + timedelta(minutes=3))}
    for path, extra in [("/api/analytics/llm", {"granularity": "day"}),
                        ("/api/analytics/summary", {}),
                        ("/api/analytics/timeseries", {"granularity": "day"}),
                        ("/api/analytics/breakdown/model", {}),
                        ("/api/analytics/breakdown/user", {}),
                        ("/api/analytics/compare", {}),
                        ("/api/analytics/sessions", {}),
                        ("/api/analytics/anomalies", {})]:
        params = {**window, **extra}
        status, plain, _ = _get(server, path, project.key, params)
        assert status == 200, plain
        status, explained, _ = _get(server, path, project.key, {**params, "explain": "true"})
        assert status == 200, explained
        found = explained.pop("explain")
        assert explained == plain, path
        assert found["reads"], path
        for read in found["reads"]:
            assert read["sql"].lstrip().startswith("SELECT") and read["rowsReturned"] >= 0
        if path == "/api/analytics/anomalies":
            continue  # its hours and their 7-day baseline are other ranges
        for planned in found["plans"]:  # the pieces cover the range without a gap
            pieces = planned["pieces"]
            assert _moment(pieces[0]["from"]) == _moment(planned["from"])
            assert _moment(pieces[-1]["to"]) == _moment(planned["to"])
            assert all(a["to"] == b["from"] for a, b in zip(pieces, pieces[1:], strict=False))
    # The summary: whole days from the daily totals, whole hours from the hourly ones, whole
    # 5 minutes from theirs, the minutes at the edges from llm_calls, which read exactly the two
    # edge calls.
    _, summary, _ = _get(server, "/api/analytics/summary", project.key,
                         {**window, "explain": "true"})
    relations = [p["relation"] for p in summary["explain"]["plans"][0]["pieces"]]
    assert relations == ["llm_calls", "llm_calls_total_5m", "llm_calls_total_1d",
                         "llm_calls_total_1h", "llm_calls_total_5m", "llm_calls"]
    reads = {r["relation"]: r for r in summary["explain"]["reads"]}
    assert reads["llm_calls"]["rowsRead"] == 2
    assert reads["llm_calls_total_5m"]["rowsRead"] == 2  # one 5 minutes at each end
    assert reads["llm_calls_total_1d"]["rowsRead"] == 2  # the two whole days with calls
    assert reads["llm_calls_total_1h"]["rowsRead"] == 1
    assert summary["calls"] == len(moments)
    # A filter the aggregates do not hold is pushed to SQL against llm_calls alone.
    _, by_session, _ = _get(server, "/api/analytics/summary", project.key,
                            {**window, "sessionId": "s1", "explain": "true"})
    (read,) = by_session["explain"]["reads"]
    assert read["relation"] == "llm_calls" and "session_id" in read["sql"]
    assert read["parameters"]["f_session_id"] == "s1" and read["rowsRead"] == len(moments)
