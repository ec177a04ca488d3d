"""The API described once (server/api/spec.py): the files written from it are current, the
HTTP API and the gRPC service answer every operation alike, and bad input of every kind, to
every parameter of every operation, over both transports, is refused naming the parameter,
never with an internal error."""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import urllib.parse
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from opentelemetry.sdk.trace.export import SpanExportResult

from spantally.client import (
    AsyncClient,
    Client,
    GrpcClient,
    InvalidArgument,
    NotFound,
    SpanTallyError,
)
from spantally.server.api.generate import generated_files
from spantally.server.api.spec import ENDPOINTS, Endpoint, Kind, Param
from spantally.server.api.spec import GRPC_SERVICE as SERVICE
from spantally.store import INGEST

from .harness import CallSpec, Project, Server, export_grpc, http_get, make_spans
from .run_traces import examples, random_tree, spans_of

CHECKOUT = Path(__file__).resolve().parent.parent
QUERY_ENDPOINTS = [e for e in ENDPOINTS if e.operation != "run"]


def test_the_files_written_from_the_spec_are_current() -> None:
    stale = [path for path, text in generated_files(CHECKOUT).items()
             if not (CHECKOUT / path).exists() or (CHECKOUT / path).read_text() != text]
    assert stale == [], ("run `make generate` and commit: "
                         f"{stale}")


def test_openapi_parameters_are_the_spec_s(server: Server, project: Project) -> None:
    status, document = server.api("/api/openapi.json", None)
    assert status == 200
    for endpoint in ENDPOINTS:
        operation = document["paths"][endpoint.path]["get"]
        assert operation["operationId"] == endpoint.operation
        assert [p["name"] for p in operation["parameters"]] == [p.name for p in endpoint.params]


# -- one dataset, both transports -------------------------------------------------------------

BASE = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=6)


@pytest.fixture(scope="module")
def dataset(server: Server) -> tuple[Project, list[tuple[str, str]]]:
    """A project with agent runs (and their LLM calls) over the last hours, and calls of users
    and sessions with tags and failures; the runs' ids."""
    project = server.new_project()
    rng = random.Random(20)
    spans = []
    for i in range(12):
        root = random_tree(rng)
        spans += spans_of(root, BASE + timedelta(minutes=25 * i), service=f"svc-{i % 2}")
    spans += make_spans([CallSpec(
        start=BASE + timedelta(seconds=rng.uniform(0, 8 * 3600)),
        latency_ms=rng.randint(50, 20_000), model=rng.choice(["gpt-4o", "gpt-4o-mini"]),
        input_tokens=rng.randint(1, 5000), output_tokens=rng.randint(1, 800),
        agent_id=rng.choice(["planner", "writer", None]), error=rng.random() < 0.15,
        extra={"session.id": f"s-{rng.randint(1, 6)}", "user.id": f"u-{rng.randint(1, 4)}",
               "feature": rng.choice(["search", "chat"])}) for _ in range(150)],
        service="svc-1")
    assert export_grpc(spans, server.grpc_endpoint, project.key) is SpanExportResult.SUCCESS
    runs = Client(server.api_url, project.key).runs(from_=BASE - timedelta(hours=1),
                                                   to=BASE + timedelta(hours=8), limit=1000)
    ids = [(r["traceId"], r["spanId"]) for r in runs["data"]]
    assert len(ids) >= 12
    sessions = Client(server.api_url, project.key).sessions(
        from_=BASE, to=BASE + timedelta(hours=8))
    assert len(sessions["data"]) == 6, sessions
    return project, ids


@pytest.fixture(scope="module")
def call_ids(server: Server, dataset: tuple[Project, list[tuple[str, str]]]
             ) -> list[tuple[str, str]]:
    """Some of the dataset's calls' ids, as /api/calls lists them."""
    calls = Client(server.api_url, dataset[0].key).calls(
        from_=BASE - timedelta(hours=1), to=BASE + timedelta(hours=8), limit=40)
    return [(c["traceId"], c["spanId"]) for c in calls["calls"]]


def _grpc_target(server: Server) -> str:
    return server.grpc_endpoint.removeprefix("http://")


_VALUES: dict[str, list[Any]] = {
    "agentId": ["planner", "writer", "nobody"], "model": ["gpt-4o", "gpt-4o-mini"],
    "userId": ["u-1", "u-2"], "sessionId": ["s-1", "s-3"],
    "provider": ["openai"], "service": ["svc-0", "svc-1"], "environment": ["test"],
    "status": ["ok", "error"], "tags": ["feature:search"], "compare": ["previous_period"],
    "currency": ["USD"], "granularity": ["hour", "day", "week", "month"],
    "tz": ["UTC", "Asia/Kolkata", "America/New_York"], "fill": ["none", "zero"],
    "limit": [1, 3, 50], "offset": [0, 2], "explain": ["false"], "order": ["desc", "asc"],
}


@st.composite
def valid_params(draw: st.DrawFn, endpoint: Endpoint, ids: dict[str, list[tuple[str, str]]]
                 ) -> dict[str, Any]:
    """Parameters an operation accepts, over the dataset (from and to always given: a default
    of now would differ between the two requests)."""
    if endpoint.operation in ids:  # one thing by its ids
        trace_id, span_id = draw(st.sampled_from(ids[endpoint.operation]))
        return {"trace_id": trace_id, "span_id": span_id}
    start = BASE + timedelta(minutes=draw(st.integers(-120, 300)))
    out: dict[str, Any] = {"from_": start,
                           "to": start + timedelta(minutes=draw(st.integers(0, 600)))}
    for param in endpoint.params:
        if param.in_path:
            out[param.python] = draw(st.sampled_from(param.choices))
        elif param.name in _VALUES and param.name != "explain" and draw(st.booleans()):
            if param.kind is Kind.CHOICE and param.choices:
                choices = [v for v in _VALUES[param.name] if v in param.choices] or list(
                    param.choices)
                out[param.python] = draw(st.sampled_from(choices))
            else:
                out[param.python] = draw(st.sampled_from(_VALUES[param.name]))
    if endpoint.operation.startswith("runs"):
        out.pop("request_model", None)
    return out


def _without_nulls(value: Any) -> Any:
    """An HTTP answer as a message can carry it: a message has no null, the field is absent."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _outcome(call: Any) -> Any:
    try:
        return call()
    except SpanTallyError as exc:
        return (type(exc).__name__, exc.message)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.operation)
def test_http_and_grpc_answer_every_operation_alike(
        server: Server, dataset: tuple[Project, list[tuple[str, str]]],
        call_ids: list[tuple[str, str]], endpoint: Endpoint) -> None:
    project, run_ids = dataset
    http = Client(server.api_url, project.key)
    with GrpcClient(_grpc_target(server), project.key) as rpc:
        @settings(max_examples=examples(12), deadline=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture])
        @given(params=valid_params(endpoint, {"run": run_ids, "call": call_ids}))
        def check(params: dict[str, Any]) -> None:
            over_http = _outcome(lambda: getattr(http, endpoint.operation)(**params))
            over_grpc = _outcome(lambda: getattr(rpc, endpoint.operation)(**params))
            assert over_grpc == _without_nulls(over_http)
            assert not isinstance(over_http, tuple) or over_http[0] == "InvalidArgument"
            if not isinstance(over_http, tuple):  # exactly what the OpenAPI document says
                Draft202012Validator(dict(endpoint.response)).validate(over_http)

        check()


def test_one_run_over_grpc_and_a_missing_one(
        server: Server, dataset: tuple[Project, list[tuple[str, str]]]) -> None:
    project, ids = dataset
    with GrpcClient(_grpc_target(server), project.key) as rpc:
        run = rpc.run(*ids[0])
        assert (run["traceId"], run["spanId"]) == ids[0]
        assert run["stepsInOrder"], run
        # Typed: integers are ints, not the JSON mapping's strings, nor a Struct's doubles.
        assert type(run["inputTokens"]) is int and type(run["own"]["llmCalls"]) is int
        assert type(run["stepsInOrder"][0]["depth"]) is int
        raw = rpc._messages.RunRequest(trace_id=ids[0][0], span_id=ids[0][1])
        with grpc.insecure_channel(_grpc_target(server)) as channel:
            typed = channel.unary_unary(
                f"/{SERVICE}/Run", request_serializer=type(raw).SerializeToString,
                response_deserializer=rpc._messages.RunResponse.FromString)(
                raw, metadata=[("authorization", f"Bearer {project.key}")], timeout=10)
        assert typed.trace_id == ids[0][0] and typed.steps_in_order[0].span_id
        with pytest.raises(NotFound):
            rpc.run("0" * 32, "0" * 16)
        with pytest.raises(InvalidArgument, match="traceId"):
            rpc.run("xyz", "0" * 16)


# -- bad input, everywhere ---------------------------------------------------------------------

_NASTY = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(categories=["Nd", "No", "Nl"]), min_size=1, max_size=6),
    st.sampled_from(["", " ", "-1", "+1", "0", "1e9", "9" * 40, "0x10", "1.5", "NaN", "inf",
                     "²", "٣", "１２", "\x00", "a\x00b", "\t\n", "tags.", "tags.\x00",
                     "x" * 600, "2026-13-01", "0000-01-01", "99999-01-01", "true", "USD ",
                     "Europe/../etc", "/etc/passwd", "k:", ":v", "k:v,", "a:b," * 20,
                     "\U0001f600", "\ud7ff", "previous_period ", "HOUR"]),
)


def _names_the_parameter(message: str, param: Param) -> bool:
    """The refusal names the parameter, or the range (a filter no aggregate answers can make
    the range too long to read raw: "from..to: ... reads raw calls for 8.0 days")."""
    return param.name in message or message.startswith("from..to: ")


def _http_status(server: Server, endpoint: Endpoint, key: str, query: list[tuple[str, str]],
                 path: dict[str, str] | None = None) -> tuple[int, Any]:
    route = endpoint.path
    for name, value in (path or {}).items():
        route = route.replace("{" + name + "}", urllib.parse.quote(value, safe=""))
    return http_get(f"{server.api_url}{route}?{urllib.parse.urlencode(query)}", key)


_PATHS = {"dimension": "model", "traceId": "0" * 32, "spanId": "0" * 16}


def _internal_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name.startswith("spantally") and r.levelno >= logging.ERROR]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.operation)
def test_bad_values_of_every_parameter_are_refused_naming_it_over_http_and_grpc(
        server: Server, project: Project, endpoint: Endpoint,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    channel = grpc.insecure_channel(_grpc_target(server))
    with GrpcClient(_grpc_target(server), project.key) as rpc:
        @settings(max_examples=examples(25), deadline=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture])
        @given(param=st.sampled_from(endpoint.params), value=_NASTY)
        def check(param: Param, value: str) -> None:
            path = {name: v for name, v in _PATHS.items() if "{" + name + "}" in endpoint.path}
            if param.in_path:
                if "/" in value or value in ("", ".", ".."):
                    return  # another route, not a value of this parameter
                path[param.name] = value
                query: list[tuple[str, str]] = []
            else:
                query = [(param.name, value)]
            status, body = _http_status(server, endpoint, project.key, query, path)
            assert status in (200, 400, 404), (status, body)
            if status == 400:
                assert body["error"]["code"] == "INVALID_ARGUMENT"
                assert _names_the_parameter(body["error"]["message"], param), body
            if param.http_only:
                return
            arguments = {p.python: v for p, v in
                         ((endpoint.param(n), v) for n, v in path.items())}
            if param.kind is Kind.INTEGER:
                if not (value.isascii() and value.lstrip("+-").isdigit()) or not (
                        -2 ** 63 <= int(value) < 2 ** 63):
                    return  # not an int64: the message cannot carry it
                arguments[param.python] = int(value)
            else:
                arguments[param.python] = value
            try:
                getattr(rpc, endpoint.operation)(**arguments)
            except InvalidArgument as exc:
                assert _names_the_parameter(exc.message, param), exc.message
            except NotFound:
                assert endpoint.not_found
            except ValueError:
                return  # protobuf refuses it client-side (not UTF-8 text)

        check()
    channel.close()
    assert _internal_errors(caplog) == []


def test_repeated_unknown_and_missing_parameters_are_refused(
        server: Server, project: Project) -> None:
    for endpoint in ENDPOINTS:
        path = {name: v for name, v in _PATHS.items() if "{" + name + "}" in endpoint.path}
        for param in endpoint.params:
            if param.in_path:
                continue
            value = str(param.default if param.default is not None else
                        param.choices[0] if param.choices else "x")
            status, body = _http_status(server, endpoint, project.key,
                                        [(param.name, value)] * 2, path)
            assert (status, body["error"]["code"]) == (400, "INVALID_ARGUMENT"), body
            assert body["error"]["message"] == f"{param.name}: given 2 times; give it once"
    summary = next(e for e in ENDPOINTS if e.operation == "summary")
    status, body = _http_status(server, summary, project.key, [("agentID", "planner")])
    assert status == 400 and "'agentID' is not a parameter" in body["error"]["message"]
    assert "agentId" in body["error"]["message"]
    calls = next(e for e in ENDPOINTS if e.operation == "calls")
    for value in ("²", "٣", "１２", "-1", "0", "1001", ""):
        status, body = _http_status(server, calls, project.key, [("limit", value)])
        assert status == 400 and body["error"]["message"].startswith("limit must be"), body
    with GrpcClient(_grpc_target(server), project.key) as rpc:
        with pytest.raises(InvalidArgument, match="traceId is required"):
            rpc._call("run", {"spanId": "0" * 16})


def _raw(server: Server, method: str, body: bytes, key: str | None = None
         ) -> tuple[grpc.StatusCode, str]:
    with grpc.insecure_channel(_grpc_target(server)) as channel:
        call = channel.unary_unary(f"/{SERVICE}/{method}")
        metadata = [("authorization", f"Bearer {key}")] if key else None
        try:
            call(body, timeout=10, metadata=metadata)
        except grpc.RpcError as exc:
            return exc.code(), exc.details() or ""
        return grpc.StatusCode.OK, ""


@settings(max_examples=examples(30), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=st.sampled_from([e.method for e in ENDPOINTS]), body=st.binary(max_size=64))
def test_malformed_grpc_messages_are_invalid_argument(server: Server, project: Project,
                                                       method: str, body: bytes) -> None:
    code, details = _raw(server, method, body, project.key)
    assert code in (grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT,
                    grpc.StatusCode.NOT_FOUND), (code, details)


def test_wrong_wire_types_are_invalid_argument(server: Server, project: Project) -> None:
    # Field 23 (limit, an int64) sent as a string; field 1 (from, a string) as a varint; a
    # string that is not UTF-8.
    for body, named in ((b"\xba\x01\x03abc", "limit"), (b"\x08\x05", "from"),
                        (b"\x0a\x02\xff\xfe", None)):
        code, details = _raw(server, "Calls", body, project.key)
        assert code is grpc.StatusCode.INVALID_ARGUMENT, (body, code, details)
        assert named is None or details.startswith(f"{named}: field"), details


def test_grpc_keys_scopes_health_and_reflection(server: Server, project: Project) -> None:
    target = _grpc_target(server)
    with GrpcClient(target, None) as anonymous:
        anonymous.api_key = None
        with pytest.raises(SpanTallyError) as refused:
            anonymous.summary()
        assert refused.value.code == "UNAUTHENTICATED"
    with GrpcClient(target, "st_not_a_key") as stranger, pytest.raises(SpanTallyError) as bad:
        stranger.summary()
    assert bad.value.code == "PERMISSION_DENIED"
    ingest_only = server.new_key(project, [INGEST])
    with GrpcClient(target, ingest_only) as writer, pytest.raises(SpanTallyError) as scope:
        writer.summary()
    assert scope.value.code == "PERMISSION_DENIED" and "read" in scope.value.message
    with grpc.insecure_channel(target) as channel:
        check = health_pb2_grpc.HealthStub(channel).Check
        for name in ("", SERVICE, "opentelemetry.proto.collector.trace.v1.TraceService"):
            answer = check(health_pb2.HealthCheckRequest(service=name), timeout=10)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING, name
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        replies = list(stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10))
        listed = {s.name for s in replies[0].list_services_response.service}
        assert {SERVICE, "opentelemetry.proto.collector.trace.v1.TraceService",
                "grpc.health.v1.Health"} <= listed
        replies = list(stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE)]),
            timeout=10))
        assert replies[0].file_descriptor_response.file_descriptor_proto


def test_the_client_methods_are_the_spec_s(
        server: Server, dataset: tuple[Project, list[tuple[str, str]]]) -> None:
    for endpoint in ENDPOINTS:
        expected = {p.python for p in endpoint.params if not p.http_only}
        for client in (Client, AsyncClient, GrpcClient):
            method = getattr(client, endpoint.operation)
            assert inspect.iscoroutinefunction(method) == (client is AsyncClient)
            assert set(inspect.signature(method).parameters) - {"self"} == expected, (
                client, endpoint.operation)
    project, _ = dataset
    question = {"from_": BASE, "to": BASE + timedelta(hours=8), "granularity": "hour"}
    assert asyncio.run(AsyncClient(server.api_url, project.key).timeseries(**question)) == \
        Client(server.api_url, project.key).timeseries(**question)


def test_management_answers_are_exactly_their_models(server: Server, project: Project) -> None:
    """Every field of each management answer is in its model and the other way round (the
    models are what the OpenAPI document describes)."""
    from spantally.server.api import models

    def answer(method: str, path: str, body: Any = None, status: int = 200) -> Any:
        got, content = server.call(method, path, project.key, body)
        assert got == status, (path, got, content)
        return content

    price = {"model": "house-*", "inputPerMTok": "1.5", "outputPerMTok": 2}
    checks = [
        (models.Price, answer("POST", "/api/prices", price, 201)),
        (models.Prices, answer("GET", "/api/prices")),
        (models.PriceResolution, answer("GET", "/api/prices/resolve?model=house-1")),
        (models.PriceResolution, answer("GET", "/api/prices/resolve?model=gpt-4o&provider=openai")),
        (models.Rate, answer("PUT", "/api/currencies/EUR", {"perUsd": 0.9})),
        (models.Rates, answer("GET", "/api/currencies")),
        (models.Project, answer("GET", "/api/admin/project")),
        (models.CreatedKey, answer("POST", "/api/admin/keys", {"name": "ci"}, 201)),
        (models.Keys, answer("GET", "/api/admin/keys")),
        (models.Limits, answer("PUT", "/api/admin/limits", {"spansPerMinute": 600})),
        (models.Limits, answer("GET", "/api/admin/limits")),
        (models.Health, server.api("/healthz", None)[1]),
    ]
    for model, content in checks:
        model.model_validate(content)  # raises on a missing, extra or mistyped field


def test_answer_fields_keep_their_numbers_and_removed_ones_stay_reserved() -> None:
    from spantally.server.api.generate import _message, _Numbers

    def message(committed: str, *names: str) -> str:
        schema = {"type": "object", "required": list(names),
                  "properties": {n: {"type": "integer"} for n in names}}
        return "\n".join(_message("Answer", schema, "Answer", _Numbers(committed)))

    first = message("", "calls", "costUsd")
    assert "int64 calls = 1;" in first and "int64 cost_usd = 2;" in first
    # A field added before the others takes the next free number; a removed one's is reserved.
    second = message(first, "errors", "costUsd")
    assert "int64 errors = 3;" in second and "int64 cost_usd = 2;" in second
    assert "reserved 1;" in second
    third = message(second, "calls", "costUsd")
    assert "int64 calls = 4;" in third and "reserved 1, 3;" in third
