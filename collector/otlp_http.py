"""OTLP/HTTP receiver: POST /v1/traces, binary protobuf or JSON, gzip-encoded or not.

`/v1/logs` and `/v1/metrics` are accepted too (authenticated, parsed, acknowledged) and
dropped: what instrumentations send there beside their spans (usage events, token metrics)
repeats the spans, and adding it would count calls twice.

Answers follow the OTLP/HTTP specification: the response has the request's content type,
errors carry a google.rpc.Status body, and retryable errors (503) carry Retry-After.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import zlib
from typing import Any

from aiohttp import web
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from spantally.common.errors import (
    Failure,
    InvalidArgument,
    PayloadTooLarge,
    UnsupportedMediaType,
    report,
)

from .ingest import Caller, ExportOutcome, TraceIngest, count_log_records, count_metrics

__all__ = ["create_otlp_http_app"]

log = logging.getLogger("spantally.collector")

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
INGEST_KEY = web.AppKey("ingest", TraceIngest)
MAX_BYTES_KEY = web.AppKey("max_request_bytes", int)


def create_otlp_http_app(ingest: TraceIngest, max_request_bytes: int) -> web.Application:
    """The receiver's app. Serve it with `auto_decompress=False` on its runner: request bodies
    are inflated here, within `max_request_bytes`."""
    app = web.Application(client_max_size=max_request_bytes)
    app[INGEST_KEY] = ingest
    app[MAX_BYTES_KEY] = max_request_bytes
    app.router.add_post("/v1/traces", _export_traces)
    app.router.add_post("/v1/logs", _export_logs)
    app.router.add_post("/v1/metrics", _export_metrics)
    return app


async def _export_traces(request: web.Request) -> web.StreamResponse:
    async def handle(message: Any, caller: Caller) -> ExportOutcome:
        return await request.app[INGEST_KEY].export(message, caller)

    return await _export(request, ExportTraceServiceRequest, ExportTraceServiceResponse, handle)


async def _export_logs(request: web.Request) -> web.StreamResponse:
    async def handle(message: Any, caller: Caller) -> ExportOutcome:
        return await request.app[INGEST_KEY].ignore("logs", count_log_records(message), caller)

    return await _export(request, ExportLogsServiceRequest, ExportLogsServiceResponse, handle)


async def _export_metrics(request: web.Request) -> web.StreamResponse:
    async def handle(message: Any, caller: Caller) -> ExportOutcome:
        return await request.app[INGEST_KEY].ignore("metrics", count_metrics(message), caller)

    return await _export(request, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
                         handle)


async def _export(
    request: web.Request,
    request_type: type[Message],
    response_type: type[Message],
    handle: Any,
) -> web.StreamResponse:
    content_type = request.content_type
    as_json = content_type == JSON
    try:
        if content_type not in (PROTOBUF, JSON):
            raise UnsupportedMediaType(
                f"unsupported Content-Type {content_type!r}: use {PROTOBUF} or {JSON}"
            )
        ingest = request.app[INGEST_KEY]
        async with ingest.admitted():
            body = await _read_body(request)
            export = (_parse_json(body, request_type) if as_json
                      else _parse_protobuf(body, request_type))
            outcome = await handle(export, Caller(request.headers.get("Authorization"),
                                                  request.remote))
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[MAX_BYTES_KEY]
        return _error(PayloadTooLarge(f"the request body exceeds {limit} bytes"), as_json)
    except Exception as exc:  # noqa: BLE001 - every failure gets its status from report()
        return _error(report(exc, log, "OTLP/HTTP export failed"), as_json)
    response = response_type()
    if outcome.rejected_spans:
        response.partial_success.rejected_spans = outcome.rejected_spans  # type: ignore[attr-defined]
        response.partial_success.error_message = outcome.error_message  # type: ignore[attr-defined]
    return _message(response, 200, as_json)


async def _read_body(request: web.Request) -> bytes:
    limit = request.app[MAX_BYTES_KEY]
    body = await request.read()
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise UnsupportedMediaType(f"unsupported Content-Encoding {encoding!r}: use gzip or none")
    # Bounded: a small compressed body must not expand past the request size limit.
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise InvalidArgument(f"the gzip body is corrupt: {exc}") from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"the decompressed body exceeds {limit} bytes")
    return data


def _parse_protobuf(body: bytes, message_type: type[Message]) -> Any:
    message = message_type()
    try:
        message.ParseFromString(body)
    except DecodeError as exc:
        raise InvalidArgument(
            f"the body is not an OTLP {message_type.__name__}: {exc}") from None
    return message


# OTLP/JSON encodes these ids as hex, where protobuf's JSON mapping expects base64.
_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")

MAX_JSON_DEPTH = 100
"""Objects and arrays nested deeper than this are refused, as the protobuf decoder refuses
messages nested deeper than 100. An OTLP request needs about 10 levels, plus 3 for each level
of an attribute's arrayValue or kvlistValue."""
_TOO_DEEP = (f"the JSON body nests objects and arrays more than {MAX_JSON_DEPTH} levels deep; "
             "an OTLP request needs far fewer")


def _hex_ids_to_base64(document: Any) -> None:
    """Turn the hex ids into base64, walking the document level by level (without recursion),
    and refuse one nested deeper than MAX_JSON_DEPTH (the protobuf JSON parser recurses)."""
    level, depth = [document], 1
    while level:
        if depth > MAX_JSON_DEPTH:
            raise InvalidArgument(_TOO_DEEP)
        below: list[Any] = []
        for obj in level:
            if obj.__class__ is dict:
                for key, value in obj.items():
                    if value.__class__ is str:
                        if key in _ID_FIELDS:
                            try:
                                obj[key] = base64.b64encode(bytes.fromhex(value)).decode()
                            except ValueError:
                                raise InvalidArgument(
                                    f"{key} {value[:40]!r} is not hex") from None
                    elif value.__class__ is dict or value.__class__ is list:
                        below.append(value)
            else:
                below.extend(item for item in obj
                             if item.__class__ is dict or item.__class__ is list)
        level, depth = below, depth + 1


def _parse_json(body: bytes, message_type: type[Message]) -> Any:
    name = message_type.__name__
    try:
        document = json.loads(body)
    except RecursionError:  # far deeper than MAX_JSON_DEPTH: the decoder itself gave up
        raise InvalidArgument(_TOO_DEEP) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"the body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidArgument(f"the body must be a JSON object ({name})")
    _hex_ids_to_base64(document)
    message = message_type()
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except RecursionError:
        raise InvalidArgument(_TOO_DEEP) from None
    except (json_format.ParseError, binascii.Error, ValueError, TypeError) as exc:
        raise InvalidArgument(f"the body is not an OTLP {name}: {exc}") from None
    return message


def _message(message: Any, status: int, as_json: bool, headers: dict[str, str] | None = None) -> web.Response:
    if as_json:
        body = json_format.MessageToJson(message, indent=None).encode()
        return web.Response(body=body, status=status, content_type=JSON, headers=headers)
    return web.Response(
        body=message.SerializeToString(), status=status, content_type=PROTOBUF, headers=headers
    )


def _error(failure: Failure, as_json: bool) -> web.Response:
    status = status_pb2.Status(code=failure.grpc_code.value[0], message=failure.message)
    headers = {"Retry-After": str(failure.retry_after_s)} if failure.retry_after_s else None
    return _message(status, failure.http_status, as_json, headers)
