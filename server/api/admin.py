"""The admin API. Keys with the `admin` scope, for their own project: the project, its keys
(list, create with scopes, revoke), its rate limits and its declared tag keys. The server's admin token (not a
project's key: a key speaks for its project only) for creating and listing projects."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from spantally.common.errors import AlreadyExists, InvalidArgument, NotFound
from spantally.store import (
    SCOPES,
    ApiKeyInfo,
    ProjectInfo,
    ProjectLimits,
    check_scopes,
    create_api_key,
    declare_tag_keys,
    ensure_project,
    find_project,
    list_api_keys,
    list_projects,
    project_limits,
    project_tag_keys,
    revoke_api_key,
    set_project_limits,
)

from . import models
from .route import Route
from .services import ADMIN_PREFIX, SERVICES_KEY, check_admin_token, json_body, project_of
from .shape import iso_utc

__all__ = ["ROUTES", "key_json"]

def key_json(key: ApiKeyInfo) -> dict[str, Any]:
    return {"keyId": key.key_id, "name": key.name, "scopes": list(key.scopes),
            "createdAt": iso_utc(key.created_at),
            "lastUsedAt": iso_utc(key.last_used_at) if key.last_used_at else None,
            "revokedAt": iso_utc(key.revoked_at) if key.revoked_at else None}


def _limits_json(request: web.Request, own: ProjectLimits | None) -> dict[str, Any]:
    limiter = request.app[SERVICES_KEY].limiter
    defaults = limiter.defaults if limiter is not None else None
    return {
        "spansPerMinute": own.spans_per_minute if own else None,
        "apiRequestsPerSecond": own.api_requests_per_second if own else None,
        "defaults": {
            "spansPerMinute": defaults.spans_per_minute if defaults else None,
            "apiRequestsPerSecond": defaults.api_requests_per_second if defaults else None,
        },
    }


def _project_json(project: ProjectInfo) -> dict[str, Any]:
    return {"id": project.id, "name": project.name, "createdAt": iso_utc(project.created_at),
            "activeKeys": project.active_keys}


async def _list_projects(request: web.Request) -> web.Response:
    check_admin_token(request)
    async with request.app[SERVICES_KEY].database.pool.connection() as conn:
        projects = await list_projects(conn)
    return web.json_response({"projects": [_project_json(p) for p in projects]})


async def _create_project(request: web.Request) -> web.Response:
    """A new project and its first key, with every scope (its administrator's)."""
    check_admin_token(request)
    body = _object(await json_body(request), ("name",))
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200 or "\x00" in name:
        raise InvalidArgument("name: a non-empty string of at most 200 characters, without NUL")
    async with request.app[SERVICES_KEY].database.pool.connection() as conn:
        project_id, created = await ensure_project(conn, name.strip())
        if not created:
            raise AlreadyExists(f"name: a project {name.strip()!r} exists already "
                                f"(id {project_id})")
        key = await create_api_key(conn, project_id, "first", SCOPES)
    return web.json_response({"id": project_id, "name": name.strip(), "key": key,
                              "scopes": list(SCOPES)}, status=201)


async def _project(request: web.Request) -> web.Response:
    project_id = await project_of(request)
    async with request.app[SERVICES_KEY].database.pool.connection() as conn:
        found = await find_project(conn, str(project_id))
    assert found is not None  # its key was just resolved
    return web.json_response(_project_json(found))


async def _list_keys(request: web.Request) -> web.Response:
    project_id = await project_of(request)
    async with request.app[SERVICES_KEY].database.pool.connection() as conn:
        keys = await list_api_keys(conn, project_id)
    return web.json_response({"keys": [key_json(k) for k in keys]})


async def _create_key(request: web.Request) -> web.Response:
    project_id = await project_of(request)
    body = _object(await json_body(request), ("name", "scopes"))
    name = body.get("name", "")
    if not isinstance(name, str) or len(name) > 200 or "\x00" in name:
        raise InvalidArgument("name: a string of at most 200 characters, without NUL")
    scopes = body.get("scopes", ["ingest", "read"])
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise InvalidArgument(f"scopes: a list of {', '.join(SCOPES)}")
    try:
        checked = check_scopes(scopes)
    except ValueError as exc:
        raise InvalidArgument(f"scopes: {exc}") from None
    async with request.app[SERVICES_KEY].database.pool.connection() as conn:
        key = await create_api_key(conn, project_id, name, checked)
    return web.json_response({"key": key, "keyId": key.split("_")[1], "name": name,
                              "scopes": list(checked)}, status=201)


async def _revoke_key(request: web.Request) -> web.Response:
    project_id = await project_of(request)
    key_id = request.match_info["keyId"]
    async with request.app[SERVICES_KEY].database.pool.connection() as conn:
        revoked = await revoke_api_key(conn, key_id, project_id)
    if not revoked:
        raise NotFound(f"no active key {key_id} in this project")
    return web.Response(status=204)


async def _limits(request: web.Request) -> web.Response:
    project_id = await project_of(request)
    async with request.app[SERVICES_KEY].database.pool.connection() as conn:
        own = await project_limits(conn, project_id)
    return web.json_response(_limits_json(request, own))


def _object(body: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    """The body as an object of (some of) `fields` only; 400 naming anything else."""
    if not isinstance(body, dict):
        raise InvalidArgument(f"the body must be a JSON object of {', '.join(fields)}")
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise InvalidArgument(f"{', '.join(unknown)}: not a field here (the fields: "
                              f"{', '.join(fields)})")
    return body


def _limit(body: dict[str, Any], name: str, kind: type) -> Any:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            kind is int and not float(value).is_integer()) or not 0 < value < 1e12:
        raise InvalidArgument(f"{name}: a number more than 0 (or null: the default)")
    return kind(value)


async def _set_limits(request: web.Request) -> web.Response:
    project_id = await project_of(request)
    body = _object(await json_body(request), ("spansPerMinute", "apiRequestsPerSecond"))
    limits = ProjectLimits(_limit(body, "spansPerMinute", int),
                           _limit(body, "apiRequestsPerSecond", float))
    services = request.app[SERVICES_KEY]
    async with services.database.pool.connection() as conn:
        stored = await set_project_limits(conn, project_id, limits)
    if services.limiter is not None:
        services.limiter.forget(project_id)  # this process at once; the others within 30 s
    return web.json_response(_limits_json(request, stored))


async def _tag_keys(request: web.Request) -> web.Response:
    project_id = await project_of(request)
    async with request.app[SERVICES_KEY].database.pool.connection() as conn:
        keys = await project_tag_keys(conn, project_id)
    return web.json_response({"tagKeys": list(keys.declared), "filling": list(keys.filling)})


async def _set_tag_keys(request: web.Request) -> web.Response:
    project_id = await project_of(request)
    body = _object(await json_body(request), ("tagKeys",))
    keys = body.get("tagKeys")
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise InvalidArgument("tagKeys: a list of tag keys (strings)")
    async with request.app[SERVICES_KEY].database.pool.connection() as conn:
        try:
            change = await declare_tag_keys(conn, project_id, tuple(keys))
        except ValueError as exc:
            raise InvalidArgument(str(exc).replace("tag keys:", "tagKeys:", 1)) from exc
    return web.json_response({"tagKeys": list(change.keys), "filling": [],
                              "added": list(change.added),
                              "removed": list(change.removed), "rowsFilled": change.rows_filled})


_SERVER = "(the server's admin token, not a key)"
ROUTES: tuple[Route, ...] = (
    Route("GET", ADMIN_PREFIX + "projects", _list_projects, f"Every project {_SERVER}",
          models.Projects, auth="admin_token"),
    Route("POST", ADMIN_PREFIX + "projects", _create_project,
          f"Create a project and its first key, with every scope {_SERVER}",
          models.CreatedProject, status=201, body=models.NewProject, errors=(409,),
          auth="admin_token"),
    Route("GET", ADMIN_PREFIX + "project", _project, "The key's project (admin scope)",
          models.Project),
    Route("GET", ADMIN_PREFIX + "keys", _list_keys,
          "The project's keys, never their secrets (admin scope)", models.Keys),
    Route("POST", ADMIN_PREFIX + "keys", _create_key,
          "Create a key of the project; its secret is in this answer only (admin scope)",
          models.CreatedKey, status=201, body=models.NewKey),
    Route("DELETE", ADMIN_PREFIX + "keys/{keyId}", _revoke_key,
          "Revoke a key of the project; every collector refuses it within a second "
          "(admin scope)", None, status=204, errors=(404,),
          router_path=ADMIN_PREFIX + r"keys/{keyId:[0-9a-f]{1,64}}", parameters=(
              {"name": "keyId", "in": "path", "required": True,
               "schema": {"type": "string", "pattern": "^[0-9a-f]{1,64}$"}},)),
    Route("GET", ADMIN_PREFIX + "limits", _limits,
          "The project's own rate limits and the defaults (admin scope)", models.Limits),
    Route("PUT", ADMIN_PREFIX + "limits", _set_limits,
          "Set the project's own rate limits; null: the default (admin scope)", models.Limits,
          body=models.NewLimits),
    Route("GET", ADMIN_PREFIX + "tag-keys", _tag_keys,
          "The tag keys the project declares (admin scope)", models.TagKeys),
    Route("PUT", ADMIN_PREFIX + "tag-keys", _set_tag_keys,
          "Declare the project's tag keys: those added are filled from the raw calls still "
          "held, while writes wait (admin scope)", models.TagKeysChanged,
          body=models.NewTagKeys),
)
