"""What the `spantally` subcommands share: option sets and the console."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from spantally.client import Client, SpanTallyError
from spantally.server.api.spec import FILTERS, Kind, endpoint_named

__all__ = ["api_client", "api_connection_options", "asked", "console", "database_options",
           "echo_json", "filter_options", "filter_options_of", "filter_query", "limit_value", "show_number",
           "show_percent", "show_usd", "spec_option"]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

# Piped output is read by scripts and grep: no truncation to the 80 columns of a non-terminal.
console = Console() if sys.stdout.isatty() else Console(width=200)


def _apply(f: F, options: list[Callable[[F], F]]) -> F:
    for option in reversed(options):
        f = option(f)
    return f


def database_options(f: F) -> F:
    """Where the database is: a URL, or the embedded cluster (home, port, OS user)."""
    return _apply(f, [
        click.option("--database-url", envvar="SPANTALLY_DATABASE_URL", default=None,
                     help="PostgreSQL/TimescaleDB URL; without it SpanTally runs its own cluster."),
        click.option("--home", envvar="SPANTALLY_HOME", type=click.Path(path_type=Path),
                     default=None, help="Data directory of the embedded cluster."),
        click.option("--embedded-port", envvar="SPANTALLY_EMBEDDED_PORT", type=int,
                     default=54329, show_default=True, help="Port of the embedded cluster."),
        click.option("--db-user", envvar="SPANTALLY_DB_USER", default="postgres",
                     show_default=True, help="User that runs the embedded cluster when root."),
    ])


def api_connection_options(f: F) -> F:
    """Which API, with which key."""
    return _apply(f, [
        click.option("--url", envvar="SPANTALLY_URL", default="http://127.0.0.1:3400",
                     show_default=True, help="SpanTally API [env: SPANTALLY_URL]."),
        click.option("--api-key", envvar="SPANTALLY_API_KEY", default=None,
                     help="Project API key [env: SPANTALLY_API_KEY]."),
    ])


def api_client(url: str, api_key: str | None) -> Client:
    """A client for the API, or a clear error without a key."""
    if not api_key:
        raise click.ClickException("no API key: pass --api-key or set SPANTALLY_API_KEY "
                                   "(`spantally up` prints the default project's key)")
    return Client(url, api_key)


def asked(call: Callable[[], T]) -> T:
    """An API call's answer; its error, or no answer, as one clear line (exit code 1)."""
    try:
        return call()
    except SpanTallyError as exc:
        raise click.ClickException(str(exc)) from None


# -- what the analytics and runs commands share ----------------------------------------------

def spec_option(operation: str, name: str, **overrides: Any) -> Callable[[F], F]:
    """The option of an API parameter, from its spec (server/api/spec.py): flag, type,
    choices, bounds, default and help; `overrides` for what the CLI says otherwise."""
    param = endpoint_named(operation).param(name)
    settings: dict[str, Any] = {"default": param.default, "help": param.describe(),
                                "show_default": param.default is not None}
    if param.kind is Kind.CHOICE:
        settings["type"] = click.Choice(param.choices)
    elif param.kind is Kind.INTEGER:
        settings["type"] = click.IntRange(param.minimum, param.maximum)
    return click.option(param.flag, param.python, **{**settings, **overrides})


def filter_options_of(operation: str) -> Callable[[F], F]:
    """Range and filters of `operation`, named like the API's parameters (from the spec: its
    filters, or what takes a filter's name there, as the anomalies' `status`)."""
    endpoint = endpoint_named(operation)
    names = {p.name for p in endpoint.params}

    def decorate(f: F) -> F:
        options = [
            click.option("--from", "from_", default="24h", show_default=True,
                         help="ISO 8601, or a time ago: 90m, 24h, 7d, 2w."),
            click.option("--to", default=None, help="ISO 8601 or a time ago (default: now)."),
        ]
        for item in FILTERS:
            param = item.param
            if param.name not in names:
                continue
            if param.kind is Kind.TAGS:  # repeated on the command line, joined for the API
                options.append(click.option(param.flag, param.python, multiple=True,
                                            metavar="KEY:VALUE", help="Only calls with this "
                                            "tag (repeat: all of them)."))
            else:
                options.append(spec_option(operation, param.name))
        return api_connection_options(_apply(f, options))

    return decorate


filter_options = filter_options_of("summary")
"""The range and every filter (as the summary takes them)."""


def filter_query(params: dict[str, Any]) -> dict[str, Any]:
    """Client keyword arguments: the options given, tags as the API's `k:v,k:v` (the server
    checks them, so its message names what is wrong)."""
    query = {name: value for name, value in params.items()
             if value is not None and name != "tags"}
    if params.get("tags"):
        query["tags"] = ",".join(params["tags"])
    return query


def show_number(value: float | int | None, unit: str = "") -> str:
    if value is None:
        return "—"
    text = f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"
    return text + unit


def show_usd(value: float | None) -> str:
    return "—" if value is None else f"${value:,.6f}"


def show_percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def echo_json(body: Any) -> None:
    click.echo(json.dumps(body, indent=2))


def limit_value(kind: type) -> Callable[[click.Context, click.Parameter, str | None], Any]:
    """A click callback for a rate limit option: a number more than 0, or 'default'."""
    def parse(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
        if value is None or value == "default":
            return value
        try:
            number = kind(value)
        except ValueError:
            raise click.BadParameter(f"{value!r} is not a number or 'default'") from None
        if number <= 0:
            raise click.BadParameter("must be more than 0 (or 'default')")
        return number
    return parse
