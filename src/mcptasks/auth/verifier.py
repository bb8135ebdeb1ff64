"""JWT access-token verification (RFC 9068 profile, RFC 8725 practice) with joserfc.

Checks, cheapest first: size; header parse; `alg` in the configured list (never `none`); `typ` is
`at+jwt`; no `jku`/`x5u`/`jwk`/`crit` header; the signing key comes from the issuer's JWKS by
`kid`; signature; `iss` equals the issuer exactly; `aud` names this server; `exp`/`nbf`/`iat`
within the leeway; a client id (`client_id` or `azp`) is present. Any failure answers None: the
HTTP layer then sends 401 with `WWW-Authenticate`. The reason goes to the log, never to the client.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jws import extract_compact

from mcptasks.auth.config import MAX_TOKEN_CHARS, AuthConfig, VerifiedToken
from mcptasks.auth.jwks import JWKSCache
from mcptasks.observe import metrics

logger = logging.getLogger("mcptasks.auth")

_FORBIDDEN_HEADERS = frozenset({"jku", "x5u", "jwk", "crit"})


class JWTVerifier:
    """Verifies JWT access tokens of one issuer for one resource."""

    def __init__(self, config: AuthConfig, jwks: JWKSCache) -> None:
        self._config = config
        self._jwks = jwks

    async def verify(self, token: str) -> VerifiedToken | None:
        """The verified claims of `token`, or None when it must be refused."""
        try:
            verified = await self._verify(token)
        except _Refused as refused:
            # One line per refusal, naming the check, never the token or its claims.
            logger.info("access token refused: %s", refused, extra={"action": "verify_token"})
            metrics.auth_refused(str(refused))
            return None
        except (JoseError, ValueError, KeyError, TypeError, UnicodeError) as exc:
            logger.info("access token refused: %s", type(exc).__name__, extra={"action": "verify_token"})
            metrics.auth_refused("malformed")
            return None
        return verified

    async def _verify(self, token: str) -> VerifiedToken:
        if len(token) > MAX_TOKEN_CHARS:
            raise _Refused("too large")
        header = _header(token)
        alg = header.get("alg")
        if alg not in self._config.algorithms:
            raise _Refused(f"algorithm {alg!r} not accepted")
        typ = str(header.get("typ", "")).lower()
        if self._config.token_types and typ not in self._config.token_types:
            raise _Refused(f"typ {typ!r} is not an access token type")
        if _FORBIDDEN_HEADERS & header.keys():
            raise _Refused("header names a key source or critical extension")
        kid = header.get("kid")
        keys = await self._jwks.keys_for(kid if isinstance(kid, str) else None)
        if keys is None:
            raise _Refused("no signing keys")
        decoded = jwt.decode(token, keys, algorithms=list(self._config.algorithms))
        claims: dict[str, Any] = dict(decoded.claims)
        jwt.JWTClaimsRegistry(
            leeway=self._config.leeway_s,
            iss={"essential": True, "value": self._config.issuer},
            aud={"essential": True, "value": self._config.resource},
            exp={"essential": True},
        ).validate(claims)
        verified = to_verified(claims, self._config)
        if verified is None:
            raise _Refused("no client_id")
        return verified


class _Refused(Exception):
    """A check failed; the message names which."""


def _header(token: str) -> dict[str, Any]:
    compact = extract_compact(token.encode("ascii"))
    header = compact.protected
    if not isinstance(header, dict):
        raise ValueError("header is not an object")
    return dict(header)


def to_verified(claims: dict[str, Any], config: AuthConfig) -> VerifiedToken | None:
    """Map checked claims to a `VerifiedToken`; None when no client id is present."""
    client_id = claims.get("client_id") or claims.get("azp")
    if not isinstance(client_id, str) or not client_id:
        return None
    subject = claims.get("sub")
    scopes = _scopes(claims)
    exp = claims.get("exp")
    # Reported with the clock tolerance included: the SDK refuses a token whose expires_at has
    # passed, with no leeway of its own.
    expires_at = int(exp) + config.leeway_s if isinstance(exp, int | float) else None
    kept = {
        key: claims[key]
        for key in ("iss", "sub", "aud", "client_id", "azp", "exp", "iat", "jti")
        if key in claims
    }
    return VerifiedToken(
        issuer=str(claims.get("iss", config.issuer)),
        subject=subject if isinstance(subject, str) and subject else client_id,
        client_id=client_id,
        scopes=scopes,
        expires_at=expires_at,
        resource=config.resource,
        claims=json.loads(json.dumps(kept, default=str)),
    )


def _scopes(claims: dict[str, Any]) -> tuple[str, ...]:
    scope = claims.get("scope")
    if isinstance(scope, str):
        return tuple(scope.split())
    scp = claims.get("scp")
    if isinstance(scp, list):
        return tuple(str(s) for s in scp)
    return ()
