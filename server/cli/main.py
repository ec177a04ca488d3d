"""The `spantally` command.

Exit codes: 0 success; 1 an error the command reports in one line (server unreachable, bad
key, an API error, a database error); 2 a usage error (unknown option, bad argument).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import click

from spantally import __version__
from spantally.client import SpanTallyError
from spantally.client import parse_moment as client_moment
from spantally.collector import (
    CollectorConfig,
    IngestLimits,
    NormalizeLimits,
    PipelineConfig,
    RateLimits,
)

from ..config import ApiConfig, Settings
from .admin import db, demo, keys, llm, projects
from .analytics import analytics
from .common import database_options
from .remote import admin

if TYPE_CHECKING:
    from spantally.common.tls import TlsConfig

_DEFAULT_LIMITS = RateLimits()
from .costs import database_url_for, prices, reprice
from .runs import runs

__all__ = ["main"]


def _database_options(f):  # type: ignore[no-untyped-def]
    f = click.option("--storage-mode", envvar="SPANTALLY_STORAGE_MODE", default="auto",
                     type=click.Choice(["auto", "postgres"]), show_default=True,
                     help="auto: detect TimescaleDB and its edition.")(f)
    return database_options(f)


@click.group()
@click.version_option(__version__, prog_name="spantally")
@click.option("--log-level", envvar="SPANTALLY_LOG_LEVEL", default="INFO", show_default=True)
def main(log_level: str) -> None:
    """SpanTally: OpenTelemetry collector and analytics for LLM and agent workloads."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


@main.command()
@_database_options
@click.option("--read-database-url", envvar="SPANTALLY_READ_DATABASE_URL", default=None,
              help="A read replica to answer analytics from.")
@click.option("--host", envvar="SPANTALLY_HOST", default="127.0.0.1", show_default=True,
              help="Address every listener binds to.")
@click.option("--grpc-port", envvar="SPANTALLY_GRPC_PORT", type=int, default=4317,
              show_default=True)
@click.option("--http-port", envvar="SPANTALLY_HTTP_PORT", type=int, default=4318,
              show_default=True)
@click.option("--api-port", envvar="SPANTALLY_API_PORT", type=int, default=3400, show_default=True)
@click.option("--max-request-bytes", envvar="SPANTALLY_MAX_REQUEST_BYTES", type=int,
              default=16 * 1024 * 1024, show_default=True)
@click.option("--max-queue-calls", envvar="SPANTALLY_MAX_QUEUE_CALLS", type=int,
              default=100_000, show_default=True,
              help="Calls queued for writing before receivers answer 'retry later'.")
@click.option("--max-batch-calls", envvar="SPANTALLY_MAX_BATCH_CALLS", type=int, default=5_000,
              show_default=True, help="Most calls written in one COPY and commit.")
@click.option("--batch-linger-ms", envvar="SPANTALLY_BATCH_LINGER_MS", type=float, default=5.0,
              show_default=True, help="How long a writer waits for more calls to batch.")
@click.option("--writers", envvar="SPANTALLY_WRITERS", type=int, default=2, show_default=True)
@click.option("--max-spans-per-request", envvar="SPANTALLY_MAX_SPANS_PER_REQUEST", type=int,
              default=50_000, show_default=True, help="Larger requests get 413.")
@click.option("--max-requests-in-flight", envvar="SPANTALLY_MAX_REQUESTS_IN_FLIGHT", type=int,
              default=256, show_default=True,
              help="Beyond this, requests are refused retryably before being read.")
@click.option("--max-attribute-chars", envvar="SPANTALLY_MAX_ATTRIBUTE_CHARS", type=int,
              default=1024, show_default=True, help="Longer attribute values are truncated.")
@click.option("--max-span-attributes", envvar="SPANTALLY_MAX_SPAN_ATTRIBUTES", type=int,
              default=1024, show_default=True,
              help="Attributes beyond this many on one span (or resource) are "
                   "ignored, and counted.")
@click.option("--shutdown-timeout", envvar="SPANTALLY_SHUTDOWN_TIMEOUT", type=float,
              default=30.0, show_default=True,
              help="Seconds SIGTERM gives accepted requests to be written.")
@click.option("--retention-days", envvar="SPANTALLY_RETENTION_DAYS", type=int, default=None,
              help="Keep raw calls this many days (default: for ever).")
@click.option("--aggregate-retention-days", envvar="SPANTALLY_AGGREGATE_RETENTION_DAYS",
              type=int, default=None,
              help="Keep hourly/daily aggregates this many days (at least --retention-days).")
@click.option("--compress-after-days", envvar="SPANTALLY_COMPRESS_AFTER_DAYS", type=int,
              default=7, show_default=True,
              help="Timescale mode: compress raw calls older than this many days (0: never).")
@click.option("--maintenance-interval", envvar="SPANTALLY_MAINTENANCE_INTERVAL_S", type=float,
              default=15.0, show_default=True,
              help="Timescale mode: seconds between checks that every policy ran (SpanTally "
                   "runs those TimescaleDB's scheduler did not).")
@click.option("--anomaly-check-interval", envvar="SPANTALLY_ANOMALY_CHECK_INTERVAL_S",
              type=float, default=300.0, show_default=True,
              help="Seconds between checks for complete hours to judge for anomalies "
                   "(each hour is judged once, by one process; 0: no detector).")
@click.option("--anomaly-min-calls", envvar="SPANTALLY_ANOMALY_MIN_CALLS", type=int,
              default=ApiConfig().anomaly_min_calls, show_default=True,
              help="Calls an hour needs before its anomalies are judged (fewer: no verdict).")
@click.option("--max-raw-range-days", envvar="SPANTALLY_MAX_RAW_RANGE_DAYS", type=float,
              default=7.0, show_default=True,
              help="Longest span of raw calls one analytics query may read (breakdowns by user, "
                   "session or tag; filters on them, except one userId or sessionId).")
@click.option("--spans-per-minute", envvar="SPANTALLY_SPANS_PER_MINUTE", type=int,
              default=_DEFAULT_LIMITS.spans_per_minute or 0, show_default=True,
              help="Spans a project may send a minute to this process (0: no limit); beyond, "
                   "a retryable 429 / UNAVAILABLE. A project's own limit replaces it "
                   "(spantally projects limits).")
@click.option("--api-requests-per-second", envvar="SPANTALLY_API_REQUESTS_PER_SECOND",
              type=float, default=_DEFAULT_LIMITS.api_requests_per_second or 0,
              show_default=True,
              help="API requests a key may make a second, bursts of twice that (0: no limit); "
                   "beyond, 429 with Retry-After.")
@click.option("--failed-auth-per-minute", envvar="SPANTALLY_FAILED_AUTH_PER_MINUTE", type=int,
              default=_DEFAULT_LIMITS.failed_auth_per_minute or 0, show_default=True,
              help="Refused API keys a client address may send a minute before all its "
                   "requests get 429 (0: no limit).")
@click.option("--admin-token", envvar="SPANTALLY_ADMIN_TOKEN", default=None,
              help="The server's own secret for /api/admin/projects (create and list "
                   "projects); unset turns those off. Prefer the variable to the flag.")
@click.option("--tls-cert", envvar="SPANTALLY_TLS_CERT",
              type=click.Path(dir_okay=False, path_type=Path),
              help="Serve OTLP gRPC, OTLP HTTP and the API over TLS with this certificate "
                   "chain (PEM); needs --tls-key.")
@click.option("--tls-key", envvar="SPANTALLY_TLS_KEY",
              type=click.Path(dir_okay=False, path_type=Path),
              help="The private key (PEM) of --tls-cert.")
@click.option("--tls-client-ca", envvar="SPANTALLY_TLS_CLIENT_CA",
              type=click.Path(dir_okay=False, path_type=Path),
              help="Require client certificates signed by this CA (PEM) on all three listeners.")
@click.option("--project", "default_project", envvar="SPANTALLY_DEFAULT_PROJECT",
              default="default", show_default=True, help="Project created on first start.")
def up(
    database_url: str | None, home: Path | None, embedded_port: int, db_user: str,
    storage_mode: str, read_database_url: str | None, host: str, grpc_port: int, http_port: int,
    api_port: int, max_request_bytes: int, max_queue_calls: int, max_batch_calls: int,
    batch_linger_ms: float,
    writers: int, max_spans_per_request: int, max_requests_in_flight: int,
    max_attribute_chars: int, max_span_attributes: int, shutdown_timeout: float,
    retention_days: int | None,
    aggregate_retention_days: int | None, compress_after_days: int,
    maintenance_interval: float, anomaly_check_interval: float, anomaly_min_calls: int,
    max_raw_range_days: float, spans_per_minute: int,
    api_requests_per_second: float, failed_auth_per_minute: int, admin_token: str | None,
    tls_cert: Path | None,
    tls_key: Path | None, tls_client_ca: Path | None, default_project: str,
) -> None:
    """Run the collector (OTLP gRPC and HTTP) and the API."""
    from spantally.store import ColumnstoreConfig, RetentionConfig, StoreError

    from ..runtime import serve

    try:
        retention = RetentionConfig(raw_days=retention_days, aggregate_days=aggregate_retention_days)
        columnstore = ColumnstoreConfig(compress_after_days=compress_after_days or None)
    except StoreError as exc:
        raise click.UsageError(str(exc)) from None
    tls = _tls(tls_cert, tls_key, tls_client_ca)

    settings = Settings(
        database_url=database_url,
        read_database_url=read_database_url,
        home=home,
        embedded_port=embedded_port,
        db_user=db_user,
        storage_mode=storage_mode,
        default_project=default_project,
        retention=retention,
        columnstore=columnstore,
        maintenance_interval_s=maintenance_interval,
        anomaly_check_interval_s=anomaly_check_interval or None,
        collector=CollectorConfig(
            host=host,
            grpc_port=grpc_port,
            http_port=http_port,
            max_request_bytes=max_request_bytes,
            shutdown_timeout_s=shutdown_timeout,
            limits=IngestLimits(
                max_spans_per_request=max_spans_per_request,
                max_requests_in_flight=max_requests_in_flight,
                attributes=NormalizeLimits(max_value_chars=max_attribute_chars,
                                           max_attributes=max_span_attributes),
            ),
            pipeline=PipelineConfig(
                max_queue_calls=max_queue_calls,
                max_batch_calls=max_batch_calls,
                linger_s=batch_linger_ms / 1000,
                writers=writers,
            ),
        ),
        api=ApiConfig(host=host, port=api_port, max_raw_range_days=max_raw_range_days,
                      anomaly_min_calls=anomaly_min_calls,
                      admin_token=admin_token or None),
        tls=tls,
        limits=RateLimits(spans_per_minute=spans_per_minute or None,
                          api_requests_per_second=api_requests_per_second or None,
                          failed_auth_per_minute=failed_auth_per_minute or None),
    )
    _run(serve(settings))


def _tls(cert: Path | None, key: Path | None, client_ca: Path | None) -> TlsConfig | None:
    """The TLS settings, checked now (a bad file is a usage error, not a failed start)."""
    from spantally.common.tls import TlsConfig, TlsError

    if cert is None and key is None:
        if client_ca is not None:
            raise click.UsageError("--tls-client-ca needs --tls-cert and --tls-key")
        return None
    if cert is None or key is None:
        raise click.UsageError("--tls-cert and --tls-key go together")
    tls = TlsConfig(cert, key, client_ca)
    try:
        tls.server_context()
    except TlsError as exc:
        raise click.UsageError(str(exc)) from None
    return tls


@main.command()
@_database_options
def migrate(database_url: str | None, home: Path | None, embedded_port: int, db_user: str,
            storage_mode: str) -> None:
    """Apply pending database migrations and print the storage mode."""
    from spantally.store import migrate as apply_migrations

    with database_url_for(database_url, home, embedded_port, db_user) as url:
        mode = _run(apply_migrations(url, storage_mode))
        click.echo(f"schema up to date; storage mode: {mode.value}")


main.add_command(prices)
main.add_command(analytics)
main.add_command(runs)
main.add_command(admin)
for command in (db, projects, keys, llm, demo):
    main.add_command(command)


@main.command("reprice")
@_database_options
@click.option("--from", "from_", required=True,
              help="Start: ISO 8601, or a time ago such as 7d, 24h, 90m.")
@click.option("--to", default=None, help="End (exclusive), same forms; default: now.")
@click.option("--project", default=None, help="Project name or id (default: every project).")
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
def reprice_command(database_url: str | None, home: Path | None, embedded_port: int,
                    db_user: str, storage_mode: str, from_: str, to: str | None,
                    project: str | None, dry_run: bool) -> None:
    """Recompute the cost of stored calls (not those with a reported cost) after a price
    change, and update the aggregates. Safe to interrupt and run again."""
    now = datetime.now(timezone.utc)
    start = parse_moment("--from", from_, now)
    end = parse_moment("--to", to, now) if to else now
    if start >= end:
        raise click.UsageError("--from must be before --to")
    with database_url_for(database_url, home, embedded_port, db_user) as url:
        try:
            reprice(url, start, end, project, dry_run)
        except LookupError as exc:
            raise click.ClickException(str(exc.args[0])) from None


def parse_moment(name: str, text: str, now: datetime) -> datetime:
    """ISO 8601 (UTC unless it says otherwise), or an amount of time ago: 90m, 24h, 7d, 2w."""
    try:
        return client_moment(text, now)
    except SpanTallyError as exc:
        raise click.BadParameter(exc.message, param_hint=name) from None


def _run(coro):  # type: ignore[no-untyped-def]
    try:
        return asyncio.run(coro)
    except Exception as exc:  # noqa: BLE001 - a CLI reports failures as one clear line
        logging.getLogger("spantally").debug("failure", exc_info=True)
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
