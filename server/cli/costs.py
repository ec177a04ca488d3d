"""`spantally prices ...` (through the HTTP API) and `spantally reprice` (on the database)."""

from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from .common import api_client, api_connection_options, asked, console

__all__ = ["database_url_for", "prices", "reprice"]




def _money(value: float | None) -> str:
    return "—" if value is None else f"{Decimal(str(value)).normalize():f}"


@click.group()
def prices() -> None:
    """Custom model prices (per project) and currency rates."""


@prices.command("list")
@api_connection_options
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
def list_prices(url: str, api_key: str | None, as_json: bool) -> None:
    """The project's custom prices (USD per million tokens)."""
    client = api_client(url, api_key)
    body = {"prices": asked(client.prices)}
    if as_json:
        click.echo(json.dumps(body, indent=2))
        return
    table = Table("id", "provider", "model", "input", "cache read", "cache write", "output",
                  "per call", "from", "to", title="custom prices, USD per million tokens")
    for p in body["prices"]:
        table.add_row(str(p["id"]), p["provider"] or "any", p["model"],
                      _money(p["inputPerMTok"]), _money(p["cacheReadPerMTok"]),
                      _money(p["cacheWritePerMTok"]), _money(p["outputPerMTok"]),
                      _money(p["perCall"]), p["effectiveFrom"], p["effectiveTo"] or "—")
    if not body["prices"]:
        console.print("no custom prices: every call is priced from the catalog")
    else:
        console.print(table)


@prices.command("set")
@api_connection_options
@click.argument("model")
@click.option("--provider", default=None, help="Only for this provider (default: any).")
@click.option("--input", "input_", required=True, help="USD per million input tokens.")
@click.option("--output", required=True, help="USD per million output tokens.")
@click.option("--cache-read", default=None, help="USD per million cache-read tokens (default: input).")
@click.option("--cache-write", default=None, help="USD per million cache-write tokens (default: input).")
@click.option("--per-call", default=None, help="USD per call.")
@click.option("--from", "from_", default=None, help="Applies to calls from (ISO 8601; default: always).")
@click.option("--to", default=None, help="Applies to calls before (ISO 8601; default: open).")
def set_price(url: str, api_key: str | None, model: str, provider: str | None, input_: str,
              output: str, cache_read: str | None, cache_write: str | None,
              per_call: str | None, from_: str | None, to: str | None) -> None:
    """Add a price for MODEL (an id, or a pattern with *, e.g. 'ft:gpt-4o-mini:acme:*')."""
    client = api_client(url, api_key)
    created = asked(lambda: client.create_price(
        model, input_, output, provider=provider, cacheReadPerMTok=cache_read,
        cacheWritePerMTok=cache_write, perCall=per_call, effectiveFrom=from_, effectiveTo=to))
    console.print(f"price {created['id']} added for {created['provider'] or 'any provider'} / "
                  f"{created['model']}; new calls use it now, stored ones after "
                  "`spantally reprice`")


@prices.command("explain")
@api_connection_options
@click.argument("model")
@click.option("--provider", default=None, help="The call's provider (OTel GenAI name).")
@click.option("--at", default=None, help="The call's time (ISO 8601; default: now).")
def explain_price(url: str, api_key: str | None, model: str, provider: str | None,
                  at: str | None) -> None:
    """Which price a call of MODEL gets (custom, catalog, or none), and what it is."""
    client = api_client(url, api_key)
    body = asked(lambda: client.resolve_price(model, provider, at))
    if body["source"] == "custom":
        p = body["custom"]
        console.print(f"custom price {p['id']} ({p['provider'] or 'any provider'} / {p['model']},"
                      f" from {p['effectiveFrom']}): input {_money(p['inputPerMTok'])}, "
                      f"cache read {_money(p['cacheReadPerMTok'] or p['inputPerMTok'])}, "
                      f"cache write {_money(p['cacheWritePerMTok'] or p['inputPerMTok'])}, "
                      f"output {_money(p['outputPerMTok'])} USD per million tokens")
    if body["catalog"] is not None:
        c = body["catalog"]
        prices = ", ".join(f"{k} {v}" for k, v in c["prices"].items())
        prefix = "catalog (overridden)" if body["source"] == "custom" else "catalog"
        console.print(f"{prefix}: {c['provider']} / {c['model']}: {prices}")
    if body["source"] is None:
        console.print(f"no price for {model}: its calls are unpriced; add one with "
                      f"`spantally prices set {model} --input ... --output ...`")


@prices.command("delete")
@api_connection_options
@click.argument("price_id", type=int)
def delete_price(url: str, api_key: str | None, price_id: int) -> None:
    """Delete the custom price PRICE_ID."""
    client = api_client(url, api_key)
    asked(lambda: client.delete_price(price_id))
    console.print(f"price {price_id} deleted")


@prices.command("rate")
@api_connection_options
@click.argument("currency", required=False)
@click.argument("per_usd", required=False)
@click.option("--delete", is_flag=True, help="Remove the rate of CURRENCY.")
def rate(url: str, api_key: str | None, currency: str | None, per_usd: str | None,
         delete: bool) -> None:
    """Currency rates (units per USD): list them, set CURRENCY's, or --delete it."""
    client = api_client(url, api_key)
    if currency is None:
        rates = asked(client.currency_rates)
        for entry in rates:
            console.print(f"{entry['currency']}  {entry['perUsd']} per USD  "
                          f"(set {entry['updatedAt']})")
        if not rates:
            console.print("no rates: costs are shown in USD only")
    elif delete:
        asked(lambda: client.delete_currency_rate(currency))
        console.print(f"rate for {currency.upper()} deleted")
    elif per_usd is None:
        raise click.UsageError("give the rate too: spantally prices rate EUR 0.92")
    else:
        entry = asked(lambda: client.set_currency_rate(currency, per_usd))
        console.print(f"1 USD = {entry['perUsd']} {entry['currency']}")


@contextmanager
def database_url_for(database_url: str | None, home: Path | None, embedded_port: int,
                     db_user: str):  # type: ignore[no-untyped-def]
    """The database to work on: the given URL, or the embedded default cluster (started for
    the command and stopped after it if it was not running)."""
    if database_url is not None:
        yield database_url
        return
    from spantally.store import ClusterConfig, ManagedCluster, default_home

    cluster = ManagedCluster(ClusterConfig(home=home or default_home(), port=embedded_port,
                                           run_as=db_user))
    started = cluster.ensure_started()
    try:
        yield cluster.url
    finally:
        if started:
            cluster.stop()


def _usd(nano: int) -> str:
    return f"${Decimal(nano) / Decimal(1_000_000_000):,.9f}"


def reprice(database_url: str, start: datetime, end: datetime, project: str | None,
            dry_run: bool) -> None:
    """Run a re-pricing with a progress bar and print the totals (used by the CLI command)."""
    import asyncio

    from spantally.collector.pricing import project_prices
    from spantally.store import Database, StoreConfig
    from spantally.store import reprice as run_reprice

    async def go() -> list[Any]:
        database = Database(StoreConfig(database_url=database_url))
        await database.open()
        try:
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TimeRemainingColumn(), console=console, transient=True) as bar:
                task = bar.add_task("re-pricing (project × hour)", total=None)

                def progress(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                return await run_reprice(database, start, end, project_prices(), project,
                                         dry_run, progress)
        finally:
            await database.close()

    results = asyncio.run(go())
    verb = "would change" if dry_run else "changed"
    table = Table("project", "calls", "re-priceable", verb, "cost before", "cost after",
                  "unpriced before", "unpriced after",
                  title=f"{'dry run: ' if dry_run else ''}{start.isoformat()} .. {end.isoformat()}")
    for r in results:
        table.add_row(r.project, str(r.calls), str(r.examined), str(r.changed),
                      _usd(r.old_cost_nano_usd), _usd(r.new_cost_nano_usd),
                      str(r.old_unpriced), str(r.new_unpriced))
    console.print(table)
    for r in results:  # one plain line per project, for scripts and narrow terminals
        click.echo(f"{r.project}: {r.changed} calls {verb}; cost {_usd(r.old_cost_nano_usd)} -> "
                   f"{_usd(r.new_cost_nano_usd)}; unpriced {r.old_unpriced} -> {r.new_unpriced}")
