"""Re-pricing stored calls after a price change: the pricing stage run again over a time range.

Calls whose cost was reported by their instrumentation are never touched. The range is walked
an hour at a time per project; each hour is one transaction that locks its calls, rewrites the
costs that changed and moves the aggregates by exactly the difference (rollup tables), so an
interrupted run leaves every hour either done or untouched, and running it again finds nothing
left to change there. With continuous aggregates, the invalidated buckets are refreshed at the
end. Calls older than the raw-data retention are gone and cannot be re-priced.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg

from spantally.store import Database, StorageMode, queries
from spantally.store.prices import list_prices

from .pricing import Pricer, ProjectPrices

__all__ = ["RepriceTotals", "reprice"]

_HOUR = timedelta(hours=1)


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


def _windows(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    out = []
    cursor = start
    while cursor < end:
        following = min(end, cursor.replace(minute=0, second=0, microsecond=0) + _HOUR)
        out.append((cursor, following))
        cursor = following
    return out


def _new_price(prices: ProjectPrices, row: tuple[Any, ...]) -> tuple[int | None, str | None]:
    (at, _, _, provider, model, _, _, _, status, input_tokens, output_tokens, cache_read,
     cache_write, _, _) = row[:15]
    if status != "error" and not (input_tokens or output_tokens):
        return None, None  # a successful call that reported no usage is unpriced, not free
    priced = prices(provider, model, at, input_tokens, output_tokens, cache_read, cache_write)
    return priced if priced is not None else (None, None)


async def reprice(
    database: Database,
    start: datetime,
    end: datetime,
    project: str | None = None,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
    pricer: Pricer | None = None,
) -> list[RepriceTotals]:
    """Recompute costs of the calls in [start, end) of one project (id or name) or all.
    `progress(done, total)` is called after each hour."""
    pricer = pricer or Pricer()
    async with database.pool.connection() as conn:
        if project is None:
            cur = await conn.execute(queries.LIST_PROJECT_IDS)
        else:
            cur = await conn.execute(queries.FIND_PROJECT_BY_ID_OR_NAME, (project, project))
        projects = await cur.fetchall()
    if project is not None and not projects:
        raise LookupError(f"no project {project!r}")
    windows = _windows(start, end)
    total, done = len(windows) * len(projects), 0
    results = []
    for project_id, name in projects:
        totals = RepriceTotals(project_id, name)
        async with database.pool.connection() as conn:
            prices = ProjectPrices(await list_prices(conn, project_id), pricer)
            cur = await conn.execute(queries.COST_TOTALS, (project_id, start, end))
            cost, unpriced, calls = await cur.fetchone()  # type: ignore[misc]
            totals.old_cost_nano_usd = totals.new_cost_nano_usd = cost
            totals.old_unpriced = totals.new_unpriced = unpriced
            totals.calls = calls
            if not dry_run:
                await conn.execute(queries.CREATE_REPRICE_TABLE)
            await conn.commit()  # each hour below is then a transaction of its own
            for window_start, window_end in windows:
                await _reprice_window(conn, database.mode, project_id, prices, window_start,
                                      window_end, dry_run, totals)
                done += 1
                if progress is not None:
                    progress(done, total)
        results.append(totals)
    if not dry_run and database.mode is StorageMode.TIMESCALE:
        await _refresh_aggregates(database)
    return results


async def _reprice_window(conn: psycopg.AsyncConnection, mode: StorageMode | None,
                          project_id: int, prices: ProjectPrices, start: datetime,
                          end: datetime, dry_run: bool, totals: RepriceTotals) -> None:
    async with conn.transaction():
        select = queries.REPRICE_SELECT
        if dry_run:
            select = select.replace("FOR UPDATE", "")
        cur = await conn.execute(select, (project_id, start, end))
        rows = await cur.fetchall()
        changes = []
        for row in rows:
            old_cost, old_source = row[13], row[14]
            new_cost, new_source = _new_price(prices, row)
            if (new_cost, new_source) != (old_cost, old_source):
                changes.append((*row[:9], *row[15:18], old_cost, new_cost, new_source))
                totals.new_cost_nano_usd += (new_cost or 0) - (old_cost or 0)
                totals.new_unpriced += (new_cost is None) - (old_cost is None)
        totals.examined += len(rows)
        totals.changed += len(changes)
        if dry_run or not changes:
            return
        async with conn.cursor().copy(queries.COPY_REPRICE) as copy:
            for change in changes:
                await copy.write_row(change)
        await conn.execute(queries.REPRICE_UPDATE_CALLS, (project_id,))
        if mode is not StorageMode.TIMESCALE:
            for statement in (queries.REPRICE_ROLLUP_HOURLY, queries.REPRICE_ROLLUP_DAILY,
                              queries.REPRICE_TOTAL_HOURLY, queries.REPRICE_TOTAL_DAILY,
                              queries.REPRICE_USER_DAILY):
                await conn.execute(statement, (project_id,))


async def _refresh_aggregates(database: Database) -> None:
    now = datetime.now(timezone.utc)
    hourly_end = now.replace(minute=0, second=0, microsecond=0) - _HOUR
    daily_end = (now - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    async with database.pool.connection() as conn:
        await conn.set_autocommit(True)  # refresh_continuous_aggregate needs it
        try:
            for statement, unit in queries.REFRESHES:
                await conn.execute(statement, (hourly_end if unit == "hour" else daily_end,))
        finally:
            await conn.set_autocommit(False)
