"""The dashboard in a real browser: Playwright driving Debian's Chromium against a live server
with known data. Screenshots go to test-artifacts/."""

from __future__ import annotations

import shutil
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from spantally.store import judge_hours

from .harness import CallSpec, Project, Server, export_grpc, make_spans

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
# Without the background-networking flags Chromium keeps trying Google's hosts, which this
# closed network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: `make test` installs it "
                    "(scripts/install-browser.sh)")
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: object, server: Server) -> Iterator[object]:
    # A browser away from UTC: the charts' buckets follow its zone unless another is chosen.
    context = browser.new_context(viewport={"width": 1280, "height": 1400},  # type: ignore[attr-defined]
                                  timezone_id=BROWSER_ZONE)
    page = context.new_page()
    page.set_default_timeout(15_000)
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


def _enter_key(page: object, server: Server, key: str) -> None:
    page.goto(server.api_url + "/")  # type: ignore[attr-defined]
    page.fill("#api-key", key)  # type: ignore[attr-defined]
    page.click("#key-entry button")  # type: ignore[attr-defined]


CARDS = ("calls", "cost", "input", "output", "latency", "errors")
BROWSER_ZONE = "Europe/Paris"


def _series_rows(page: object) -> list[list[str]]:
    """The figures under the charts: bucket, calls, errors, cost, ..."""
    return page.locator("#series tbody tr").evaluate_all(  # type: ignore[attr-defined,no-any-return]
        "rows => rows.map(r => [...r.cells].map(c => c.textContent))")


def _expected_series(server: Server, key: str, query: str) -> list[list[str]]:
    body = server.api(f"/api/analytics/timeseries?tz={BROWSER_ZONE}&fill=zero&{query}", key)[1]
    return [[r["bucket"][:16].replace("T", " "), f"{r['calls']:,}", f"{r['errorCalls']:,}"]
            for r in body["data"]]


def _shown(page: object, selector: str) -> tuple[str, str]:
    """An element's text and its exact figure: its title when it has one (shown on hover)."""
    element = page.locator(selector)  # type: ignore[attr-defined]
    text = element.inner_text()
    return text, element.get_attribute("title") or text


def _value_of(figure: str) -> float:
    """The number a figure on the page stands for: `$836.58`, `324.4M`, `8.12 s`, `812 ms`."""
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


def _cards(page: object) -> dict[str, str]:
    """Each card's exact figure; and each card's text is short and stands for that figure."""
    cards = {}
    for name in CARDS:
        text, exact = _shown(page, f"#card-{name}")
        assert len(text) <= 9, (name, text)
        assert _value_of(text) == pytest.approx(_value_of(exact), rel=0.05, abs=0.005), (name, text)
        cards[name] = exact
    return cards


def _csv(server: Server, path: str, key: str) -> bytes:
    request = urllib.request.Request(server.api_url + path, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()  # type: ignore[no-any-return]


def _exact_ms(ms: float) -> str:
    return f"{ms:,.3f}".rstrip("0").rstrip(".") + " ms"


def _expected_cards(summary: dict) -> dict[str, str]:
    cost = f"${summary['totalCostUsd']:,.9f}".rstrip("0")
    if cost.endswith("."):
        cost += "00"
    elif len(cost.split(".")[1]) < 2:
        cost += "0"
    rate = 100 * summary["errorCalls"] / summary["totalCalls"] if summary["totalCalls"] else 0
    return {"calls": f"{summary['totalCalls']:,}", "cost": cost,
            "input": f"{summary['totalInputTokens']:,}", "output": f"{summary['totalOutputTokens']:,}",
            "latency": _exact_ms(summary["avgLatencyMs"]), "errors": f"{rate:.1f}%"}


def test_dashboard_shows_the_apis_figures_and_follows_filters(page: object, server: Server,
                                                               project: Project) -> None:
    _known_data(server, project)
    _enter_key(page, server, project.key)
    page.wait_for_selector("#models tbody tr")  # type: ignore[attr-defined]
    status, body = server.api("/api/analytics/llm?from=" + (
        datetime.now(timezone.utc) - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
        + "&granularity=day", project.key)
    assert status == 200 and body["summary"]["totalCalls"] == 15
    assert _cards(page) == _expected_cards(body["summary"])
    assert page.locator("#models tbody tr").count() == 2  # type: ignore[attr-defined]
    assert page.locator(".uplot canvas").count() == 5  # type: ignore[attr-defined]
    page.wait_for_selector("#series tbody tr", state="attached")  # type: ignore[attr-defined]
    week = (datetime.now(timezone.utc) - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    series = _expected_series(server, project.key, f"from={week}&granularity=day")
    assert [row[:3] for row in _series_rows(page)] == series and len(series) in (7, 8)
    assert page.input_value("#tz") == BROWSER_ZONE and "tz=Europe%2FParis" in page.url  # type: ignore[attr-defined]
    # Hovering a chart shows the exact figures of the bucket under the cursor.
    page.hover("#chart-calls .u-over")  # type: ignore[attr-defined]
    hovered = page.inner_text("#chart-calls .u-legend .u-series:nth-child(2) .u-value")  # type: ignore[attr-defined]
    assert hovered in {row[1] for row in series}
    assert page.locator("#recent tbody tr").count() == 15  # type: ignore[attr-defined]
    assert page.locator("#recent td.error").count() == 1  # type: ignore[attr-defined]
    week_ago = (datetime.now(timezone.utc) - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    summary = server.api(f"/api/analytics/summary?from={week_ago}", project.key)[1]
    assert _shown(page, "#card-p95")[1] == _exact_ms(summary["p95LatencyMs"])
    assert _shown(page, "#card-input") == ("30K", "30,000")  # 5 days of 1,000 + 2,000 + 3,000
    agents = server.api(f"/api/analytics/breakdown/agent?from={week_ago}&sort=cost"
                        "&compare=previous_period", project.key)[1]["data"]
    page.wait_for_selector("#agents-table tbody tr")  # type: ignore[attr-defined]
    shown = page.locator("#agents-table tbody tr").evaluate_all(  # type: ignore[attr-defined]
        "rows => rows.map(r => [...r.cells].map(c => c.textContent))")
    assert [row[0] for row in shown] == [a["key"] for a in agents] and len(shown) == 3
    assert [row[3] for row in shown] == [f"{a['percentageOfTotal']:.2f}%" for a in agents]
    assert sum(float(row[3].rstrip("%")) for row in shown) == pytest.approx(100)
    assert {row[4] for row in shown} == {"new"}  # nothing in the week before
    assert page.inner_text("#anomalies-status") == "No anomalies in this range."  # type: ignore[attr-defined]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)  # type: ignore[attr-defined]
    # Each table's CSV button downloads the API's CSV for the table's question.
    for table, question in (("models", "breakdown/model?limit=1000"),
                            ("agents-table", "breakdown/agent?sort=cost&limit=10"
                                             "&compare=previous_period")):
        with page.expect_download() as download:  # type: ignore[attr-defined]
            page.click(f"button.csv[data-table='{table}']")  # type: ignore[attr-defined]
        saved = Path(download.value.path()).read_bytes()
        assert saved == _csv(server, f"/api/analytics/{question}&format=csv&from={week_ago}",
                            project.key)
        assert download.value.suggested_filename == question.split("?")[0].replace("/", "-") + ".csv"
        assert len(saved.splitlines()) == 1 + (2 if table == "models" else 3)

    page.select_option("#model", "claude-sonnet-4-6")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "document.querySelectorAll('#models tbody tr').length === 1")
    filtered = server.api("/api/analytics/llm?from=" + (
        datetime.now(timezone.utc) - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
        + "&granularity=day&model=claude-sonnet-4-6", project.key)[1]
    assert _cards(page) == _expected_cards(filtered["summary"])
    assert page.inner_text("#models tbody tr td:nth-child(2)") == "claude-sonnet-4-6"  # type: ignore[attr-defined]
    page.wait_for_function("[...document.querySelectorAll('#series tbody tr td:nth-child(2)')]"  # type: ignore[attr-defined]
                           ".every(c => c.textContent === '0' || c.textContent === '1')")
    assert [row[:3] for row in _series_rows(page)] == _expected_series(
        server, project.key, f"from={week}&granularity=day&model=claude-sonnet-4-6")
    assert {page.inner_text(f"#recent tbody tr:nth-child({i}) td:nth-child(2)")  # type: ignore[attr-defined]
            for i in range(1, 6)} == {"claude-sonnet-4-6"}
    page.screenshot(path=str(ARTIFACTS / "dashboard-filtered.png"), full_page=True)  # type: ignore[attr-defined]

    # The view is in the URL: another tab opened on it shows the same view once given the key.
    assert "model=claude-sonnet-4-6" in page.url and "range=7d" in page.url  # type: ignore[attr-defined]
    shared = page.context.new_page()  # type: ignore[attr-defined]
    shared.goto(page.url)  # type: ignore[attr-defined]
    shared.fill("#api-key", project.key)
    shared.click("#key-entry button")
    shared.wait_for_function("document.querySelectorAll('#models tbody tr').length === 1")
    assert shared.input_value("#model") == "claude-sonnet-4-6"
    assert _cards(shared) == _expected_cards(filtered["summary"])
    # Dark mode follows the system setting.
    shared.emulate_media(color_scheme="dark")
    assert shared.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(18, 21, 27)"
    # On a phone's width the page holds: nothing wider than the screen.
    shared.set_viewport_size({"width": 390, "height": 844})
    assert shared.evaluate("document.documentElement.scrollWidth") <= 390
    shared.screenshot(path=str(ARTIFACTS / "dashboard-390px.png"), full_page=True)
    shared.close()

    page.select_option("#granularity", "hour")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "document.querySelectorAll('#series tbody tr').length >= 7 * 24")
    hourly = _series_rows(page)
    assert sum(int(row[1]) for row in hourly) == 5 and len(hourly) in (7 * 24, 7 * 24 + 1)
    # Another zone: the buckets move with it.
    page.select_option("#tz", "UTC")  # type: ignore[attr-defined]
    page.wait_for_function("location.hash.includes('tz=UTC')")  # type: ignore[attr-defined]
    page.select_option("#granularity", "day")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "document.querySelector('#series tbody tr td').textContent.endsWith('00:00')"
        " && document.querySelectorAll('#series tbody tr').length < 10")
    assert [row[0] for row in _series_rows(page)] == [r["bucket"][:16].replace("T", " ") for r in server.api(
        f"/api/analytics/timeseries?tz=UTC&fill=zero&from={week}&granularity=day&model=claude-sonnet-4-6",
        project.key)[1]["data"]]

    # a custom range (UTC) holding two of the five days
    now = datetime.now(timezone.utc)
    start, end = now - timedelta(days=3, hours=12), now - timedelta(days=1, hours=12)
    page.select_option("#model", "")  # type: ignore[attr-defined]
    page.select_option("#range", "custom")  # type: ignore[attr-defined]
    page.fill("#from", start.strftime("%Y-%m-%dT%H:%M"))  # type: ignore[attr-defined]
    page.fill("#to", end.strftime("%Y-%m-%dT%H:%M"))  # type: ignore[attr-defined]
    page.dispatch_event("#to", "change")  # type: ignore[attr-defined]
    custom = server.api("/api/analytics/llm?from=" + start.strftime("%Y-%m-%dT%H:%M:00Z")
                        + "&to=" + end.strftime("%Y-%m-%dT%H:%M:00Z"), project.key)[1]
    assert custom["summary"]["totalCalls"] == 6
    page.wait_for_function(  # type: ignore[attr-defined]
        "document.getElementById('card-calls').textContent === '6'")
    assert _cards(page) == _expected_cards(custom["summary"])
    # Every card against the period just before (days 4 and 5: six calls too).
    compared = server.api("/api/analytics/summary?compare=previous_period&from="
                          + start.strftime("%Y-%m-%dT%H:%M:00Z") + "&to="
                          + end.strftime("%Y-%m-%dT%H:%M:00Z"), project.key)[1]
    page.wait_for_function(  # type: ignore[attr-defined]
        "document.getElementById('change-calls').textContent.startsWith('0.0%')")
    for card, measure in (("calls", "calls"), ("cost", "costUsd"), ("latency", "avgLatencyMs")):
        text = page.inner_text(f"#change-{card}")  # type: ignore[attr-defined]
        assert text.endswith("% vs previous"), text
        assert float(text.split("%")[0]) == pytest.approx(
            compared["changes"][measure]["changePercent"], abs=0.051)
    assert page.inner_text("#change-errors").endswith(" pp vs previous")  # type: ignore[attr-defined]


def test_dashboard_drills_down_from_a_row(page: object, server: Server, project: Project) -> None:
    _known_data(server, project)
    _enter_key(page, server, project.key)
    page.wait_for_selector("#agents-table tbody tr.drill")  # type: ignore[attr-defined]
    week_ago = (datetime.now(timezone.utc) - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    top = server.api(f"/api/analytics/breakdown/agent?from={week_ago}", project.key)[1]["data"][0]
    # From the keyboard: the agents' first row, Enter.
    page.focus("#agents-table tbody tr:first-child")  # type: ignore[attr-defined]
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        f"location.hash.includes('agent={top['key']}') && "
        f"document.getElementById('card-calls').textContent === '{top['calls']}'")
    assert page.input_value("#agent") == top["key"]  # type: ignore[attr-defined]
    by_agent = server.api(f"/api/analytics/llm?from={week_ago}&agentId={top['key']}", project.key)[1]
    assert _cards(page) == _expected_cards(by_agent["summary"])
    # With the mouse: a model's row adds its model and provider.
    page.wait_for_function(  # type: ignore[attr-defined]
        "document.querySelectorAll('#models tbody tr.drill').length === 1")
    model = page.inner_text("#models tbody tr td:nth-child(2)")  # type: ignore[attr-defined]
    page.click("#models tbody tr")  # type: ignore[attr-defined]
    page.wait_for_function(f"location.hash.includes('model={model}')")  # type: ignore[attr-defined]
    assert page.input_value("#model") == model  # type: ignore[attr-defined]
    assert page.input_value("#provider") != ""  # type: ignore[attr-defined]


def test_dashboard_lists_anomalies_and_refuses_what_the_api_refuses(
        page: object, server: Server, project: Project) -> None:
    # One call a day at the same hour for five days, then 24 in that hour today.
    hour = (datetime.now(timezone.utc) - timedelta(hours=2)).replace(minute=10, second=0,
                                                                     microsecond=0, tzinfo=None)
    specs = [CallSpec(hour - timedelta(days=day), 900, "openai", "gpt-4o", 1_000, 200,
                      agent_id="planner") for day in range(1, 6)]
    specs += [CallSpec(hour + timedelta(minutes=2 * i), 900, "openai", "gpt-4o", 1_000, 200,
                       agent_id="planner") for i in range(24)]
    assert export_grpc(make_spans(specs), server.grpc_endpoint, project.key)
    _enter_key(page, server, project.key)
    page.wait_for_selector("#anomalies tbody tr")  # type: ignore[attr-defined]
    week_ago = (datetime.now(timezone.utc) - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    expected = server.api(f"/api/analytics/anomalies?from={week_ago}", project.key)[1]["data"]
    assert {(a["type"], a["scope"]) for a in expected} >= {
        ("volume_spike", "project"), ("volume_spike", "agent"), ("volume_spike", "model")}
    shown = page.locator("#anomalies tbody tr").evaluate_all(  # type: ignore[attr-defined]
        "rows => rows.map(r => [...r.cells].map(c => c.textContent))")
    assert [row[4] for row in shown] == [a["description"] for a in expected]
    assert [row[1] for row in shown] == [a["severity"] for a in expected]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-anomalies.png"), full_page=True)  # type: ignore[attr-defined]

    # The hourly detector's stored anomalies: listed by status, dismissed from the page.
    assert server.runtime.database is not None
    judged = server.thread.run(judge_hours(server.runtime.database,
                                           now=datetime.now(timezone.utc)), timeout=300)
    assert judged  # the project's last 24 hours
    # The spike held in its hour only: resolved by the next.
    stored = server.api(f"/api/analytics/anomalies?from={week_ago}&status=any",
                        project.key)[1]["data"]
    assert stored and {a["status"] for a in stored} == {"resolved"}
    page.select_option("#anomaly-status", "any")  # type: ignore[attr-defined]
    page.wait_for_selector("#anomalies button.dismiss")  # type: ignore[attr-defined]
    assert "anomaly-status=any" in page.url  # type: ignore[attr-defined]
    shown = page.locator("#anomalies tbody tr").evaluate_all(  # type: ignore[attr-defined]
        "rows => rows.map(r => [...r.cells].map(c => c.textContent))")
    assert [row[4] for row in shown] == [a["description"] for a in stored]
    assert {row[5] for row in shown} == {"resolved dismiss"}
    page.click("#anomalies tbody tr:first-child button.dismiss")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        f"document.querySelectorAll('#anomalies button.dismiss').length === {len(stored) - 1}")
    dismissed = server.api(f"/api/analytics/anomalies?from={week_ago}&status=dismissed",
                           project.key)[1]["data"]
    assert [a["id"] for a in dismissed] == [stored[0]["id"]]
    assert page.inner_text("#anomalies tbody tr:first-child td:nth-child(6)") == "dismissed"  # type: ignore[attr-defined]
    page.select_option("#anomaly-status", "")  # type: ignore[attr-defined]

    # Over more than 31 days the API judges no anomalies: that panel says why, the rest shows.
    now = datetime.now(timezone.utc)
    page.select_option("#range", "custom")  # type: ignore[attr-defined]
    page.fill("#from", (now - timedelta(days=40)).strftime("%Y-%m-%dT%H:%M"))  # type: ignore[attr-defined]
    page.fill("#to", now.strftime("%Y-%m-%dT%H:%M"))  # type: ignore[attr-defined]
    page.dispatch_event("#to", "change")  # type: ignore[attr-defined]
    page.wait_for_selector("#anomalies-status.error")  # type: ignore[attr-defined]
    assert "31 days" in page.inner_text("#anomalies-status")  # type: ignore[attr-defined]
    # The other panels' requests may still be running: the page says "Loading…" until the
    # last one is answered, and then nothing (waited for, not slept on; fails after 30 s).
    page.wait_for_function(  # type: ignore[attr-defined]
        "document.querySelector('#status').textContent === ''")
    assert page.locator("#anomalies tbody tr").count() == 0  # type: ignore[attr-defined]
    assert page.inner_text("#card-calls") == "29"  # type: ignore[attr-defined]
    assert page.inner_text("#agents-table tbody tr td") == "planner"  # type: ignore[attr-defined]


def test_dashboard_empty_and_error_states(page: object, server: Server, project: Project) -> None:
    _enter_key(page, server, project.key)  # a project without calls
    page.wait_for_selector(".status.empty")  # type: ignore[attr-defined]
    assert "spantally demo" in page.inner_text("#status")  # type: ignore[attr-defined]
    assert page.inner_text("#card-calls") == "0"  # type: ignore[attr-defined]
    # the key lives in this tab's session storage, and a reload keeps showing the data
    assert page.evaluate("sessionStorage.getItem('spantally.apiKey')") == project.key  # type: ignore[attr-defined]
    page.reload()  # type: ignore[attr-defined]
    page.wait_for_selector(".status.empty")  # type: ignore[attr-defined]

    page.click("#change-key")  # type: ignore[attr-defined]
    page.fill("#api-key", "st_000000000000_not-a-real-secret")  # type: ignore[attr-defined]
    page.click("#key-entry button")  # type: ignore[attr-defined]
    page.wait_for_selector("#key-form:not([hidden]) .status.error")  # type: ignore[attr-defined]
    assert "refused" in page.inner_text("#key-form .status")  # type: ignore[attr-defined]
    assert page.evaluate("sessionStorage.getItem('spantally.apiKey')") is None  # type: ignore[attr-defined]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-bad-key.png"))  # type: ignore[attr-defined]
