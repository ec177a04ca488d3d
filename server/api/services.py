"""What the API's handlers share: the services they call and the app keys that hold them."""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from spantally.collector import Authenticator, CollectorStats, Limiter
from spantally.collector.pricing import PriceBook
from spantally.common.errors import InvalidArgument, PermissionDenied, Unauthenticated
from spantally.store import ADMIN, READ, Database

from ..config import ApiConfig

__all__ = ["ADMIN_PREFIX", "CONFIG_KEY", "SERVER_ADMIN", "SERVICES_KEY", "ApiServices",
           "check_admin_token", "json_body", "project_of", "scope_for"]


@dataclass(frozen=True, slots=True)
class ApiServices:
    database: Database
    authenticator: Authenticator
    read_database: Database | None = None
    """Analytics read from here when set (a replica); everything else uses `database`."""
    collector_stats: CollectorStats | None = None
    queued_calls: Callable[[], int] | None = None
    prices: PriceBook | None = None
    """The collector's price book, told when a project's custom prices change."""
    limiter: Limiter | None = None
    """Requests per second per key (and refused keys per address): 429 beyond."""


CONFIG_KEY = web.AppKey("config", ApiConfig)
SERVICES_KEY = web.AppKey("services", ApiServices)


# The scope a request needs, by its method: reading is `read`, any change `admin`; and
# anything under the admin prefix (keys, limits) is `admin`, reading it too.
_SCOPE_OF_METHOD: dict[str, str] = {"GET": READ, "HEAD": READ}
ADMIN_PREFIX = "/api/admin/"


def scope_for(method: str, path: str) -> str:
    """The scope of the key an API request with `method` on `path` needs (SERVER_ADMIN: no
    key, the server's admin token)."""
    if path.startswith(ADMIN_PREFIX + "projects"):
        return SERVER_ADMIN
    if path.startswith(ADMIN_PREFIX):
        return ADMIN
    return _SCOPE_OF_METHOD.get(method, ADMIN)


SERVER_ADMIN = "server"
"""What /api/admin/projects needs instead of a key's scope: the server's admin token."""


def check_admin_token(request: web.Request) -> None:
    """The request carries the server's admin token (ApiConfig.admin_token), else 401/403;
    refusals count against the client's address like refused keys."""
    services = request.app[SERVICES_KEY]
    token = request.app[CONFIG_KEY].admin_token
    limiter = services.limiter
    if limiter is not None and request.remote:
        limiter.check_client(request.remote)
    given = request.headers.get("Authorization", "").strip()
    scheme, _, secret = given.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthenticated("missing the admin token: send 'Authorization: Bearer <token>'")
    if token is None or not hmac.compare_digest(secret.strip().encode(), token.encode()):
        if limiter is not None and request.remote:
            limiter.failed(request.remote)
        raise PermissionDenied("not the server's admin token" if token is not None else
                               "this server has no admin token (--admin-token, "
                               "SPANTALLY_ADMIN_TOKEN)")


async def project_of(request: web.Request) -> int:
    """The project of the request's API key, which must have the scope the request needs
    (401 without a key; 403 for an unknown or revoked one, or one without that scope; 429
    past the key's requests per second, or from an address that sent too many bad keys)."""
    services = request.app[SERVICES_KEY]
    grant = await services.authenticator.grant_for(
        request.headers.get("Authorization"), scope_for(request.method, request.path),
        request.remote)
    if services.limiter is not None:
        await services.limiter.api_request(grant.project_id, grant.key_id)
    return grant.project_id


async def json_body(request: web.Request) -> Any:
    try:
        return await request.json(loads=json.loads)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"the body is not valid JSON: {exc}") from None
