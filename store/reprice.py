"""Re-pricing stored calls after a price change: a store operation, given the price function.

Calls whose cost was reported by their instrumentation are never touched. The range is walked
an hour at a time per project; each hour is one transaction that takes the project's re-pricing
lock (re-pricings of one project take turns; rows are not locked), rewrites the
costs that changed, moves every aggregate of the catalog by exactly the difference (rollup
tables) and recomputes the roll-ups of the agent runs above those calls, so an interrupted run leaves every hour either done or untouched, and running it
again finds nothing left to change there. With continuous aggregates, the invalidated buckets
are refreshed at the end. Calls older than the raw-data retention are gone and cannot be
re-priced.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

import psycopg
from psycopg.rows import class_row, dict_row

from . import ddl, queries
from .catalog import CALLS, CONTINUOUS_AGGREGATES, RUNS
from .database import Database, StorageMode
from .prices import ModelPrice, list_prices
from .runs import recompute_runs

__all__ = ["CallPricer", "PricesFor", "RepriceTotals", "reprice"]

_HOUR = timedelta(hours=1)


class CallPricer(Protocol):
    """A project's price function: (cost in nano-USD, its source), or None when no price
    applies."""

    def __call__(self, provider: str | None, model: str | None, at: datetime,
                 input_tokens: int, output_tokens: int, cache_read_tokens: int = 0,
                 cache_write_tokens: int = 0) -> tuple[int, str] | None: ...


PricesFor = Callable[[list[ModelPrice]], CallPricer]
"""Makes a project's price function from its custom prices."""


@dataclass
class RepriceTotals:
    """One project's range, before and after (for a dry run: as it would be after)."""

    project_id: int
    project: str
    calls: int = 0
    examined: int = 0
    """Calls whose cost SpanTally computed (not reported), and so could change."""
    changed: int = 0
    old_cost_nano_usd: int = 0
    new_cost_nano_usd: int = 0
    old_unpriced: int = 0
    new_unpriced: int = 0


@dataclass(frozen=True, slots=True)
class _Project:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class _CostTotals:
    cost_nano_usd: int
    unpriced: int
    calls: int


def _windows(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    out = []
    cursor = start
    while cursor < end:
        following = min(end, cursor.replace(minute=0, second=0, microsecond=0) + _HOUR)
        out.append((cursor, following))
        cursor = following
    return out


def _new_price(prices: CallPricer, call: dict[str, Any]) -> tuple[int | None, str | None]:
    if call["status"] != "error" and not (call["input_tokens"] or call["output_tokens"]):
        return None, None  # a successful call that reported no usage is unpriced, not free
    priced = prices(call["provider"], call["model"], call["time"], call["input_tokens"],
                    call["output_tokens"], call["cache_read_tokens"], call["cache_write_tokens"])
    return priced if priced is not None else (None, None)


async def reprice(
    database: Database,
    start: datetime,
    end: datetime,
    prices_for: PricesFor,
    project: str | None = None,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> list[RepriceTotals]:
    """Recompute costs of the calls in [start, end) of one project (id or name) or all.
    `progress(done, total)` is called after each hour."""
    async with database.pool.connection() as conn:
        async with conn.cursor(row_factory=class_row(_Project)) as cur:
            if project is None:
                await cur.execute(queries.LIST_PROJECT_IDS)
            else:
                await cur.execute(queries.FIND_PROJECT_BY_ID_OR_NAME, (project, project))
            projects = await cur.fetchall()
    if project is not None and not projects:
        raise LookupError(f"no project {project!r}")
    windows = _windows(start, end)
    total, done = len(windows) * len(projects), 0
    results = []
    for found in projects:
        totals = RepriceTotals(found.id, found.name)
        async with database.pool.connection() as conn:
            prices = prices_for(await list_prices(conn, found.id))
            async with conn.cursor(row_factory=class_row(_CostTotals)) as cur:
                await cur.execute(queries.COST_TOTALS, (found.id, start, end))
                before = await cur.fetchone()
            assert before is not None
            totals.old_cost_nano_usd = totals.new_cost_nano_usd = before.cost_nano_usd
            totals.old_unpriced = totals.new_unpriced = before.unpriced
            totals.calls = before.calls
            if not dry_run:
                await conn.execute(ddl.CREATE_REPRICE_CHANGES)
            await conn.commit()  # each hour below is then a transaction of its own
            for window_start, window_end in windows:
                await _reprice_window(conn, database.mode, found.id, prices, window_start,
                                      window_end, dry_run, totals)
                done += 1
                if progress is not None:
                    progress(done, total)
        results.append(totals)
    if not dry_run and database.mode is StorageMode.TIMESCALE:
        await _refresh_aggregates(database)
    return results


async def _reprice_window(conn: psycopg.AsyncConnection, mode: StorageMode | None,
                          project_id: int, prices: CallPricer, start: datetime,
                          end: datetime, dry_run: bool, totals: RepriceTotals) -> None:
    async with conn.transaction():
        async with conn.cursor(row_factory=dict_row) as cur:
            if not dry_run:
                await cur.execute(ddl.REPRICE_LOCK, {"project_id": project_id})
            await cur.execute(ddl.REPRICED_CALLS,
                              {"project_id": project_id, "start": start, "end": end})
            calls = await cur.fetchall()
        changes, changed = [], []
        for call in calls:
            new_cost, new_source = _new_price(prices, call)
            old_cost = call["cost_nano_usd"]
            if (new_cost, new_source) != (old_cost, call["cost_source"]):
                changes.append(ddl.reprice_change(call, new_cost, new_source))
                changed.append(call)
                totals.new_cost_nano_usd += (new_cost or 0) - (old_cost or 0)
                totals.new_unpriced += (new_cost is None) - (old_cost is None)
        totals.examined += len(calls)
        totals.changed += len(changes)
        if dry_run or not changes:
            return
        async with conn.cursor().copy(ddl.COPY_REPRICE_CHANGES) as copy:
            for change in changes:
                await copy.write_row(change)
        await conn.execute(queries.REPRICE_UPDATE_CALLS, (project_id,))
        timescale = mode is StorageMode.TIMESCALE
        for a in ddl.aggregates_kept(CALLS, timescale):  # the others: refreshed after
            await conn.execute(ddl.reprice_rollup(a), {"project_id": project_id})
        await conn.execute(ddl.REPRICE_SESSIONS, {"project_id": project_id})
        # The runs above the re-priced calls: their cost is their calls'.
        traces: dict[bytes, list[datetime]] = {}
        for call in changed:
            traces.setdefault(call["trace_id"], []).append(call["time"])
        await recompute_runs(conn, project_id, traces, ddl.aggregates_kept(RUNS, timescale))


async def _refresh_aggregates(database: Database) -> None:
    now = datetime.now(timezone.utc)
    async with database.pool.connection() as conn:
        await conn.set_autocommit(True)  # refresh_continuous_aggregate needs it
        try:
            for a in CONTINUOUS_AGGREGATES:
                await conn.execute(ddl.refresh(a, database.refreshes_in_one_pass),
                                   {"end": a.grain.refresh_end(now)})
        finally:
            await conn.set_autocommit(False)
