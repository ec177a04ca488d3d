"""Spans of instrumentations that cannot run here (another language), recorded from the real
library against the fake provider API and replayed over OTLP/HTTP JSON, as they were sent.

The Vercel AI SDK (Node.js): recorded by `python -m tests.record_vercel_ai` into
tests/data/vercel_ai.json (its versions are in the file)."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from .harness import Project, Server, grpc_export_raw, http_post

# Recorded instrumentations' spans: the storage mode changes nothing here (see the Makefile).
pytestmark = pytest.mark.above_store

RECORDING = Path(__file__).resolve().parent / "data" / "vercel_ai.json"


def _as_protobuf(body: bytes) -> bytes:
    """An OTLP/JSON request (ids in hex) as OTLP protobuf."""
    document = json.loads(body)
    for rs in document["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if span.get(key):
                        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    return json_format.ParseDict(document, ExportTraceServiceRequest()).SerializeToString()


def _shifted(requests: list[Any]) -> list[bytes]:
    """The recorded requests with their spans moved to ten minutes ago (a recording ages)."""
    spans = [span for body in requests for rs in body["resourceSpans"]
             for ss in rs["scopeSpans"] for span in ss["spans"]]
    first = min(int(s["startTimeUnixNano"]) for s in spans)
    offset = time.time_ns() - 600 * 10**9 - first
    for span in spans:
        for key in ("startTimeUnixNano", "endTimeUnixNano"):
            span[key] = str(int(span[key]) + offset)
        for event in span.get("events", []):
            event["timeUnixNano"] = str(int(event["timeUnixNano"]) + offset)
    return [json.dumps(body).encode() for body in requests]


@pytest.mark.parametrize("transport", ["http-json", "grpc"])
def test_recorded_vercel_ai_sdk(transport: str, server: Server, project: Project) -> None:
    """As its exporter sent them (OTLP/HTTP JSON), and the same requests over OTLP/gRPC."""
    recording = json.loads(RECORDING.read_text())
    usage = recording["usage"]
    for body in _shifted(recording["requests"]):
        if transport == "grpc":
            assert grpc_export_raw(server.grpc_endpoint, _as_protobuf(body),
                                   project.key) == grpc.StatusCode.OK
        else:
            status, answer, _ = http_post(server.http_endpoint, body, "application/json",
                                          project.key)
            assert status == 200, answer
    rows = server.sql(
        "SELECT provider, model, operation, streaming, input_tokens, output_tokens,"
        " cache_read_tokens, cache_write_tokens, reasoning_tokens, status, error_type,"
        " ttft_us IS NOT NULL, cost_nano_usd IS NOT NULL, instrumentation"
        " FROM llm_calls WHERE project_id = %s ORDER BY time", (project.id,))
    gpt = ("openai", "gpt-4o", "chat")
    claude = ("anthropic", "claude-sonnet-4-6", "chat")
    inp, out, cached, reasoning = (usage[k] for k in ("input_tokens", "output_tokens",
                                                       "cached_tokens", "reasoning_tokens"))
    # The doGenerate / doStream / doEmbed spans are the calls; the ai.generateText (...) spans
    # around them repeat their usage and are not.
    assert rows == [
        (*gpt, None, inp, out, cached, 0, reasoning, "ok", None, False, True, "vercel-ai"),
        (*gpt, True, inp, out, cached, 0, reasoning, "ok", None, True, True, "vercel-ai"),
        # embeddings: the fake answers an embedding with the scripted input count
        ("openai", "text-embedding-3-small", "embeddings", None, inp, 0, 0, 0, 0, "ok", None,
         False, True, "vercel-ai"),
        # Anthropic input as the SDK reports it: with the cache (1200 + 1024)
        (*claude, None, inp + cached, out, cached, 0, reasoning, "ok", None, False, True,
         "vercel-ai"),
        (*gpt, None, 0, 0, 0, 0, 0, "error", "AI_APICallError", False, True, "vercel-ai"),
        (*claude, None, 0, 0, 0, 0, 0, "error", "AI_APICallError", False, True, "vercel-ai"),
    ]
    assert {tuple(r) for r in server.sql(
        "SELECT DISTINCT instrumentation FROM llm_calls WHERE project_id = %s",
        (project.id,))} == {("vercel-ai",)}
