"""Agent, session, user and tag scopes that stamp every LLM span started inside them.

A scope is a `contextvars` value, so it follows asyncio tasks, `asyncio.to_thread` and
`contextvars.copy_context().run`; `ContextThreadPoolExecutor` and `propagate()` carry it into
thread pools, which do not copy the context by themselves.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from contextvars import ContextVar, Token
from types import MappingProxyType, TracebackType
from typing import Any, ParamSpec, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from . import semconv
from ._version import __version__

__all__ = [
    "AlsoAsync",
    "ContextSpanProcessor",
    "ContextThreadPoolExecutor",
    "Scope",
    "agent",
    "current_attributes",
    "propagate",
    "run_inside",
    "session",
    "tags",
    "user",
]

P = ParamSpec("P")
R = TypeVar("R")

TRACER_NAME = "spantally"

# Never mutated in place: each scope entered sets a new merged mapping.
_ATTRIBUTES: ContextVar[Mapping[str, AttributeValue]] = ContextVar(
    "spantally_scope_attributes", default=MappingProxyType({})
)


def current_attributes() -> Mapping[str, AttributeValue]:
    """What the scopes around the caller stamp on an LLM span (agent, session, user, tags)."""
    return _ATTRIBUTES.get()


def sdk_tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME, __version__)


class AlsoAsync:
    """`async with` does what `with` does (entering and leaving never wait on anything)."""

    __slots__ = ()

    async def __aenter__(self) -> Any:
        return self.__enter__()  # type: ignore[attr-defined]

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)  # type: ignore[attr-defined]


class Scope(AlsoAsync):
    """A `with` / `async with` block, or a decorator of sync and async functions, inside which
    every LLM span carries `attributes`. Nested scopes add to (and override) outer ones."""

    def __init__(self, attributes: Mapping[str, AttributeValue]) -> None:
        self._attributes = dict(attributes)
        self._tokens: list[Token[Mapping[str, AttributeValue]]] = []

    @property
    def attributes(self) -> Mapping[str, AttributeValue]:
        return self._attributes

    def _fresh(self) -> Scope:
        return type(self)(self._attributes)

    def __enter__(self) -> Scope:
        merged = {**_ATTRIBUTES.get(), **self._attributes}
        self._tokens.append(_ATTRIBUTES.set(merged))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _ATTRIBUTES.reset(self._tokens.pop())

    def __call__(self, function: Callable[P, R]) -> Callable[P, R]:
        # A fresh scope per call: one decorated function may run in many tasks at once.
        return run_inside(self._fresh, function)


def run_inside(enter: Callable[[], AbstractContextManager[Any]],
               function: Callable[P, R]) -> Callable[P, R]:
    """`function`, sync or async, run inside a context manager that `enter()` makes per call."""
    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
            with enter():
                return await function(*args, **kwargs)

        return run_async  # type: ignore[return-value]

    @functools.wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with enter():
            return function(*args, **kwargs)

    return run


class AgentScope(Scope):
    """An agent's scope: besides stamping its LLM spans, it is an `invoke_agent` span of its
    own (OTel GenAI conventions) that those spans are children of. SpanTally does not count
    it as an LLM call."""

    def __init__(self, attributes: Mapping[str, AttributeValue], name: str) -> None:
        super().__init__(attributes)
        self._name = name
        self._spans: list[tuple[Span, object]] = []

    def _fresh(self) -> AgentScope:
        return AgentScope(self._attributes, self._name)

    def __enter__(self) -> AgentScope:
        super().__enter__()
        attributes = {**_ATTRIBUTES.get(), semconv.OPERATION_NAME: "invoke_agent"}
        span = sdk_tracer().start_span(
            f"invoke_agent {self._name}", kind=SpanKind.INTERNAL, attributes=attributes
        )
        self._spans.append((span, otel_context.attach(trace.set_span_in_context(span))))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        span, token = self._spans.pop()
        if exc is not None:
            span.set_attribute(semconv.ERROR_TYPE, type(exc).__qualname__)
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, str(exc) or type(exc).__qualname__))
        otel_context.detach(token)  # type: ignore[arg-type]
        span.end()
        super().__exit__(exc_type, exc, tb)


def agent(name: str, agent_id: str | None = None, *, description: str | None = None) -> AgentScope:
    """`with spantally.agent("planner"):` — the LLM calls inside belong to this agent."""
    attributes: dict[str, AttributeValue] = {semconv.AGENT_NAME: name}
    attributes[semconv.AGENT_ID] = agent_id if agent_id is not None else name
    if description is not None:
        attributes[semconv.AGENT_DESCRIPTION] = description
    return AgentScope(attributes, name)


def session(session_id: str) -> Scope:
    """`with spantally.session("conversation-42"):` — calls inside belong to this session."""
    return Scope({semconv.SESSION_ID: str(session_id)})


def user(user_id: str) -> Scope:
    """`with spantally.user("alice"):` — calls inside were made on this user's behalf."""
    return Scope({semconv.USER_ID: str(user_id)})


def tags(**values: AttributeValue) -> Scope:
    """`with spantally.tags(team="search", tier="free"):` — extra attributes on every call inside,
    kept by the collector as the call's tags."""
    for key, value in values.items():
        if not isinstance(value, (str, bool, int, float)):
            raise TypeError(f"tag {key!r} must be str, bool, int or float, not {type(value).__name__}")
    return Scope(values)


class ContextSpanProcessor(SpanProcessor):
    """Stamps the scopes' attributes on spans that other instrumentations start inside them
    (the `anthropic` client's own spans, say). Attributes a span already has are kept.
    `spantally.init()` and `spantally.instrument*()` add it to the SDK tracer provider."""

    def on_start(self, span: SdkSpan, parent_context: Context | None = None) -> None:
        attributes = _ATTRIBUTES.get()
        if not attributes:
            return
        scope = span.instrumentation_scope
        if scope is not None and scope.name == TRACER_NAME:
            return  # the SDK's own spans carry them already
        existing = span.attributes or {}
        missing = {k: v for k, v in attributes.items() if k not in existing}
        if missing:
            span.set_attributes(missing)

    def on_end(self, span: ReadableSpan) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def propagate(function: Callable[P, R]) -> Callable[P, R]:
    """`function` bound to the caller's context (scopes and the current span), for running it
    later on another thread: `pool.submit(spantally.propagate(work), item)`."""
    captured = contextvars.copy_context()

    @functools.wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        # A copy per run: one Context cannot be entered by two threads at once.
        return captured.copy().run(function, *args, **kwargs)

    return run


class ContextThreadPoolExecutor(ThreadPoolExecutor):
    """A `ThreadPoolExecutor` whose tasks run in the context of the code that submitted them."""

    def submit(self, fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> Future[R]:
        return super().submit(contextvars.copy_context().run, fn, *args, **kwargs)
