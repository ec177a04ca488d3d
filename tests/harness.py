"""Test harness: a SpanTally runtime in a background event loop, real OTLP exporters, and
spans built with the real OpenTelemetry SDK (explicit times, so every figure is known)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, TypeVar

import grpc
import psycopg
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from psycopg import sql

from spantally.collector import CollectorConfig, PipelineConfig, RateLimits
from spantally.common.tls import TlsConfig
from spantally.server import ApiConfig, Runtime, Settings
from spantally.store import (
    SCOPES,
    Aggregate,
    RetentionConfig,
    create_api_key,
    ddl,
    ensure_project,
    queries,
)
from spantally.store.catalog import SESSION_MEASURES
from spantally.store.records import STAGING_COLUMNS, STAGING_TYPES, LlmCall

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LoopThread:
    """An event loop in a daemon thread: the server runs there while tests use sync clients."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@dataclass(frozen=True)
class Project:
    id: int
    key: str


@dataclass
class Server:
    runtime: Runtime
    thread: LoopThread
    database_url: str
    grpc_endpoint: str
    http_endpoint: str
    api_url: str
    _stopped: bool = field(default=False)

    def new_project(self) -> Project:
        """A project of its own, with a key of every scope (tests change prices too)."""
        async def create() -> Project:
            assert self.runtime.database is not None
            async with self.runtime.database.pool.connection() as conn:
                project_id, _ = await ensure_project(conn, f"test-{uuid.uuid4().hex[:12]}")
                return Project(project_id, await create_api_key(conn, project_id,
                                                                scopes=SCOPES))

        return self.thread.run(create())

    def new_key(self, project: Project, scopes: Sequence[str]) -> str:
        """Another key of `project`, with `scopes`."""
        async def create() -> str:
            assert self.runtime.database is not None
            async with self.runtime.database.pool.connection() as conn:
                return await create_api_key(conn, project.id, scopes=scopes)

        return self.thread.run(create())

    def sql(self, query: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url, options="-c TimeZone=UTC") as conn:
            return conn.execute(query, params).fetchall()

    def api(self, path: str, key: str | None) -> tuple[int, Any]:
        return http_get(self.api_url + path, key)

    def call(self, method: str, path: str, key: str | None, body: Any = None
             ) -> tuple[int, Any]:
        """A JSON request to the API; the decoded answer (None when empty)."""
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.api_url + path, data=data, headers=headers,
                                         method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw, status = response.read(), response.status
        except urllib.error.HTTPError as exc:
            raw, status = exc.read(), exc.code
        return status, json.loads(raw) if raw else None

    def metrics(self) -> str:
        with urllib.request.urlopen(self.api_url + "/metrics", timeout=10) as response:
            return response.read().decode()

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self.thread.run(self.runtime.stop())
            self.thread.close()


# `postgres` runs the suite's servers on plain tables (the cluster's TimescaleDB unused), as
# `make test` does after the run in the cluster's own mode.
STORAGE_MODE = os.environ.get("SPANTALLY_TEST_STORAGE_MODE", "auto")


def start_server(database_url: str, collector: dict[str, Any] | None = None,
                 retention: RetentionConfig | None = None, read_database_url: str | None = None,
                 tls: TlsConfig | None = None, limits: RateLimits | None = None,
                 admin_token: str | None = None, anomaly_check_interval_s: float | None = None,
                 **pipeline: Any) -> Server:
    """A runtime on `database_url`, without rate limits unless given (every test's requests
    come from one address, many with bad keys on purpose), and without the anomaly detector
    unless given its interval (the tests judge hours themselves, at the times they choose)."""
    settings = Settings(
        tls=tls,
        limits=limits or RateLimits(spans_per_minute=None, api_requests_per_second=None,
                                    failed_auth_per_minute=None),
        database_url=database_url,
        read_database_url=read_database_url,
        storage_mode=STORAGE_MODE,
        retention=retention or RetentionConfig(),
        anomaly_check_interval_s=anomaly_check_interval_s,
        collector=CollectorConfig(
            grpc_port=0, http_port=0, pipeline=PipelineConfig(**pipeline), **(collector or {})
        ),
        api=ApiConfig(port=0, admin_token=admin_token),
    )
    thread = LoopThread()
    runtime = Runtime(settings)
    info = thread.run(runtime.start())
    return Server(
        runtime=runtime,
        thread=thread,
        database_url=database_url,
        grpc_endpoint=info.grpc_endpoint,
        http_endpoint=info.http_endpoint,
        api_url=info.api_url,
    )


def http_get(url: str, key: str | None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def http_post(
    url: str, body: bytes, content_type: str, key: str | None, encoding: str | None = None
) -> tuple[int, bytes, dict[str, str]]:
    headers = {"Content-Type": content_type}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    if encoding:
        headers["Content-Encoding"] = encoding
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


# -- spans ---------------------------------------------------------------------------------

NS = 1_000_000_000


def ns(moment: datetime) -> int:
    return int(moment.replace(tzinfo=timezone.utc).timestamp() * 1_000_000) * 1000


@dataclass(frozen=True)
class CallSpec:
    """One LLM call to produce as a span, with everything needed to predict its figures."""

    start: datetime
    latency_ms: int
    provider: str = "openai"
    model: str = "gpt-4o"
    input_tokens: int = 100
    output_tokens: int = 20
    cache_read_tokens: int = 0
    agent_id: str | None = None
    error: bool = False
    operation: str = "chat"
    deprecated_names: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def latency_us(self) -> int:
        return self.latency_ms * 1000


def make_spans(
    specs: Sequence[CallSpec], service: str = "test-service", extra_non_llm: int = 0
) -> list[ReadableSpan]:
    """Finished SDK spans for `specs` (plus non-LLM spans), as an instrumentation makes them."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests")
    for spec in specs:
        if spec.deprecated_names:
            attributes: dict[str, Any] = {
                "gen_ai.system": spec.provider,
                "gen_ai.request.model": spec.model,
                "gen_ai.usage.prompt_tokens": spec.input_tokens,
                "gen_ai.usage.completion_tokens": spec.output_tokens,
            }
        else:
            attributes = {
                "gen_ai.provider.name": spec.provider,
                "gen_ai.operation.name": spec.operation,
                "gen_ai.request.model": spec.model,
                "gen_ai.response.model": spec.model,
                "gen_ai.usage.input_tokens": spec.input_tokens,
                "gen_ai.usage.output_tokens": spec.output_tokens,
            }
            if spec.cache_read_tokens:
                attributes["gen_ai.usage.cache_read.input_tokens"] = spec.cache_read_tokens
        if spec.agent_id:
            attributes["gen_ai.agent.id"] = spec.agent_id
        attributes.update(spec.extra)
        start = ns(spec.start)
        span = tracer.start_span(
            f"{spec.operation} {spec.model}", kind=SpanKind.CLIENT, attributes=attributes,
            start_time=start,
        )
        if spec.error:
            span.set_attribute("error.type", "RateLimitError")
            span.set_status(Status(StatusCode.ERROR, "rate limited"))
        span.end(end_time=start + spec.latency_ms * 1_000_000)
    base = ns(specs[0].start) if specs else ns(datetime(2026, 1, 1))
    for i in range(extra_non_llm):
        kind = ["invoke_agent", None][i % 2]
        attributes = {"gen_ai.operation.name": kind, "gen_ai.agent.name": "planner"} if kind else {
            "http.request.method": "POST", "url.full": "https://api.example.test/v1/chat"}
        span = tracer.start_span(f"other {i}", attributes=attributes, start_time=base)
        span.end(end_time=base + NS)
    provider.shutdown()
    return list(memory.get_finished_spans())


def export_grpc(spans: Sequence[ReadableSpan], endpoint: str, key: str | None,
                timeout: float = 10) -> SpanExportResult:
    headers = {"authorization": f"Bearer {key}"} if key else None
    exporter = GrpcExporter(endpoint=endpoint, insecure=True, headers=headers, timeout=timeout)
    try:
        return exporter.export(spans)
    finally:
        exporter.shutdown()


def export_http(spans: Sequence[ReadableSpan], endpoint: str, key: str | None,
                timeout: float = 10) -> SpanExportResult:
    headers = {"Authorization": f"Bearer {key}"} if key else None
    exporter = HttpExporter(endpoint=endpoint, headers=headers, timeout=timeout)
    try:
        return exporter.export(spans)
    finally:
        exporter.shutdown()


def otlp_json(spans: Sequence[ReadableSpan]) -> bytes:
    """The OTLP/JSON encoding of spans: protobuf JSON mapping, with ids as hex."""
    document = json_format.MessageToDict(encode_spans(spans))

    def hexify(obj: Any) -> None:
        if isinstance(obj, dict):
            for k, v in obj.items():
                if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str):
                    import base64

                    obj[k] = base64.b64decode(v).hex()
                else:
                    hexify(v)
        elif isinstance(obj, list):
            for item in obj:
                hexify(item)

    hexify(document)
    return json.dumps(document).encode()


def export_json(spans: Sequence[ReadableSpan], endpoint: str, key: str | None) -> int:
    status, _, _ = http_post(endpoint, otlp_json(spans), "application/json", key)
    return status


def grpc_export_raw(endpoint: str, body: bytes, key: str | None) -> grpc.StatusCode:
    """Call TraceService/Export with raw bytes; the status code of the answer."""
    target = endpoint.removeprefix("http://")
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=None,
            response_deserializer=None,
        )
        metadata = [("authorization", f"Bearer {key}")] if key else []
        try:
            call(body, metadata=metadata, timeout=10)
        except grpc.RpcError as exc:
            return exc.code()
        return grpc.StatusCode.OK


def expected_cost_nano(spec: CallSpec) -> int:
    """Independent reference: genai-prices' own full calculation."""
    from genai_prices import Usage, calc_price

    price = calc_price(
        Usage(input_tokens=spec.input_tokens, output_tokens=spec.output_tokens,
              cache_read_tokens=spec.cache_read_tokens),
        spec.model, provider_id=spec.provider,
        genai_request_timestamp=spec.start.replace(tzinfo=timezone.utc),
    ).total_price
    return int((Decimal(price) * 1_000_000_000).to_integral_value())


_BEFORE_COPIES = len(STAGING_COLUMNS) - 2  # migration 0016 added response_id, instrumentation


async def write_before_copies(cur: psycopg.AsyncCursor[Any], calls: Sequence[LlmCall]) -> None:
    """What writing calls did before migration 0016, for tests of upgrades from older schemas:
    the columns llm_calls had then, through the ingest function installed then."""
    copy_old = sql.SQL("COPY pg_temp.llm_calls_staging ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.SQL(", ").join(map(sql.Identifier, STAGING_COLUMNS[:_BEFORE_COPIES])))
    async with cur.copy(copy_old) as copy:
        copy.set_types(STAGING_TYPES[:_BEFORE_COPIES])
        for call in calls:
            await copy.write_row(call[:_BEFORE_COPIES])
    await cur.execute(queries.INGEST_STAGED)


def counted_once(aggregate: Aggregate) -> str:
    """SQL (` AND ...`) keeping the rows of `aggregate` that count each call once: of a tag
    aggregate (a row per declared key), those of one key every new project declares."""
    return " AND tag_key = 'customer'" if aggregate.per_tag else ""


_SESSION_COLUMNS = ", ".join(m.name for m in SESSION_MEASURES)
_GROUPED_SESSIONS = (f"SELECT project_id, session_id, {ddl.session_measures().as_string()} "  # noqa: S608
                     "FROM llm_calls WHERE project_id = %(project_id)s "
                     "AND session_id IS NOT NULL GROUP BY project_id, session_id")
_STORED = f"SELECT project_id, session_id, {_SESSION_COLUMNS} FROM llm_sessions " \
          "WHERE project_id = %(project_id)s"  # noqa: S608
STORED_SESSIONS_DIFFER = (
    f"(SELECT 'stored' AS side, * FROM ({_STORED} EXCEPT {_GROUPED_SESSIONS}) AS s) UNION ALL "
    f"(SELECT 'computed', * FROM ({_GROUPED_SESSIONS} EXCEPT {_STORED}) AS c) ORDER BY 2, 3, 1")
"""The rows of llm_sessions of project %(project_id)s that differ from its sessions computed
from llm_calls, from each side (none when the writers kept every session exact)."""


async def stored_sessions_differ(conn: psycopg.AsyncConnection[Any],
                                 project_id: int) -> list[tuple[Any, ...]]:
    return await (await conn.execute(STORED_SESSIONS_DIFFER,
                                     {"project_id": project_id})).fetchall()


def new_prices(_custom: object) -> Any:
    """A price list for re-pricing tests (store.reprice's `prices_for`): every call costs 7
    nano-USD per input token and 1 per output token."""
    def price(provider: str, model: str, at: datetime, input_tokens: int, output_tokens: int,
              cache_read_tokens: int = 0, cache_write_tokens: int = 0) -> tuple[int, str]:
        return input_tokens * 7 + output_tokens, "custom"
    return price
