"""The query operations over gRPC: `spantally.analytics.v1.AnalyticsService`, served on the
collector's OTLP/gRPC port beside the trace service.

Each request message's set fields become the query string the HTTP route would get (the field
names in the API's spelling), so that the spec parses and checks both transports the same way,
and the operation is the HTTP route's; the answer is the HTTP JSON answer as its message. The project
API key comes as `authorization: Bearer st_...` metadata; errors get their status from
common.errors.classify, as the HTTP API's and the OTLP receivers' do."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message
from google.protobuf.unknown_fields import UnknownFieldSet

from spantally.analytics.v1 import analytics_pb2
from spantally.collector import Authenticator, Limiter
from spantally.collector.otlp_grpc import peer_address
from spantally.common.errors import InvalidArgument, report
from spantally.store import READ, Database

from ..config import ApiConfig
from .messages import message_of
from .operation import Context, Operation
from .routes import OPERATIONS
from .spec import ENDPOINTS, GRPC_SERVICE, Endpoint, Kind

__all__ = ["AnalyticsService"]

log = logging.getLogger("spantally.server")

Method = Callable[[bytes, grpc.aio.ServicerContext], Awaitable[Message]]


class AnalyticsService:
    def __init__(self, config: ApiConfig, database: Database, authenticator: Authenticator,
                 limiter: Limiter | None = None, read_database: Database | None = None) -> None:
        self._config = config
        self._database = database
        self._read_database = read_database
        self._authenticator = authenticator
        self._limiter = limiter

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(GRPC_SERVICE, {
            endpoint.method: grpc.unary_unary_rpc_method_handler(
                self._method(endpoint, OPERATIONS[endpoint.operation]),
                request_deserializer=None,  # raw bytes: a malformed message is ours to refuse
                response_serializer=_response_type(endpoint).SerializeToString)
            for endpoint in ENDPOINTS})

    def _method(self, endpoint: Endpoint, operation: Operation) -> Method:
        request_type = getattr(analytics_pb2, f"{endpoint.method}Request")
        response_type = _response_type(endpoint)

        async def call(body: bytes, context: grpc.aio.ServicerContext) -> Message:
            try:
                request = request_type()
                try:
                    request.ParseFromString(body)
                except DecodeError as exc:
                    raise InvalidArgument(f"the message is not a {request_type.__name__}: "
                                          f"{exc}") from None
                _check_wire_types(endpoint, request)
                project_id = await self._project_of(context)
                query, path = _parameters(endpoint, request)
                args = endpoint.parse(query, path)
                answer = await operation(Context(project_id, self._config, self._database,
                                                 self._read_database), args)
                # The HTTP answer as its message: the message is written from the same schema
                # (generate.py), and the tests hold every answer to that schema.
                response = message_of(response_type(), answer.body)
            except Exception as exc:  # noqa: BLE001 - every failure gets its status from report()
                failure = report(exc, log, "gRPC %s failed", endpoint.method)
                await context.abort(failure.grpc_code, failure.message)
            return response

        return call

    async def _project_of(self, context: grpc.aio.ServicerContext) -> int:
        authorization = next((value for key, value in context.invocation_metadata() or ()
                              if key == "authorization"), None)
        grant = await self._authenticator.grant_for(authorization, READ,
                                                    peer_address(context.peer()))
        if self._limiter is not None:
            await self._limiter.api_request(grant.project_id, grant.key_id)
        return grant.project_id


def _response_type(endpoint: Endpoint) -> Any:
    return getattr(analytics_pb2, f"{endpoint.method}Response")


def _check_wire_types(endpoint: Endpoint, request: Message) -> None:
    """Refuse a field of the message sent with another wire type than its own (protobuf keeps
    it aside as an unknown field, and the parameter would silently take its default).
    Unknown field numbers are left alone: a newer client's fields."""
    numbers = {p.number: p for p in endpoint.params if not p.http_only}
    for field in UnknownFieldSet(request):
        param = numbers.get(field.field_number)
        if param is not None:
            kind = "an int64" if param.kind is Kind.INTEGER else "a string"
            raise InvalidArgument(f"{param.name}: field {param.number} ({param.snake}) is "
                                  f"{kind}, sent with wire type {field.wire_type}")


def _parameters(endpoint: Endpoint,
                request: Message) -> tuple[dict[str, list[str]], dict[str, str]]:
    """The request's set fields as the HTTP route's query string and path parameters."""
    query: dict[str, list[str]] = {}
    path: dict[str, str] = {}
    for param in endpoint.params:
        if param.http_only or not request.HasField(param.snake):
            continue
        text = str(getattr(request, param.snake))
        if param.in_path:
            path[param.name] = text
        else:
            query[param.name] = [text]
    return query, path

