"""One call sent twice (store/copies.py): an instrumentation library's span and the client's own
span for the same request, each in a trace of its own or one inside the other, in separate
export requests, in either order, through one collector or two at once: one call, with the
better copy's figures and the other's context, and every aggregate and run roll-up equal to
the calls stored."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from spantally.store.catalog import CALLS, aggregates_of

from .harness import (
    STORED_SESSIONS_DIFFER,
    Project,
    Server,
    counted_once,
    export_grpc,
    export_http,
    ns,
)

LIBRARY = "opentelemetry.instrumentation.anthropic"  # OpenLLMetry
CLIENT = "com.anthropic.sdk.python"  # the anthropic client's own spans
MODEL = "claude-sonnet-4-6"


_SINCE = "from=" + (datetime.now(timezone.utc) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _recent() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=10)


class Spans:
    """Spans of several instrumentation scopes of one process."""

    def __init__(self) -> None:
        self.memory = InMemorySpanExporter()
        self.provider = TracerProvider(resource=Resource.create({"service.name": "copies"}))
        self.provider.add_span_processor(SimpleSpanProcessor(self.memory))

    def span(self, scope: str, start: datetime, ms: float, attributes: dict[str, Any],
             parent: trace.Span | None = None, error: str | None = None,
             name: str = f"chat {MODEL}") -> trace.Span:
        context = trace.set_span_in_context(parent) if parent is not None else None
        tracer = self.provider.get_tracer(scope)
        span = tracer.start_span(name, context=context, kind=SpanKind.CLIENT,
                                 attributes=attributes, start_time=ns(start))
        if error is not None:
            span.set_attribute("error.type", error)
            span.set_status(Status(StatusCode.ERROR, error))
        span.end(end_time=ns(start) + int(ms * 1_000_000))
        return span

    def agent(self, name: str, start: datetime, ms: float) -> trace.Span:
        tracer = self.provider.get_tracer("app")
        return tracer.start_span(f"invoke_agent {name}", attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name},
            start_time=ns(start))

    def finished(self) -> list[ReadableSpan]:
        return list(self.memory.get_finished_spans())


def _call(response_id: str | None, input_tokens: int = 1000, **extra: Any) -> dict[str, Any]:
    attributes = {"gen_ai.provider.name": "anthropic", "gen_ai.operation.name": "chat",
                  "gen_ai.request.model": MODEL}
    if response_id is not None:
        attributes.update({"gen_ai.response.id": response_id, "gen_ai.response.model": MODEL,
                           "gen_ai.usage.input_tokens": input_tokens,
                           "gen_ai.usage.output_tokens": 100})
    return {**attributes, **extra}


def _by_name(spans: Sequence[ReadableSpan]) -> dict[str, ReadableSpan]:
    return {f"{s.instrumentation_scope.name}/{s.name}": s for s in spans}


def _calls(server: Server, project: Project) -> list[tuple[Any, ...]]:
    return server.sql(
        "SELECT agent_id, instrumentation, input_tokens, status, error_type, ttft_us IS NOT NULL,"
        " response_id, parent_span_id IS NOT NULL FROM llm_calls WHERE project_id = %s"
        " ORDER BY time, span_id", (project.id,))


def _aggregates_hold_the_calls(server: Server, project: Project) -> None:
    """Every call aggregate adds up to llm_calls, and every session is its calls, whatever was
    replaced or completed."""
    ((calls, tokens, latency),) = server.sql(
        "SELECT count(*), coalesce(sum(input_tokens), 0), coalesce(sum(latency_us), 0)"
        " FROM llm_calls WHERE project_id = %s", (project.id,))
    for aggregate in aggregates_of(CALLS):
        got = server.sql(
            f"SELECT coalesce(sum(calls), 0), coalesce(sum(input_tokens), 0),"  # noqa: S608
            f" coalesce(sum(latency_us_sum), 0) FROM {aggregate.name} WHERE project_id = %s"
            f"{counted_once(aggregate)}",
            (project.id,))
        assert got == [(calls, tokens, latency)], aggregate.name
    assert server.sql(STORED_SESSIONS_DIFFER, {"project_id": project.id}) == []


@pytest.mark.parametrize("order", ["library first", "client first"])
@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_a_call_and_the_clients_own_span_in_two_requests_are_one_call(
        order: str, transport: str, server: Server, project: Project) -> None:
    spans = Spans()
    start = _recent()
    agent = spans.agent("writer", start, 50)
    # The library's span is a step of the writer's run; the client's own span a root, with
    # the time to first chunk the library lacks.
    spans.span(LIBRARY, start + timedelta(milliseconds=1), 30, _call("msg_1"), parent=agent)
    spans.span(CLIENT, start + timedelta(milliseconds=2), 28,
               _call("msg_1", **{"gen_ai.response.time_to_first_chunk": 0.01}))
    agent.end(end_time=ns(start) + 50_000_000)
    named = _by_name(spans.finished())
    library, client = named[f"{LIBRARY}/chat {MODEL}"], named[f"{CLIENT}/chat {MODEL}"]
    export = export_grpc if transport == "grpc" else export_http
    endpoint = server.grpc_endpoint if transport == "grpc" else server.http_endpoint
    requests = [[library, named["app/invoke_agent writer"]], [client]]
    for part in requests if order == "library first" else requests[::-1]:
        export(part, endpoint, project.key)

    # The library's copy is kept (it is in the run), with the client's time to first chunk.
    assert _calls(server, project) == [
        ("writer", "openllmetry", 1000, "ok", None, True, "msg_1", True)]
    ((llm_calls, input_tokens),) = server.sql(
        "SELECT llm_calls, input_tokens FROM agent_runs WHERE project_id = %s", (project.id,))
    assert (llm_calls, input_tokens) == (1, 1000)
    status, body = server.api(f"/api/analytics/summary?{_SINCE}", project.key)
    assert status == 200 and body["calls"] == 1, body
    _aggregates_hold_the_calls(server, project)


def test_failed_copies_without_a_response_id_meet_by_time(server: Server,
                                                          project: Project) -> None:
    """Two failures at the same moment, each sent by the library and by the client: two calls,
    not one and not four. A copy without a response id pairs with one of another family."""
    spans = Spans()
    start = _recent()
    for n in range(2):
        at = start + timedelta(milliseconds=n)
        spans.span(LIBRARY, at, 40, _call(None), error="RateLimitError")
        spans.span(CLIENT, at + timedelta(milliseconds=1), 37, _call(None),
                   error="rate_limit_error")
    # The same family twice at the same moment: two calls of one library, never copies.
    spans.span(LIBRARY, start + timedelta(seconds=5), 40, _call(None), error="Timeout")
    spans.span(LIBRARY, start + timedelta(seconds=5), 40, _call(None), error="Timeout")
    for span in spans.finished():  # each in a request of its own
        export_grpc([span], server.grpc_endpoint, project.key)
    rows = _calls(server, project)
    # The library's error type (its class names, like every other call's) is kept.
    assert [(r[1], r[3], r[4]) for r in rows] == [
        ("openllmetry", "error", "RateLimitError")] * 2 + [("openllmetry", "error", "Timeout")] * 2
    _aggregates_hold_the_calls(server, project)


def test_a_better_copy_replaces_the_stored_one_and_its_run_loses_it(
        server: Server, project: Project) -> None:
    """The client's copy stored first inside a run, the library's with usage later at the
    root: the library's copy (usage) is kept; the run the first copy counted in no longer
    holds a call."""
    spans = Spans()
    start = _recent()
    agent = spans.agent("planner", start, 100)
    # A copy that only knows the request (a stream whose usage this library did not read).
    spans.span(CLIENT, start + timedelta(milliseconds=2), 30,
                       {**_call(None), "gen_ai.response.id": "msg_2", "session.id": "conv-2"},
                       parent=agent)
    agent.end(end_time=ns(start) + 100_000_000)
    # Inside the stored copy's time: its session's start and end move when it is replaced.
    spans.span(LIBRARY, start + timedelta(milliseconds=5), 20, _call("msg_2", 777))
    named = _by_name(spans.finished())
    export_grpc([named[f"{CLIENT}/chat {MODEL}"], named["app/invoke_agent planner"]],
                server.grpc_endpoint, project.key)
    assert [r[2] for r in _calls(server, project)] == [0]
    export_grpc([named[f"{LIBRARY}/chat {MODEL}"]], server.grpc_endpoint, project.key)
    # Usage first: the library's copy, which takes the run's agent from the stored one.
    assert _calls(server, project) == [
        ("planner", "openllmetry", 777, "ok", None, False, "msg_2", False)]
    # The replaced copy's run counts no call now.
    ((llm_calls,),) = server.sql("SELECT llm_calls FROM agent_runs WHERE project_id = %s",
                                 (project.id,))
    assert llm_calls == 0
    _aggregates_hold_the_calls(server, project)
    # Its session counts the kept copy alone, from its start to its end.
    assert server.sql("SELECT calls, input_tokens, started_at, ended_at FROM llm_sessions "
                      "WHERE project_id = %s", (project.id,)) == [
        (1, 777, start + timedelta(milliseconds=5), start + timedelta(milliseconds=25))]


def test_copies_through_two_collectors_at_once_are_one_call(
        server: Server, second: Server, project: Project) -> None:
    """Each copy of 40 calls through a different collector, all at once: the unique response
    id makes them meet; every figure is each call once."""
    spans = Spans()
    start = _recent()
    for n in range(40):
        at = start + timedelta(milliseconds=10 * n)
        spans.span(LIBRARY, at, 30, _call(f"msg_c{n}", 100 + n))
        spans.span(CLIENT, at + timedelta(milliseconds=1), 28, _call(f"msg_c{n}", 100 + n))
    named = spans.finished()
    library = [s for s in named if s.instrumentation_scope.name == LIBRARY]
    client = [s for s in named if s.instrumentation_scope.name == CLIENT]
    barrier = threading.Barrier(8)

    def send(target: Server, part: list[ReadableSpan]) -> None:
        barrier.wait()
        for at in range(0, len(part), 5):
            assert export_grpc(part[at:at + 5], target.grpc_endpoint, project.key).name == (
                "SUCCESS")

    threads = [threading.Thread(target=send, args=(target, part[i::4]))
               for target, part in ((server, library), (second, client)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = _calls(server, project)
    assert len(rows) == 40
    assert sum(r[2] for r in rows) == sum(100 + n for n in range(40))
    assert {r[1] for r in rows} == {"openllmetry"}
    _aggregates_hold_the_calls(server, project)


def test_request_model_groups_a_models_failures_with_its_successes(
        server: Server, project: Project) -> None:
    """A failure knows the model asked for, a success the model that answered: `model` keeps
    them apart (as the reference defines it), `request_model` together."""
    spans = Spans()
    start = _recent()
    ok = {"gen_ai.provider.name": "openai", "gen_ai.operation.name": "chat",
          "gen_ai.request.model": "gpt-4o-mini", "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
          "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 1}
    failed = {k: v for k, v in ok.items() if k == "gen_ai.provider.name"
              or k == "gen_ai.operation.name" or k == "gen_ai.request.model"}
    for n in range(3):
        spans.span("app", start + timedelta(seconds=n), 10, ok, name="chat gpt-4o-mini")
    spans.span("app", start + timedelta(seconds=5), 10, failed, error="RateLimitError",
               name="chat gpt-4o-mini")
    export_grpc(spans.finished(), server.grpc_endpoint, project.key)

    status, by_model = server.api(f"/api/analytics/breakdown/model?{_SINCE}", project.key)
    assert status == 200
    assert {(r["key"], r["calls"], r["errorCalls"]) for r in by_model["data"]} == {
        ("gpt-4o-mini-2024-07-18", 3, 0), ("gpt-4o-mini", 1, 1)}
    status, by_request = server.api(f"/api/analytics/breakdown/request_model?{_SINCE}",
                                    project.key)
    assert status == 200
    assert [(r["key"], r["calls"], r["errorCalls"]) for r in by_request["data"]] == [
        ("gpt-4o-mini", 4, 1)]
    status, only = server.api(f"/api/analytics/summary?{_SINCE}&requestModel=gpt-4o-mini",
                              project.key)
    assert status == 200 and (only["calls"], only["errorCalls"]) == (4, 1), only
    status, refused = server.api(f"/api/analytics/runs?{_SINCE}&requestModel=gpt-4o-mini",
                                 project.key)
    assert status == 400 and "requestModel" in refused["error"]["message"]
