"""The tag keys a project declares: its tag aggregates (catalog `Aggregate.per_tag`) hold a row
per value of each, so questions about one of those tags read whole hours and days instead of
raw rows. New projects declare `feature`, `customer` and `team` (the column's default)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg
from psycopg import sql

from . import ddl
from .catalog import TAG_AGGREGATES

__all__ = ["MAX_TAG_KEYS", "TAG_KEY_PATTERN", "TagKeysChange", "declare_tag_keys",
           "declared_tag_keys"]

MAX_TAG_KEYS = 16
"""At most this many keys: every call adds a row per declared key to each tag aggregate's
batch (bench/analytics.py measures what the default three cost at ingest)."""

TAG_KEY_PATTERN = r"^[^\x00-\x20\x7f]{1,128}$"
"""What a declared tag key is: 1 to 128 characters, none a space or a control character
(explicit ranges, which JSON Schema's and Python's regular expressions read alike)."""
_KEY = re.compile(TAG_KEY_PATTERN)

_DECLARED = "SELECT tag_keys FROM projects WHERE id = %(project_id)s"
_LOCK = sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(
    sql.SQL(", ").join(sql.Identifier(a.name) for a in TAG_AGGREGATES))
_SET = "UPDATE projects SET tag_keys = %(tag_keys)s WHERE id = %(project_id)s"


@dataclass(frozen=True, slots=True)
class TagKeysChange:
    keys: tuple[str, ...]
    """The keys declared now, in the order given."""
    added: tuple[str, ...]
    removed: tuple[str, ...]
    rows_filled: int
    """Rows of the tag aggregates computed from the raw calls still held, for the added keys."""


async def declared_tag_keys(conn: psycopg.AsyncConnection, project_id: int) -> frozenset[str]:
    """The tag keys the project's tag aggregates hold."""
    row = await (await conn.execute(_DECLARED, {"project_id": project_id})).fetchone()
    return frozenset(row[0]) if row is not None else frozenset()


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
    """Make `keys` the project's declared tag keys (ValueError: not keys), in one transaction: the rows of the keys
    left out are deleted, the rows of the added ones computed from the raw calls still held
    (older calls than the raw retention are then in no tag aggregate: a question reaching back
    further reads what raw rows remain, as before the key was declared).

    The tag aggregates are locked against writers meanwhile (SHARE ROW EXCLUSIVE): a batch
    being written is waited for, and one arriving waits, then adds its calls under the new
    keys, so no call is counted twice or missed."""
    keys = _checked(keys)
    async with conn.transaction():
        await conn.execute(_LOCK)
        before = await declared_tag_keys(conn, project_id)
        added = tuple(k for k in keys if k not in before)
        removed = tuple(sorted(before - set(keys)))
        await conn.execute(_SET, {"project_id": project_id, "tag_keys": list(keys)})
        params = {"project_id": project_id, "tag_keys": list(removed)}
        if removed:
            for a in TAG_AGGREGATES:
                await conn.execute(ddl.delete_tag_keys(a), params)
        filled = 0
        if added:
            params["tag_keys"] = list(added)
            for a in TAG_AGGREGATES:  # each after the aggregate it is computed from
                filled += (await conn.execute(ddl.fill_tag_keys(a), params)).rowcount
    return TagKeysChange(keys, added, removed, filled)
