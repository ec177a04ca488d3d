"""End-to-end ingest: spans sent over OTLP until they are queryable, in spans per second.

    python bench/ingest.py [--spans 200000] [--per-request 512] [--concurrency 32]

Requests are encoded before the clock starts (the client is not what is measured) and sent
by several concurrent senders, as a fleet of exporters would. The clock stops when
/api/analytics/llm reports every call. Baseline, same run and same database: the store's own
write path (binary COPY + ON CONFLICT + aggregates) fed directly, with no OTLP at all.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from datetime import timedelta

import aiohttp
import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from _common import UpProcess, api_get, now_utc, spantally_up, stopwatch, synthetic_calls
from spantally.store import CallWriter, Database, StoreConfig, temporary_cluster

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _kv(key: str, value: object) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def encode_requests(n: int, per_request: int, seed: int) -> list[bytes]:
    """OTLP requests of GenAI spans from the last 50 minutes (live traffic)."""
    calls = list(synthetic_calls(n, now_utc() - timedelta(minutes=50), timedelta(minutes=45),
                                 seed=seed))
    bodies = []
    for i in range(0, n, per_request):
        request = ExportTraceServiceRequest()
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.append(_kv("service.name", "bench"))
        scope_spans = resource_spans.scope_spans.add()
        # An instrumentation library's scope, and a response id per call, as real spans have:
        # what finding copies of one call (store/copies.py) keys on.
        scope_spans.scope.name = "opentelemetry.instrumentation.openai"
        spans = scope_spans.spans
        for call in calls[i:i + per_request]:
            span = spans.add()
            span.trace_id, span.span_id = call.trace_id, call.span_id
            span.name = f"chat {call.model}"
            span.kind = 3
            start = int(call.time.timestamp() * 1e6) * 1000
            span.start_time_unix_nano = start
            span.end_time_unix_nano = start + call.latency_us * 1000
            span.attributes.extend([
                _kv("gen_ai.operation.name", "chat"), _kv("gen_ai.provider.name", call.provider),
                _kv("gen_ai.request.model", call.model), _kv("gen_ai.response.model", call.model),
                _kv("gen_ai.usage.input_tokens", call.input_tokens),
                _kv("gen_ai.usage.output_tokens", call.output_tokens),
                _kv("gen_ai.response.id", f"chatcmpl-{call.span_id.hex()}{call.trace_id.hex()}"),
                _kv("gen_ai.agent.id", call.agent_id or "none"), _kv("session.id", call.session_id),
                _kv("user.id", call.user_id),
            ])
        bodies.append(request.SerializeToString())
    return bodies


async def send_grpc(up: UpProcess, bodies: list[bytes], concurrency: int) -> None:
    async with grpc.aio.insecure_channel(up.grpc) as channel:
        export = channel.unary_unary(EXPORT)
        queue = list(reversed(bodies))
        metadata = (("authorization", f"Bearer {up.key}"),)

        async def sender() -> None:
            while queue:
                body = queue.pop()
                while True:
                    try:
                        await export(body, metadata=metadata, timeout=60)
                        break
                    except grpc.aio.AioRpcError as exc:
                        if exc.code() is not grpc.StatusCode.UNAVAILABLE:
                            raise
                        await asyncio.sleep(0.05)

        await asyncio.gather(*(sender() for _ in range(concurrency)))


async def send_http(up: UpProcess, bodies: list[bytes], concurrency: int) -> None:
    headers = {"Authorization": f"Bearer {up.key}", "Content-Type": "application/x-protobuf"}
    queue = list(reversed(bodies))
    async with aiohttp.ClientSession() as session:
        async def sender() -> None:
            while queue:
                body = queue.pop()
                while True:
                    async with session.post(up.http, data=body, headers=headers) as response:
                        if response.status == 200:
                            break
                        if response.status != 503:
                            raise RuntimeError(f"HTTP {response.status}: {await response.text()}")
                    await asyncio.sleep(0.05)

        await asyncio.gather(*(sender() for _ in range(concurrency)))


def calls_stored(up: UpProcess) -> int:
    since = (now_utc() - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return api_get(up, f"/api/analytics/llm?from={since}")["summary"]["totalCalls"]


async def store_baseline(url: str, n: int, batch: int) -> float:
    db = Database(StoreConfig(url))
    await db.open()
    try:
        writer = CallWriter(db)
        calls = list(synthetic_calls(n, now_utc() - timedelta(minutes=50), timedelta(minutes=45),
                                     project_id=10**6, seed=99))
        slots = asyncio.Semaphore(2)  # as many concurrent writes as the collector's writers

        async def write(chunk: list) -> None:
            async with slots:
                await writer.write(chunk)

        started = stopwatch()
        await asyncio.gather(*(write(calls[i:i + batch]) for i in range(0, n, batch)))
        return n / (stopwatch() - started)
    finally:
        await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=200_000)
    parser.add_argument("--per-request", type=int, default=512)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; {args.spans} spans, {args.per_request} per request, "
          f"{args.concurrency} concurrent senders")
    with temporary_cluster("spantally-bench-") as cluster:
        with spantally_up(cluster.url) as up:
            results = {}
            for name, send, seed in (("grpc", send_grpc, 1), ("http", send_http, 2)):
                bodies = encode_requests(args.spans, args.per_request, seed)
                before = calls_stored(up)
                started = stopwatch()
                asyncio.run(send(up, bodies, args.concurrency))
                while calls_stored(up) < before + args.spans:
                    time.sleep(0.02)  # the API shares the collector's process: poll gently
                results[name] = args.spans / (stopwatch() - started)
        baseline = asyncio.run(store_baseline(cluster.url, args.spans, 5000))
    print(f"{'path':<34}{'spans/s':>12}{'vs store':>10}")
    print(f"{'store write path (baseline)':<34}{baseline:>12,.0f}{1:>10.2f}")
    for name, rate in results.items():
        print(f"{'OTLP/' + name + ' sent -> queryable':<34}{rate:>12,.0f}{rate / baseline:>10.2f}")


if __name__ == "__main__":
    main()
