"""Agent-run traces for the tests: a tree of runs, tools, links and LLM calls made into real
OpenTelemetry SDK spans at known times, and the roll-ups each run must get, computed here from
the tree alone (independently of store/runs.py)."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from .harness import ns

__all__ = ["Expected", "Node", "UNPRICED_MODEL", "examples", "expected_rollups", "random_tree", "recent",
           "spans_of", "walk"]

UNPRICED_MODEL = "house-model-1"
"""A model no catalog prices: its calls stay unpriced unless they report a cost."""


@dataclass
class Node:
    """One span of a run trace: `run`, `tool`, `link` (an INTERNAL span) or `call`."""

    kind: str
    name: str = ""
    children: list[Node] = field(default_factory=list)
    error: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    model: str = "gpt-4o"
    after: timedelta = timedelta(milliseconds=10)
    """How long after its parent (or the sibling before it) it starts."""
    span_id: bytes = b""
    """Set once the node is made into a span."""
    start: datetime | None = None
    duration_ms: int = 0


def walk(node: Node) -> Iterator[Node]:
    yield node
    for child in node.children:
        yield from walk(child)


@dataclass(frozen=True)
class Expected:
    llm_calls: int = 0
    llm_errors: int = 0
    tool_calls: int = 0
    tool_errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_nano_usd: int = 0
    unpriced_calls: int = 0

    def plus(self, step: Node) -> Expected:
        if step.kind == "tool":
            return Expected(self.llm_calls, self.llm_errors, self.tool_calls + 1,
                            self.tool_errors + step.error, self.input_tokens,
                            self.output_tokens, self.cost_nano_usd, self.unpriced_calls)
        cost = None if step.cost_usd is None else round(step.cost_usd * 1e9)
        return Expected(self.llm_calls + 1, self.llm_errors + step.error, self.tool_calls,
                        self.tool_errors, self.input_tokens + step.input_tokens,
                        self.output_tokens + step.output_tokens,
                        self.cost_nano_usd + (cost or 0), self.unpriced_calls + (cost is None))


def expected_rollups(root: Node) -> dict[bytes, tuple[Expected, Expected, bytes | None, set[str]]]:
    """Per run span id: (inclusive, exclusive, parent run span id, models used)."""
    out: dict[bytes, tuple[Expected, Expected, bytes | None, set[str]]] = {}

    def visit(node: Node, runs_above: list[Node]) -> None:
        if node.kind == "run":
            out[node.span_id] = (Expected(), Expected(),
                                 runs_above[-1].span_id if runs_above else None, set())
            runs_above = [*runs_above, node]
        elif node.kind in ("call", "tool") and runs_above:
            for run in runs_above:
                inclusive, own, parent, models = out[run.span_id]
                if node.kind == "call":
                    models = models | {node.model}
                if run is runs_above[-1]:
                    own = own.plus(node)
                out[run.span_id] = (inclusive.plus(node), own, parent, models)
        for child in node.children:
            visit(child, runs_above)

    visit(root, [])
    return out


def random_tree(rng: random.Random, depth: int = 0) -> Node:
    """A run with a random mix of nested runs, tools, links and calls below it."""
    node = Node("run", name=f"agent-{rng.randrange(4)}", error=rng.random() < 0.2)
    for _ in range(rng.randrange(1, 5)):
        node.children.append(_random_child(rng, depth + 1))
    return node


def _random_call(rng: random.Random) -> Node:
    reported = rng.random() < 0.7
    return Node("call", name="chat", error=rng.random() < 0.15,
                input_tokens=rng.randrange(1, 5000), output_tokens=rng.randrange(0, 800),
                cost_usd=round(rng.uniform(0, 0.05), 6) if reported else None,
                model=rng.choice(["gpt-4o", "claude-sonnet-4-6", UNPRICED_MODEL])
                if reported else UNPRICED_MODEL)


def _random_child(rng: random.Random, depth: int) -> Node:
    roll = rng.random()
    if roll < 0.45 or depth >= 4:
        return _random_call(rng)
    if roll < 0.6 and depth < 3:
        return random_tree(rng, depth)
    kind = "tool" if roll < 0.8 else "link"
    node = Node(kind, name=f"{kind}-{rng.randrange(3)}", error=kind == "tool" and rng.random() < 0.2)
    for _ in range(rng.randrange(0, 3)):
        node.children.append(_random_child(rng, depth + 1))
    return node


def spans_of(root: Node, start: datetime, service: str = "runs-test",
             scope: str = "spantally.tests") -> list[ReadableSpan]:
    """Finished SDK spans of the tree, each child starting `after` (10 ms) after its parent's
    start or the sibling before it. Sets each node's span id, start and duration."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service,
                                                        "deployment.environment.name": "test"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer(scope)

    def make(node: Node, parent: Any, at: datetime, depth: int) -> None:
        attributes: dict[str, Any]
        name = node.name
        kind = SpanKind.INTERNAL
        if node.kind == "run":
            attributes = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": node.name}
            name = f"invoke_agent {node.name}"
        elif node.kind == "tool":
            attributes = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": node.name}
            name = f"execute_tool {node.name}"
        elif node.kind == "link":
            attributes = {"step": node.name}
        else:
            kind = SpanKind.CLIENT
            attributes = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                          "gen_ai.request.model": node.model,
                          "gen_ai.usage.input_tokens": node.input_tokens,
                          "gen_ai.usage.output_tokens": node.output_tokens}
            if node.cost_usd is not None:
                attributes["gen_ai.usage.cost"] = node.cost_usd
            name = f"chat {node.model}"
        context = trace.set_span_in_context(parent) if parent is not None else None
        span = tracer.start_span(name, context=context, kind=kind, attributes=attributes,
                                 start_time=ns(at))
        node.span_id = span.get_span_context().span_id.to_bytes(8, "big")
        node.start = at
        child_at = at
        for child in node.children:
            child_at += child.after
            make(child, span, child_at, depth + 1)
        node.duration_ms = 1000 * (10 - depth) + 10 * len(node.children)
        if node.error:
            span.set_status(Status(StatusCode.ERROR, "failed"))
            span.set_attribute("error.type", "StepFailed")
        span.end(end_time=ns(at + timedelta(milliseconds=node.duration_ms)))

    make(root, None, start, 0)
    provider.shutdown()
    return list(memory.get_finished_spans())


def examples(default: int = 25) -> int:
    return int(os.environ.get("SPANTALLY_PROPERTY_EXAMPLES", str(default)))


def recent(minutes_ago: int = 30) -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=minutes_ago)
