"""What the `spantally` subcommands share: option sets and the console."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from spantally.client import Client, SpanTallyError

__all__ = ["api_client", "api_connection_options", "asked", "console", "database_options"]

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
