"""A cached JSON Web Key Set with a rate-limited refetch for unknown key ids.

Keys come only from the configured issuer's `jwks_uri` (never from a token's `jku`/`x5u`/`jwk`
headers). An unknown `kid` triggers at most one fetch per `min_refetch_s`, shared by concurrent
requests, so rotated keys are picked up while garbage ids cannot make us flood the issuer
(storage-and-auth.md §5.3). A failed refresh keeps the last good key set.

Single flight: a request that needs keys the cache does not have (the very first requests after a
start, a token signed with a new `kid`) waits for the fetch in flight, started by whichever request
came first, rather than being refused while it runs.
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
        #: The fetch in flight, awaited by every request that needs its keys.
        self._fetching: asyncio.Task[None] | None = None
        #: How many times the key set was fetched (for tests and metrics).
        self.fetches = 0

    async def keys_for(self, kid: str | None) -> KeySet | None:
        """The key set to verify a token signed with `kid`; None when no keys could be had.

        Starts a fetch when the set is missing, does not know `kid`, or is older than `max_age_s`,
        at most once per `min_refetch_s`. A caller whose `kid` the set lacks waits for the fetch in
        flight (its own or another request's); one that only found the set old waits only for a
        fetch it started. Never raises for a failed fetch: the last good set (or None) is answered.
        """
        now = time.monotonic()
        stale = self._keys is not None and now - self._fetched_at > self._max_age_s
        missing = self._keys is None or (kid is not None and kid not in self._kids)
        if not (stale or missing):
            return self._keys
        fetch = self._fetching
        started = False
        # Every fetch, the first included, is rate-limited: an unreachable issuer is not asked
        # again for every token.
        if fetch is None and now - self._fetched_at >= self._min_refetch_s:
            self._fetched_at = now
            fetch = self._fetching = asyncio.ensure_future(self._fetch())
            started = True
        if fetch is not None and (missing or started):
            # Shielded: a caller that goes away (its request was cancelled) does not cancel the
            # fetch the others wait for.
            await asyncio.shield(fetch)
        return self._keys

    async def _fetch(self) -> None:
        try:
            self.fetches += 1
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
        finally:
            self._fetching = None
