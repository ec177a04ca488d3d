"""The tag keys a project declares: its tag aggregates (catalog `Aggregate.per_tag`) hold a row
per value of each, so questions about one of those tags read whole hours and days instead of
raw rows. New projects declare `feature`, `customer` and `team` (the column's default)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from . import ddl
from .catalog import TAG_AGGREGATES, Grain

__all__ = ["MAX_TAG_KEYS", "TAG_KEY_PATTERN", "ProjectTagKeys", "TagKeysChange",
           "declare_tag_keys", "declared_tag_keys", "project_tag_keys"]

MAX_TAG_KEYS = 16
"""At most this many keys: every call adds a row per declared key to each tag aggregate's
batch (bench/analytics.py measures what the default three cost at ingest)."""

TAG_KEY_PATTERN = r"^[^\x00-\x20\x7f]{1,128}$"
"""What a declared tag key is: 1 to 128 characters, none a space or a control character
(explicit ranges, which JSON Schema's and Python's regular expressions read alike)."""
_KEY = re.compile(TAG_KEY_PATTERN)

_DECLARED = "SELECT tag_keys, tag_keys_filling FROM projects WHERE id = %(project_id)s"
_LOCK = sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(
    sql.SQL(", ").join(sql.Identifier(a.name) for a in TAG_AGGREGATES))
# Held by a declaration from start to end (a session lock: it spans the day transactions), so
# that two declarations for one project take turns.
_ONE_AT_A_TIME = "SELECT pg_advisory_lock(hashtextextended('spantally.tag_keys', %(project_id)s))"
_NEXT_ONE = "SELECT pg_advisory_unlock(hashtextextended('spantally.tag_keys', %(project_id)s))"
_SET = """UPDATE projects SET tag_keys = %(tag_keys)s, tag_keys_filling = %(filling)s
WHERE id = %(project_id)s"""
_FILLED = "UPDATE projects SET tag_keys_filling = '{}' WHERE id = %(project_id)s"
_SPAN = "SELECT min(time), max(time) FROM llm_calls WHERE project_id = %(project_id)s"
_EVER = (datetime(1970, 1, 1, tzinfo=timezone.utc), datetime(9999, 1, 1, tzinfo=timezone.utc))
_DAY = Grain.DAY


@dataclass(frozen=True, slots=True)
class ProjectTagKeys:
    declared: tuple[str, ...]
    """Every key declared, in the order given."""
    filling: tuple[str, ...]
    """Those whose rows are still being filled (questions about them read raw rows)."""


@dataclass(frozen=True, slots=True)
class TagKeysChange:
    keys: tuple[str, ...]
    """The keys declared now, in the order given."""
    added: tuple[str, ...]
    removed: tuple[str, ...]
    rows_filled: int
    """Rows of the tag aggregates computed from the raw calls still held, for the added keys
    (and any left half filled by a declaration that did not finish)."""


async def project_tag_keys(conn: psycopg.AsyncConnection, project_id: int) -> ProjectTagKeys:
    row = await (await conn.execute(_DECLARED, {"project_id": project_id})).fetchone()
    return ProjectTagKeys(tuple(row[0]), tuple(row[1])) if row else ProjectTagKeys((), ())


async def declared_tag_keys(conn: psycopg.AsyncConnection, project_id: int) -> frozenset[str]:
    """The tag keys the project's tag aggregates answer for (Question.tag_keys): declared
    and filled."""
    found = await project_tag_keys(conn, project_id)
    return frozenset(found.declared) - frozenset(found.filling)


def _checked(keys: tuple[str, ...]) -> tuple[str, ...]:
    bad = [k for k in keys if not _KEY.match(k)]
    if bad:
        raise ValueError(f"tag keys: {bad[0]!r} is not a tag key (1 to 128 characters, "
                         "no space or control character)")
    unique = tuple(dict.fromkeys(keys))
    if len(unique) > MAX_TAG_KEYS:
        raise ValueError(f"tag keys: at most {MAX_TAG_KEYS} keys, not {len(unique)}")
    return unique


async def declare_tag_keys(conn: psycopg.AsyncConnection, project_id: int,
                           keys: tuple[str, ...]) -> TagKeysChange:
    """Make `keys` the project's declared tag keys (ValueError: not keys). Questions about an
    added key are answered from the tag aggregates once its rows are filled from the raw calls
    still held (older calls than the raw retention are then in no tag aggregate: a range
    reaching back further reads what raw rows remain, as before the key was declared).

    First, in one transaction, the keys are set, the rows of the keys left out deleted, and
    the added keys marked as filling (projects.tag_keys_filling): from then on every write
    keeps them, but no question reads them. Then each UTC day holding calls from before is
    computed again from its raw calls, a day per transaction, the tag aggregates locked against
    writers meanwhile (SHARE ROW EXCLUSIVE: a batch being written is waited for, one arriving
    waits): whatever writes added to that day is replaced by the day's exact figures, so no
    call is counted twice or missed, and writers wait for one day's calls at a time. Last, the
    keys are marked filled. A declaration that stops half way leaves its keys filling (read
    from raw rows); declaring them again fills them. The connection's transaction, if one is
    open, is committed first."""
    keys = _checked(keys)
    params: dict[str, Any] = {"project_id": project_id}
    if conn.info.transaction_status is not TransactionStatus.IDLE:
        await conn.commit()  # each step below is a transaction of its own
    async with conn.transaction():
        await conn.execute(_ONE_AT_A_TIME, params)
    try:
        return await _declare(conn, params, keys)
    finally:
        async with conn.transaction():
            await conn.execute(_NEXT_ONE, params)


async def _declare(conn: psycopg.AsyncConnection, params: dict[str, Any],
                   keys: tuple[str, ...]) -> TagKeysChange:
    async with conn.transaction():
        await conn.execute(_LOCK)
        row = await (await conn.execute(_DECLARED, params)).fetchone()
        if row is None:
            raise ValueError(f"no project {params['project_id']}")
        before, filling = tuple(row[0]), set(row[1])
        added = tuple(k for k in keys if k not in before)
        removed = tuple(sorted(set(before) - set(keys)))
        to_fill = [k for k in keys if k in added or k in filling]
        await conn.execute(_SET, {**params, "tag_keys": list(keys), "filling": to_fill})
        if removed:
            for a in TAG_AGGREGATES:
                await conn.execute(ddl.delete_tag_keys(a), {
                    **params, "tag_keys": list(removed), "start": _EVER[0], "end": _EVER[1]})
        first, last = (await (await conn.execute(_SPAN, params)).fetchone()) or (None, None)
    filled = 0
    if to_fill and first is not None:
        day = _DAY.floor(first)
        while day <= last:
            window = {**params, "tag_keys": to_fill, "start": day, "end": day + _DAY.width}
            async with conn.transaction():
                await conn.execute(_LOCK)
                for a in TAG_AGGREGATES:  # each after the aggregate it is computed from
                    await conn.execute(ddl.delete_tag_keys(a), window)
                    filled += (await conn.execute(ddl.fill_tag_keys(a), window)).rowcount
            day += _DAY.width
    if to_fill:
        async with conn.transaction():
            await conn.execute(_FILLED, params)
    return TagKeysChange(keys, added, removed, filled)
