"""`spantally admin ...`: the project's keys and rate limits through the admin API (a key with
the `admin` scope; docs/security.md), where `spantally keys` and `spantally projects limits`
need the database."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from .common import api_client, api_connection_options, asked, console, echo_json, limit_value

__all__ = ["admin"]


@click.group()
def admin() -> None:
    """The project's keys and rate limits, through the API (an admin key)."""


@admin.group("keys")
def admin_keys() -> None:
    """The project's API keys."""


@admin_keys.command("list")
@api_connection_options
@click.option("--json", "as_json", is_flag=True)
def keys_list(url: str, api_key: str | None, as_json: bool) -> None:
    """The project's keys: ids, names, scopes, last use (never secrets)."""
    keys = asked(lambda: api_client(url, api_key).keys())
    if as_json:
        echo_json(keys)
        return
    table = Table("key id", "name", "scopes", "created", "last used", "revoked")
    for k in keys:
        table.add_row(f"st_{k['keyId']}_…", k["name"], ", ".join(k["scopes"]), k["createdAt"],
                      k["lastUsedAt"] or "never", k["revokedAt"] or "")
    console.print(table)


@admin_keys.command("create")
@api_connection_options
@click.option("--name", default="", help="A label for the key.")
@click.option("--scope", "scopes", multiple=True,
              help="ingest, read or admin (repeatable). Default: ingest and read.")
def keys_create(url: str, api_key: str | None, name: str, scopes: tuple[str, ...]) -> None:
    """Create a key of the project; the secret is printed once."""
    made = asked(lambda: api_client(url, api_key).create_key(
        name, scopes or ("ingest", "read")))
    console.print(f"its scopes: {', '.join(made['scopes'])}")
    click.echo(f"API key (shown once, keep it secret): {made['key']}")


@admin_keys.command("revoke")
@api_connection_options
@click.argument("key")
def keys_revoke(url: str, api_key: str | None, key: str) -> None:
    """Revoke KEY (st_<key id>_..., or the key id): refused everywhere within a second."""
    key_id = key.split("_")[1] if key.startswith("st_") and key.count("_") >= 2 else key
    asked(lambda: api_client(url, api_key).revoke_key(key_id))
    console.print(f"revoked st_{key_id}_…")


@admin.command("tag-keys")
@api_connection_options
@click.argument("tag_keys", nargs=-1, metavar="[KEY]...")
@click.option("--none", "no_keys", is_flag=True, help="Declare no tag key.")
@click.option("--json", "as_json", is_flag=True)
def tag_keys(url: str, api_key: str | None, tag_keys: tuple[str, ...], no_keys: bool,
             as_json: bool) -> None:
    """Show the tag keys the project declares, or declare KEY... instead."""
    if tag_keys and no_keys:
        raise click.UsageError("give KEY... or --none, not both")
    client = api_client(url, api_key)
    if tag_keys or no_keys:
        answer = asked(lambda: client.set_tag_keys(tag_keys))
    else:
        answer = asked(client.project_tag_keys)
    if as_json:
        echo_json(answer)
        return
    if "added" in answer:
        console.print(f"added {', '.join(answer['added']) or 'none'}, removed "
                      f"{', '.join(answer['removed']) or 'none'}; {answer['rowsFilled']} "
                      "aggregate rows filled")
    console.print(f"tag keys: {', '.join(answer['tagKeys']) or 'none'}")
    if answer.get("filling"):
        console.print(f"still filling: {', '.join(answer['filling'])}")


@admin.command("limits")
@api_connection_options
@click.option("--spans-per-minute", callback=limit_value(int), metavar="N|default")
@click.option("--api-requests-per-second", callback=limit_value(float), metavar="R|default")
@click.option("--json", "as_json", is_flag=True)
def limits(url: str, api_key: str | None, spans_per_minute: Any,
           api_requests_per_second: Any, as_json: bool) -> None:
    """Show the project's rate limits, or set them ('default': the server's)."""
    client = api_client(url, api_key)
    current = asked(client.limits)
    if spans_per_minute is not None or api_requests_per_second is not None:
        def chosen(value: Any, now: Any) -> Any:
            return now if value is None else None if value == "default" else value
        current = asked(lambda: client.set_limits(
            chosen(spans_per_minute, current["spansPerMinute"]),
            chosen(api_requests_per_second, current["apiRequestsPerSecond"])))
    if as_json:
        echo_json(current)
        return
    for name, field in (("spans per minute", "spansPerMinute"),
                        ("API requests per second per key", "apiRequestsPerSecond")):
        own, default = current[field], current["defaults"][field]
        console.print(f"{name}: {own if own is not None else 'the default'} "
                      f"(default: {default if default is not None else 'no limit'})")
