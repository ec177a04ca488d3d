"""Time the SDK adds to an OpenAI call, against the same call uninstrumented and against
OpenLLMetry's `opentelemetry-instrumentation-openai`, in one run.

    python bench/sdk_overhead.py [--calls 2000] [--rounds 5]

The real `openai` client answers from an in-process transport (canned chat completion, and
a 12-chunk stream), so no network time hides the instrumentation's; "no HTTP" goes further and
has the client method answer a prebuilt completion, leaving only the instrumentation to time.
Spans go through the real SDK `TracerProvider` and a `BatchSpanProcessor` into an exporter
that drops them, as a production exporter would hand them to its background thread. Each
variant runs in a fresh process; rounds interleave the variants; figures are medians over
rounds of the mean time per call.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

import httpx2
import openai
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

import spantally

COMPLETION = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1, "model": "gpt-4o-2024-08-06",
    "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                 "message": {"role": "assistant", "content": "Paris."}}],
    "usage": {"prompt_tokens": 1200, "completion_tokens": 30, "total_tokens": 1230,
              "prompt_tokens_details": {"cached_tokens": 1024},
              "completion_tokens_details": {"reasoning_tokens": 0}},
}).encode()


def _stream_body(include_usage: bool) -> bytes:
    def event(delta: dict[str, object], finish: str | None) -> dict[str, object]:
        out: dict[str, object] = {"id": "chatcmpl-bench", "object": "chat.completion.chunk",
                                  "created": 1, "model": "gpt-4o-2024-08-06",
                                  "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        if include_usage:
            out["usage"] = None
        return out

    events = [event({"role": "assistant", "content": ""}, None)]
    events += [event({"content": f" w{n}"}, None) for n in range(10)]
    events.append(event({}, "stop"))
    if include_usage:
        events.append({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1,
                       "model": "gpt-4o-2024-08-06", "choices": [],
                       "usage": {"prompt_tokens": 1200, "completion_tokens": 10,
                                 "total_tokens": 1210}})
    text = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    return text.encode()


STREAM_PLAIN, STREAM_WITH_USAGE = _stream_body(False), _stream_body(True)


def handler(request: httpx2.Request) -> httpx2.Response:
    body = json.loads(request.content)
    if body.get("stream"):
        include = (body.get("stream_options") or {}).get("include_usage")
        return httpx2.Response(200, content=STREAM_WITH_USAGE if include else STREAM_PLAIN,
                               headers={"content-type": "text/event-stream"})
    return httpx2.Response(200, content=COMPLETION, headers={"content-type": "application/json"})


class DroppingExporter(SpanExporter):
    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS


MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]


def make_workloads(client: openai.OpenAI) -> dict[str, Callable[[], object]]:
    def whole() -> object:
        return client.chat.completions.create(model="gpt-4o", messages=MESSAGES)

    def streamed() -> object:
        return sum(1 for _ in client.chat.completions.create(model="gpt-4o", messages=MESSAGES,
                                                             stream=True))

    return {"chat": whole, "chat stream": streamed, "chat, no HTTP": whole}


def per_call_us(work: Callable[[], object], calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        work()
    return (time.perf_counter() - started) / calls * 1e6


def worker(variant: str, workload: str, calls: int) -> dict[str, float]:
    """One variant and workload in a process of its own: OpenLLMetry's uninstrument() leaves
    its wrappers in place, so variants cannot take turns in one process."""
    from openai.resources.chat.completions import Completions
    from openai.types.chat import ChatCompletion

    exporter = DroppingExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=65536))
    trace.set_tracer_provider(provider)
    client = openai.OpenAI(api_key="bench", base_url="http://bench.invalid/v1", max_retries=0,
                           http_client=httpx2.Client(transport=httpx2.MockTransport(handler)))
    work = make_workloads(client)[workload]
    if workload == "chat, no HTTP":
        # The client method answers a prebuilt completion at once: what is timed is the
        # instrumentation around it (span, attributes, processor) and nothing else.
        prebuilt = ChatCompletion.model_validate_json(COMPLETION)
        Completions.create = lambda self, **kwargs: prebuilt  # type: ignore[method-assign]
    if variant == "spantally":
        spantally.instrument_openai()
    elif variant == "openllmetry":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor

        OpenAIInstrumentor().instrument(tracer_provider=provider)
    elif variant == "bare otel span":
        wrap_in_bare_span(Completions, provider.get_tracer("bench"))
    for _ in range(300):  # warm up imports, pydantic models, caches
        work()
    result = per_call_us(work, calls)
    provider.force_flush()
    return {"us": result, "spans": exporter.spans}


def wrap_in_bare_span(owner: type, tracer: trace.Tracer) -> None:
    """The floor for any OpenTelemetry instrumentation: one SDK span with the attributes a
    GenAI span carries (4 at start, 7 at the end), and nothing read from the response."""
    original = owner.create
    at_start = {"gen_ai.provider.name": "openai", "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o", "server.address": "api.openai.com"}
    at_end = {"gen_ai.response.id": "chatcmpl-bench", "gen_ai.response.model": "gpt-4o-2024-08-06",
              "gen_ai.response.finish_reasons": ("stop",), "gen_ai.usage.input_tokens": 1200,
              "gen_ai.usage.output_tokens": 30, "gen_ai.usage.cache_read.input_tokens": 1024,
              "gen_ai.usage.reasoning.output_tokens": 0}

    def create(self: object, **kwargs: object) -> object:
        span = tracer.start_span("chat gpt-4o", attributes=at_start)
        try:
            return original(self, **kwargs)
        finally:
            span.set_attributes(at_end)
            span.end()

    owner.create = create  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per workload per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--workload", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("TRACELOOP_TRACE_CONTENT", "false")  # neither side records content
    if args.worker:
        print(json.dumps(worker(args.worker, args.workload, args.calls)))
        return

    variants = ["uninstrumented", "bare otel span", "spantally", "openllmetry"]
    workloads = ["chat", "chat stream", "chat, no HTTP"]
    results: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):  # rounds interleave the variants
        for workload in workloads:
            for variant in variants:
                out = subprocess.run(
                    [sys.executable, __file__, "--worker", variant, "--workload", workload,
                     "--calls", str(args.calls)],
                    check=True, capture_output=True, text=True).stdout
                figures = json.loads(out.strip().splitlines()[-1])
                if variant != "uninstrumented":
                    assert figures["spans"] > 0, f"{variant} exported no spans"
                results.setdefault((workload, variant), []).append(figures["us"])

    print(f"openai {openai.__version__}; {args.rounds} rounds x {args.calls} calls per workload "
          f"and variant, each in a fresh process; median of rounds")
    print(f"{'workload':<14} {'variant':<15} {'µs/call':>9} {'added µs':>9} {'ratio':>7}")
    for workload in workloads:
        base = statistics.median(results[(workload, "uninstrumented")])
        for variant in variants:
            value = statistics.median(results[(workload, variant)])
            print(f"{workload:<14} {variant:<15} {value:9.1f} {value - base:9.1f} "
                  f"{value / base:7.3f}")
    base = statistics.median(results[("chat, no HTTP", "uninstrumented")])
    added = {v: statistics.median(results[("chat, no HTTP", v)]) - base for v in variants[1:]}
    print(f"instrumentation alone (no HTTP), added per call: bare span {added['bare otel span']:.1f}"
          f" µs, spantally {added['spantally']:.1f} µs, openllmetry {added['openllmetry']:.1f} µs;"
          f" openllmetry / spantally = {added['openllmetry'] / added['spantally']:.2f}x")


if __name__ == "__main__":
    main()
