"""API key -> project, for the receivers and the API alike."""

from __future__ import annotations

import time

from spantally.common.errors import PermissionDenied, Unauthenticated, Unavailable
from spantally.store import Database, resolve_api_key
from spantally.store.database import is_transient

__all__ = ["Authenticator"]

_MAX_CACHED = 10_000


class Authenticator:
    """Resolves `Authorization: Bearer <key>` to a project id.

    Answers are cached (valid keys for `ttl_s`, unknown ones for `negative_ttl_s`) so a busy
    exporter costs no database round trip per request; a revoked key therefore keeps working
    for up to `ttl_s`. While the database is down, cached keys still authenticate and others
    get a retryable answer, never a false "permission denied"."""

    def __init__(self, database: Database, ttl_s: float = 60.0, negative_ttl_s: float = 5.0) -> None:
        self._db = database
        self._ttl_s = ttl_s
        self._negative_ttl_s = negative_ttl_s
        self._cache: dict[str, tuple[int | None, float]] = {}

    async def project_for(self, authorization: str | None) -> int:
        key = self._bearer_token(authorization)
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[1] > now:
            project_id = cached[0]
        else:
            try:
                async with self._db.pool.connection() as conn:
                    project_id = await resolve_api_key(conn, key)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                self._db.record_failure(exc)
                raise Unavailable("cannot verify the API key: the database is unavailable") from exc
            if len(self._cache) >= _MAX_CACHED:
                self._cache.clear()
            ttl = self._ttl_s if project_id is not None else self._negative_ttl_s
            self._cache[key] = (project_id, now + ttl)
        if project_id is None:
            raise PermissionDenied("the API key is unknown or revoked")
        return project_id

    @staticmethod
    def _bearer_token(authorization: str | None) -> str:
        if not authorization or not authorization.strip():
            raise Unauthenticated("missing API key: send the header 'Authorization: Bearer <key>'")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("the Authorization header must be 'Bearer <key>'")
        return token.strip()
