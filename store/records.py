"""The normalized records of a span: an LLM call (one row of `llm_calls`, whatever convention
its span used), an agent run, a tool step, or a link (a span that is none of those but may lie
between a run and its steps). `SpanRecords` is what one export request yields."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

__all__ = ["AgentRun", "LlmCall", "STAGING_COLUMNS", "STAGING_TYPES", "SpanLink", "SpanRecords",
           "ToolCall"]


class LlmCall(NamedTuple):
    """Field order is the column order of the staging COPY; see migrations/0001_core.sql."""

    time: datetime
    project_id: int
    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes | None
    service_name: str | None
    environment: str | None
    agent_id: str | None
    agent_name: str | None
    session_id: str | None
    user_id: str | None
    provider: str | None
    request_model: str | None
    response_model: str | None
    model: str | None
    operation: str
    streaming: bool | None
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    cost_nano_usd: int | None
    cost_source: str | None
    latency_us: int
    ttft_us: int | None
    status: str
    error_type: str | None
    tags: dict[str, Any] | None
    response_id: str | None = None
    """The provider's id of the response (`gen_ai.response.id`): copies of one call that
    instrumentations send separately share it (store.copies)."""
    instrumentation: str | None = None
    """The family of instrumentation that sent the span (collector.mapping.FAMILIES), e.g.
    `openllmetry` or `anthropic-sdk`; None for one SpanTally does not know."""


STAGING_COLUMNS: tuple[str, ...] = LlmCall._fields

# PostgreSQL types of the columns, for binary COPY (which does not infer them).
STAGING_TYPES: tuple[str, ...] = (
    "timestamptz", "int8", "bytea", "bytea", "bytea",
    "text", "text", "text", "text", "text", "text", "text", "text", "text", "text", "text",
    "bool", "int8", "int8", "int8", "int8", "int8", "int8", "text", "int8", "int8",
    "text", "text", "jsonb", "text", "text",
)  # fmt: skip

assert len(STAGING_TYPES) == len(STAGING_COLUMNS)


class AgentRun(NamedTuple):
    """An agent or workflow span, as it arrived; its roll-ups over the steps beneath it are
    kept by the store (see store/runs.py). Field order is agent_runs' column order."""

    time: datetime
    project_id: int
    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes | None
    kind: str
    """`agent` or `workflow`."""
    agent_id: str | None
    agent_name: str | None
    service_name: str | None
    environment: str | None
    session_id: str | None
    user_id: str | None
    duration_us: int
    status: str
    error_type: str | None
    tags: dict[str, Any] | None


class ToolCall(NamedTuple):
    """A tool span: a step of the run above it."""

    time: datetime
    project_id: int
    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes | None
    tool_name: str | None
    duration_us: int
    status: str
    error_type: str | None


class SpanLink(NamedTuple):
    """Any other span inside a trace (a chain, a task, "running tools"): stored only as its
    place in the tree, so that steps below it find the run above it."""

    time: datetime
    project_id: int
    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes


@dataclass(slots=True)
class SpanRecords:
    """Everything one export request (or one batch of them) stores."""

    calls: list[LlmCall] = field(default_factory=list)
    runs: list[AgentRun] = field(default_factory=list)
    tools: list[ToolCall] = field(default_factory=list)
    links: list[SpanLink] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.calls) + len(self.runs) + len(self.tools) + len(self.links)

    def extend(self, other: SpanRecords) -> None:
        self.calls.extend(other.calls)
        self.runs.extend(other.runs)
        self.tools.extend(other.tools)
        self.links.extend(other.links)

    @property
    def shapes_runs(self) -> bool:
        """Whether it holds spans that can change which run a step belongs to."""
        return bool(self.runs or self.tools or self.links)
