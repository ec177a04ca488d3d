"""What a user does to a stored anomaly: dismiss it (the hourly detector stores them,
store.anomaly_log; GET /api/analytics/anomalies?status=... lists them)."""

from __future__ import annotations

import re

from aiohttp import web

from spantally.common.errors import NotFound
from spantally.store import dismiss_anomaly

from . import models
from .route import Route
from .services import SERVICES_KEY, project_of
from .shape import stored_anomaly_row

__all__ = ["ROUTES"]

_ID = re.compile(r"anomaly_[0-9a-f]{16}")


async def _dismiss(request: web.Request) -> web.Response:
    project_id = await project_of(request)
    anomaly = request.match_info["id"]
    found = None
    if _ID.fullmatch(anomaly):
        async with request.app[SERVICES_KEY].database.pool.connection() as conn:
            found = await dismiss_anomaly(conn, project_id, anomaly)
    if found is None:
        raise NotFound(f"no stored anomaly {anomaly[:80]!r} in this project (ids are "
                       "anomaly_ and 16 hexadecimal digits, from "
                       "GET /api/analytics/anomalies?status=active)")
    row = stored_anomaly_row(found)
    return web.json_response({"id": row["id"], "status": row["status"],
                              "dismissedAt": row["dismissedAt"]})


ROUTES: tuple[Route, ...] = (
    Route("POST", "/api/analytics/anomalies/{id}/dismiss", _dismiss,
          "Dismiss a stored anomaly (again: no change)", models.DismissedAnomaly, errors=(404,),
          description="It stays dismissed while its condition holds; the next time the "
          "condition begins is a new anomaly.",
          parameters=({"name": "id", "in": "path", "required": True,
                       "schema": {"type": "string", "pattern": "^anomaly_[0-9a-f]{16}$"}},)),
)
