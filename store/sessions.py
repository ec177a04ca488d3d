"""Sessions: the calls sharing a session id, each summarized, and all of them together.

Without filters they are read from llm_sessions (store.catalog.SESSIONS, a row per session that
the writers keep), over any range: a session whose calls all lie in the range is its row, one
with calls on both sides of an edge is computed from its calls in the range. Under a filter
only the matching calls count, so they are grouped from llm_calls (the raw-range limit applies,
unless the filter is one session or one user, which an index narrows).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row, dict_row

from . import queries
from .catalog import RAW, SESSIONS
from .executor import Explain, ReadReport
from .question import Filters

__all__ = ["SESSION_ORDERS", "Session", "SessionsSummary", "list_sessions", "sessions_page",
           "sessions_stored", "sessions_summary"]

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


def sessions_stored(filters: Filters) -> bool:
    """Whether sessions under `filters` are read from llm_sessions (over any range): only
    without filters, each session's row counting all of its calls."""
    return filters == Filters()


def _params(project_id: int, start: datetime, end: datetime,
            filters: Filters) -> tuple[Any, dict[str, Any]]:
    conditions, params = filters.sql()
    return conditions, {**params, "project_id": project_id, "start": start, "end": end}


def _report(explain: Explain | None, conn: psycopg.AsyncConnection, statement: Any,
            params: dict[str, Any], start: datetime, end: datetime, calls: int, rows: int,
            began: float, stored: bool) -> None:
    if explain is not None:
        explain.reads.append(ReadReport(SESSIONS if stored else RAW, ((start, end),),
                                        statement.as_string(conn), params,
                                        calls, rows,
                                        round((time.perf_counter() - began) * 1000, 3)))


async def list_sessions(conn: psycopg.AsyncConnection, project_id: int, start: datetime,
                        end: datetime, filters: Filters, order: str, limit: int,
                        offset: int = 0, explain: Explain | None = None) -> list[Session]:
    """The sessions with calls in [start, end) (only those calls count), in `order`."""
    conditions, params = _params(project_id, start, end, filters)
    params = {**params, "limit": limit, "offset": offset}
    stored = sessions_stored(filters)
    statement = queries.sessions(conditions, order, one_session=filters.session_id is not None,
                                 stored=stored)
    began = time.perf_counter()
    async with conn.cursor(row_factory=class_row(Session)) as cur:
        await cur.execute(statement, params)
        found = await cur.fetchall()
    _report(explain, conn, statement, params, start, end, sum(s.calls for s in found),
            len(found), began, stored)
    return found


async def sessions_summary(conn: psycopg.AsyncConnection, project_id: int, start: datetime,
                           end: datetime, filters: Filters,
                           explain: Explain | None = None) -> SessionsSummary:
    conditions, params = _params(project_id, start, end, filters)
    stored = sessions_stored(filters)
    statement = queries.sessions_summary(conditions, one_session=filters.session_id is not None,
                                         stored=stored)
    began = time.perf_counter()
    async with conn.cursor(row_factory=class_row(SessionsSummary)) as cur:
        await cur.execute(statement, params)
        summary = await cur.fetchone()
    assert summary is not None
    _report(explain, conn, statement, params, start, end, summary.calls, 1, began, stored)
    return summary


async def sessions_page(conn: psycopg.AsyncConnection, project_id: int, start: datetime,
                        end: datetime, filters: Filters, order: str, limit: int,
                        offset: int = 0, explain: Explain | None = None
                        ) -> tuple[list[Session], SessionsSummary]:
    """A page of `list_sessions` and the `sessions_summary`. From llm_sessions, two reads (a
    page by start comes from an index); under filters, the calls grouped by session once for
    both (a page and a summary each grouping them cost twice that)."""
    if sessions_stored(filters):
        found = await list_sessions(conn, project_id, start, end, filters, order, limit, offset,
                                    explain)
        return found, await sessions_summary(conn, project_id, start, end, filters, explain)
    conditions, params = _params(project_id, start, end, filters)
    params = {**params, "limit": limit, "offset": offset}
    statement = queries.sessions_grouped_once(conditions, order,
                                              one_session=filters.session_id is not None)
    began = time.perf_counter()
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(statement, params)
        rows = await cur.fetchall()
    prefix = queries.SESSIONS_SUMMARY_PREFIX
    summary = SessionsSummary(**{f.name: rows[0][prefix + f.name] for f in fields(SessionsSummary)})
    found = [Session(**{f.name: row[f.name] for f in fields(Session)})
             for row in rows if row["session_id"] is not None]
    _report(explain, conn, statement, params, start, end, summary.calls, len(found), began,
            stored=False)
    return found, summary
