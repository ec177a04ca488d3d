"""OTLP/gRPC receiver: opentelemetry.proto.collector.trace.v1.TraceService/Export."""

from __future__ import annotations

import logging

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from .errors import classify
from .ingest import TraceIngest

__all__ = ["start_grpc_receiver"]

log = logging.getLogger("spantally.collector")


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, ingest: TraceIngest) -> None:
        self._ingest = ingest

    async def Export(  # noqa: N802 - the generated service's method name
        self,
        request: trace_service_pb2.ExportTraceServiceRequest,
        context: grpc.aio.ServicerContext,
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        authorization = next(
            (value for key, value in context.invocation_metadata() or () if key == "authorization"),
            None,
        )
        try:
            outcome = await self._ingest.export(request, authorization)
        except Exception as exc:  # noqa: BLE001 - every failure gets its status from classify()
            failure = classify(exc)
            if failure.grpc_code is grpc.StatusCode.INTERNAL:
                log.exception("OTLP/gRPC export failed")
            await context.abort(failure.grpc_code, failure.message)
        response = trace_service_pb2.ExportTraceServiceResponse()
        if outcome.rejected_spans:
            response.partial_success.rejected_spans = outcome.rejected_spans
            response.partial_success.error_message = outcome.error_message
        return response


async def start_grpc_receiver(
    ingest: TraceIngest, host: str, port: int, max_request_bytes: int
) -> tuple[grpc.aio.Server, int]:
    """Start serving; returns the server and the port it listens on (useful with port 0)."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_request_bytes),
            ("grpc.so_reuseport", 0),
        ]
    )
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceService(ingest), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot listen for OTLP/gRPC on {host}:{port}")
    await server.start()
    return server, bound
