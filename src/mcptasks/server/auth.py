"""OAuth on Streamable HTTP: our verifiers behind the SDK's `TokenVerifier`, and the SDK's
`AuthSettings` (401/403 with `WWW-Authenticate`, RFC 9728 protected-resource metadata).

stdio is never authenticated: the client there is the process that started the server.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Protocol

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from pydantic import AnyHttpUrl

from mcptasks.auth.config import HTTP_TIMEOUT_S, AuthConfig, VerifiedToken
from mcptasks.auth.introspection import IntrospectionVerifier
from mcptasks.auth.jwks import JWKSCache
from mcptasks.auth.verifier import JWTVerifier


class Verifier(Protocol):
    """What both of our verifiers offer."""

    async def verify(self, token: str) -> VerifiedToken | None:
        """The verified token, or None to refuse it."""
        ...


class SDKTokenVerifier:
    """The SDK's `TokenVerifier` protocol over one of our verifiers."""

    def __init__(self, verifier: Verifier) -> None:
        self._verifier = verifier

    async def verify_token(self, token: str) -> AccessToken | None:
        """Verify `token`; the `AccessToken` carries the principal (`iss` in claims, `sub`, client)."""
        verified = await self._verifier.verify(token)
        if verified is None:
            return None
        return AccessToken(
            token=token,
            client_id=verified.client_id,
            scopes=list(verified.scopes),
            expires_at=verified.expires_at,
            resource=verified.resource,
            subject=verified.subject,
            claims={**verified.claims, "iss": verified.issuer},
        )


async def build_auth(config: AuthConfig, stack: AsyncExitStack) -> tuple[AuthSettings, SDKTokenVerifier]:
    """The SDK auth settings and token verifier for `config`; HTTP clients close with `stack`.

    Spec: MCP 2025-11-25 authorization (RFC 9728 metadata, RFC 8707 audience, 401/403 challenges).
    """
    verifier: Verifier
    if config.jwks_uri is not None:
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=HTTP_TIMEOUT_S))
        verifier = JWTVerifier(config, JWKSCache(http, config.jwks_uri))
    else:
        client = AsyncOAuth2Client(
            client_id=config.client_id,
            client_secret=config.client_secret,
            token_endpoint_auth_method="client_secret_basic",
            timeout=HTTP_TIMEOUT_S,
        )
        await stack.enter_async_context(client)
        verifier = IntrospectionVerifier(config, client)
    settings = AuthSettings(
        issuer_url=AnyHttpUrl(config.issuer),
        resource_server_url=AnyHttpUrl(config.resource),
        required_scopes=list(config.required_scopes) or None,
        # Our verifiers already refuse a token whose audience is not this resource (exact match).
        validate_token_resource=True,
    )
    return settings, SDKTokenVerifier(verifier)
