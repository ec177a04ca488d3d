"""Sessions: the calls sharing a session id, each summarized, and all of them together."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row

from . import queries
from .totals import Filters

__all__ = ["SESSION_ORDERS", "Session", "SessionsSummary", "list_sessions", "sessions_summary"]

SESSION_ORDERS = tuple(queries.SESSION_ORDER)


@dataclass(frozen=True, slots=True)
class Session:
    session_id: str
    started_at: datetime
    ended_at: datetime
    """When its last call ended (start plus latency)."""
    calls: int
    errors: int
    input_tokens: int
    output_tokens: int
    cost_nano_usd: int
    unpriced_calls: int
    user_id: str | None
    """Its user when its calls name exactly one."""
    agent_id: str | None
    """Its agent when its calls name exactly one."""


@dataclass(frozen=True, slots=True)
class SessionsSummary:
    sessions: int
    calls: int
    tokens: int
    cost_nano_usd: int
    duration_us: int


def _params(project_id: int, start: datetime, end: datetime,
            filters: Filters) -> tuple[Any, dict[str, Any]]:
    conditions, params = filters.sql()
    return conditions, {**params, "project_id": project_id, "start": start, "end": end}


async def list_sessions(conn: psycopg.AsyncConnection, project_id: int, start: datetime,
                        end: datetime, filters: Filters, order: str, limit: int,
                        offset: int = 0) -> list[Session]:
    """The sessions with calls in [start, end) (only those calls count), in `order`."""
    conditions, params = _params(project_id, start, end, filters)
    async with conn.cursor(row_factory=class_row(Session)) as cur:
        await cur.execute(queries.sessions(conditions, order),
                          {**params, "limit": limit, "offset": offset})
        return await cur.fetchall()


async def sessions_summary(conn: psycopg.AsyncConnection, project_id: int, start: datetime,
                           end: datetime, filters: Filters) -> SessionsSummary:
    conditions, params = _params(project_id, start, end, filters)
    cur = await conn.execute(queries.sessions_summary(conditions), params)
    row = await cur.fetchone()
    assert row is not None
    return SessionsSummary(*(int(v) for v in row))
