"""The calls themselves: the newest first with the analytics filters, one call whole, and the
tag keys the calls carry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row

from . import queries
from .question import Filters
from .records import LlmCall

__all__ = ["RecentCall", "TagKey", "find_call", "recent_calls", "tag_keys"]


@dataclass(frozen=True, slots=True)
class RecentCall:
    time: datetime
    trace_id: bytes
    span_id: bytes
    provider: str | None
    model: str | None
    agent_id: str | None
    session_id: str | None
    user_id: str | None
    operation: str
    streaming: bool | None
    input_tokens: int
    output_tokens: int
    cost_nano_usd: int | None
    latency_us: int
    ttft_us: int | None
    status: str
    error_type: str | None


@dataclass(frozen=True, slots=True)
class TagKey:
    key: str
    calls: int
    """Calls in the range carrying it."""
    values: int
    """Its distinct values among them."""


async def recent_calls(
    conn: psycopg.AsyncConnection, project_id: int, start: datetime, end: datetime,
    filters: Filters, limit: int, offset: int = 0,
) -> list[RecentCall]:
    """The newest calls in [start, end), newest first, after skipping `offset` of them."""
    conditions, filter_params = filters.sql()
    params: dict[str, Any] = {"project_id": project_id, "start": start, "end": end,
                              "limit": limit, "offset": offset, **filter_params}
    async with conn.cursor(row_factory=class_row(RecentCall)) as cur:
        await cur.execute(queries.recent_calls(conditions), params)
        return await cur.fetchall()


async def find_call(conn: psycopg.AsyncConnection, project_id: int, trace_id: bytes,
                    span_id: bytes) -> LlmCall | None:
    """One call, every column stored (its content never is)."""
    async with conn.cursor(row_factory=class_row(LlmCall)) as cur:
        await cur.execute(queries.FIND_CALL, {"project_id": project_id, "trace_id": trace_id,
                                              "span_id": span_id})
        return await cur.fetchone()


async def tag_keys(conn: psycopg.AsyncConnection, project_id: int, start: datetime,
                   end: datetime, filters: Filters, limit: int) -> list[TagKey]:
    """The tag keys of the calls in [start, end), the most used first (read from llm_calls:
    no aggregate holds tags)."""
    conditions, filter_params = filters.sql()
    params: dict[str, Any] = {"project_id": project_id, "start": start, "end": end,
                              "limit": limit, **filter_params}
    async with conn.cursor(row_factory=class_row(TagKey)) as cur:
        await cur.execute(queries.tag_keys(conditions), params)
        return await cur.fetchall()
