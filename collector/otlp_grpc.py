"""OTLP/gRPC receiver: opentelemetry.proto.collector.trace.v1.TraceService/Export."""

from __future__ import annotations

import logging

import grpc
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from .errors import InvalidArgument, classify
from .ingest import TraceIngest

__all__ = ["start_grpc_receiver"]

log = logging.getLogger("spantally.collector")


_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


class _TraceService:
    """TraceService/Export. The request arrives as bytes and is parsed here, so a malformed
    message is answered INVALID_ARGUMENT (grpcio's own deserializer would answer INTERNAL)."""

    def __init__(self, ingest: TraceIngest) -> None:
        self._ingest = ingest

    async def export(
        self, body: bytes, context: grpc.aio.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        authorization = next(
            (value for key, value in context.invocation_metadata() or () if key == "authorization"),
            None,
        )
        try:
            async with self._ingest.admitted():
                request = trace_service_pb2.ExportTraceServiceRequest()
                try:
                    request.ParseFromString(body)
                except DecodeError as exc:
                    raise InvalidArgument(
                        f"the message is not an OTLP ExportTraceServiceRequest: {exc}"
                    ) from None
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
    service = _TraceService(ingest)
    handler = grpc.unary_unary_rpc_method_handler(
        service.export,
        request_deserializer=None,  # raw bytes: parsed in the handler
        response_serializer=trace_service_pb2.ExportTraceServiceResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(_SERVICE, {"Export": handler}),))
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot listen for OTLP/gRPC on {host}:{port}")
    await server.start()
    return server, bound
