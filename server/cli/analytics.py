"""`spantally analytics ...`: the /api/analytics/* endpoints as tables, JSON, or a streamed
export, through the API client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click
from rich.table import Table

from spantally.client import SpanTallyError
from spantally.server.api.spec import endpoint_named

from .common import (
    api_client,
    api_connection_options,
    asked,
    console,
    echo_json,
    filter_options,
    filter_options_of,
    filter_query,
    show_number,
    show_percent,
    show_usd,
    spec_option,
)

__all__ = ["analytics"]

F = TypeVar("F", bound=Callable[..., Any])


def _ask(url: str, api_key: str | None, endpoint: str, params: dict[str, Any]) -> Any:
    client = api_client(url, api_key)
    try:
        return client.analytics(endpoint, **filter_query(params))
    except SpanTallyError as exc:
        raise click.ClickException(str(exc)) from None


def _extra(items: tuple[str, ...]) -> dict[str, str]:
    """--param NAME=VALUE options: any other API parameter."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--param")
        out[name] = value
    return out


# One table column per measure: (header, field, how it is shown).
_MEASURE_COLUMNS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("calls", "calls", show_number),
    ("errors", "errorCalls", show_number),
    ("cost", "costUsd", show_usd),
    ("tokens", "totalTokens", show_number),
    ("p50 ms", "p50LatencyMs", show_number),
    ("p95 ms", "p95LatencyMs", show_number),
)


@click.group()
def analytics() -> None:
    """Summaries, time series, breakdowns, sessions and anomalies, from the API."""


@analytics.command("summary")
@filter_options
@click.option("--compare", is_flag=True, help="Against the period of the same length before.")
@click.option("--json", "as_json", is_flag=True, help="The API's JSON.")
def summary(url: str, api_key: str | None, compare: bool, as_json: bool,
            **params: Any) -> None:
    """Calls, success rate, tokens, cost, latency and time to first token."""
    endpoint = "compare" if compare else "summary"
    body = _ask(url, api_key, endpoint, params)
    if as_json:
        echo_json(body)
        return
    if compare:
        table = Table("measure", "current", "previous", "change", "trend",
                      title=f"{body['current']['from']} .. {body['current']['to']} against "
                            f"{body['previous']['from']} .. {body['previous']['to']}")
        for name, change in body["changes"].items():
            percent = change["changePercent"]
            table.add_row(name, show_number(change["current"]), show_number(change["previous"]),
                          "—" if percent is None else f"{percent:+.2f}%", change["trend"] or "—")
        console.print(table)
        return
    table = Table(show_header=False, title=f"{body['from']} .. {body['to']}")
    for label, value in (
        ("calls", show_number(body["calls"])),
        ("success rate", show_percent(body["successRate"])),
        ("cost", show_usd(body["costUsd"])),
        ("input / output tokens",
         f"{body['inputTokens']:,} / {body['outputTokens']:,}"),
        ("cached / reasoning tokens",
         f"{body['cacheReadTokens']:,} / {body['reasoningTokens']:,}"),
        ("latency avg / p50 / p95 / p99 ms",
         " / ".join(show_number(body[k]) for k in ("avgLatencyMs", "p50LatencyMs", "p95LatencyMs",
                                                 "p99LatencyMs"))),
        ("time to first token avg / p95 ms",
         f"{show_number(body['avgTtftMs'])} / {show_number(body['p95TtftMs'])}"),
        ("unpriced calls", show_number(body["unpricedCalls"])),
    ):
        table.add_row(label, value)
    console.print(table)


@analytics.command("timeseries")
@filter_options
@spec_option("timeseries", "granularity")
@spec_option("timeseries", "tz")
@click.option("--fill-zero", is_flag=True, help="Also list buckets without calls.")
@click.option("--json", "as_json", is_flag=True, help="The API's JSON.")
def timeseries(url: str, api_key: str | None, granularity: str, tz: str, fill_zero: bool,
               as_json: bool, **params: Any) -> None:
    """The measures per hour, day, week or month of a time zone's calendar."""
    body = _ask(url, api_key, "timeseries", {**params, "granularity": granularity, "tz": tz,
                                             "fill": "zero" if fill_zero else None})
    if as_json:
        echo_json(body)
        return
    table = Table("bucket", *(header for header, _, _ in _MEASURE_COLUMNS))
    for row in body["data"]:
        table.add_row(row["bucket"], *(show(row[field]) for _, field, show in _MEASURE_COLUMNS))
    console.print(table)


@analytics.command("breakdown", epilog="DIMENSION: " + endpoint_named("breakdown").param(
    "dimension").describe())
@click.argument("dimension")
@filter_options
@spec_option("breakdown", "sort")
@spec_option("breakdown", "limit")
@click.option("--compare", is_flag=True, help="Also the period of the same length before.")
@click.option("--json", "as_json", is_flag=True, help="The API's JSON.")
def breakdown(url: str, api_key: str | None, dimension: str, sort: str, limit: int,
              compare: bool, as_json: bool, **params: Any) -> None:
    """The measures per value of DIMENSION, largest first, the rest in one `other` row."""
    body = _ask(url, api_key, f"breakdown/{dimension}", {
        **params, "sort": sort, "limit": limit,
        "compare": "previous_period" if compare else None})
    if as_json:
        echo_json(body)
        return
    headers = [dimension, "share", *(header for header, _, _ in _MEASURE_COLUMNS)]
    if compare:
        headers.append(f"{sort} change")
    table = Table(*headers, title=f"by {dimension}, {body['from']} .. {body['to']}")
    change_of = {"cost": "costUsd", "calls": "calls", "tokens": "totalTokens",
                 "errors": "errorCalls"}[sort]
    for row in body["data"]:
        key = "(other)" if row["other"] else "(none)" if row["key"] is None else row["key"]
        cells = [key, f"{row['percentageOfTotal']:.2f}%",
                 *(show(row[field]) for _, field, show in _MEASURE_COLUMNS)]
        if compare:
            percent = row["changes"][change_of]["changePercent"]
            cells.append("—" if percent is None else f"{percent:+.2f}%")
        table.add_row(*cells)
    console.print(table)


@analytics.command("sessions")
@filter_options
@spec_option("sessions", "sort")
@spec_option("sessions", "limit", default=20)
@click.option("--json", "as_json", is_flag=True, help="The API's JSON.")
def sessions(url: str, api_key: str | None, sort: str, limit: int, as_json: bool,
             **params: Any) -> None:
    """Sessions: start, duration, turns, tokens, cost; with totals and averages."""
    body = _ask(url, api_key, "sessions", {**params, "sort": sort, "limit": limit})
    if as_json:
        echo_json(body)
        return
    table = Table("session", "user", "started (UTC)", "duration s", "calls", "errors", "tokens",
                  "cost")
    for s in body["data"]:
        table.add_row(s["sessionId"], s["userId"] or "—", s["startedAt"][:19],
                      f"{s['durationMs'] / 1000:,.1f}", show_number(s["calls"]),
                      show_number(s["errorCalls"]), show_number(s["totalTokens"]), show_usd(s["costUsd"]))
    console.print(table)
    total = body["summary"]
    console.print(f"{total['totalSessions']:,} sessions, {show_number(total['avgCallsPerSession'])} "
                  f"calls and {show_usd(total['avgCostPerSessionUsd'])} per session on average")


@analytics.command("anomalies")
@filter_options_of("anomalies")
@click.option("--json", "as_json", is_flag=True, help="The API's JSON.")
def anomalies(url: str, api_key: str | None, as_json: bool, **params: Any) -> None:
    """Cost, volume, error-rate and latency spikes against the same hour of the previous 7
    days, per project, agent and model: judged now, or with --status those the hourly
    detector stored (active, resolved, dismissed, any)."""
    body = _ask(url, api_key, "anomalies", params)
    if as_json:
        echo_json(body)
        return
    if not body["data"]:
        console.print(f"no anomalies between {body['from']} and {body['to']}")
        return
    stored = "status" in body
    table = Table("hour (UTC)", "severity", "type", "where", "description",
                  *(("status", "id") if stored else ()))
    for a in body["data"]:
        where = a["scope"] if a["scopeKey"] is None else f"{a['scope']} {a['scopeKey']}"
        table.add_row(a["hour"][:16], a["severity"], a["type"], where, a["description"],
                      *((a["status"], a["id"]) if stored else ()))
    console.print(table)


@analytics.command("dismiss")
@api_connection_options
@click.argument("anomaly_id")
def dismiss(url: str, api_key: str | None, anomaly_id: str) -> None:
    """Dismiss the stored anomaly ANOMALY_ID (from `anomalies --status active`; an admin
    key)."""
    client = api_client(url, api_key)
    body = asked(lambda: client.dismiss_anomaly(anomaly_id))
    console.print(f"anomaly {body['id']} dismissed at {body['dismissedAt']}")


@analytics.command("export")
@click.argument("endpoint")
@filter_options
@click.option("--format", "format_", type=click.Choice(["csv", "ndjson", "json"]),
              default="csv", show_default=True)
@click.option("--param", "extra", multiple=True, metavar="NAME=VALUE",
              help="Any other API parameter, e.g. granularity=day or limit=100 (repeatable).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True, allow_dash=True),
              default="-", show_default=True, help="File to write (default: standard output).")
def export(url: str, api_key: str | None, endpoint: str, format_: str, extra: tuple[str, ...],
           output: str, **params: Any) -> None:
    """Stream ENDPOINT's rows as CSV, NDJSON or JSON, as the server sends them. ENDPOINT:
    summary, timeseries, breakdown/<dimension>, sessions, anomalies, or calls."""
    client = api_client(url, api_key)
    chunks = client.export(endpoint, format_, **{**filter_query(params), **_extra(extra)})
    try:
        first = next(chunks, b"")  # the request, and any error, before the file is touched
        with click.open_file(output, "wb") as out:
            out.write(first)
            for chunk in chunks:
                out.write(chunk)
    except SpanTallyError as exc:
        raise click.ClickException(str(exc)) from None
    if output != "-":
        console.print(f"written to {output}", style="dim")


@analytics.command("explain")
@click.argument("endpoint")
@filter_options
@click.option("--param", "extra", multiple=True, metavar="NAME=VALUE",
              help="Any other API parameter, e.g. granularity=day or tz=Europe/Paris "
                   "(repeatable).")
@click.option("--sql", "show_sql", is_flag=True, help="Also print each query's SQL.")
@click.option("--json", "as_json", is_flag=True, help="The API's `explain` JSON.")
def explain(url: str, api_key: str | None, endpoint: str, extra: tuple[str, ...],
            show_sql: bool, as_json: bool, **params: Any) -> None:
    """How the server answers ENDPOINT (llm, summary, timeseries, breakdown/<dimension>,
    compare, sessions, anomalies, runs, runs/timeseries, runs/breakdown/<dimension>): which
    relation answers which part of the range, and each query with the rows it read, to see why
    a question is slow."""
    client = api_client(url, api_key)
    try:
        found = client.explain(endpoint, **{**filter_query(params), **_extra(extra)})
    except SpanTallyError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        echo_json(found)
        return
    for number, plan in enumerate(found["plans"], 1):
        grouping = ", ".join(plan["groupBy"]) or "nothing"
        table = Table("from", "to", "relation",
                      title=f"plan {number}: {plan['from']} .. {plan['to']}, "
                            f"{plan['buckets']} bucket(s) ({plan['granularity'] or 'none'}, "
                            f"{plan['timeZone']}), grouped by {grouping}, filtered on "
                            f"{', '.join(plan['filters']) or 'nothing'}; "
                            f"{plan['rawSeconds'] / 3600:,.2f} h from {plan['rawRelation']}")
        for piece in _merged_pieces(plan["pieces"]):
            table.add_row(piece["from"], piece["to"], piece["relation"])
        console.print(table)
    table = Table("relation", "ranges", "rows read", "rows returned", "ms", title="queries")
    for read in found["reads"]:
        table.add_row(read["relation"], str(len(read["ranges"])), f"{read['rowsRead']:,}",
                      f"{read['rowsReturned']:,}", f"{read['elapsedMs']:,.1f}")
    console.print(table)
    if show_sql:
        for read in found["reads"]:
            console.print(f"-- {read['relation']} {read['parameters']}", style="dim")
            click.echo(read["sql"].strip())


def _merged_pieces(pieces: list[dict[str, str]]) -> list[dict[str, str]]:
    """Consecutive pieces read from the same relation as one row (buckets aside)."""
    out: list[dict[str, str]] = []
    for piece in pieces:
        if out and out[-1]["relation"] == piece["relation"] and out[-1]["to"] == piece["from"]:
            out[-1] = {**out[-1], "to": piece["to"]}
        else:
            out.append(dict(piece))
    return out
