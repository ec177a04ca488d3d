"""The collector component: receivers -> authenticate -> normalize -> price -> pipeline -> store."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

import grpc
from aiohttp import web

from spantally.common.tls import TlsConfig
from spantally.store import CallWriter, Database
from spantally.store.prices import ModelPrice, list_prices

from .auth import Authenticator
from .ingest import IngestLimits, TraceIngest
from .limits import Limiter
from .otlp_grpc import start_grpc_receiver
from .otlp_http import create_otlp_http_app
from .pipeline import Pipeline, PipelineConfig
from .pricing import PriceBook
from .stats import CollectorStats

__all__ = ["Collector", "CollectorConfig", "bound_port"]

log = logging.getLogger("spantally.collector")


@dataclass(frozen=True, slots=True)
class CollectorConfig:
    host: str = "127.0.0.1"
    grpc_port: int = 4317
    http_port: int = 4318
    max_request_bytes: int = 16 * 1024 * 1024
    """Largest OTLP request accepted, compressed or not (gRPC message or HTTP body)."""
    shutdown_timeout_s: float = 30.0
    """On SIGTERM: how long requests in progress and queued calls get to finish."""
    limits: IngestLimits = field(default_factory=IngestLimits)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    tls: TlsConfig | None = None
    """Serve both receivers over TLS (and require client certificates if it has a CA)."""


async def _load_prices(database: Database, project_id: int) -> list[ModelPrice]:
    async with database.pool.connection() as conn:
        return await list_prices(conn, project_id)


class Collector:
    def __init__(self, config: CollectorConfig, database: Database, authenticator: Authenticator,
                 limiter: Limiter | None = None) -> None:
        self.config = config
        self.stats = CollectorStats()
        self.pipeline = Pipeline(CallWriter(database), database, config.pipeline, self.stats)
        self.prices = PriceBook(partial(_load_prices, database))
        self.ingest = TraceIngest(authenticator, self.pipeline, self.prices, self.stats,
                                  config.limits, limiter)
        self.grpc_port = config.grpc_port
        self.http_port = config.http_port
        self._grpc: grpc.aio.Server | None = None
        self._http: web.AppRunner | None = None

    async def start(self, grpc_services: Sequence[tuple[str, grpc.GenericRpcHandler]] = ()
                    ) -> None:
        """Start the pipeline and both receivers; `grpc_services` (name, handler) are served
        on the gRPC port beside OTLP's (the API's analytics service)."""
        self.pipeline.start()
        tls = self.config.tls
        self._grpc, self.grpc_port = await start_grpc_receiver(
            self.ingest, self.config.host, self.config.grpc_port, self.config.max_request_bytes,
            None if tls is None else tls.grpc_credentials(), grpc_services)
        self._http = web.AppRunner(
            create_otlp_http_app(self.ingest, self.config.max_request_bytes),
            access_log=None,
            # The receiver inflates gzip itself: bounded by max_request_bytes, with OTLP errors.
            auto_decompress=False,
            shutdown_timeout=self.config.shutdown_timeout_s,
        )
        await self._http.setup()
        site = web.TCPSite(self._http, self.config.host, self.config.http_port,
                           ssl_context=None if tls is None else tls.server_context())
        await site.start()
        self.http_port = bound_port(self._http, self.config.http_port)

    async def stop(self) -> None:
        """Stop accepting requests and write what was accepted, all within the shutdown
        timeout. The listeners and the pipeline stop together: requests in progress wait for
        the pipeline, and whatever the pipeline cannot write in time is answered "retry
        later", never acknowledged."""
        timeout = self.config.shutdown_timeout_s
        stopping = [self.pipeline.close(timeout)]
        if self._grpc is not None:
            stopping.append(self._grpc.stop(timeout))
        if self._http is not None:
            stopping.append(self._http.cleanup())
        await asyncio.gather(*stopping)


def bound_port(runner: web.AppRunner, configured: int) -> int:
    """The port a started runner listens on (the configured one may be 0: any free port)."""
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return configured
