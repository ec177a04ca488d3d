"""`spantally db|projects|keys` (on the database) and `spantally llm stats|models|recent|demo`
(through the API, like any client).

Exit codes: 0 success; 1 an error the command reports (server unreachable, bad key, an API
error); 2 a usage error (a bad option or argument).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.table import Table

from .common import (
    api_client,
    api_connection_options,
    asked,
    console,
    database_options,
    limit_value,
    spec_option,
)

__all__ = ["db", "demo", "keys", "llm", "projects"]

T = TypeVar("T")


def _on_database(database_url: str | None, home: Path | None, embedded_port: int, db_user: str,
                 work: Callable[[Any], Awaitable[T]]) -> T:
    """Run `work(connection)` in one transaction on the database (migrated first)."""
    from spantally.store import Database, StoreConfig

    from .costs import database_url_for

    async def run(url: str) -> T:
        database = Database(StoreConfig(database_url=url))
        await database.open()
        try:
            async with database.pool.connection() as conn:
                return await work(conn)
        finally:
            await database.close()

    with database_url_for(database_url, home, embedded_port, db_user) as url:
        try:
            return asyncio.run(run(url))
        except click.ClickException:
            raise
        except Exception as exc:  # noqa: BLE001 - one clear line, exit code 1
            raise click.ClickException(str(exc)) from None


def _when(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "—"


# -- db ------------------------------------------------------------------------------------------

@click.group()
def db() -> None:
    """The embedded PostgreSQL + TimescaleDB cluster."""


def _cluster(home: Path | None, embedded_port: int, db_user: str):  # type: ignore[no-untyped-def]
    from spantally.store import ClusterConfig, ManagedCluster, default_home

    return ManagedCluster(ClusterConfig(home=home or default_home(), port=embedded_port,
                                        run_as=db_user))


def _cluster_errors(action: Callable[[], T]) -> T:
    from spantally.store import ClusterError

    try:
        return action()
    except (ClusterError, OSError) as exc:
        raise click.ClickException(str(exc)) from None


@db.command("start")
@database_options
def db_start(database_url: str | None, home: Path | None, embedded_port: int, db_user: str
             ) -> None:
    """Initialise (first time) and start the embedded cluster."""
    cluster = _cluster(home, embedded_port, db_user)
    started = _cluster_errors(cluster.ensure_started)
    console.print(f"{'started' if started else 'already running'}: {cluster.url.split('@')[-1]}")


@db.command("stop")
@database_options
def db_stop(database_url: str | None, home: Path | None, embedded_port: int, db_user: str
            ) -> None:
    """Stop the embedded cluster."""
    cluster = _cluster(home, embedded_port, db_user)
    if not _cluster_errors(cluster.is_running):
        console.print("not running")
        return
    _cluster_errors(cluster.stop)
    console.print("stopped")


@db.command("status")
@database_options
def db_status(database_url: str | None, home: Path | None, embedded_port: int, db_user: str
              ) -> None:
    """Whether the embedded cluster exists and runs (exit code 1 if it does not run)."""
    cluster = _cluster(home, embedded_port, db_user)
    state = ("running" if cluster.is_running() else "stopped") if cluster.is_initialised() \
        else "not initialised"
    console.print(f"{state}: {cluster.config.home} (port {cluster.config.port})")
    if state != "running":
        sys.exit(1)


# -- projects and keys ---------------------------------------------------------------------------

@click.group()
def projects() -> None:
    """Projects: each has its own calls, keys and prices."""


@projects.command("create")
@database_options
@click.argument("name")
def projects_create(database_url: str | None, home: Path | None, embedded_port: int,
                    db_user: str, name: str) -> None:
    """Create project NAME and print its first API key (shown only this once)."""
    from spantally.store import create_api_key, ensure_project

    async def work(conn: Any) -> tuple[int, str | None]:
        project_id, created = await ensure_project(conn, name)
        return project_id, (await create_api_key(conn, project_id, "first") if created else None)

    project_id, key = _on_database(database_url, home, embedded_port, db_user, work)
    if key is None:
        raise click.ClickException(f"project {name!r} exists already (id {project_id}); "
                                   f"add a key with: spantally keys create {name}")
    console.print(f"project {name} (id {project_id}) created")
    console.print(f"its scopes: ingest, read (to change prices, add a key with: "
                  f"spantally keys create {name} --scope admin)")
    click.echo(f"API key (shown once, keep it secret): {key}")


@projects.command("list")
@database_options
@click.option("--json", "as_json", is_flag=True)
def projects_list(database_url: str | None, home: Path | None, embedded_port: int,
                  db_user: str, as_json: bool) -> None:
    """Every project, with its number of active keys."""
    from spantally.store import list_projects

    rows = _on_database(database_url, home, embedded_port, db_user, list_projects)
    if as_json:
        click.echo(json.dumps([asdict(r) for r in rows], default=str, indent=2))
        return
    table = Table("id", "name", "created", "active keys")
    for r in rows:
        table.add_row(str(r.id), r.name, _when(r.created_at), str(r.active_keys))
    console.print(table)


@projects.command("limits")
@database_options
@click.argument("project")
@click.option("--spans-per-minute", callback=limit_value(int), metavar="N|default",
              help="Spans the project may send a minute to each collector.")
@click.option("--api-requests-per-second", callback=limit_value(float), metavar="R|default",
              help="API requests each of its keys may make a second.")
def projects_limits(database_url: str | None, home: Path | None, embedded_port: int,
                    db_user: str, project: str, spans_per_minute: Any,
                    api_requests_per_second: Any) -> None:
    """Show PROJECT's own rate limits, or set them ('default': the server's default). Every
    collector applies a change within 30 s."""
    from spantally.store import ProjectLimits, project_limits, set_project_limits

    async def work(conn: Any) -> ProjectLimits:
        project_id = await _project_id(conn, project)
        current = await project_limits(conn, project_id) or ProjectLimits()
        if spans_per_minute is None and api_requests_per_second is None:
            return current
        changed = ProjectLimits(
            current.spans_per_minute if spans_per_minute is None else (
                None if spans_per_minute == "default" else spans_per_minute),
            current.api_requests_per_second if api_requests_per_second is None else (
                None if api_requests_per_second == "default" else api_requests_per_second))
        return await set_project_limits(conn, project_id, changed)

    limits = _on_database(database_url, home, embedded_port, db_user, work)
    for name, value in (("spans per minute", limits.spans_per_minute),
                        ("API requests per second per key", limits.api_requests_per_second)):
        console.print(f"{name}: {'the default' if value is None else f'{value:g}'}")


@projects.command("tag-keys")
@database_options
@click.argument("project")
@click.argument("tag_keys", nargs=-1, metavar="[KEY]...")
@click.option("--none", "no_keys", is_flag=True, help="Declare no tag key.")
def projects_tag_keys(database_url: str | None, home: Path | None, embedded_port: int,
                      db_user: str, project: str, tag_keys: tuple[str, ...],
                      no_keys: bool) -> None:
    """Show the tag keys PROJECT declares, or declare KEY... instead: questions about one of
    them (a breakdown by tags.KEY, a tags filter on it) are answered from aggregates over any
    range. A key added is filled from the raw calls still held, while writes wait."""
    from spantally.store import declare_tag_keys, project_tag_keys

    if tag_keys and no_keys:
        raise click.UsageError("give KEY... or --none, not both")

    async def work(conn: Any) -> tuple[tuple[str, ...], str | None]:
        project_id = await _project_id(conn, project)
        if not tag_keys and not no_keys:
            found = await project_tag_keys(conn, project_id)
            return found.declared, (f"still filling: {', '.join(found.filling)}"
                                    if found.filling else None)
        try:
            change = await declare_tag_keys(conn, project_id, tag_keys)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="KEY") from exc
        return change.keys, (f"added {', '.join(change.added) or 'none'}, removed "
                             f"{', '.join(change.removed) or 'none'}; "
                             f"{change.rows_filled} aggregate rows filled")

    declared, changed = _on_database(database_url, home, embedded_port, db_user, work)
    if changed is not None:
        console.print(changed)
    console.print(f"tag keys: {', '.join(declared) or 'none'}")


@click.group()
def keys() -> None:
    """API keys of a project."""


async def _project_id(conn: Any, project: str) -> int:
    from spantally.store import find_project

    found = await find_project(conn, project)
    if found is None:
        raise click.ClickException(f"no project {project!r} (see: spantally projects list)")
    return found.id


def _scopes(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
            ) -> tuple[str, ...]:
    from spantally.store import DEFAULT_SCOPES, check_scopes

    try:
        return check_scopes(values) if values else DEFAULT_SCOPES
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@keys.command("create")
@database_options
@click.argument("project")
@click.option("--name", default="", help="A label for the key.")
@click.option("--scope", "scopes", multiple=True, callback=_scopes,
              help="What the key may do (repeatable): ingest (OTLP export), read (analytics, "
                   "calls, runs, prices), admin (change prices and currencies). "
                   "Default: ingest and read.")
def keys_create(database_url: str | None, home: Path | None, embedded_port: int, db_user: str,
                project: str, name: str, scopes: tuple[str, ...]) -> None:
    """Create a key for PROJECT (name or id); the secret is printed once."""
    from spantally.store import create_api_key

    async def work(conn: Any) -> str:
        return await create_api_key(conn, await _project_id(conn, project), name, scopes)

    key = _on_database(database_url, home, embedded_port, db_user, work)
    console.print(f"its scopes: {', '.join(scopes)}")
    click.echo(f"API key (shown once, keep it secret): {key}")


@keys.command("list")
@database_options
@click.argument("project")
def keys_list(database_url: str | None, home: Path | None, embedded_port: int, db_user: str,
              project: str) -> None:
    """PROJECT's keys (their ids, never their secrets)."""
    from spantally.store import list_api_keys

    async def work(conn: Any) -> Any:
        return await list_api_keys(conn, await _project_id(conn, project))

    table = Table("key id", "name", "scopes", "created", "last used", "revoked")
    for k in _on_database(database_url, home, embedded_port, db_user, work):
        table.add_row(f"st_{k.key_id}_…", k.name, ", ".join(k.scopes), _when(k.created_at),
                      _when(k.last_used_at), _when(k.revoked_at))
    console.print(table)


@keys.command("revoke")
@database_options
@click.argument("key_id")
def keys_revoke(database_url: str | None, home: Path | None, embedded_port: int, db_user: str,
                key_id: str) -> None:
    """Revoke a key by its id (`st_<id>_...`, or the whole key). Running servers stop accepting
    it within 60 s (their key cache)."""
    from spantally.store import parse_api_key, revoke_api_key

    parsed = parse_api_key(key_id)
    ident = parsed[0] if parsed else key_id.removeprefix("st_").split("_")[0]

    async def work(conn: Any) -> bool:
        return await revoke_api_key(conn, ident)

    if not _on_database(database_url, home, embedded_port, db_user, work):
        raise click.ClickException(f"no active key with id {ident!r}")
    console.print(f"key st_{ident}_… revoked")


# -- llm (through the API) -----------------------------------------------------------------------

def _query_options(f):  # type: ignore[no-untyped-def]
    for option in reversed([
        click.option("--from", "from_", default="24h", show_default=True,
                     help="ISO 8601, or a time ago: 90m, 24h, 7d, 2w."),
        click.option("--to", default=None, help="ISO 8601 or a time ago (default: now)."),
        # Reference 003's parameters, as the API's spec describes them.
        spec_option("llm", "granularity"),
        spec_option("llm", "agentId"),
        spec_option("llm", "model"),
        spec_option("llm", "provider"),
        click.option("--json", "as_json", is_flag=True, help="Machine-readable output."),
    ]):
        f = option(f)
    return api_connection_options(f)


def _usd(value: float | None) -> str:
    return "—" if value is None else f"${value:,.6f}"


@click.group()
def llm() -> None:
    """LLM calls, cost and latency, from the API."""


@llm.command("stats")
@_query_options
def llm_stats(url: str, api_key: str | None, from_: str, to: str | None, granularity: str,
              agent_id: str | None, model: str | None, provider: str | None, as_json: bool) -> None:
    """Summary: calls, cost, tokens, latency."""
    client = api_client(url, api_key)
    result = asked(lambda: client.get_llm_analytics(from_=from_, to=to, granularity=granularity,
                                                   agent_id=agent_id, model=model,
                                                   provider=provider))
    s = result.summary
    if as_json:
        click.echo(json.dumps(asdict(s), indent=2))
        return
    table = Table(show_header=False, title=f"LLM calls since {from_}")
    for label, value in (("calls", f"{s.total_calls:,}"), ("cost", _usd(s.total_cost_usd)),
                         ("input tokens", f"{s.total_input_tokens:,}"),
                         ("output tokens", f"{s.total_output_tokens:,}"),
                         ("avg latency", f"{s.avg_latency_ms:,.1f} ms"),
                         ("avg cost per call", _usd(s.avg_cost_per_call)),
                         ("failed calls", f"{s.error_calls:,}"),
                         ("unpriced calls", f"{s.unpriced_calls:,}")):
        table.add_row(label, value)
    console.print(table)


@llm.command("models")
@_query_options
def llm_models(url: str, api_key: str | None, from_: str, to: str | None, granularity: str,
               agent_id: str | None, model: str | None, provider: str | None,
               as_json: bool) -> None:
    """Per model: calls, cost, tokens, latency (most expensive first)."""
    client = api_client(url, api_key)
    result = asked(lambda: client.get_llm_analytics(from_=from_, to=to, granularity=granularity,
                                                   agent_id=agent_id, model=model,
                                                   provider=provider))
    if as_json:
        click.echo(json.dumps([asdict(m) for m in result.by_model], indent=2))
        return
    table = Table("provider", "model", "calls", "cost", "input tokens", "output tokens",
                  "avg latency ms")
    for m in result.by_model:
        table.add_row(m.provider or "—", m.model or "—", f"{m.calls:,}", _usd(m.cost_usd),
                      f"{m.input_tokens:,}", f"{m.output_tokens:,}", f"{m.avg_latency_ms:,.1f}")
    console.print(table)


@llm.command("recent")
@_query_options
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
def llm_recent(url: str, api_key: str | None, from_: str, to: str | None, granularity: str,
               agent_id: str | None, model: str | None, provider: str | None, as_json: bool,
               limit: int) -> None:
    """The latest calls: model, agent, tokens, cost, latency, status."""
    client = api_client(url, api_key)
    calls = asked(lambda: client.get_recent_calls(from_=from_, to=to, agent_id=agent_id,
                                                 model=model, provider=provider, limit=limit))
    if as_json:
        click.echo(json.dumps([asdict(c) for c in calls], default=str, indent=2))
        return
    table = Table("time (UTC)", "model", "agent", "in", "out", "cost", "latency ms", "status")
    for c in calls:
        status = c.status if c.error_type is None else f"{c.status}: {c.error_type}"
        table.add_row(_when(c.time), c.model or "—", c.agent_id or "—", f"{c.input_tokens:,}",
                      f"{c.output_tokens:,}", _usd(c.cost_usd), f"{c.latency_ms:,.1f}", status)
    console.print(table)


# -- demo ----------------------------------------------------------------------------------------

_DEMO_AGENTS = {  # agent -> (models it uses with weights, typical input, typical output)
    "planner": ([("openai", "gpt-4o", 3), ("anthropic", "claude-sonnet-4-6", 1)], 1800, 350),
    "researcher": ([("openai", "gpt-4o-mini", 4), ("gcp.gemini", "gemini-2.5-flash", 2)],
                   4200, 600),
    "writer": ([("anthropic", "claude-sonnet-4-6", 3), ("openai", "gpt-4o", 1)], 2600, 1200),
    "critic": ([("anthropic", "claude-haiku-4-5", 1)], 3000, 250),
}
# Tags the demo's calls carry (attributes no convention maps become tags).
_DEMO_FEATURES = ("chat", "search", "summarize", "report")
_DEMO_CUSTOMERS = ("acme", "globex", "initech", "umbrella", "hooli")


@click.command()
@click.option("--endpoint", envvar="SPANTALLY_OTLP_ENDPOINT", default="http://127.0.0.1:4317",
              show_default=True, help="OTLP/gRPC endpoint of the collector.")
@click.option("--api-key", envvar="SPANTALLY_API_KEY", default=None,
              help="Project API key [env: SPANTALLY_API_KEY].")
@click.option("--days", type=click.IntRange(1, 90), default=7, show_default=True)
@click.option("--sessions", type=click.IntRange(1, 100_000), default=400, show_default=True,
              help="Agent sessions to simulate (each makes 3 to 12 calls).")
@click.option("--seed", type=int, default=7, show_default=True)
def demo(endpoint: str, api_key: str | None, days: int, sessions: int, seed: int) -> None:
    """Send a realistic week of multi-agent traffic (agent runs with their LLM calls and tools,
    sessions, users, feature and customer tags, errors, cache hits) through the real OTLP path, so the dashboard and `spantally llm` have data."""
    import random
    from datetime import datetime, timedelta, timezone

    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context
    from rich.progress import Progress

    if not api_key:
        raise click.ClickException("no API key: pass --api-key or set SPANTALLY_API_KEY")
    rng = random.Random(seed)
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "demo-agents",
                                                        "deployment.environment.name": "demo"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("spantally.demo")
    now = datetime.now(timezone.utc)
    users = [f"user-{n:03d}" for n in range(40)]
    for n in range(sessions):
        # more traffic in working hours (UTC 8-18) than at night
        day = rng.randrange(days)
        hour = rng.choice(range(8, 19)) if rng.random() < 0.8 else rng.randrange(24)
        start = (now - timedelta(days=day)).replace(hour=hour, minute=rng.randrange(60))
        if start >= now:
            start -= timedelta(days=1)
        session, user = f"session-{n:05d}", rng.choice(users)
        customer = rng.choice(_DEMO_CUSTOMERS)
        moment = start
        calls_left = rng.randint(3, 12)
        while calls_left:
            # One agent run: its LLM calls, now and then a tool, as the agent's child spans.
            agent = rng.choice(list(_DEMO_AGENTS))
            models, typical_in, typical_out = _DEMO_AGENTS[agent]
            feature = rng.choice(_DEMO_FEATURES)
            shared = {"gen_ai.agent.id": agent, "gen_ai.agent.name": agent,
                      "session.id": session, "user.id": user, "feature": feature,
                      "customer": customer}
            run_begin = int(moment.timestamp() * 1e9)
            run = tracer.start_span(f"invoke_agent {agent}", kind=SpanKind.INTERNAL,
                                    start_time=run_begin, attributes={
                                        **shared, "gen_ai.operation.name": "invoke_agent"})
            context = set_span_in_context(run)
            run_failed = False
            for _ in range(min(calls_left, rng.randint(1, 4))):
                calls_left -= 1
                provider_name, model, _ = rng.choices(models, [w for *_, w in models])[0]
                input_tokens = max(50, int(rng.gauss(typical_in, typical_in / 3)))
                cached = int(input_tokens * rng.choice([0, 0, 0.5, 0.8]))
                output_tokens = max(10, int(rng.gauss(typical_out, typical_out / 3)))
                latency_ms = int(300 + output_tokens * rng.uniform(8, 25))
                failed = rng.random() < 0.03
                attributes: dict[str, Any] = {
                    **shared, "gen_ai.provider.name": provider_name,
                    "gen_ai.operation.name": "chat", "gen_ai.request.model": model,
                }
                if not failed:
                    attributes.update({"gen_ai.usage.input_tokens": input_tokens,
                                       "gen_ai.usage.output_tokens": output_tokens,
                                       "gen_ai.usage.cache_read.input_tokens": cached})
                begin = int(moment.timestamp() * 1e9)
                span = tracer.start_span(f"chat {model}", kind=SpanKind.CLIENT, context=context,
                                         attributes=attributes, start_time=begin)
                if failed:
                    run_failed = True
                    span.set_attribute("error.type", "RateLimitError")
                    span.set_status(Status(StatusCode.ERROR, "rate limited"))
                span.end(end_time=begin + latency_ms * 1_000_000)
                moment += timedelta(milliseconds=latency_ms + rng.randint(50, 400))
                if rng.random() < 0.3:
                    tool_ms = rng.randint(80, 1500)
                    begin = int(moment.timestamp() * 1e9)
                    tool = tracer.start_span("execute_tool web_search", context=context,
                                             start_time=begin, attributes={
                                                 "gen_ai.operation.name": "execute_tool",
                                                 "gen_ai.tool.name": "web_search"})
                    tool.end(end_time=begin + tool_ms * 1_000_000)
                    moment += timedelta(milliseconds=tool_ms + rng.randint(20, 200))
            if run_failed:
                run.set_attribute("error.type", "RateLimitError")
                run.set_status(Status(StatusCode.ERROR, "a call was rate limited"))
            run.end(end_time=int(moment.timestamp() * 1e9))
            moment += timedelta(milliseconds=rng.randint(200, 5000))
    spans = list(memory.get_finished_spans())
    exporter = OTLPSpanExporter(endpoint=endpoint, insecure=not endpoint.startswith("https"),
                                headers={"authorization": f"Bearer {api_key}"}, timeout=30)
    with Progress(console=console) as bar:
        task = bar.add_task("sending over OTLP/gRPC", total=len(spans))
        for offset in range(0, len(spans), 500):
            batch = spans[offset:offset + 500]
            if exporter.export(batch) is not SpanExportResult.SUCCESS:
                raise click.ClickException(
                    f"the collector at {endpoint} did not accept the spans (is `spantally up` "
                    "running, and is the API key right?)")
            bar.advance(task, len(batch))
    exporter.shutdown()
    calls = sum(span.name.startswith("chat ") for span in spans)
    runs = sum(span.name.startswith("invoke_agent ") for span in spans)
    console.print(f"sent {calls:,} LLM calls in {runs:,} agent runs ({len(spans):,} spans, "
                  f"tools included) of {sessions} sessions over {days} days; "
                  "see them with `spantally llm stats --from 7d` or the dashboard")
