"""A cached JSON Web Key Set with a rate-limited refetch for unknown key ids.

Keys come only from the configured issuer's `jwks_uri` (never from a token's `jku`/`x5u`/`jwk`
headers). An unknown `kid` triggers at most one fetch per `min_refetch_s`, shared by concurrent
requests, so rotated keys are picked up while garbage ids cannot make us flood the issuer
(storage-and-auth.md §5.3). A failed refresh keeps the last good key set.
"""

from __future__ import annotations

import asyncio
import logging
import time

import httpx
from joserfc.jwk import KeySet

from mcptasks.auth.config import JWKS_MAX_AGE_S, JWKS_MIN_REFETCH_S

logger = logging.getLogger("mcptasks.auth")


class JWKSCache:
    """The issuer's signing keys, fetched on demand."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        uri: str,
        *,
        min_refetch_s: float = JWKS_MIN_REFETCH_S,
        max_age_s: float = JWKS_MAX_AGE_S,
    ) -> None:
        self._http = http
        self._uri = uri
        self._min_refetch_s = min_refetch_s
        self._max_age_s = max_age_s
        self._keys: KeySet | None = None
        self._kids: frozenset[str] = frozenset()
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()
        #: How many times the key set was fetched (for tests and metrics).
        self.fetches = 0

    async def keys_for(self, kid: str | None) -> KeySet | None:
        """The key set to verify a token signed with `kid`; None when no keys could be had."""
        now = time.monotonic()
        stale = self._keys is not None and now - self._fetched_at > self._max_age_s
        missing = self._keys is None or (kid is not None and kid not in self._kids)
        # Every fetch, the first included, is rate-limited: an unreachable issuer is not asked
        # again for every token.
        if (stale or missing) and now - self._fetched_at >= self._min_refetch_s:
            await self._refresh()
        return self._keys

    async def _refresh(self) -> None:
        async with self._lock:
            # Single flight: whoever waited on the lock finds the fetch done and does not repeat it.
            if time.monotonic() - self._fetched_at < self._min_refetch_s:
                return
            self._fetched_at = time.monotonic()
            self.fetches += 1
            try:
                response = await self._http.get(self._uri)
                response.raise_for_status()
                data = response.json()
                keys = [key for key in data.get("keys", []) if key.get("use", "sig") == "sig"]
                self._keys = KeySet.import_key_set({"keys": keys})
                self._kids = frozenset(str(key["kid"]) for key in keys if "kid" in key)
            except Exception:
                logger.warning(
                    "could not fetch the JWKS; keeping the last good key set",
                    exc_info=True,
                    extra={"action": "jwks_fetch"},
                )
