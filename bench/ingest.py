"""End-to-end ingest: spans sent over OTLP until they are queryable, in spans per second.

    python bench/ingest.py [--spans 200000] [--per-request 512] [--concurrency 32]
                           [--shapes small,realistic]

Two span shapes: `small` (the GenAI attributes SpanTally reads, 10 of them, about 460 bytes)
and `realistic` (what real instrumentations send: about 1.5 KB and 28 attributes, GenAI and
OpenInference names side by side, request parameters, 200-character input and output values,
tags). The collector process's CPU time per span is read from /proc for each transport.

Requests are encoded before the clock starts (the client is not what is measured) and sent
by several concurrent senders, as a fleet of exporters would. The clock stops when
/api/analytics/llm reports every call. Baseline, same run and same database: the store's own
write path (binary COPY + ON CONFLICT + aggregates) fed directly, with no OTLP at all.

Freshness, under that load: every quarter second one more call (of a model no other call has,
started 20 minutes ago, so that a 5-minute aggregate answers for it) is sent over OTLP/gRPC;
from its acknowledgement, /api/analytics/summary filtered by its model is asked until it counts
the call. Reported: the median and largest delay in ms, and how many answers did not count it.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import time
from collections.abc import Awaitable, Callable
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


_TEXT = ("Summarize the customer's last three support tickets and suggest the next step; keep "
         "the answer under one hundred words and cite the ticket numbers you rely on. ")


def _realistic(call: object, i: int) -> list[KeyValue]:
    """What an instrumentation adds beyond the GenAI usage attributes (OpenInference's names
    beside them, parameters, content, framework metadata, tags): 16 attributes more."""
    text = (_TEXT * 2)[:200]
    return [
        _kv("gen_ai.request.temperature", "0.2"), _kv("gen_ai.request.max_tokens", 1024),
        _kv("gen_ai.request.top_p", "1.0"), _kv("gen_ai.response.finish_reasons", "stop"),
        _kv("gen_ai.system", call.provider), _kv("llm.system", call.provider),
        _kv("openinference.span.kind", "LLM"), _kv("llm.model_name", call.model),
        _kv("llm.provider", call.provider), _kv("llm.token_count.prompt", call.input_tokens),
        _kv("llm.token_count.completion", call.output_tokens),
        _kv("llm.token_count.total", call.input_tokens + call.output_tokens),
        _kv("llm.invocation_parameters", '{"temperature": 0.2, "max_tokens": 1024, '
                                         '"top_p": 1.0, "stream": false}'),
        _kv("input.value", text), _kv("input.mime_type", "text/plain"),
        _kv("output.value", text[::-1]), _kv("feature", ("search", "chat", "report")[i % 3]),
        _kv("customer", f"customer-{i % 40}"),
    ]


def encode_requests(n: int, per_request: int, seed: int, shape: str = "small") -> list[bytes]:
    """OTLP requests of GenAI spans from the last 50 minutes (live traffic), one span per trace,
    of `shape` (small or realistic)."""
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
            if shape == "realistic":
                span.attributes.extend(_realistic(call, len(spans)))
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


def _probe_request(model: str) -> bytes:
    """One span of a model no other call has, started 20 minutes ago: well inside the whole
    5-minute buckets of the last two hours, so that an aggregate answers for it."""
    request = ExportTraceServiceRequest()
    scope_spans = request.resource_spans.add().scope_spans.add()
    span = scope_spans.spans.add()
    span.trace_id, span.span_id = os.urandom(16), os.urandom(8)
    span.name, span.kind = f"chat {model}", 3
    start = time.time_ns() - 20 * 60 * 10**9
    span.start_time_unix_nano, span.end_time_unix_nano = start, start + 900_000_000
    span.attributes.extend([
        _kv("gen_ai.operation.name", "chat"), _kv("gen_ai.provider.name", "openai"),
        _kv("gen_ai.request.model", model), _kv("gen_ai.response.model", model),
        _kv("gen_ai.usage.input_tokens", 10), _kv("gen_ai.usage.output_tokens", 5)])
    return request.SerializeToString()


_PROBES = itertools.count(1)  # a model per probe, over every phase of a run


async def freshness(up: UpProcess, sending: asyncio.Task, unseen: list[int],
                    every_s: float = 0.25) -> list[float]:
    """While `sending` runs: now and then one more call over OTLP/gRPC, then the time from its
    acknowledgement until /api/analytics/summary filtered by its model counts it, in ms; into
    `unseen`, how many answers before that did not count it yet."""
    delays = []
    headers = {"Authorization": f"Bearer {up.key}"}
    async with grpc.aio.insecure_channel(up.grpc) as channel, aiohttp.ClientSession() as http:
        export = channel.unary_unary(EXPORT)
        while not sending.done():
            model = f"freshness-probe-{next(_PROBES)}"
            await export(_probe_request(model), metadata=(("authorization", headers[
                "Authorization"]),), timeout=60)
            acknowledged = stopwatch()
            now = now_utc()
            query = {"from": f"{now - timedelta(hours=2):%Y-%m-%dT%H:%M:%SZ}",
                     "to": f"{now + timedelta(seconds=1):%Y-%m-%dT%H:%M:%SZ}", "model": model}
            asked = 0
            while True:
                asked += 1
                async with http.get(f"{up.api}/api/analytics/summary", params=query,
                                    headers=headers) as response:
                    if (await response.json())["calls"] == 1:
                        break
                await asyncio.sleep(0.005)
            delays.append((stopwatch() - acknowledged) * 1000)
            unseen.append(asked - 1)
            await asyncio.sleep(every_s)
    return delays


async def send_with_probe(send: Callable[[UpProcess, list[bytes], int], Awaitable[None]],
                          up: UpProcess, bodies: list[bytes],
                          concurrency: int, unseen: list[int]) -> list[float]:
    sending = asyncio.create_task(send(up, bodies, concurrency))
    delays = await freshness(up, sending, unseen)
    await sending
    return delays


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
    parser.add_argument("--shapes", default="small,realistic",
                        help="span shapes to send, comma-separated: small, realistic")
    args = parser.parse_args()
    shapes = args.shapes.split(",")
    print(f"machine: {os.cpu_count()} cores; {args.spans} spans, {args.per_request} per request, "
          f"{args.concurrency} concurrent senders")
    results: dict[tuple[str, str], tuple[float, float]] = {}
    fresh: dict[tuple[str, str], list[float]] = {}
    unseen: list[int] = []  # answers that did not count a probe yet, one entry per probe
    sizes: dict[str, float] = {}
    with temporary_cluster("spantally-bench-") as cluster:
        with spantally_up(cluster.url) as up:
            for shape in shapes:
                for name, send, seed in (("grpc", send_grpc, 1), ("http", send_http, 2)):
                    bodies = encode_requests(args.spans, args.per_request,
                                             seed + 10 * shapes.index(shape), shape)
                    sizes[shape] = sum(map(len, bodies)) / args.spans
                    before = calls_stored(up)
                    cpu_before = cpu_seconds(up.proc.pid)
                    started = stopwatch()
                    delays = asyncio.run(send_with_probe(send, up, bodies, args.concurrency,
                                                         unseen))
                    sent = args.spans + len(delays)  # the probes are calls too
                    while calls_stored(up) < before + sent:
                        time.sleep(0.02)  # the API shares the collector's process: poll gently
                    elapsed = stopwatch() - started
                    cpu = cpu_seconds(up.proc.pid) - cpu_before
                    results[shape, name] = (sent / elapsed, cpu / sent * 1e6)
                    fresh[shape, name] = delays
        baseline = asyncio.run(store_baseline(cluster.url, args.spans, 5000))
    print(f"{'path':<42}{'spans/s':>10}{'vs store':>10}{'CPU us/span':>13}"
          f"{'fresh ms p50/max (n)':>24}")
    print(f"{'store write path (baseline)':<42}{baseline:>10,.0f}{1:>10.2f}")
    for (shape, name), (rate, cpu_us) in results.items():
        label = f"OTLP/{name}, {shape} ({sizes[shape]:,.0f} B/span)"
        delays = fresh[shape, name]
        seen = (f"{statistics.median(delays):.1f} / {max(delays):.1f} ({len(delays)})"
                if delays else "")
        print(f"{label:<42}{rate:>10,.0f}{rate / baseline:>10.2f}{cpu_us:>13.1f}{seen:>24}")
    print(f"freshness: {len(unseen)} probes, {sum(unseen)} answers after an acknowledgement "
          f"that did not count the call yet (the delay is the answer's own time under load)")


if __name__ == "__main__":
    main()
