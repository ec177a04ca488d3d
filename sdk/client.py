"""`spantally.client`: the SpanTally API from Python, sync (`Client`) and async (`AsyncClient`).

    from spantally.client import Client
    client = Client("http://127.0.0.1:3400", api_key="st_...")
    analytics = client.get_llm_analytics(from_="7d", granularity="day", agent_id="planner")
    print(analytics.summary.total_cost_usd, [m.model for m in analytics.by_model])

Standard library only (the SDK depends on OpenTelemetry alone). Errors are `SpanTallyError`
subclasses carrying the server's error code.
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from ._operations import GRPC_SERVICE, ROUTES, TIMES, AsyncOperations, Operations

__all__ = [
    "AsyncClient",
    "Client",
    "ConnectionFailed",
    "GrpcClient",
    "InvalidArgument",
    "LlmAnalytics",
    "ModelRow",
    "NotFound",
    "PermissionDenied",
    "RateLimited",
    "RecentCall",
    "SpanTallyError",
    "Summary",
    "TimeRow",
    "Unauthenticated",
    "Unavailable",
    "parse_moment",
]


class SpanTallyError(Exception):
    """An error answer of the API: `code` is its stable error code, `status` the HTTP status."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


class InvalidArgument(SpanTallyError):
    """400: a parameter is wrong (the message names it)."""


class Unauthenticated(SpanTallyError):
    """401: no API key."""


class PermissionDenied(SpanTallyError):
    """403: the API key is unknown or revoked, or lacks the scope (the message names it)."""


class NotFound(SpanTallyError):
    """404."""


class Unavailable(SpanTallyError):
    """503: the server's database is unreachable; retry after `retry_after_s`."""

    retry_after_s: int | None = None


class RateLimited(Unavailable):
    """429: over a rate limit (of the key, or of refused keys from this address); retry after
    `retry_after_s`."""


class ConnectionFailed(SpanTallyError):
    """No answer: the server is not running or not reachable at that URL."""


_BY_STATUS: dict[int, type[SpanTallyError]] = {
    400: InvalidArgument, 401: Unauthenticated, 403: PermissionDenied, 404: NotFound,
    429: RateLimited, 503: Unavailable,
}


@dataclass(frozen=True, slots=True)
class Summary:
    total_calls: int
    total_cost_usd: float
    total_input_tokens: int
    total_output_tokens: int
    avg_latency_ms: float
    avg_cost_per_call: float
    unpriced_calls: int
    error_calls: int


@dataclass(frozen=True, slots=True)
class ModelRow:
    provider: str | None
    model: str | None
    calls: int
    cost_usd: float
    input_tokens: int
    output_tokens: int
    avg_latency_ms: float


@dataclass(frozen=True, slots=True)
class TimeRow:
    bucket: datetime
    calls: int
    cost_usd: float
    input_tokens: int
    output_tokens: int
    avg_latency_ms: float


@dataclass(frozen=True, slots=True)
class LlmAnalytics:
    summary: Summary
    by_model: list[ModelRow]
    by_time: list[TimeRow]


@dataclass(frozen=True, slots=True)
class RecentCall:
    time: datetime
    provider: str | None
    model: str | None
    agent_id: str | None
    session_id: str | None
    user_id: str | None
    operation: str
    streaming: bool | None
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    latency_ms: float
    time_to_first_chunk_ms: float | None
    status: str
    error_type: str | None
    trace_id: str
    """The call's span, as OpenTelemetry writes its ids (hex): `Client.call(...)` has it all."""
    span_id: str


_AGO = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_moment(value: datetime | str, now: datetime | None = None) -> datetime:
    """A datetime, an ISO 8601 string, or a time ago: `90m`, `24h`, `7d`, `2w`."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    text = value.strip()
    if len(text) >= 2 and text[:-1].isdigit() and text[-1] in _AGO:
        return (now or datetime.now(timezone.utc)) - timedelta(**{_AGO[text[-1]]: int(text[:-1])})
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgument("INVALID_ARGUMENT", f"{value!r} is not ISO 8601 or a time ago "
                              "such as 24h or 7d") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _is_ago(value: object) -> bool:
    return (isinstance(value, str) and len(value) >= 2 and value[:-1].isdigit()
            and value[-1] in _AGO)


def _query(params: dict[str, Any]) -> dict[str, Any]:
    """An operation's parameters as the API takes them: None left out, a datetime or a time
    ago ("7d") as ISO 8601 UTC, tags given as a mapping as "key:value,key:value"; anything
    else as given (the server checks it, so its message names what is wrong)."""
    now = datetime.now(timezone.utc)
    out: dict[str, Any] = {}
    for name, value in params.items():
        if value is None:
            continue
        if name in TIMES and (isinstance(value, datetime) or _is_ago(value)):
            value = _iso(parse_moment(value, now))
        elif isinstance(value, Mapping):
            value = ",".join(f"{k}:{v}" for k, v in value.items())
        out[name] = value
    return out


class Client(Operations):
    """The API over HTTP. `api_key` defaults to `SPANTALLY_API_KEY`, `url` to `SPANTALLY_URL`
    or http://127.0.0.1:3400."""

    def __init__(self, url: str | None = None, api_key: str | None = None,
                 timeout_s: float = 30.0) -> None:
        self.url = (url or os.environ.get("SPANTALLY_URL") or "http://127.0.0.1:3400").rstrip("/")
        self.api_key = api_key or os.environ.get("SPANTALLY_API_KEY")
        self.timeout_s = timeout_s

    @contextmanager
    def _open(self, path: str, params: dict[str, Any] | None = None,
              accept: str = "application/json", method: str = "GET",
              body: Any = None) -> Iterator[Any]:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        url = self.url + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        headers = {"Accept": accept}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            response = urllib.request.urlopen(request, timeout=self.timeout_s)
        except urllib.error.HTTPError as exc:
            raise _error(exc) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ConnectionFailed("UNREACHABLE",
                                   f"cannot reach SpanTally at {self.url}: {reason}") from None
        with response:
            yield response

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        with self._open(path, params) as response:
            return json.load(response)

    def _send(self, method: str, path: str, body: Any = None) -> Any:
        with self._open(path, method=method, body=body) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def _range(self, from_: datetime | str | None, to: datetime | str | None) -> dict[str, str]:
        now = datetime.now(timezone.utc)
        out = {}
        if from_ is not None:
            out["from"] = _iso(parse_moment(from_, now))
        if to is not None:
            out["to"] = _iso(parse_moment(to, now))
        return out

    def _call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """An operation of `_operations` over HTTP: path parameters into the path, the
        others into the query string."""
        path, _ = ROUTES[operation]
        query = _query(params)
        for name in list(query):
            if "{" + name + "}" in path:
                path = path.replace("{" + name + "}", urllib.parse.quote(query.pop(name), safe=""))
        return self._get(path, query)  # type: ignore[no-any-return]

    def get_llm_analytics(
        self, from_: datetime | str | None = None, to: datetime | str | None = None,
        granularity: str = "hour", agent_id: str | None = None, model: str | None = None,
        provider: str | None = None, currency: str | None = None,
    ) -> LlmAnalytics:
        """GET /api/analytics/llm (default range: the last 24 hours)."""
        body = self._get("/api/analytics/llm", {
            **self._range(from_, to), "granularity": granularity, "agentId": agent_id,
            "model": model, "provider": provider, "currency": currency})
        s = body["summary"]
        return LlmAnalytics(
            summary=Summary(s["totalCalls"], s["totalCostUsd"], s["totalInputTokens"],
                            s["totalOutputTokens"], s["avgLatencyMs"], s["avgCostPerCall"],
                            s.get("unpricedCalls", 0), s.get("errorCalls", 0)),
            by_model=[ModelRow(m["provider"], m["model"], m["calls"], m["costUsd"],
                               m["inputTokens"], m["outputTokens"], m["avgLatencyMs"])
                      for m in body["byModel"]],
            by_time=[TimeRow(_time(t["bucket"]), t["calls"], t["costUsd"], t["inputTokens"],
                             t["outputTokens"], t["avgLatencyMs"]) for t in body["byTime"]],
        )

    def get_recent_calls(
        self, from_: datetime | str | None = None, to: datetime | str | None = None,
        agent_id: str | None = None, model: str | None = None, provider: str | None = None,
        limit: int = 50,
    ) -> list[RecentCall]:
        """GET /api/calls: the newest calls first."""
        body = self._get("/api/calls", {**self._range(from_, to), "agentId": agent_id,
                                        "model": model, "provider": provider, "limit": limit})
        return [RecentCall(_time(c["time"]), c["provider"], c["model"], c["agentId"],
                           c["sessionId"], c["userId"], c["operation"], c["streaming"],
                           c["inputTokens"], c["outputTokens"], c["costUsd"], c["latencyMs"],
                           c["timeToFirstChunkMs"], c["status"], c["errorType"],
                           c["traceId"], c["spanId"])
                for c in body["calls"]]

    def _analytics_query(self, from_: datetime | str | None, to: datetime | str | None,
                         tags: dict[str, str] | str | None,
                         params: dict[str, Any]) -> dict[str, Any]:
        query: dict[str, Any] = {**self._range(from_, to)}
        if isinstance(tags, str):
            query["tags"] = tags
        elif tags:
            query["tags"] = ",".join(f"{k}:{v}" for k, v in tags.items())
        for name, value in params.items():
            query[_camel(name)] = value
        return query

    def analytics(self, endpoint: str, from_: datetime | str | None = None,
                  to: datetime | str | None = None, tags: dict[str, str] | str | None = None,
                  **params: Any) -> dict[str, Any]:
        """GET /api/analytics/<endpoint> (`summary`, `timeseries`, `breakdown/model`,
        `compare`, `sessions`, `anomalies`; docs/analytics.md), its JSON body as a dict.
        Parameters by their API names or in snake case (`agent_id`, `compare_from`); `tags` as
        a dict or as the API's "key:value,key:value"; `from_` and `to` also as "7d", "24h"."""
        query = self._analytics_query(from_, to, tags, params)
        return self._get(f"/api/analytics/{endpoint.strip('/')}", query)  # type: ignore[no-any-return]

    def export(self, endpoint: str, format: str = "csv", from_: datetime | str | None = None,
               to: datetime | str | None = None, tags: dict[str, str] | str | None = None,
               chunk_bytes: int = 64 * 1024, **params: Any) -> Iterator[bytes]:
        """An analytics endpoint's rows (or `calls`: /api/calls) as `format` (csv, ndjson or
        json), in chunks as the server streams them; parameters as for `analytics`."""
        query = {**self._analytics_query(from_, to, tags, params), "format": format}
        path = "/api/calls" if endpoint == "calls" else f"/api/analytics/{endpoint.strip('/')}"
        with self._open(path, query, accept="*/*") as response:
            while chunk := response.read(chunk_bytes):
                yield chunk

    # -- agent runs (docs/analytics.md, "Agent runs") --------------------------------------

    def explain(self, endpoint: str, **params: Any) -> dict[str, Any]:
        """How the server answers `endpoint` (as for `analytics`, or `llm`): the `explain` part
        of its answer with `explain=true`, each plan and each query with the rows it read."""
        return self.analytics(endpoint, explain="true", **params)["explain"]  # type: ignore[no-any-return]

    # -- prices and currencies (docs/costs.md) -----------------------------------------------

    def prices(self) -> list[dict[str, Any]]:
        """GET /api/prices: the project's custom prices."""
        return self._get("/api/prices")["prices"]  # type: ignore[no-any-return]

    def create_price(self, model: str, input_per_mtok: str | float, output_per_mtok: str | float,
                     **fields: Any) -> dict[str, Any]:
        """POST /api/prices; the other fields by their API names (`provider`,
        `cacheReadPerMTok`, `cacheWritePerMTok`, `perCall`, `effectiveFrom`, `effectiveTo`)."""
        body = {"model": model, "inputPerMTok": input_per_mtok,
                "outputPerMTok": output_per_mtok,
                **{k: v for k, v in fields.items() if v is not None}}
        return self._send("POST", "/api/prices", body)  # type: ignore[no-any-return]

    def resolve_price(self, model: str, provider: str | None = None,
                      at: datetime | str | None = None) -> dict[str, Any]:
        """GET /api/prices/resolve: which price a call of `model` gets, and what it is."""
        when = _iso(parse_moment(at)) if at is not None else None
        return self._get("/api/prices/resolve",  # type: ignore[no-any-return]
                         {"model": model, "provider": provider, "at": when})

    def delete_price(self, price_id: int) -> None:
        self._send("DELETE", f"/api/prices/{int(price_id)}")

    def currency_rates(self) -> list[dict[str, Any]]:
        """GET /api/currencies: units of each currency per USD."""
        return self._get("/api/currencies")["rates"]  # type: ignore[no-any-return]

    def set_currency_rate(self, currency: str, per_usd: str | float) -> dict[str, Any]:
        return self._send("PUT", f"/api/currencies/{urllib.parse.quote(currency, safe='')}",  # type: ignore[no-any-return]
                          {"perUsd": per_usd})

    def delete_currency_rate(self, currency: str) -> None:
        self._send("DELETE", f"/api/currencies/{urllib.parse.quote(currency, safe='')}")

    def dismiss_anomaly(self, anomaly_id: str) -> dict[str, Any]:
        """POST /api/analytics/anomalies/{id}/dismiss (a key with the admin scope): the
        stored anomaly's id, status and dismissedAt."""
        return self._send(  # type: ignore[no-any-return]
            "POST", f"/api/analytics/anomalies/{urllib.parse.quote(anomaly_id, safe='')}/dismiss")

    # -- the admin API (a key with the admin scope; docs/security.md) -----------------------

    def keys(self) -> list[dict[str, Any]]:
        """GET /api/admin/keys: the project's keys (ids, names, scopes; never secrets)."""
        return self._get("/api/admin/keys")["keys"]  # type: ignore[no-any-return]

    def create_key(self, name: str = "", scopes: Sequence[str] = ("ingest", "read")
                   ) -> dict[str, Any]:
        """POST /api/admin/keys: a new key of the project; `key` (the secret) is in this
        answer only."""
        return self._send("POST", "/api/admin/keys",  # type: ignore[no-any-return]
                          {"name": name, "scopes": list(scopes)})

    def revoke_key(self, key_id: str) -> None:
        """DELETE /api/admin/keys/{keyId}: every collector refuses the key within a second."""
        self._send("DELETE", f"/api/admin/keys/{urllib.parse.quote(key_id, safe='')}")

    def limits(self) -> dict[str, Any]:
        """GET /api/admin/limits: the project's own rate limits and the defaults."""
        return self._get("/api/admin/limits")  # type: ignore[no-any-return]

    def set_limits(self, spans_per_minute: int | None = None,
                   api_requests_per_second: float | None = None) -> dict[str, Any]:
        """PUT /api/admin/limits (None: the default)."""
        return self._send("PUT", "/api/admin/limits", {  # type: ignore[no-any-return]
            "spansPerMinute": spans_per_minute, "apiRequestsPerSecond": api_requests_per_second})

    def tag_keys(self) -> list[str]:
        """The tag keys the project declares (`project_tag_keys()["tagKeys"]`)."""
        return self.project_tag_keys()["tagKeys"]  # type: ignore[no-any-return]

    def project_tag_keys(self) -> dict[str, Any]:
        """GET /api/admin/tag-keys: the tag keys the project declares, and those of them
        still being filled."""
        return self._get("/api/admin/tag-keys")  # type: ignore[no-any-return]

    def set_tag_keys(self, keys: Sequence[str]) -> dict[str, Any]:
        """PUT /api/admin/tag-keys: declare `keys` instead (those added are filled from the
        raw calls still held)."""
        return self._send("PUT", "/api/admin/tag-keys",  # type: ignore[no-any-return]
                          {"tagKeys": list(keys)})

    def health(self) -> dict[str, Any]:
        """GET /healthz (a 503 answer is returned, not raised: it describes the outage)."""
        try:
            return self._get("/healthz")  # type: ignore[no-any-return]
        except Unavailable as exc:
            return {"status": "unavailable", "error": exc.message}


def _camel(name: str) -> str:
    """An API parameter's name from its snake-case spelling (`compare_from` -> compareFrom)."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _error(exc: urllib.error.HTTPError) -> SpanTallyError:
    try:
        error = json.loads(exc.read())["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        code, message = "HTTP_ERROR", f"HTTP {exc.code}"
    failure = _BY_STATUS.get(exc.code, SpanTallyError)(code, message, exc.code)
    if isinstance(failure, Unavailable):
        retry_after = exc.headers.get("Retry-After")
        failure.retry_after_s = int(retry_after) if retry_after and retry_after.isdigit() else None
    return failure


_GRPC_ERRORS = {"INVALID_ARGUMENT": InvalidArgument, "UNAUTHENTICATED": Unauthenticated,
                "PERMISSION_DENIED": PermissionDenied, "NOT_FOUND": NotFound,
                "RESOURCE_EXHAUSTED": RateLimited, "UNAVAILABLE": Unavailable}


def _plain(value: Any) -> Any:
    """A Struct's value as JSON would give it: whole numbers as ints (a Struct holds doubles)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 53:
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _json_of(message: Any, json_format: Any) -> dict[str, Any]:
    """An answer message as the HTTP API's JSON, by the fields' JSON names, integers as ints;
    a field the message does not have (JSON's null), or an empty map, is left out."""
    out: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            if value:  # a map is never empty where the answer has it (`changes`)
                value_field = field.message_type.fields_by_name["value"]
                out[field.json_name] = {k: _field_value(value_field, v, json_format)
                                        for k, v in value.items()}
        elif field.is_repeated:
            out[field.json_name] = [_field_value(field, v, json_format) for v in value]
        elif not field.has_presence or message.HasField(field.name):
            out[field.json_name] = _field_value(field, value, json_format)
    return out


def _field_value(field: Any, value: Any, json_format: Any) -> Any:
    if field.message_type is None:
        return value
    if field.message_type.full_name == "google.protobuf.Struct":
        return _plain(json_format.MessageToDict(value))
    return _json_of(value, json_format)


class GrpcClient(Operations):
    """The query operations over gRPC (`spantally.analytics.v1.AnalyticsService`, on the
    collector's OTLP/gRPC port): the same methods and answers as `Client`, except that a field
    the HTTP answer has as null is left out (a message cannot tell null from absent). `credentials`:
    `grpc.ssl_channel_credentials(...)` for a server with TLS. Needs `spantally[server]`
    (the generated messages and their protobuf)."""

    def __init__(self, target: str = "127.0.0.1:4317", api_key: str | None = None,
                 credentials: Any = None, timeout_s: float = 30.0) -> None:
        import grpc
        from google.protobuf import json_format

        from spantally.analytics.v1 import analytics_pb2

        self._grpc, self._json_format, self._messages = grpc, json_format, analytics_pb2
        self.api_key = api_key or os.environ.get("SPANTALLY_API_KEY")
        self.timeout_s = timeout_s
        self._channel = (grpc.insecure_channel(target) if credentials is None
                         else grpc.secure_channel(target, credentials))

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> GrpcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        _, method = ROUTES[operation]
        request = getattr(self._messages, f"{method}Request")()
        response_type = getattr(self._messages, f"{method}Response")
        for name, value in _query(params).items():
            setattr(request, _snake(name), value)
        call = self._channel.unary_unary(
            f"/{GRPC_SERVICE}/{method}",
            request_serializer=type(request).SerializeToString,
            response_deserializer=response_type.FromString)
        metadata = [("authorization", f"Bearer {self.api_key}")] if self.api_key else []
        try:
            response = call(request, timeout=self.timeout_s, metadata=metadata)
        except self._grpc.RpcError as exc:
            code = exc.code().name  # type: ignore[attr-defined]
            details = exc.details() or code  # type: ignore[attr-defined]
            if code == "UNAVAILABLE" and "failed to connect" in details:  # gRPC's own words
                raise ConnectionFailed("UNREACHABLE", details) from None
            raise _GRPC_ERRORS.get(code, SpanTallyError)(code, details) from None
        return _json_of(response, self._json_format)


def _snake(name: str) -> str:
    """A parameter's gRPC field name (`compareFrom` -> compare_from)."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


class AsyncClient(AsyncOperations):
    """`Client` for asyncio code: the same methods, as coroutines (each request runs in a
    worker thread, so the event loop never blocks)."""

    def __init__(self, url: str | None = None, api_key: str | None = None,
                 timeout_s: float = 30.0) -> None:
        self._client = Client(url, api_key, timeout_s)

    async def get_llm_analytics(self, **kwargs: Any) -> LlmAnalytics:
        return await asyncio.to_thread(self._client.get_llm_analytics, **kwargs)

    async def get_recent_calls(self, **kwargs: Any) -> list[RecentCall]:
        return await asyncio.to_thread(self._client.get_recent_calls, **kwargs)

    async def analytics(self, endpoint: str, **kwargs: Any) -> dict[str, Any]:
        return await asyncio.to_thread(self._client.analytics, endpoint, **kwargs)

    async def _call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        return await asyncio.to_thread(self._client._call, operation, params)

    async def health(self) -> dict[str, Any]:
        return await asyncio.to_thread(self._client.health)
