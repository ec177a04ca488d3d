"""One `spantally up` process: the database (embedded or given), the collector and the API."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from dataclasses import dataclass, replace
from pathlib import Path

from aiohttp import web

from spantally.collector import Authenticator, Collector, Limiter
from spantally.collector.service import bound_port
from spantally.store import (
    AnomalyRules,
    ClusterConfig,
    Database,
    MaintenanceRunner,
    ManagedCluster,
    ProjectLimits,
    StorageMode,
    StoreConfig,
    apply_retention,
    configure_columnstore,
    configure_retention,
    create_api_key,
    default_home,
    ensure_project,
    forget_copies,
    judge_hours,
    project_limits,
)

from .api import ApiServices, create_app
from .api.grpc_service import AnalyticsService
from .api.spec import GRPC_SERVICE
from .config import Settings

__all__ = ["Runtime", "StartupInfo", "serve"]

log = logging.getLogger("spantally.server")

_FORGET_COPIES_EVERY_S = 600.0


@dataclass(frozen=True, slots=True)
class StartupInfo:
    storage_mode: StorageMode
    database: str
    grpc_endpoint: str
    http_endpoint: str
    api_url: str
    project: str
    api_key: str | None
    """The default project's key when it is known: just created, or kept by the embedded mode."""


class Runtime:
    """Start and stop every part of the process, in order; usable from tests as from the CLI."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cluster: ManagedCluster | None = None
        self._started_cluster = False
        self.database: Database | None = None
        self.read_database: Database | None = None
        self.collector: Collector | None = None
        self._api: web.AppRunner | None = None
        self._watch: asyncio.Task[None] | None = None
        self._retention: asyncio.Task[None] | None = None
        self._maintenance: asyncio.Task[None] | None = None
        self._copies: asyncio.Task[None] | None = None
        self._anomalies: asyncio.Task[None] | None = None
        self._revocations: asyncio.Task[None] | None = None
        self.authenticator: Authenticator | None = None
        self.limiter: Limiter | None = None
        self.api_port = settings.api.port

    async def start(self) -> StartupInfo:
        settings = self.settings
        url = settings.database_url
        if url is None:
            home = settings.home or default_home()
            self.cluster = ManagedCluster(
                ClusterConfig(home=home, port=settings.embedded_port, run_as=settings.db_user)
            )
            self._started_cluster = await asyncio.to_thread(self.cluster.ensure_started)
            url = self.cluster.url
            where = f"embedded cluster in {home} (port {settings.embedded_port})"
        else:
            where = "external database"
        self.database = Database(StoreConfig(database_url=url, storage_mode=settings.storage_mode))
        mode = await self.database.open()
        project, api_key = await self._default_project()

        await configure_retention(self.database, settings.retention)
        await configure_columnstore(self.database, settings.columnstore)
        database = self.database
        self.limiter = Limiter(settings.limits,
                               lambda project_id: _own_limits(database, project_id))
        authenticator = self.authenticator = Authenticator(self.database, limiter=self.limiter)
        self._revocations = asyncio.create_task(authenticator.listen(),
                                                name="spantally-key-revocations")
        collector_config = replace(
            settings.collector,
            limits=replace(settings.collector.limits,
                           max_call_age_days=settings.retention.raw_days),
            tls=settings.tls,
        )
        if settings.read_database_url:
            self.read_database = Database(
                StoreConfig(database_url=settings.read_database_url), read_only=True
            )
            await self.read_database.open()
        self.collector = Collector(collector_config, self.database, authenticator, self.limiter)
        # The API's query operations over gRPC, on the collector's port (docs/api.md).
        analytics = AnalyticsService(settings.api, self.database, authenticator, self.limiter,
                                     self.read_database)
        await self.collector.start([(GRPC_SERVICE, analytics.handler())])
        self._watch = asyncio.create_task(self.database.watch(), name="spantally-db-watch")
        self._copies = asyncio.create_task(self._forget_copies_periodically(),
                                           name="spantally-copies")
        # In `timescale` mode policies drop raw chunks and continuous aggregates' rows; this
        # pass deletes the rows of the aggregates the writers keep there too.
        if settings.retention.enabled and (mode is not StorageMode.TIMESCALE
                                           or settings.retention.aggregate_days is not None):
            self._retention = asyncio.create_task(
                self._apply_retention_periodically(), name="spantally-retention")
        if settings.anomaly_check_interval_s is not None:
            self._anomalies = asyncio.create_task(self._judge_anomalies_periodically(),
                                                  name="spantally-anomalies")
        if mode is StorageMode.TIMESCALE:
            runner = MaintenanceRunner(self.database, settings.maintenance_interval_s)
            self._maintenance = asyncio.create_task(runner.run_forever(),
                                                    name="spantally-maintenance")

        services = ApiServices(
            database=self.database,
            read_database=self.read_database,
            authenticator=authenticator,
            collector_stats=self.collector.stats,
            queued_calls=lambda: self.collector.pipeline.queued_calls if self.collector else 0,
            prices=self.collector.prices,
            limiter=self.limiter,
        )
        self._api = web.AppRunner(create_app(settings.api, services), access_log=None)
        await self._api.setup()
        tls = settings.tls
        await web.TCPSite(self._api, settings.api.host, settings.api.port,
                          ssl_context=None if tls is None else tls.server_context()).start()
        self.api_port = bound_port(self._api, settings.api.port)
        host = settings.collector.host
        scheme = "http" if tls is None else "https"
        return StartupInfo(
            storage_mode=mode,
            database=where,
            grpc_endpoint=f"{scheme}://{host}:{self.collector.grpc_port}",
            http_endpoint=f"{scheme}://{host}:{self.collector.http_port}/v1/traces",
            api_url=f"{scheme}://{settings.api.host}:{self.api_port}",
            project=project,
            api_key=api_key,
        )

    async def stop(self) -> None:
        """Stop accepting, drain the pipeline, close the pool, stop a cluster we started."""
        if self.collector is not None:
            await self.collector.stop()
        if self._api is not None:
            await self._api.cleanup()
        tasks = [t for t in (self._watch, self._retention, self._maintenance, self._revocations,
                             self._copies, self._anomalies) if t is not None]
        for task in tasks:
            task.cancel()
        # Wait for them to end before the pool closes under a maintenance round in progress.
        await asyncio.gather(*tasks, return_exceptions=True)
        for database in (self.read_database, self.database):
            if database is not None:
                await database.close()
        if self.cluster is not None and self._started_cluster:
            await asyncio.to_thread(self.cluster.stop)

    async def _apply_retention_periodically(self) -> None:
        assert self.database is not None
        while True:
            try:
                await apply_retention(self.database, self.settings.retention)
            except Exception:  # noqa: BLE001 - retried at the next interval
                log.exception("applying retention failed; will retry")
            await asyncio.sleep(self.settings.retention_interval_s)

    async def _judge_anomalies_periodically(self) -> None:
        """Each complete hour's anomalies, judged once and stored (store.anomaly_log)."""
        assert self.database is not None and self.settings.anomaly_check_interval_s is not None
        while True:
            try:
                await judge_hours(self.database,
                                  AnomalyRules(min_calls=self.settings.api.anomaly_min_calls))
            except Exception:  # noqa: BLE001 - retried at the next interval
                log.exception("judging anomalies failed; will retry")
            await asyncio.sleep(self.settings.anomaly_check_interval_s)

    async def _forget_copies_periodically(self) -> None:
        """Copies of calls are matched for a day (store.copies.REMEMBERED); older ones go."""
        assert self.database is not None
        while True:
            await asyncio.sleep(_FORGET_COPIES_EVERY_S)
            try:
                async with self.database.pool.connection() as conn:
                    await forget_copies(conn)
            except Exception:  # noqa: BLE001 - retried at the next interval
                log.exception("forgetting old copies of calls failed; will retry")

    async def _default_project(self) -> tuple[str, str | None]:
        """Create the default project and a key for it on first start. The embedded mode keeps
        that key in its home (mode 0600) so every start can show it."""
        assert self.database is not None
        name = self.settings.default_project
        key_file = self.cluster.config.home / "default-api-key" if self.cluster else None
        async with self.database.pool.connection() as conn:
            project_id, created = await ensure_project(conn, name)
            if created:
                key = await create_api_key(conn, project_id, name="default")
                if key_file is not None:
                    _write_secret(key_file, key)
                return name, key
        if key_file is not None and key_file.exists():
            return name, key_file.read_text().strip()
        return name, None


async def _own_limits(database: Database, project_id: int) -> ProjectLimits | None:
    async with database.pool.connection() as conn:
        return await project_limits(conn, project_id)


def _write_secret(path: Path, value: str) -> None:
    path.write_text(value + "\n")
    path.chmod(0o600)


_GC_THRESHOLDS = (50_000, 20, 100)
"""The cyclic garbage collector's thresholds in a serving process (Python's default: 700, 10,
10). Ingest allocates several containers per span, almost all freed by reference counting, and
holds the spans of every request in flight: at the default a young-generation pass ran every
hundred or so spans and kept re-scanning what was in flight, about a fifth of the collector's
CPU under load (bench/README.md, "Collector CPU")."""


def _tune_garbage_collection() -> None:
    """Set _GC_THRESHOLDS, and leave what start-up loaded (modules, the price catalog) out of
    every later collection: it lives as long as the process."""
    gc.freeze()
    gc.set_threshold(*_GC_THRESHOLDS)


async def serve(settings: Settings, announce: bool = True) -> None:
    """Run until SIGINT or SIGTERM, then shut down gracefully."""
    runtime = Runtime(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        info = await runtime.start()
        _tune_garbage_collection()
        if announce:
            _announce(info)
        await stop.wait()
        log.info("shutting down: draining the pipeline")
    finally:
        await runtime.stop()


def _announce(info: StartupInfo) -> None:
    from spantally import __version__

    key = info.api_key or "(printed when the project was created; keys are stored hashed)"
    print(
        f"SpanTally {__version__} is up\n"
        f"  storage mode  {info.storage_mode.value} ({info.database})\n"
        f"  OTLP gRPC     {info.grpc_endpoint}\n"
        f"  OTLP HTTP     {info.http_endpoint}\n"
        f"  API           {info.api_url}/api/analytics/llm\n"
        f"  dashboard     {info.api_url}/\n"
        f"  health        {info.api_url}/healthz\n"
        f"  project       {info.project}\n"
        f"  API key       {key}\n"
        f"  its scopes    ingest, read (to change prices: spantally keys create {info.project} "
        "--scope admin)\n"
        "Send spans with: spantally.init(endpoint=..., api_key=...); stop with Ctrl-C.",
        flush=True,
    )
