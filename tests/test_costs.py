"""Costs: catalog prices by token kind, custom prices by time window, re-pricing, unpriced calls,
currencies, and validation (docs/costs.md)."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from .harness import CallSpec, Project, Server, export_grpc, make_spans

DAY = datetime(2026, 10, 5)  # calls are placed on fixed past days, priced at their own time


def send(server: Server, project: Project, specs: list[CallSpec]) -> None:
    assert export_grpc(make_spans(specs), server.grpc_endpoint, project.key)


def stored(server: Server, project: Project) -> list[tuple]:
    return server.sql(
        "SELECT model, cost_nano_usd, cost_source FROM llm_calls WHERE project_id = %s"
        " ORDER BY time", (project.id,))


def summary(server: Server, project: Project, query: str = "") -> dict:
    status, body = server.api(
        f"/api/analytics/llm?from=2026-10-01&to=2026-10-31&granularity=day{query}", project.key)
    assert status == 200, body
    return body


def test_cached_and_reasoning_tokens_priced_by_hand(server: Server, project: Project) -> None:
    send(server, project, [
        # gpt-5: $1.25 input, $0.125 cached input, $10 output (reasoning tokens are output)
        CallSpec(DAY.replace(hour=9), 900, "openai", "gpt-5", 10_000, 2_000,
                 cache_read_tokens=4_000, extra={"gen_ai.usage.reasoning.output_tokens": 1_500}),
        # claude-sonnet-4-6: $3 input, $0.30 cache read, $3.75 cache write, $15 output
        CallSpec(DAY.replace(hour=10), 900, "anthropic", "claude-sonnet-4-6", 3_560, 400,
                 cache_read_tokens=2_048,
                 extra={"gen_ai.usage.cache_creation.input_tokens": 512}),
    ])
    assert stored(server, project) == [
        ("gpt-5", (6_000 * 1_250 + 4_000 * 125 + 2_000 * 10_000), "catalog"),  # nano-USD
        ("claude-sonnet-4-6", (1_000 * 3_000 + 2_048 * 300 + 512 * 3_750 + 400 * 15_000),
         "catalog"),
    ]


def test_custom_prices_apply_by_call_time(server: Server, project: Project) -> None:
    t1, t2 = "2026-10-05T10:00:00Z", "2026-10-05T12:00:00Z"
    for body in (
        {"provider": "acme", "model": "acme-llm", "inputPerMTok": 2, "outputPerMTok": "8",
         "effectiveFrom": t1, "effectiveTo": t2},
        {"provider": "acme", "model": "acme-llm", "inputPerMTok": "1.5", "outputPerMTok": 6,
         "cacheReadPerMTok": 0.5, "effectiveFrom": t2},
        # a fine-tuned family by pattern, for any provider; beats the catalog
        {"model": "ft:gpt-4o-mini:acme:*", "inputPerMTok": 0.3, "outputPerMTok": 1.2},
        # an exact model beats the pattern
        {"model": "ft:gpt-4o-mini:acme:v2", "inputPerMTok": 0.6, "outputPerMTok": 2.4,
         "perCall": "0.0001"},
    ):
        status, created = server.call("POST", "/api/prices", project.key, body)
        assert status == 201, created
    send(server, project, [
        CallSpec(DAY.replace(hour=9), 100, "acme", "acme-llm", 1_000, 100),   # before: unpriced
        CallSpec(DAY.replace(hour=11), 100, "acme", "acme-llm", 1_000, 100),  # first window
        CallSpec(DAY.replace(hour=12), 100, "acme", "acme-llm", 1_000, 100,   # second window
                 cache_read_tokens=400),
        CallSpec(DAY.replace(hour=13), 100, "openai", "ft:gpt-4o-mini:acme:v1", 1_000, 100),
        CallSpec(DAY.replace(hour=14), 100, "openai", "ft:gpt-4o-mini:acme:v2", 1_000, 100),
    ])
    assert stored(server, project) == [
        ("acme-llm", None, None),
        ("acme-llm", 1_000 * 2_000 + 100 * 8_000, "custom"),
        ("acme-llm", 600 * 1_500 + 400 * 500 + 100 * 6_000, "custom"),
        ("ft:gpt-4o-mini:acme:v1", 1_000 * 300 + 100 * 1_200, "custom"),
        ("ft:gpt-4o-mini:acme:v2", 100_000 + 1_000 * 600 + 100 * 2_400, "custom"),
    ]
    assert summary(server, project)["summary"]["unpricedCalls"] == 1


@pytest.mark.parametrize(("body", "message"), [
    ({"model": "m", "inputPerMTok": -1, "outputPerMTok": 1}, "inputPerMTok must be zero or more"),
    ({"model": "m", "inputPerMTok": "NaN", "outputPerMTok": 1}, "finite"),
    ({"model": "m", "inputPerMTok": "abc", "outputPerMTok": 1}, "not a number"),
    ({"model": "m", "inputPerMTok": True, "outputPerMTok": 1}, "must be a number"),
    ({"model": "m", "inputPerMTok": "1e400", "outputPerMTok": 1}, "at most 1000000"),
    ({"model": "m", "inputPerMTok": 1}, "outputPerMTok is required"),
    ({"inputPerMTok": 1, "outputPerMTok": 1}, "model is required"),
    ({"model": "m", "inputPerMTok": 1, "outputPerMTok": 1, "inputPerMtok": 1}, "unknown fields"),
    ({"model": "m", "inputPerMTok": 1, "outputPerMTok": 1, "currency": "EUR"}, "kept in USD"),
    ({"model": "m", "inputPerMTok": 1, "outputPerMTok": 1, "effectiveFrom": "2026-02-01",
      "effectiveTo": "2026-01-01"}, "effectiveTo must be after"),
    ({"model": "m", "inputPerMTok": 1, "outputPerMTok": 1, "effectiveFrom": "yesterday"},
     "effectiveFrom"),
    ([1, 2], "JSON object"),
])
def test_invalid_prices_are_refused_and_change_nothing(server: Server, project: Project,
                                                       body: object, message: str) -> None:
    status, answer = server.call("POST", "/api/prices", project.key, body)
    assert status == 400
    assert answer["error"]["code"] == "INVALID_ARGUMENT"
    assert message in answer["error"]["message"]
    assert server.call("GET", "/api/prices", project.key) == (200, {"prices": []})


def test_overlapping_windows_conflict(server: Server, project: Project) -> None:
    first = {"model": "m", "inputPerMTok": 1, "outputPerMTok": 1, "effectiveFrom": "2026-01-01",
             "effectiveTo": "2026-03-01"}
    assert server.call("POST", "/api/prices", project.key, first)[0] == 201
    overlapping = {**first, "effectiveFrom": "2026-02-01", "effectiveTo": None}
    status, answer = server.call("POST", "/api/prices", project.key, overlapping)
    assert (status, answer["error"]["code"]) == (409, "ALREADY_EXISTS")
    adjacent = {**first, "effectiveFrom": "2026-03-01", "effectiveTo": None}
    assert server.call("POST", "/api/prices", project.key, adjacent)[0] == 201
    other_provider = {**overlapping, "provider": "acme"}  # another provider's price may overlap
    assert server.call("POST", "/api/prices", project.key, other_provider)[0] == 201
    prices = server.call("GET", "/api/prices", project.key)[1]["prices"]
    assert len(prices) == 3
    assert server.call("DELETE", f"/api/prices/{prices[0]['id']}", project.key) == (204, None)
    status, answer = server.call("DELETE", f"/api/prices/{prices[0]['id']}", project.key)
    assert (status, answer["error"]["code"]) == (404, "NOT_FOUND")
    status, answer = server.call("DELETE", "/api/prices/abc", project.key)
    assert (status, answer["error"]["code"]) == (404, "NOT_FOUND")


def test_reprice_changes_totals_exactly_as_the_dry_run_said(server: Server,
                                                            project: Project) -> None:
    specs = [
        CallSpec(DAY.replace(day=d, hour=h, minute=17), 250, provider, model, 1_000 + d * 10,
                 100 + h, cache_read_tokens=200 if provider == "openai" else 0)
        for d in (3, 4, 5) for h in (1, 9, 23)
        for provider, model in (("openai", "gpt-4o"), ("acme", "acme-llm"))
    ]
    specs.append(CallSpec(DAY.replace(hour=5), 100, "openai", "gpt-4o", 1_000, 10,
                          extra={"gen_ai.usage.cost": 0.5}))  # reported: never re-priced
    send(server, project, specs)
    before = summary(server, project)["summary"]
    assert before["unpricedCalls"] == 9  # acme-llm has no catalog price

    for body in ({"model": "gpt-4o", "provider": "openai", "inputPerMTok": 4,
                  "outputPerMTok": 16, "cacheReadPerMTok": 1},
                 {"model": "acme-llm", "inputPerMTok": 2, "outputPerMTok": 8,
                  "effectiveFrom": "2026-10-04"}):
        assert server.call("POST", "/api/prices", project.key, body)[0] == 201

    cli = [sys.executable, "-m", "spantally.server.cli", "reprice", "--database-url",
           server.database_url, "--from", "2026-10-01", "--to", "2026-10-31", "--project",
           str(project.id)]
    dry = subprocess.run([*cli, "--dry-run"], capture_output=True, text=True, timeout=120)
    assert dry.returncode == 0, dry.stderr
    assert summary(server, project)["summary"] == before  # a dry run changes nothing
    from spantally.collector.pricing import project_prices
    from spantally.store import Database, StoreConfig, reprice

    async def predicted():  # noqa: ANN202
        database = Database(StoreConfig(database_url=server.database_url))
        await database.open()
        try:
            return await reprice(database, datetime(2026, 10, 1, tzinfo=timezone.utc),
                                 datetime(2026, 10, 31, tzinfo=timezone.utc), project_prices(),
                                 str(project.id), dry_run=True)
        finally:
            await database.close()

    import asyncio

    (prediction,) = asyncio.run(predicted())
    assert (prediction.examined, prediction.changed, prediction.new_unpriced) == (18, 15, 3)
    assert f"${Decimal(prediction.new_cost_nano_usd) / 10**9:,.9f}" in dry.stdout

    real = subprocess.run(cli, capture_output=True, text=True, timeout=120)
    assert real.returncode == 0, real.stderr
    after = summary(server, project)
    assert round(after["summary"]["totalCostUsd"] * 1e9) == prediction.new_cost_nano_usd
    assert after["summary"]["unpricedCalls"] == prediction.new_unpriced
    # every aggregate level agrees with the calls themselves
    rows = server.sql("SELECT date_trunc('day', time, 'UTC'), sum(cost_nano_usd),"
                      " count(*) FILTER (WHERE cost_nano_usd IS NULL) FROM llm_calls"
                      " WHERE project_id = %s GROUP BY 1 ORDER BY 1", (project.id,))
    by_day = {b["bucket"][:10]: round(b["costUsd"] * 1e9) for b in after["byTime"]}
    assert by_day == {day.strftime("%Y-%m-%d"): int(cost) for day, cost, _ in rows}
    status, body = server.api("/api/analytics/llm?from=2026-10-04T08:30:00Z"
                              "&to=2026-10-05T09:45:00Z&granularity=hour", project.key)
    (direct,) = server.sql("SELECT sum(cost_nano_usd) FROM llm_calls WHERE project_id = %s"
                           " AND time >= '2026-10-04T08:30:00Z' AND time < '2026-10-05T09:45:00Z'",
                           (project.id,))
    assert round(body["summary"]["totalCostUsd"] * 1e9) == direct[0]
    # The per-project totals (what unfiltered summaries and time series read) moved too.
    for granularity in ("hour", "day"):
        status, series = server.api(f"/api/analytics/timeseries?from=2026-10-01&to=2026-10-31"
                                    f"&granularity={granularity}", project.key)
        assert status == 200
        assert sum(b["costNanoUsd"] for b in series["data"]) == prediction.new_cost_nano_usd
        assert sum(b["unpricedCalls"] for b in series["data"]) == prediction.new_unpriced
    # And the per-user days (what an unfiltered breakdown by user reads for whole days).
    status, users = server.api("/api/analytics/breakdown/user?from=2026-10-01&to=2026-10-31",
                               project.key)
    assert status == 200
    assert [(u["key"], u["costNanoUsd"], u["unpricedCalls"]) for u in users["data"]] == [
        (None, prediction.new_cost_nano_usd, prediction.new_unpriced)]
    costs = dict(server.sql("SELECT cost_source, count(*) FROM llm_calls WHERE project_id = %s"
                            " GROUP BY 1", (project.id,)))
    assert costs == {"custom": 15, "reported": 1, None: 3}

    again = subprocess.run(cli, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and ": 0 calls changed;" in again.stdout  # nothing left


def test_costs_in_another_currency(server: Server, project: Project) -> None:
    send(server, project, [CallSpec(DAY.replace(hour=9), 100, "openai", "gpt-4o", 3_000, 500,
                                    cache_read_tokens=1_024)])
    status, answer = server.api("/api/analytics/llm?from=2026-10-01&to=2026-10-31"
                                "&currency=EUR", project.key)
    assert status == 400 and "PUT /api/currencies/EUR" in answer["error"]["message"]
    assert server.call("PUT", "/api/currencies/eur", project.key, {"perUsd": "0.9137"})[0] == 200
    body = summary(server, project, "&currency=EUR")
    usd_nano = 11_220_000
    assert body["summary"]["totalCostUsd"] == usd_nano / 1e9  # the reference's field unchanged
    assert (body["summary"]["currency"], body["summary"]["exchangeRate"]) == ("EUR", 0.9137)
    assert body["summary"]["totalCost"] == float(Decimal(usd_nano) * Decimal("0.9137") / 10**9)
    assert body["byModel"][0]["cost"] == body["summary"]["totalCost"]
    assert summary(server, project, "&currency=usd")["summary"]["totalCost"] == usd_nano / 1e9
    for bad in ("EURO", "12$"):
        status, answer = server.api(f"/api/analytics/llm?currency={bad}", project.key)
        assert status == 400 and "currency" in answer["error"]["message"]
    for bad_rate in (0, -1, "x", None):
        status, _ = server.call("PUT", "/api/currencies/GBP", project.key, {"perUsd": bad_rate})
        assert status == 400
    assert server.call("GET", "/api/currencies", project.key)[1]["rates"][0]["currency"] == "EUR"


def test_prices_cli(server: Server, project: Project) -> None:
    base = [sys.executable, "-m", "spantally.server.cli", "prices"]
    env_args = ["--url", server.api_url, "--api-key", project.key]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*base, *args[:1], *env_args, *args[1:]], capture_output=True,
                              text=True, timeout=60)

    done = run("set", "ft:gpt-4o-mini:acme:*", "--input", "0.3", "--output", "1.2",
               "--from", "2026-01-01")
    assert done.returncode == 0, done.stderr
    listed = run("list")
    assert "ft:gpt-4o-mini:acme:*" in listed.stdout and "0.3" in listed.stdout
    bad = run("set", "m", "--input", "-1", "--output", "1")
    assert bad.returncode == 1 and "INVALID_ARGUMENT: inputPerMTok" in bad.stderr
    price_id = server.call("GET", "/api/prices", project.key)[1]["prices"][0]["id"]
    assert run("delete", str(price_id)).returncode == 0
    assert run("rate", "EUR", "0.92").returncode == 0
    assert "EUR  0.92 per USD" in run("rate").stdout
    unreachable = subprocess.run([*base, "list", "--url", "http://127.0.0.1:9", "--api-key", "k"],
                                 capture_output=True, text=True, timeout=60)
    assert unreachable.returncode == 1 and "cannot reach SpanTally" in unreachable.stderr


def test_which_price_applies_is_explained(server: Server, project: Project) -> None:
    body = {"model": "gpt-4o", "provider": "openai", "inputPerMTok": 4, "outputPerMTok": 16,
            "effectiveFrom": "2026-10-04"}
    assert server.call("POST", "/api/prices", project.key, body)[0] == 201
    status, before = server.call("GET", "/api/prices/resolve?model=gpt-4o-2024-08-06"
                                 "&provider=openai&at=2026-10-01", project.key)
    assert status == 200 and before["source"] == "catalog" and before["custom"] is None
    assert before["catalog"]["model"] == "gpt-4o"  # the dated id resolves to its family
    assert before["catalog"]["prices"]["inputPerMTok"] == 2.5
    after = server.call("GET", "/api/prices/resolve?model=gpt-4o&provider=openai"
                        "&at=2026-10-05", project.key)[1]
    assert after["source"] == "custom" and after["custom"]["inputPerMTok"] == 4
    # What a call of these tokens costs: what ingest charges it (4 and 16 USD per million).
    priced = server.call("GET", "/api/prices/resolve?model=gpt-4o&provider=openai&at=2026-10-05"
                         "&inputTokens=1000&outputTokens=250", project.key)[1]
    assert priced["call"] == {"inputTokens": 1000, "outputTokens": 250, "cacheReadTokens": 0,
                              "cacheWriteTokens": 0, "costNanoUsd": 8_000_000,
                              "costUsd": 0.008}
    assert before["call"]["costNanoUsd"] == 0  # no tokens: nothing
    unknown = server.call("GET", "/api/prices/resolve?model=acme-llm&inputTokens=5",
                          project.key)[1]
    assert (unknown["source"], unknown["catalog"]) == (None, None)
    assert (unknown["call"]["costUsd"], unknown["call"]["costNanoUsd"]) == (None, None)
    bad = server.call("GET", "/api/prices/resolve?model=gpt-4o&outputTokens=-3", project.key)
    assert bad[0] == 400 and bad[1]["error"]["message"].startswith("outputTokens"), bad
    assert server.call("GET", "/api/prices/resolve", project.key)[0] == 400
    explained = subprocess.run(
        [sys.executable, "-m", "spantally.server.cli", "prices", "explain", "gpt-4o",
         "--provider", "openai", "--at", "2026-10-05", "--url", server.api_url,
         "--api-key", project.key], capture_output=True, text=True, timeout=60)
    assert "custom price" in explained.stdout and "catalog (overridden)" in explained.stdout
