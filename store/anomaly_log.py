"""Anomalies with a lifecycle: a periodic detector judges each project's complete UTC hours
once (store.anomalies' rules, over all its calls) and keeps what it finds in `anomalies`.

An anomaly is *active* from the hour it began while each following hour still shows it (the
same kind in the same scope), *resolved* from the first hour that does not, and *dismissed*
once a user dismisses it (it stays dismissed; the next time the condition begins after it
cleared is a new anomaly). Its id is the one detection on request gives its first hour
(store.anomalies.anomaly_id). One process at a time judges (an advisory lock); each project's
hours and their verdicts commit together with its watermark, so a round that fails or runs
twice neither loses nor repeats an hour. Hours without any call to judge (nor a baseline) are
not marked judged: a new project's first calls are judged when they come, even into past
hours.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Final

import psycopg
from psycopg import sql
from psycopg.rows import class_row, dict_row

from .anomalies import Anomaly, AnomalyRules, anomaly_id, detect_anomalies, hourly_measures
from .catalog import Grain
from .database import Database

__all__ = ["ANOMALY_STATUSES", "StoredAnomaly", "dismiss_anomaly", "judge_hours",
           "list_stored_anomalies"]

log = logging.getLogger("spantally.store")

ANOMALY_STATUSES: Final = ("active", "resolved", "dismissed")
_HOUR: Final = timedelta(hours=1)
_CATCH_UP: Final = timedelta(hours=24)
"""How far back a project's first round (or one after a long stop) judges."""
_LOCK: Final = "SELECT pg_try_advisory_lock(7342165007) AS locked"
_UNLOCK: Final = "SELECT pg_advisory_unlock(7342165007)"
_RULES: Final = AnomalyRules()
_PROJECTS: Final = "SELECT id FROM projects ORDER BY id"
_WATERMARK: Final = ("SELECT judged_until FROM anomaly_watermarks WHERE project_id = %s"
                     " FOR UPDATE")


@dataclass(frozen=True, slots=True)
class StoredAnomaly:
    id: str
    kind: str
    scope: str
    scope_key: str | None
    first_hour: datetime
    """The UTC hour it began in."""
    last_hour: datetime
    """The last hour that showed it."""
    detected_at: datetime
    severity: str
    expected: float
    actual: float
    baseline_days: int
    z_score: float | None
    cleared_at: datetime | None
    """The start of the first hour that no longer showed it (None: it still holds)."""
    dismissed_at: datetime | None

    @property
    def status(self) -> str:
        if self.dismissed_at is not None:
            return "dismissed"
        return "active" if self.cleared_at is None else "resolved"

    def as_anomaly(self) -> Anomaly:
        """As detected in its first hour."""
        return Anomaly(self.first_hour, self.kind, self.scope, self.scope_key, self.severity,
                       self.expected, self.actual, self.baseline_days, self.z_score)


_COLUMNS = sql.SQL(", ").join(sql.Identifier(name) for name in StoredAnomaly.__slots__)

_STATUS_CONDITIONS: Final = {
    "active": "dismissed_at IS NULL AND cleared_at IS NULL",
    "resolved": "dismissed_at IS NULL AND cleared_at IS NOT NULL",
    "dismissed": "dismissed_at IS NOT NULL",
}


async def list_stored_anomalies(conn: psycopg.AsyncConnection, project_id: int,
                                start: datetime, end: datetime,
                                statuses: Sequence[str] = ANOMALY_STATUSES,
                                scope: str | None = None) -> list[StoredAnomaly]:
    """The stored anomalies that held at some time in [start, end) with one of `statuses`
    (and of `scope`), newest first, then by severity."""
    conditions = sql.SQL(" OR ").join(sql.SQL(_STATUS_CONDITIONS[s]) for s in statuses)
    statement = sql.SQL(
        "SELECT {columns} FROM anomalies WHERE project_id = %(project_id)s"
        " AND first_hour < %(end)s AND last_hour + interval '1 hour' > %(start)s"
        " AND ({conditions}) AND (%(scope)s::text IS NULL OR scope = %(scope)s)"
        " ORDER BY first_hour DESC,"
        " array_position(ARRAY['high', 'medium', 'low'], severity), kind, scope, scope_key"
    ).format(columns=_COLUMNS, conditions=conditions)
    async with conn.cursor(row_factory=class_row(StoredAnomaly)) as cur:
        await cur.execute(statement, {"project_id": project_id, "start": start, "end": end,
                                      "scope": scope})
        return await cur.fetchall()


async def dismiss_anomaly(conn: psycopg.AsyncConnection, project_id: int,
                          anomaly: str) -> StoredAnomaly | None:
    """Dismiss a stored anomaly (again: no change); None when the project has no such one."""
    statement = sql.SQL(
        "UPDATE anomalies SET dismissed_at = coalesce(dismissed_at, now())"
        " WHERE project_id = %(project_id)s AND id = %(id)s RETURNING {columns}"
    ).format(columns=_COLUMNS)
    async with conn.cursor(row_factory=class_row(StoredAnomaly)) as cur:
        await cur.execute(statement, {"project_id": project_id, "id": anomaly})
        return await cur.fetchone()


# -- the detector ------------------------------------------------------------------------------

async def judge_hours(db: Database, rules: AnomalyRules = _RULES,
                      now: datetime | None = None) -> int | None:
    """One round: every project's complete hours not judged yet (at most the last 24), judged
    and stored. The number of project-hours judged, or None when another process holds the
    detector's lock (it is doing this)."""
    until = Grain.HOUR.floor(now or datetime.now(timezone.utc))
    async with db.pool.connection() as conn:
        async with conn.cursor(row_factory=dict_row) as cur:
            locked = await (await cur.execute(_LOCK)).fetchone()
            if not locked or not locked["locked"]:
                return None
            projects = await (await cur.execute(_PROJECTS)).fetchall()
        try:
            judged = 0
            for project in projects:
                judged += await _judge_project(conn, project["id"], until, rules, now or until)
            return judged
        finally:
            await conn.execute(_UNLOCK)


async def _judge_project(conn: psycopg.AsyncConnection, project_id: int, until: datetime,
                         rules: AnomalyRules, now: datetime) -> int:
    async with conn.transaction():
        async with conn.cursor(row_factory=dict_row) as cur:
            mark = await (await cur.execute(_WATERMARK, (project_id,))).fetchone()
        start = until - _CATCH_UP
        if mark is not None:
            start = max(mark["judged_until"], start)
        hours = [start + i * _HOUR for i in range(max(0, (until - start) // _HOUR))]
        if not hours:
            return 0
        hourly = await hourly_measures(conn, project_id, hours, rules=rules)
        if not any(series for by_key in hourly.values() for series in by_key.values()):
            # No calls yet in these hours and their baseline: judged once calls come (those
            # `spantally demo` sends into past hours, say), not skipped for good.
            return 0
        found = detect_anomalies(hourly, hours, rules)
        by_hour: dict[datetime, list[Anomaly]] = {}
        for anomaly in found:
            by_hour.setdefault(anomaly.hour, []).append(anomaly)
        for hour in hours:
            await _record_hour(conn, project_id, hour, by_hour.get(hour, []), now)
        await conn.execute(
            "INSERT INTO anomaly_watermarks (project_id, judged_until) VALUES (%s, %s)"
            " ON CONFLICT (project_id) DO UPDATE SET judged_until = excluded.judged_until",
            (project_id, until))
    if found:
        log.info("project %s: %d anomalies in %d hours up to %s", project_id, len(found),
                 len(hours), until.isoformat())
    return len(hours)


async def _record_hour(conn: psycopg.AsyncConnection, project_id: int, hour: datetime,
                       found: list[Anomaly], now: datetime) -> None:
    """Extend the open anomalies `hour` shows again, open those it shows first, and clear
    the open ones it does not show."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT id, kind, scope, scope_key FROM anomalies"
                          " WHERE project_id = %s AND cleared_at IS NULL", (project_id,))
        open_ids = {(r["kind"], r["scope"], r["scope_key"]): r["id"]
                    for r in await cur.fetchall()}
    shown = {(a.kind, a.scope, a.key): a for a in found}
    cleared = [i for key, i in open_ids.items() if key not in shown]
    extended = [i for key, i in open_ids.items() if key in shown]
    if cleared:
        await conn.execute("UPDATE anomalies SET cleared_at = %s"
                           " WHERE project_id = %s AND id = ANY(%s)", (hour, project_id, cleared))
    if extended:
        await conn.execute("UPDATE anomalies SET last_hour = %s"
                           " WHERE project_id = %s AND id = ANY(%s)", (hour, project_id, extended))
    new = [a for key, a in shown.items() if key not in open_ids]
    if new:
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO anomalies (project_id, id, kind, scope, scope_key, first_hour,"
                " last_hour, detected_at, severity, expected, actual, baseline_days, z_score)"
                " VALUES (%(project_id)s, %(id)s, %(kind)s, %(scope)s, %(key)s, %(hour)s,"
                " %(hour)s, %(now)s, %(severity)s, %(expected)s, %(actual)s, %(days)s, %(z)s)"
                " ON CONFLICT (project_id, id) DO NOTHING",
                [_row(project_id, a, now) for a in new])


def _row(project_id: int, a: Anomaly, now: datetime) -> dict[str, Any]:
    return {"project_id": project_id, "id": anomaly_id(a.kind, a.scope, a.key, a.hour),
            "kind": a.kind, "scope": a.scope, "key": a.key, "hour": a.hour,
            "now": max(now, a.hour + _HOUR), "severity": a.severity, "expected": a.expected,
            "actual": a.actual, "days": a.baseline_days, "z": a.z_score}
