"""`spantally runs stats|list|show`: agent runs from the API (docs/analytics.md, "Agent runs")."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from spantally.client import SpanTallyError
from spantally.server.api.spec import endpoint_named

from .common import (
    api_client,
    api_connection_options,
    console,
    echo_json,
    filter_options,
    filter_query,
    show_number,
    show_percent,
    show_usd,
    spec_option,
)

__all__ = ["runs"]


@click.group()
def runs() -> None:
    """Agent runs: how often each agent finishes, how long it takes, what a run costs."""


def _fail(exc: SpanTallyError) -> click.ClickException:
    return click.ClickException(str(exc))


@runs.command("stats")
@filter_options
@click.option("--by", "dimension", default=None, metavar="DIMENSION",
              help=endpoint_named("runs_breakdown").param("dimension").describe())
@click.option("--compare", is_flag=True, help="Against the period of the same length before.")
@spec_option("runs_breakdown", "limit")
@click.option("--json", "as_json", is_flag=True, help="The API's JSON.")
def stats(url: str, api_key: str | None, dimension: str | None, compare: bool, limit: int,
          as_json: bool, **params: Any) -> None:
    """Runs, success rate, duration, steps, tokens and cost per run."""
    query = {**filter_query(params), "compare": "previous_period" if compare else None}
    endpoint = "runs" if dimension is None else f"runs/breakdown/{dimension}"
    if dimension is not None:
        query["limit"] = limit
    try:
        body = api_client(url, api_key).analytics(
            endpoint, **{k: v for k, v in query.items() if v is not None})
    except SpanTallyError as exc:
        raise _fail(exc) from None
    if as_json:
        echo_json(body)
        return
    rows = [("(all)", body)] if dimension is None else [
        ("(none)" if row["key"] is None else row["key"], row) for row in body["data"]]
    table = Table(dimension or "", "runs", "success", "avg ms", "p95 ms", "steps/run",
                  "tokens/run", "cost/run", *(("runs change",) if compare else ()),
                  title=f"runs, {body['from']} .. {body['to']}")
    for key, row in rows:
        cells = [key, show_number(row["runs"]), show_percent(row["successRate"]),
                 show_number(row["avgDurationMs"]), show_number(row["p95DurationMs"]),
                 show_number(row["avgSteps"]), show_number(row["tokensPerRun"]),
                 show_usd(row["costPerRunUsd"])]
        if compare:
            percent = row["changes"]["runs"]["changePercent"]
            cells.append("—" if percent is None else f"{percent:+.2f}%")
        table.add_row(*cells)
    console.print(table)


@runs.command("list")
@filter_options
@spec_option("runs", "limit", default=20)
@spec_option("runs", "offset")
@click.option("--json", "as_json", is_flag=True, help="The API's JSON.")
def list_(url: str, api_key: str | None, limit: int, offset: int, as_json: bool,
          **params: Any) -> None:
    """The latest runs, newest first."""
    try:
        found = api_client(url, api_key).runs(limit=limit, offset=offset,
                                              **filter_query(params))["data"]
    except SpanTallyError as exc:
        raise _fail(exc) from None
    if as_json:
        echo_json(found)
        return
    table = Table("started", "agent", "status", "ms", "calls", "tools", "tokens", "cost",
                  "trace / span")
    for run in found:
        table.add_row(run["startTime"], run["agentName"] or run["agentId"] or "—",
                      run["status"] if not run["errorType"] else f"error ({run['errorType']})",
                      show_number(run["durationMs"]), show_number(run["llmCalls"]),
                      show_number(run["toolCalls"]), show_number(run["totalTokens"]),
                      show_usd(run["costUsd"]), f"{run['traceId']} {run['spanId']}")
    console.print(table)


@runs.command("show")
@click.argument("trace_id")
@click.argument("span_id")
@api_connection_options
@click.option("--json", "as_json", is_flag=True, help="The API's JSON.")
def show(url: str, api_key: str | None, trace_id: str, span_id: str, as_json: bool) -> None:
    """One run (TRACE_ID SPAN_ID, as `runs list` shows them) and its steps in order."""
    try:
        run = api_client(url, api_key).run(trace_id, span_id)
    except SpanTallyError as exc:
        raise _fail(exc) from None
    if as_json:
        echo_json(run)
        return
    title = (f"{run['agentName'] or run['agentId']} ({run['kind']}), {run['status']}, "
             f"{show_number(run['durationMs'])} ms, {run['llmCalls']} calls, "
             f"{run['toolCalls']} tools, {show_usd(run['costUsd'])}")
    table = Table("at ms", "step", "name", "ms", "status", "tokens", "cost", title=title)
    for step in run["stepsInOrder"]:
        tokens = (step["inputTokens"] + step["outputTokens"]) if step["type"] == "call" else None
        table.add_row(show_number(step["offsetMs"]), "  " * step["depth"] + step["type"],
                      step["name"] or "—", show_number(step["durationMs"]), step["status"] or "—",
                      show_number(tokens), show_usd(step.get("costUsd")))
    console.print(table)
