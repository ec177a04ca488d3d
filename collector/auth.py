"""API key -> project, for the receivers and the API alike, each request needing one scope:
`ingest` for OTLP, `read` or `admin` for the API (server.api.services.project_of). Keys are
cached; a revocation reaches every process's cache through PostgreSQL's LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
import logging
import time

import psycopg

from spantally.common.errors import PermissionDenied, Unauthenticated, Unavailable
from spantally.store import SCOPES, Database, KeyGrant, queries, resolve_api_key
from spantally.store.database import is_transient
from spantally.store.keys import KEY_PREFIX

from .limits import Limiter

__all__ = ["Authenticator"]

_MAX_CACHED = 10_000

log = logging.getLogger("spantally.collector")


class Authenticator:
    """Resolves `Authorization: Bearer <key>` to a project id, for a request that needs one
    scope of the key.

    Answers are cached (valid keys for `ttl_s`, unknown ones for `negative_ttl_s`) so a busy
    exporter costs no database round trip per request. `listen()` drops a key from the cache
    as soon as its revocation commits, in any process (and the whole cache whenever its
    connection had to be made again: a notice may have been missed meanwhile), so `ttl_s` only
    bounds a revocation while the listener is down. While the database is down, cached keys
    still authenticate and others get a retryable answer, never a false "permission denied"."""

    def __init__(self, database: Database, ttl_s: float = 60.0, negative_ttl_s: float = 5.0,
                 limiter: Limiter | None = None) -> None:
        self._db = database
        self._limiter = limiter
        """Counts refused keys per client address, and refuses an address past its limit."""
        self._ttl_s = ttl_s
        self._negative_ttl_s = negative_ttl_s
        self._cache: dict[str, tuple[KeyGrant | None, float]] = {}
        self._forgotten = 0
        """Bumped whenever keys are forgotten: a lookup that began before must not cache."""
        self.listening = asyncio.Event()
        """Set while the listener is connected (tests wait for it)."""

    async def listen(self, retry_s: float = 1.0) -> None:
        """Until cancelled: forget each key whose revocation is announced (store.keys)."""
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                        self._db.config.database_url, autocommit=True) as conn:
                    await conn.execute(queries.LISTEN_KEYS)
                    self._cache.clear()  # anything revoked while not listening
                    self._forgotten += 1
                    self.listening.set()
                    async for notice in conn.notifies():
                        self._forget(notice.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - reconnect; the ttl bounds the meantime
                log.warning("not listening for key revocations (%s); retrying", exc)
            self.listening.clear()
            await asyncio.sleep(retry_s)

    def _forget(self, key_id: str) -> None:
        self._forgotten += 1
        prefix = f"{KEY_PREFIX}_{key_id}_"
        for key in [k for k in self._cache if k.startswith(prefix)]:
            del self._cache[key]

    async def project_for(self, authorization: str | None, scope: str,
                          client: str | None = None) -> int:
        """The project of the key, which must have `scope` (PermissionDenied naming it)."""
        return (await self.grant_for(authorization, scope, client)).project_id

    async def grant_for(self, authorization: str | None, scope: str,
                        client: str | None = None) -> KeyGrant:
        """What the key may do, which must include `scope`. `client`: the caller's address,
        refused once it caused too many refusals (RateLimited)."""
        assert scope in SCOPES, scope
        limiter = self._limiter if client is not None else None
        if limiter is not None:
            assert client is not None
            limiter.check_client(client)
        try:
            return await self._grant(authorization, scope)
        except (Unauthenticated, PermissionDenied):
            if limiter is not None:
                assert client is not None
                limiter.failed(client)
            raise

    async def _grant(self, authorization: str | None, scope: str) -> KeyGrant:
        key = self._bearer_token(authorization)
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[1] > now:
            grant = cached[0]
        else:
            forgotten = self._forgotten
            try:
                async with self._db.pool.connection() as conn:
                    grant = await resolve_api_key(conn, key)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                self._db.record_failure(exc)
                raise Unavailable("cannot verify the API key: the database is unavailable") from exc
            if len(self._cache) >= _MAX_CACHED:
                self._cache.clear()
            ttl = self._ttl_s if grant is not None else self._negative_ttl_s
            if forgotten == self._forgotten:  # no revocation heard while looking it up
                self._cache[key] = (grant, now + ttl)
        if grant is None:
            raise PermissionDenied("the API key is unknown or revoked")
        if scope not in grant.scopes:
            raise PermissionDenied(
                f"the API key lacks the '{scope}' scope (it has {', '.join(sorted(grant.scopes))})"
                f": create one with `spantally keys create PROJECT --scope {scope}`")
        return grant

    @staticmethod
    def _bearer_token(authorization: str | None) -> str:
        if not authorization or not authorization.strip():
            raise Unauthenticated("missing API key: send the header 'Authorization: Bearer <key>'")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("the Authorization header must be 'Bearer <key>'")
        return token.strip()
