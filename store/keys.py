"""Projects and API keys. A key is `st_<key id>_<secret>`: the key id is public and indexed,
the secret is stored only as its SHA-256 and compared in constant time. Each key has scopes
(`SCOPES`): what it may do."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import psycopg
from psycopg.rows import class_row, dict_row

from . import queries

__all__ = [
    "ADMIN",
    "DEFAULT_SCOPES",
    "INGEST",
    "READ",
    "KEY_PREFIX",
    "SCOPES",
    "ApiKeyInfo",
    "KeyGrant",
    "ProjectLimits",
    "check_scopes",
    "project_limits",
    "set_project_limits",
    "ProjectInfo",
    "create_api_key",
    "ensure_project",
    "find_project",
    "list_api_keys",
    "list_projects",
    "parse_api_key",
    "resolve_api_key",
    "revoke_api_key",
]

KEY_PREFIX = "st"

INGEST: Final = "ingest"
READ: Final = "read"
ADMIN: Final = "admin"
SCOPES: Final = (INGEST, READ, ADMIN)
"""`ingest`: export spans (OTLP); `read`: analytics, calls, runs, prices and currencies as read;
`admin`: change prices and currencies. (The database's api_keys_scopes_known agrees.)"""
DEFAULT_SCOPES: Final = (INGEST, READ)
"""What a key can do unless it is given other scopes: what an application exporting spans and
a dashboard reading them need."""


@dataclass(frozen=True, slots=True)
class KeyGrant:
    """What a valid key resolves to."""

    project_id: int
    scopes: frozenset[str]
    key_id: str


@dataclass(frozen=True, slots=True)
class ProjectLimits:
    """A project's own rate limits (None: the default)."""

    spans_per_minute: int | None = None
    api_requests_per_second: float | None = None


async def project_limits(conn: psycopg.AsyncConnection, project_id: int) -> ProjectLimits | None:
    """The project's own rate limits, None when it has none."""
    async with conn.cursor(row_factory=class_row(ProjectLimits)) as cur:
        await cur.execute(queries.PROJECT_LIMITS, (project_id,))
        return await cur.fetchone()


async def set_project_limits(conn: psycopg.AsyncConnection, project_id: int,
                             limits: ProjectLimits) -> ProjectLimits:
    """Replace the project's own rate limits (a None field: back to the default). Every
    process reads them again within its cache's 30 s."""
    async with conn.cursor(row_factory=class_row(ProjectLimits)) as cur:
        await cur.execute(queries.SET_PROJECT_LIMITS, (project_id, limits.spans_per_minute,
                                                       limits.api_requests_per_second))
        row = await cur.fetchone()
    assert row is not None
    return row


def parse_api_key(key: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed key, else None."""
    parts = key.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


async def ensure_project(conn: psycopg.AsyncConnection, name: str) -> tuple[int, bool]:
    """The id of project `name`, creating it if needed; and whether it was created."""
    row = await (await conn.execute(queries.FIND_PROJECT, (name,))).fetchone()
    if row:
        return int(row[0]), False
    row = await (await conn.execute(queries.CREATE_PROJECT, (name,))).fetchone()
    assert row is not None
    return int(row[0]), True


def check_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """`scopes` in SCOPES' order; ValueError naming any unknown one, or none at all."""
    wanted = set(scopes)
    unknown = sorted(wanted - set(SCOPES))
    if unknown:
        raise ValueError(f"unknown scope {', '.join(unknown)}: the scopes are "
                         f"{', '.join(SCOPES)}")
    if not wanted:
        raise ValueError(f"a key needs at least one scope of {', '.join(SCOPES)}")
    return tuple(s for s in SCOPES if s in wanted)


async def create_api_key(conn: psycopg.AsyncConnection, project_id: int, name: str = "",
                         scopes: Iterable[str] = DEFAULT_SCOPES) -> str:
    """Create a key for the project with `scopes` and return it; this is the only time the
    secret exists."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    await conn.execute(queries.CREATE_API_KEY, (key_id, project_id, _digest(secret), name,
                                                list(check_scopes(scopes))))
    return f"{KEY_PREFIX}_{key_id}_{secret}"


async def resolve_api_key(conn: psycopg.AsyncConnection, key: str) -> KeyGrant | None:
    """The project and scopes of a valid, unrevoked key, else None."""
    parsed = parse_api_key(key)
    if parsed is None:
        return None
    key_id, secret = parsed
    async with conn.cursor(row_factory=dict_row) as cur:
        row = await (await cur.execute(queries.FIND_API_KEY, (key_id,))).fetchone()
    if row is None or not hmac.compare_digest(bytes(row["secret_sha256"]), _digest(secret)):
        return None
    await conn.execute(queries.TOUCH_API_KEY, (key_id,))
    return KeyGrant(int(row["project_id"]), frozenset(row["scopes"]), key_id)


@dataclass(frozen=True, slots=True)
class ProjectInfo:
    id: int
    name: str
    created_at: datetime
    active_keys: int


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    key_id: str
    name: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


async def list_projects(conn: psycopg.AsyncConnection) -> list[ProjectInfo]:
    async with conn.cursor(row_factory=class_row(ProjectInfo)) as cur:
        await cur.execute(queries.LIST_PROJECTS)
        return await cur.fetchall()


async def list_api_keys(conn: psycopg.AsyncConnection, project_id: int) -> list[ApiKeyInfo]:
    async with conn.cursor(row_factory=class_row(ApiKeyInfo)) as cur:
        await cur.execute(queries.LIST_API_KEYS, (project_id,))
        return await cur.fetchall()


async def revoke_api_key(conn: psycopg.AsyncConnection, key_id: str,
                         project_id: int | None = None) -> bool:
    """Revoke a key by its id (the part after `st_`), of `project_id` if given; False if no
    such active key. Every process caching keys hears of it when the transaction commits
    (`KEYS_CHANNEL`)."""
    row = await (await conn.execute(queries.REVOKE_API_KEY,
                                    {"key_id": key_id, "project_id": project_id})).fetchone()
    if row is None:
        return False
    await conn.execute(queries.NOTIFY_KEY_CHANGED, (key_id,))
    return True


async def find_project(conn: psycopg.AsyncConnection, project: str) -> ProjectInfo | None:
    """A project by its id or its name."""
    for info in await list_projects(conn):
        if str(info.id) == project or info.name == project:
            return info
    return None
