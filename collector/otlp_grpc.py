"""OTLP/gRPC receiver: opentelemetry.proto.collector.trace.v1.TraceService/Export.

LogsService/Export and MetricsService/Export are accepted too (authenticated, parsed,
acknowledged) and dropped: what instrumentations send there beside their spans repeats the
spans' usage (see otlp_http.py).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from spantally.common.errors import InvalidArgument, report

from .ingest import Caller, ExportOutcome, TraceIngest, count_log_records, count_metrics

__all__ = ["peer_address", "start_grpc_receiver"]

log = logging.getLogger("spantally.collector")


_PACKAGE = "opentelemetry.proto.collector"

Handle = Callable[[Any, Caller], Awaitable[ExportOutcome]]


class _ExportService:
    """One OTLP Export method. The request arrives as bytes and is parsed here, so a malformed
    message is answered INVALID_ARGUMENT (grpcio's own deserializer would answer INTERNAL)."""

    def __init__(self, ingest: TraceIngest, request_type: type[Message],
                 response_type: type[Message], handle: Handle) -> None:
        self._ingest = ingest
        self._request_type = request_type
        self._response_type = response_type
        self._handle = handle

    async def export(self, body: bytes, context: grpc.aio.ServicerContext) -> Message:
        authorization = next(
            (value for key, value in context.invocation_metadata() or () if key == "authorization"),
            None,
        )
        try:
            async with self._ingest.admitted():
                request = self._request_type()
                try:
                    request.ParseFromString(body)
                except DecodeError as exc:
                    raise InvalidArgument(
                        f"the message is not an OTLP {self._request_type.__name__}: {exc}"
                    ) from None
                outcome = await self._handle(request, Caller(authorization,
                                                             peer_address(context.peer())))
        except Exception as exc:  # noqa: BLE001 - every failure gets its status from report()
            failure = report(exc, log, "OTLP/gRPC export failed")
            await context.abort(failure.grpc_code, failure.message)
        response = self._response_type()
        if outcome.rejected_spans:
            response.partial_success.rejected_spans = outcome.rejected_spans  # type: ignore[attr-defined]
            response.partial_success.error_message = outcome.error_message  # type: ignore[attr-defined]
        return response

    def handler(self) -> grpc.RpcMethodHandler:
        return grpc.unary_unary_rpc_method_handler(
            self.export,
            request_deserializer=None,  # raw bytes: parsed in export()
            response_serializer=self._response_type.SerializeToString,
        )


def peer_address(peer: str | None) -> str | None:
    """The client's address from gRPC's peer ("ipv4:127.0.0.1:5123", "ipv6:[::1]:5123")."""
    if not peer:
        return None
    _, _, rest = peer.partition(":")
    host = rest.rpartition(":")[0] or rest
    return host.strip("[]") or None


def _services(ingest: TraceIngest) -> dict[str, _ExportService]:
    async def ignore_logs(request: Any, caller: Caller) -> ExportOutcome:
        return await ingest.ignore("logs", count_log_records(request), caller)

    async def ignore_metrics(request: Any, caller: Caller) -> ExportOutcome:
        return await ingest.ignore("metrics", count_metrics(request), caller)

    return {
        f"{_PACKAGE}.trace.v1.TraceService": _ExportService(
            ingest, trace_service_pb2.ExportTraceServiceRequest,
            trace_service_pb2.ExportTraceServiceResponse, ingest.export),
        f"{_PACKAGE}.logs.v1.LogsService": _ExportService(
            ingest, logs_service_pb2.ExportLogsServiceRequest,
            logs_service_pb2.ExportLogsServiceResponse, ignore_logs),
        f"{_PACKAGE}.metrics.v1.MetricsService": _ExportService(
            ingest, metrics_service_pb2.ExportMetricsServiceRequest,
            metrics_service_pb2.ExportMetricsServiceResponse, ignore_metrics),
    }


async def start_grpc_receiver(
    ingest: TraceIngest, host: str, port: int, max_request_bytes: int,
    credentials: grpc.ServerCredentials | None = None,
    services: Sequence[tuple[str, grpc.GenericRpcHandler]] = (),
) -> tuple[grpc.aio.Server, int]:
    """Start serving (over TLS with `credentials`) the OTLP services, `services` (name,
    handler) beside them, and gRPC's health and reflection services for all of them; returns
    the server and the port it listens on (useful with port 0)."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_request_bytes),
            ("grpc.so_reuseport", 0),
        ]
    )
    otlp = _services(ingest)
    server.add_generic_rpc_handlers(tuple(
        grpc.method_handlers_generic_handler(name, {"Export": service.handler()})
        for name, service in otlp.items()
    ) + tuple(handler for _, handler in services))
    names = [*otlp, *(name for name, _ in services)]
    # Load balancers and `grpc_health_probe` ask the health service; grpcurl lists and calls
    # the others through reflection.
    health_servicer = health.aio.HealthServicer()
    for name in ("", *names):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection((*names, health.SERVICE_NAME, reflection.SERVICE_NAME),
                                        server)
    address = f"{host}:{port}"
    bound = (server.add_insecure_port(address) if credentials is None
             else server.add_secure_port(address, credentials))
    if bound == 0:
        raise OSError(f"cannot listen for OTLP/gRPC on {host}:{port}")
    await server.start()
    return server, bound
