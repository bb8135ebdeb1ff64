"""OAuth on Streamable HTTP: our verifiers behind the SDK's `TokenVerifier`, and the SDK's
`AuthSettings` (401/403 with `WWW-Authenticate`, RFC 9728 protected-resource metadata).

stdio is never authenticated: the client there is the process that started the server.
"""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from typing import Protocol

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, RequireAuthMiddleware
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from pydantic import AnyHttpUrl
from starlette.types import Receive, Scope, Send

from mcptasks.auth.config import HTTP_TIMEOUT_S, AuthConfig, VerifiedToken
from mcptasks.auth.introspection import IntrospectionVerifier
from mcptasks.auth.jwks import JWKSCache
from mcptasks.auth.verifier import JWTVerifier
from mcptasks.server.logs import redact_secret


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
        redact_secret(config.client_secret)
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


class BearerChallenge(RequireAuthMiddleware):
    """The SDK's bearer guard with RFC 6750 challenges: no `error` when no token was sent, `scope`
    in every challenge when scopes are required, and 400 for two `Authorization` headers.

    Spec: RFC 6750 §3 and §3.1; MCP 2025-11-25 authorization ("scope" SHOULD be in challenges).
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the challenge, or pass the request on."""
        sent = [value for name, value in scope.get("headers", []) if name == b"authorization"]
        if len(sent) > 1:
            await self._challenge(send, 400, "invalid_request", "One Authorization header, please")
            return
        if not isinstance(scope.get("user"), AuthenticatedUser):
            if sent:
                await self._challenge(send, 401, "invalid_token", "The access token is not valid here")
            else:
                await self._challenge(send, 401, None, "Authentication required")
            return
        credentials = scope.get("auth")
        granted = set(getattr(credentials, "scopes", ()) or ())
        if not set(self.required_scopes) <= granted:
            await self._challenge(send, 403, "insufficient_scope", "The access token lacks a required scope")
            return
        await self.app(scope, receive, send)

    async def _challenge(self, send: Send, status: int, error: str | None, description: str) -> None:
        parts = []
        if error is not None:
            parts += [f'error="{error}"', f'error_description="{description}"']
        if self.required_scopes:
            parts.append(f'scope="{" ".join(self.required_scopes)}"')
        if self.resource_metadata_url:
            parts.append(f'resource_metadata="{self.resource_metadata_url}"')
        fields = (
            {"error": error, "error_description": description}
            if error
            else {"error_description": description}
        )
        body = json.dumps(fields).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", ("Bearer " + ", ".join(parts)).strip().encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def protected_resource_metadata(config: AuthConfig) -> dict[str, object]:
    """The RFC 9728 document, naming the issuer exactly as configured (no added trailing slash)."""
    document: dict[str, object] = {
        "resource": config.resource,
        "authorization_servers": [config.issuer],
        "bearer_methods_supported": ["header"],
    }
    if config.required_scopes:
        document["scopes_supported"] = list(config.required_scopes)
    return document
