"""The dashboard in a real browser: Playwright driving Debian's Chromium against a live server.
Every view's figures are compared with the API's answer to the same question; screenshots of
every view at 1400 and 390 px go to test-artifacts/."""

from __future__ import annotations

import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from spantally.store import judge_hours

from .harness import CallSpec, Project, Server, export_grpc, make_spans

# The dashboard: the storage mode changes nothing here (see the Makefile).
pytestmark = pytest.mark.above_store

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
# Without the background-networking flags Chromium keeps trying Google's hosts, which this
# closed network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
BROWSER_ZONE = "Europe/Paris"
VIEWS = ("overview", "models", "agents", "users", "sessions", "tags", "anomalies", "calls",
         "prices")

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: `make test` installs it "
                    "(scripts/install-browser.sh)")
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    # A browser away from UTC: the charts' buckets follow its zone unless another is chosen.
    context = browser.new_context(viewport={"width": 1400, "height": 1000},
                                  timezone_id=BROWSER_ZONE)
    page = context.new_page()
    page.set_default_timeout(20_000)
    # No script error nor console error in any test; answers the page handles (401 for a bad
    # key, 400 for a range the API refuses) are logged by Chromium as failed loads: not those.
    errors: list[str] = []
    context.on("weberror", lambda error: errors.append(str(error.error)))
    page.on("console", lambda message: message.type == "error"
            and not message.text.startswith("Failed to load resource")
            and errors.append(message.text))
    yield page
    context.close()
    assert not errors


# -- data ----------------------------------------------------------------------------------------

NOW = datetime.now(timezone.utc).replace(second=0, microsecond=0)
# The demo's five days, and its sessions that run past now: one custom range holds them all,
# so the page and the test ask exactly the same question.
WINDOW = (NOW - timedelta(days=6), NOW + timedelta(hours=3))


@pytest.fixture(scope="module")
def demo(server: Server) -> Project:
    """A project with `spantally demo`'s traffic: agent runs with their calls and tools,
    sessions, users, feature and customer tags, failures; sent over OTLP by the CLI."""
    project = server.new_project()
    done = subprocess.run(
        [sys.executable, "-m", "spantally.server.cli", "demo", "--endpoint", server.grpc_endpoint,
         "--api-key", project.key, "--days", "5", "--sessions", "60", "--seed", "11"],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return project


def _known_data(server: Server, project: Project) -> None:
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    specs = []
    for day in range(1, 6):
        for hour, (provider, model, agent) in enumerate([
            ("openai", "gpt-4o", "planner"), ("openai", "gpt-4o", "researcher"),
            ("anthropic", "claude-sonnet-4-6", "writer"),
        ]):
            specs.append(CallSpec(now - timedelta(days=day, hours=hour), 800 + 100 * hour,
                                  provider, model, 1_000 * (hour + 1), 200 + day, agent_id=agent,
                                  error=(day == 3 and hour == 1)))
    assert export_grpc(make_spans(specs), server.grpc_endpoint, project.key)


# -- the page ------------------------------------------------------------------------------------

def _minute(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M")


def _fragment(**state: str) -> str:
    """A view's URL fragment over WINDOW (a custom range, as the page writes it)."""
    given = {"range": "custom", "from": _minute(WINDOW[0]), "to": _minute(WINDOW[1]), **state}
    return "#" + urllib.parse.urlencode(given)


def _range() -> str:
    """WINDOW as the page asks the API for it."""
    return (f"from={WINDOW[0].strftime('%Y-%m-%dT%H:%M:00Z')}"
            f"&to={WINDOW[1].strftime('%Y-%m-%dT%H:%M:00Z')}")


def _enter_key(page: Any, server: Server, key: str, fragment: str = "") -> None:
    page.goto(server.api_url + "/" + fragment)
    page.fill("#api-key", key)
    page.click("#key-entry button")
    _settled(page)


def _settled(page: Any) -> None:
    """Waits until every panel of the view is in (the page is busy until then)."""
    page.wait_for_selector("#dashboard[aria-busy='false']", state="attached")


def _open(page: Any, server: Server, fragment: str) -> None:
    """Opens a URL afresh (the key stays in the tab's session storage) and waits for it."""
    page.goto("about:blank")
    page.goto(server.api_url + "/" + fragment)
    _settled(page)


def _rows(page: Any, table: str) -> list[list[str]]:
    """A table's cells, each its exact figure: its title when it has one (shown on hover)."""
    return page.locator(f"#{table} tbody tr").evaluate_all(  # type: ignore[no-any-return]
        "rows => rows.map(r => [...r.cells].map(c => c.title || c.textContent))")


def _api(server: Server, key: str, path: str) -> Any:
    status, body = server.api(path, key)
    assert status == 200, body
    return body


def _csv(server: Server, path: str, key: str) -> bytes:
    request = urllib.request.Request(server.api_url + path, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()  # type: ignore[no-any-return]


# The exact forms of figures (format.js): what an element's title or a long cell says.
def _count(n: int | None) -> str:
    return "—" if n is None else f"{n:,}"


def _usd(x: float | None) -> str:
    if x is None:
        return "—"
    text = f"${x:,.9f}".rstrip("0")
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.ljust(2, '0')}"


def _ms(x: float | None) -> str:
    return "—" if x is None else f"{x:,.3f}".rstrip("0").rstrip(".") + " ms"


def _ratio(r: float | None) -> str:
    return "—" if r is None else f"{100 * r:,.4f}".rstrip("0").rstrip(".") + "%"


def _average(x: float | None) -> str:
    return "—" if x is None else f"{x:,.3f}".rstrip("0").rstrip(".")


def _value_of(figure: str) -> float:
    """The number a short figure stands for: `$836.58`, `324.4M`, `8.12 s`, `1 min 5 s`."""
    if " min " in figure:
        minutes, seconds = figure.removesuffix(" s").split(" min ")
        return float(minutes) * 60_000 + float(seconds) * 1000
    unit = 1.0
    for suffix, scale in ((" ms", 1.0), (" s", 1000.0), ("%", 1.0)):
        if figure.endswith(suffix):
            figure, unit = figure[:-len(suffix)], scale
            break
    figure = figure.lstrip("$").replace(",", "")
    compact = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}
    if figure[-1] in compact:
        figure, unit = figure[:-1], unit * compact[figure[-1]]
    return float(figure) * unit


def _cards(page: Any, names: tuple[str, ...]) -> dict[str, str]:
    """Each card's exact figure; and each card's text is short and stands for that figure."""
    cards = {}
    for name in names:
        element = page.locator(f"#card-{name}")
        text = element.inner_text()
        exact = element.get_attribute("title") or text
        assert len(text) <= 9, (name, text)
        assert _value_of(text) == pytest.approx(_value_of(exact), rel=0.05, abs=0.005), (name, text)
        cards[name] = exact
    return cards


CALL_CARDS = ("calls", "cost", "input", "output", "latency", "p95", "errors")


def _call_cards(summary: dict[str, Any]) -> dict[str, str]:
    return {"calls": _count(summary["calls"]), "cost": _usd(summary["costUsd"]),
            "input": _count(summary["inputTokens"]), "output": _count(summary["outputTokens"]),
            "latency": _ms(summary["avgLatencyMs"]), "p95": _ms(summary["p95LatencyMs"]),
            "errors": _ratio(summary["errorCalls"] / summary["calls"] if summary["calls"] else None)}


def _breakdown_rows(body: dict[str, Any], label: str) -> list[list[str]]:
    """A breakdown's rows as the models and providers tables show them."""
    return [[r["key"] if not r["other"] else "(the rest)", _count(r["calls"]), _usd(r["costUsd"]),
             f"{r['percentageOfTotal']:.2f}%", "new" if r["changes"]["costUsd"]["current"] else "—",
             _count(r["inputTokens"]), _count(r["outputTokens"]), _ms(r["avgLatencyMs"]),
             _ms(r["p95LatencyMs"]), _count(r["errorCalls"])] for r in body["data"]]


def _csv_buttons(page: Any) -> int:
    """Every CSV button the view shows downloads the API's CSV of its table's question."""
    buttons = page.locator("button.csv:visible")
    for i in range(buttons.count()):
        with page.expect_download() as download:
            buttons.nth(i).click()
        lines = Path(download.value.path()).read_bytes().splitlines()
        assert lines and b"," in lines[0] and download.value.suggested_filename.endswith(".csv")
    return buttons.count()  # type: ignore[no-any-return]


def _screenshots(page: Any, name: str) -> None:
    assert _csv_buttons(page) >= (0 if name == "prices" else 1), name  # /api/prices has no CSV
    """The view at 1400 px and on a phone's 390 px, where nothing may be wider than the screen."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}-1400.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, name
        page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}-390.png"), full_page=True)
    finally:
        page.set_viewport_size({"width": 1400, "height": 1000})


# -- every view ----------------------------------------------------------------------------------

def test_every_view_shows_the_apis_figures(page: Any, server: Server, demo: Project) -> None:
    key, window = demo.key, _range()
    _enter_key(page, server, key, _fragment())
    # Overview: the cards, the series under the charts, the latest calls.
    summary = _api(server, key, f"/api/analytics/summary?{window}")
    assert summary["calls"] > 200
    assert _cards(page, CALL_CARDS) == _call_cards(summary)
    assert page.locator(".uplot canvas").count() == 5
    series = _api(server, key, f"/api/analytics/timeseries?{window}&granularity=day"
                               f"&tz={BROWSER_ZONE}&fill=zero")["data"]
    assert [row[:4] for row in _rows(page, "series")] == [
        [r["bucket"][:16].replace("T", " "), _count(r["calls"]), _count(r["errorCalls"]),
         _usd(r["costUsd"])] for r in series]
    recent = _api(server, key, f"/api/calls?{window}&limit=10")["calls"]
    assert [row[0] for row in _rows(page, "recent")] == [c["time"][:19].replace("T", " ") for c in recent]
    _screenshots(page, "overview")

    # Models and providers.
    _open(page, server, _fragment(view="models"))
    for table, dimension in (("models", "model"), ("providers", "provider")):
        body = _api(server, key, f"/api/analytics/breakdown/{dimension}?{window}&sort=cost"
                                 "&limit=25&compare=previous_period")
        assert _rows(page, table) == _breakdown_rows(body, dimension) and len(body["data"]) >= 3
    _screenshots(page, "models")

    # Agents and runs: the runs' cards, runs per agent, calls per agent, the latest runs.
    _open(page, server, _fragment(view="agents"))
    runs = _api(server, key, f"/api/analytics/runs?{window}&compare=previous_period")
    assert runs["runs"] > 60
    assert _cards(page, ("runs", "success", "duration", "steps", "run-cost")) == {
        "runs": _count(runs["runs"]), "success": _ratio(runs["successRate"]),
        "duration": _ms(runs["avgDurationMs"]), "steps": _average(runs["avgSteps"]),
        "run-cost": _usd(runs["costPerRunUsd"])}
    by_agent = _api(server, key, f"/api/analytics/runs/breakdown/agent?{window}&sort=runs&limit=25")
    assert _rows(page, "run-agents") == [
        [r["key"], _count(r["runs"]), _ratio(r["successRate"]), _ms(r["avgDurationMs"]),
         _ms(r["p95DurationMs"]), _average(r["avgSteps"]), _usd(r["costPerRunUsd"]), _usd(r["costUsd"])]
        for r in by_agent["data"]]
    calls_by_agent = _api(server, key, f"/api/analytics/breakdown/agent?{window}&sort=cost&limit=25"
                                       "&compare=previous_period")
    assert [row[:3] for row in _rows(page, "agents-table")] == [
        [r["key"], _count(r["calls"]), _usd(r["costUsd"])] for r in calls_by_agent["data"]]
    latest = _api(server, key, f"/api/runs?{window}&limit=20")["data"]
    assert [row[:5] for row in _rows(page, "runs")] == [
        [r["startTime"][:19].replace("T", " "), r["agentId"], r["sessionId"], _ms(r["durationMs"]),
         _count(r["steps"])] for r in latest]
    # One run's steps as a waterfall: the run, then each step in start order.
    page.click("#runs tbody tr:nth-child(2)")
    _settled(page)
    run = latest[1]
    assert f"run={run['traceId']}%2F{run['spanId']}" in page.url
    detail = _api(server, key, f"/api/runs/{run['traceId']}/{run['spanId']}")
    steps = page.locator("#waterfall .step:not(.head)").evaluate_all(
        "rows => rows.map(r => [...r.children].map(c => c.title || c.textContent))")
    assert len(steps) == 1 + len(detail["stepsInOrder"]) and detail["stepsInOrder"]
    assert [s[2] for s in steps[1:]] == [_ms(s["durationMs"]) for s in detail["stepsInOrder"]]
    assert [s[0].strip().split(": ", 1)[1] for s in steps[1:]] == [s["name"] for s in detail["stepsInOrder"]]
    assert page.locator("#waterfall .step:not(.head) .bar").count() == len(steps)
    _screenshots(page, "agents")

    # Users: the leaderboard.
    _open(page, server, _fragment(view="users"))
    users = _api(server, key, f"/api/analytics/breakdown/user?{window}&sort=cost&limit=50"
                              "&compare=previous_period")["data"]
    assert [row[:4] for row in _rows(page, "users")] == [
        [str(u["rank"]), u["key"], _count(u["calls"]), _usd(u["costUsd"])] for u in users]
    _screenshots(page, "users")

    # Sessions, and one session's calls in order.
    _open(page, server, _fragment(view="sessions"))
    sessions = _api(server, key, f"/api/analytics/sessions?{window}&limit=50&offset=0")
    assert [row[:4] for row in _rows(page, "sessions")] == [
        [s["sessionId"], s["startedAt"][:19].replace("T", " "), _ms(s["durationMs"]), _count(s["calls"])]
        for s in sessions["data"]] and len(sessions["data"]) == 50
    assert page.inner_text(".pager[data-for='sessions'] .where") == "1–50"
    page.click(".pager[data-for='sessions'] .next")  # the last 10 of 60
    _settled(page)
    assert [row[0] for row in _rows(page, "sessions")] == [s["sessionId"] for s in _api(
        server, key, f"/api/analytics/sessions?{window}&limit=50&offset=50")["data"]]
    assert "page=50" in page.url and page.is_disabled(".pager[data-for='sessions'] .next")
    page.click("#sessions tbody tr:first-child")
    _settled(page)
    opened = _rows(page, "sessions")[0][0]
    in_order = list(reversed(_api(server, key, f"/api/calls?{window}&limit=1000&sessionId={opened}")["calls"]))
    assert [row[0] for row in _rows(page, "session-calls")] == [
        c["time"][:19].replace("T", " ") for c in in_order]
    assert [row[1] for row in _rows(page, "session-calls")] == [c["agentId"] for c in in_order]
    _screenshots(page, "sessions")

    # Tags: the keys, and the values of the chosen one.
    _open(page, server, _fragment(view="tags", **{"tag-key": "feature"}))
    keys = _api(server, key, f"/api/analytics/tags?{window}")["data"]
    assert {k["key"] for k in keys} == {"feature", "customer"}
    assert page.eval_on_selector_all("#tag-key option", "os => os.map(o => o.value)") == [k["key"] for k in keys]
    assert page.input_value("#tag-key") == "feature"
    values = _api(server, key, f"/api/analytics/breakdown/tags.feature?{window}&sort=cost&limit=25"
                               "&compare=previous_period")["data"]
    assert [row[:3] for row in _rows(page, "tag-values")] == [
        [v["key"], _count(v["calls"]), _usd(v["costUsd"])] for v in values] and len(values) == 4
    page.select_option("#tag-key", "customer")
    _settled(page)
    assert "tag-key=customer" in page.url and len(_rows(page, "tag-values")) == 5
    _screenshots(page, "tags")

    # Anomalies (judged on request over the filters).
    _open(page, server, _fragment(view="anomalies"))
    anomalies = _api(server, key, f"/api/analytics/anomalies?{window}")["data"]
    if anomalies:
        assert [row[4] for row in _rows(page, "anomalies")] == [a["description"] for a in anomalies]
    else:
        assert page.inner_text("#anomalies td.empty") == "No anomalies in this range."
    _screenshots(page, "anomalies")

    # Calls, a page at a time, and one call whole.
    _open(page, server, _fragment(view="calls"))
    first = _api(server, key, f"/api/calls?{window}&limit=51&offset=0")["calls"]
    assert [row[:4] for row in _rows(page, "calls")] == [
        [c["time"][:19].replace("T", " "), c["model"], c["agentId"], c["userId"]] for c in first[:50]]
    page.click(".pager[data-for='calls'] .next")
    _settled(page)
    second = _api(server, key, f"/api/calls?{window}&limit=51&offset=50")["calls"]
    assert [row[0] for row in _rows(page, "calls")] == [c["time"][:19].replace("T", " ") for c in second[:50]]
    page.focus("#calls tbody tr:nth-child(3)")
    page.keyboard.press("Enter")
    _settled(page)
    call = _api(server, key, f"/api/calls/{second[2]['traceId']}/{second[2]['spanId']}")
    fields = dict(zip(page.eval_on_selector_all("#call-detail dt", "ds => ds.map(d => d.textContent)"),
                      page.eval_on_selector_all("#call-detail dd", "ds => ds.map(d => d.textContent)"), strict=True))
    assert (fields["Trace id"], fields["Span id"], fields["Model"], fields["Input tokens"],
            fields["Cost (USD)"], fields["Latency"], fields["Tag customer"]) == (
        call["traceId"], call["spanId"], call["model"], _count(call["inputTokens"]),
        _usd(call["costUsd"]), _ms(call["latencyMs"]), call["tags"]["customer"])
    assert fields["Session"].startswith(call["sessionId"])
    _screenshots(page, "calls")

    # Prices: none, then one added from the form, what a call costs under it, deleted.
    _open(page, server, _fragment(view="prices"))
    assert page.inner_text("#prices td.empty").startswith("No custom prices")
    page.fill("#price-form input[name=model]", "gpt-4o")
    page.fill("#price-form input[name=provider]", "openai")
    page.fill("#price-form input[name=inputPerMTok]", "4")
    page.fill("#price-form input[name=outputPerMTok]", "16")
    page.click("#price-form button[type=submit]")
    page.wait_for_selector("#prices tbody tr td.num")
    _settled(page)
    prices = _api(server, key, "/api/prices")["prices"]
    assert [(p["model"], p["provider"], p["inputPerMTok"]) for p in prices] == [("gpt-4o", "openai", 4.0)]
    resolved = _api(server, key, f"/api/prices/resolve?model=gpt-4o&provider=openai"
                                 f"&at={prices[0]['effectiveFrom']}&inputTokens=1000&outputTokens=500")
    assert resolved["call"]["costUsd"] == pytest.approx(0.012)
    row = _rows(page, "prices")[0]
    assert row[:4] == ["openai", "gpt-4o", "$4.00", "$16.00"] and row[9] == _usd(resolved["call"]["costUsd"])
    page.fill("#resolve-form input[name=model]", "gpt-4o-mini")
    page.click("#resolve-form button")
    page.wait_for_function("document.getElementById('resolve-result').textContent.includes('costs')")
    mini = _api(server, key, "/api/prices/resolve?model=gpt-4o-mini&inputTokens=1000&outputTokens=500")
    assert _usd(mini["call"]["costUsd"]) in page.inner_text("#resolve-result")
    _screenshots(page, "prices")
    page.click("#prices tbody tr button.cell")
    page.wait_for_selector("#prices td.empty")
    assert _api(server, key, "/api/prices")["prices"] == []


def test_drill_down_and_shared_urls_restore_the_view(page: Any, server: Server,
                                                     demo: Project) -> None:
    key, window = demo.key, _range()
    _enter_key(page, server, key, _fragment(view="users"))
    # A user's row (keyboard): that user's usage over time, everything filtered by them.
    top = _api(server, key, f"/api/analytics/breakdown/user?{window}&sort=cost&limit=50")["data"][0]
    page.focus("#users tbody tr:first-child")
    page.keyboard.press("Enter")
    _settled(page)
    assert page.input_value("#view") == "overview" and page.input_value("#user") == top["key"]
    assert f"user={top['key']}" in page.url
    assert _cards(page, CALL_CARDS) == _call_cards(
        _api(server, key, f"/api/analytics/summary?{window}&userId={top['key']}"))
    assert {row[1] for row in _rows(page, "series")} != {"0"}
    # A model's row (mouse), on top of the user: both filters.
    page.click("#nav a[data-view='models']")
    _settled(page)
    assert f"user={top['key']}" in page.url
    model = _rows(page, "models")[0][0]
    page.click("#models tbody tr:first-child")
    _settled(page)
    both = _api(server, key, f"/api/analytics/summary?{window}&userId={top['key']}&model={model}")
    assert _cards(page, CALL_CARDS) == _call_cards(both)
    # A tag's value: the tags filter.
    page.click("#clear-filters")
    _settled(page)
    _open(page, server, _fragment(view="tags", **{"tag-key": "customer"}))
    value = _rows(page, "tag-values")[0][0]
    page.click("#tag-values tbody tr:first-child")
    _settled(page)
    assert page.input_value("#tag") == f"customer:{value}"
    tagged = _api(server, key, f"/api/analytics/summary?{window}&tags=customer:{value}")
    assert _cards(page, CALL_CARDS) == _call_cards(tagged)

    # A shared URL (another tab, the key entered there) shows the same view, opened run included.
    _open(page, server, _fragment(view="agents"))
    page.click("#runs tbody tr:first-child")
    _settled(page)
    waterfall = page.inner_text("#waterfall")
    shared = page.context.new_page()
    shared.goto(page.url)
    shared.fill("#api-key", key)
    shared.click("#key-entry button")
    _settled(shared)
    assert shared.input_value("#view") == "agents" and shared.inner_text("#waterfall") == waterfall
    assert _rows(shared, "run-agents") == _rows(page, "run-agents")
    shared.close()
    # The browser's back and forward buttons: the fragment's state comes back.
    _open(page, server, _fragment(view="sessions", session="session-00003"))
    assert page.inner_text("#session-title").startswith("Session session-00003")
    page.evaluate("location.hash = '#view=models'")
    _settled(page)
    page.go_back()
    _settled(page)
    assert page.input_value("#session") == "session-00003" and not page.is_hidden("#session-panel")


def test_charts_split_by_model_with_each_values_figures(page: Any, server: Server,
                                                        demo: Project) -> None:
    key, window = demo.key, _range()
    _enter_key(page, server, key, _fragment(stack="model"))
    ranked = _api(server, key, f"/api/analytics/breakdown/model?{window}&sort=cost&limit=5")["data"]
    top = [r["key"] for r in ranked if not r["other"]]
    rest = ["other"] if any(r["other"] for r in ranked) else []
    labels = page.eval_on_selector_all("#chart-cost .u-legend .u-series th",
                                       "ths => ths.map(t => t.textContent.trim())")
    # The top five models stacked (drawn top first) and the rest as "other".
    assert labels[1:] == [*rest, *reversed(top)] and len(top) == 5, labels
    assert page.inner_text("#chart-cost figcaption") == "Cost (USD) by model"
    # Hovering a bucket: each model's own figures (not their stacked heights).
    page.hover("#chart-cost .u-over", position={"x": 5, "y": 50})
    legend = page.eval_on_selector_all("#chart-cost .u-legend .u-series td.u-value",
                                       "tds => tds.map(t => t.textContent)")
    per_model = {m: _api(server, key, f"/api/analytics/timeseries?{window}&granularity=day"
                                      f"&tz={BROWSER_ZONE}&fill=zero&model={m}")["data"] for m in top}
    first = [_usd(per_model[m][0]["costUsd"]) for m in reversed(top)]
    assert legend[1 + len(rest):] == first, (legend, first)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-split-by-model-1400.png"), full_page=True)
    # Latency splits into a line per model; filtering by one model leaves nothing to split.
    assert page.eval_on_selector_all("#chart-latency .u-legend .u-series th",
                                     "ths => ths.map(t => t.textContent.trim())")[1:] == top
    page.fill("#model", top[0])
    page.dispatch_event("#model", "change")
    _settled(page)
    assert page.inner_text("#chart-cost figcaption") == "Cost (USD)"


def test_dashboard_follows_filters_time_zones_and_ranges(page: Any, server: Server,
                                                         project: Project) -> None:
    _known_data(server, project)
    _enter_key(page, server, project.key)
    week = (datetime.now(timezone.utc) - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    summary = _api(server, project.key, f"/api/analytics/summary?from={week}")
    assert summary["calls"] == 15 and _cards(page, CALL_CARDS) == _call_cards(summary)
    assert page.input_value("#tz") == BROWSER_ZONE and "tz=" not in page.url  # the default
    assert _cards(page, ("input",)) == {"input": "30,000"}
    assert page.inner_text("#card-input") == "30K"  # 5 days of 1,000 + 2,000 + 3,000
    # Hovering a chart shows the exact figures of the bucket under the cursor.
    series = _api(server, project.key, f"/api/analytics/timeseries?from={week}&granularity=day"
                                       f"&tz={BROWSER_ZONE}&fill=zero")["data"]
    page.hover("#chart-calls .u-over")
    hovered = page.inner_text("#chart-calls .u-legend .u-series:nth-child(2) .u-value")
    assert hovered in {_count(r["calls"]) for r in series}
    assert page.locator("#recent td.error").count() == 1
    # The CSV button of a table downloads the API's CSV for the table's question.
    with page.expect_download() as download:
        page.click("button.csv[data-table='recent']")
    saved = Path(download.value.path()).read_bytes()
    assert saved.splitlines()[0].startswith(b"time,traceId,spanId") and len(saved.splitlines()) == 11
    _open(page, server, "#view=models")
    with page.expect_download() as download:
        page.click("button.csv[data-table='models']")
    assert Path(download.value.path()).read_bytes() == _csv(
        server, f"/api/analytics/breakdown/model?sort=cost&limit=25&compare=previous_period"
                f"&format=csv&from={week}", project.key)
    assert download.value.suggested_filename == "breakdown-model.csv"

    # A filter typed in: everything follows it.
    _open(page, server, "")
    page.fill("#model", "claude-sonnet-4-6")
    page.press("#model", "Enter")
    _settled(page)
    filtered = _api(server, project.key, f"/api/analytics/summary?from={week}&model=claude-sonnet-4-6")
    assert _cards(page, CALL_CARDS) == _call_cards(filtered) and filtered["calls"] == 5
    assert {row[1] for row in _rows(page, "recent")} == {"claude-sonnet-4-6"}
    assert "model=claude-sonnet-4-6" in page.url
    # Dark mode follows the system setting.
    page.emulate_media(color_scheme="dark")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(18, 21, 27)"
    page.emulate_media(color_scheme="light")

    page.select_option("#granularity", "hour")
    page.wait_for_function("document.querySelectorAll('#series tbody tr').length >= 7 * 24")
    _settled(page)
    hourly = _rows(page, "series")
    assert sum(int(row[1]) for row in hourly) == 5 and len(hourly) in (7 * 24, 7 * 24 + 1)
    # Another zone: the buckets move with it.
    page.select_option("#tz", "UTC")
    page.select_option("#granularity", "day")
    _settled(page)
    assert "tz=UTC" in page.url
    assert [row[0] for row in _rows(page, "series")] == [r["bucket"][:16].replace("T", " ") for r in _api(
        server, project.key, f"/api/analytics/timeseries?tz=UTC&fill=zero&from={week}&granularity=day"
                             "&model=claude-sonnet-4-6")["data"]]

    # A custom range (UTC) holding two of the five days, against the two days before.
    now = datetime.now(timezone.utc)
    start, end = now - timedelta(days=3, hours=12), now - timedelta(days=1, hours=12)
    page.click("#clear-filters")
    _settled(page)
    page.select_option("#range", "custom")
    page.fill("#from", _minute(start))
    page.fill("#to", _minute(end))
    page.dispatch_event("#to", "change")
    page.wait_for_function("document.getElementById('card-calls').textContent === '6'")
    _settled(page)
    span = f"from={start.strftime('%Y-%m-%dT%H:%M:00Z')}&to={end.strftime('%Y-%m-%dT%H:%M:00Z')}"
    compared = _api(server, project.key, f"/api/analytics/summary?compare=previous_period&{span}")
    assert _cards(page, CALL_CARDS) == _call_cards(compared)
    for card, measure in (("calls", "calls"), ("cost", "costUsd"), ("latency", "avgLatencyMs")):
        text = page.inner_text(f"#change-{card}")
        assert text.endswith("% vs previous"), text
        assert float(text.split("%")[0]) == pytest.approx(
            compared["changes"][measure]["changePercent"], abs=0.051)
    assert page.inner_text("#change-errors").endswith(" pp vs previous")


def test_dashboard_lists_anomalies_and_refuses_what_the_api_refuses(
        page: Any, server: Server, project: Project) -> None:
    # One call a day at the same hour for five days, then 24 in that hour today.
    hour = (datetime.now(timezone.utc) - timedelta(hours=2)).replace(minute=10, second=0,
                                                                     microsecond=0, tzinfo=None)
    specs = [CallSpec(hour - timedelta(days=day), 900, "openai", "gpt-4o", 1_000, 200,
                      agent_id="planner") for day in range(1, 6)]
    specs += [CallSpec(hour + timedelta(minutes=2 * i), 900, "openai", "gpt-4o", 1_000, 200,
                       agent_id="planner") for i in range(24)]
    assert export_grpc(make_spans(specs), server.grpc_endpoint, project.key)
    _enter_key(page, server, project.key, "#view=anomalies")
    week_ago = (datetime.now(timezone.utc) - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    expected = _api(server, project.key, f"/api/analytics/anomalies?from={week_ago}")["data"]
    assert {(a["type"], a["scope"]) for a in expected} >= {
        ("volume_spike", "project"), ("volume_spike", "agent"), ("volume_spike", "model")}
    shown = _rows(page, "anomalies")
    assert [row[4] for row in shown] == [a["description"] for a in expected]
    assert [row[1] for row in shown] == [a["severity"] for a in expected]

    # The hourly detector's stored anomalies: listed by status, dismissed from the page.
    assert server.runtime.database is not None
    judged = server.thread.run(judge_hours(server.runtime.database,
                                           now=datetime.now(timezone.utc)), timeout=300)
    assert judged  # the project's last 24 hours
    # The spike held in its hour only: resolved by the next.
    stored = _api(server, project.key, f"/api/analytics/anomalies?from={week_ago}&status=any")["data"]
    assert stored and {a["status"] for a in stored} == {"resolved"}
    page.select_option("#anomaly-status", "any")
    _settled(page)
    assert "anomaly-status=any" in page.url
    shown = _rows(page, "anomalies")
    assert [row[4] for row in shown] == [a["description"] for a in stored]
    assert {row[5] for row in shown} == {"resolved dismiss"}
    page.click("#anomalies tbody tr:first-child button.cell")
    page.wait_for_function(
        f"document.querySelectorAll('#anomalies button.cell').length === {len(stored) - 1}")
    dismissed = _api(server, project.key,
                     f"/api/analytics/anomalies?from={week_ago}&status=dismissed")["data"]
    assert [a["id"] for a in dismissed] == [stored[0]["id"]]
    assert page.inner_text("#anomalies tbody tr:first-child td:nth-child(6)") == "dismissed"
    page.select_option("#anomaly-status", "")
    _settled(page)

    # Over more than 31 days the API judges no anomalies: the panel says why.
    now = datetime.now(timezone.utc)
    page.select_option("#range", "custom")
    page.fill("#from", _minute(now - timedelta(days=40)))
    page.fill("#to", _minute(now))
    page.dispatch_event("#to", "change")
    page.wait_for_selector("#anomalies-status.error")
    _settled(page)
    assert "31 days" in page.inner_text("#anomalies-status")
    assert page.locator("#anomalies tbody tr").count() == 0
    assert page.inner_text("#status") == ""


def test_dashboard_empty_and_error_states(page: Any, server: Server, project: Project) -> None:
    _enter_key(page, server, project.key)  # a project without calls
    page.wait_for_selector(".status.empty")
    assert "spantally demo" in page.inner_text("#status")
    assert page.inner_text("#card-calls") == "0"
    for view in ("models", "sessions", "calls"):
        _open(page, server, f"#view={view}")
        table = {"models": "models", "sessions": "sessions", "calls": "calls"}[view]
        assert page.inner_text(f"#{table} td.empty").startswith("No")
    # the key lives in this tab's session storage, and a reload keeps showing the data
    assert page.evaluate("sessionStorage.getItem('spantally.apiKey')") == project.key
    page.reload()
    _settled(page)

    page.click("#change-key")
    page.fill("#api-key", "st_000000000000_not-a-real-secret")
    page.click("#key-entry button")
    page.wait_for_selector("#key-form:not([hidden]) .status.error")
    assert "refused" in page.inner_text("#key-form .status")
    assert page.evaluate("sessionStorage.getItem('spantally.apiKey')") is None
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-bad-key.png"))


# WCAG 2.1's contrast of each element's own text against the background it is drawn on: at
# least 4.5:1, 3:1 for large text. Disabled controls (drawn faint on purpose) are exempt.
_CONTRAST = """() => {
  const channel = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const parse = (colour) => {
    const parts = colour.match(/rgba?\\(([^)]+)\\)/)[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return { rgb: parts.slice(0, 3), alpha: parts.length > 3 ? parts[3] : 1 };
  };
  const background = (element) => {
    for (let e = element; e; e = e.parentElement) {
      const colour = parse(getComputedStyle(e).backgroundColor);
      if (colour.alpha > 0.5) { return colour.rgb; }
    }
    return [255, 255, 255];
  };
  const low = [];
  for (const element of document.querySelectorAll("body *")) {
    if (!element.getClientRects().length || element.closest("[hidden], :disabled, .uplot canvas")) { continue; }
    if (![...element.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) { continue; }
    const style = getComputedStyle(element);
    const [a, b] = [luminance(parse(style.color).rgb), luminance(background(element))].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    const size = parseFloat(style.fontSize), large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) {
      low.push(`${element.tagName}.${element.className} "${element.textContent.trim().slice(0, 30)}": ${ratio.toFixed(2)}`);
    }
  }
  return low;
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_contrast_is_accessible(page: Any, server: Server, demo: Project, scheme: str) -> None:
    page.emulate_media(color_scheme=scheme)
    _enter_key(page, server, demo.key, _fragment())
    for view in VIEWS:
        _open(page, server, _fragment(view=view))
        assert page.evaluate(_CONTRAST) == [], (scheme, view)
    # Keyboard only: the skip link, the views' links and the rows are reached with Tab.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "change API key"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.view") == "overview"
