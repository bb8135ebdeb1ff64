"""Opaque access tokens: RFC 7662 introspection with authlib's async OAuth client.

The introspection call authenticates this server (client_secret_basic). The answer is accepted
only when `active` is true, `aud` names this server, `iss` (if present) is the issuer, `exp` (if
present) lies ahead, and a client id is named: authlib's own validator checks only `active` and
scope (storage-and-auth.md §5.1). Results are cached by SHA-256 of the token, never the token:
positives for at most `INTROSPECTION_CACHE_S` (the revocation latency), negatives briefly.
An unreachable introspection endpoint refuses the token (fail closed).
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

from authlib.integrations.httpx_client import AsyncOAuth2Client

from mcptasks.auth.config import (
    INTROSPECTION_CACHE_S,
    INTROSPECTION_NEGATIVE_CACHE_S,
    MAX_TOKEN_CHARS,
    AuthConfig,
    VerifiedToken,
)
from mcptasks.auth.verifier import to_verified
from mcptasks.observe import metrics

logger = logging.getLogger("mcptasks.auth")

#: Most cached introspection results kept (oldest dropped first).
CACHE_LIMIT = 10_000


class IntrospectionVerifier:
    """Verifies opaque access tokens by asking the authorization server (RFC 7662)."""

    def __init__(self, config: AuthConfig, client: AsyncOAuth2Client) -> None:
        assert config.introspection_url is not None
        self._config = config
        self._client = client
        self._cache: dict[str, tuple[float, VerifiedToken | None]] = {}

    async def verify(self, token: str) -> VerifiedToken | None:
        """The principal `token` speaks for, or None when it must be refused."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            return None
        digest = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        verified, ttl = await self._introspect(token)
        if len(self._cache) >= CACHE_LIMIT:
            self._cache.pop(next(iter(self._cache)))
        self._cache[digest] = (now + ttl, verified)
        return verified

    async def _introspect(self, token: str) -> tuple[VerifiedToken | None, float]:
        assert self._config.introspection_url is not None
        try:
            response = await self._client.introspect_token(
                self._config.introspection_url, token=token, token_type_hint="access_token"
            )
            response.raise_for_status()
            data: dict[str, Any] = response.json()
        except Exception:
            logger.warning(
                "token introspection failed; refusing the token",
                exc_info=True,
                extra={"action": "introspect"},
            )
            metrics.auth_refused("introspection failed")
            return None, 0.0
        reason = self._refusal(data)
        if reason is not None:
            logger.info("access token refused: %s", reason, extra={"action": "introspect"})
            metrics.auth_refused(reason)
            return None, INTROSPECTION_NEGATIVE_CACHE_S
        verified = to_verified(data, self._config)
        if verified is None:
            logger.info("access token refused: no client_id", extra={"action": "introspect"})
            metrics.auth_refused("no client_id")
            return None, INTROSPECTION_NEGATIVE_CACHE_S
        ttl = INTROSPECTION_CACHE_S
        exp = data.get("exp")
        if isinstance(exp, int | float):
            ttl = max(0.0, min(ttl, exp - time.time()))
        return verified, ttl

    def _refusal(self, data: dict[str, Any]) -> str | None:
        if data.get("active") is not True:
            return "inactive"
        audience = data.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self._config.resource not in audiences:
            return "issued for another resource"
        if "iss" in data and data["iss"] != self._config.issuer:
            return "issued by another issuer"
        exp = data.get("exp")
        if isinstance(exp, int | float) and exp + self._config.leeway_s < time.time():
            return "expired"
        token_type = data.get("token_type")
        if token_type is not None and str(token_type).lower() not in ("bearer", "access_token"):
            return f"token_type {token_type!r}"
        return None
