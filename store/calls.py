"""The calls themselves, newest first, with the analytics filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row

from . import queries
from .question import Filters

__all__ = ["RecentCall", "recent_calls"]


@dataclass(frozen=True, slots=True)
class RecentCall:
    time: datetime
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


async def recent_calls(
    conn: psycopg.AsyncConnection, project_id: int, start: datetime, end: datetime,
    filters: Filters, limit: int,
) -> list[RecentCall]:
    """The newest calls in [start, end), newest first."""
    conditions, filter_params = filters.sql()
    params: dict[str, Any] = {"project_id": project_id, "start": start, "end": end,
                              "limit": limit, **filter_params}
    async with conn.cursor(row_factory=class_row(RecentCall)) as cur:
        await cur.execute(queries.recent_calls(conditions), params)
        return await cur.fetchall()
