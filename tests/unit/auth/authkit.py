"""Constants and helpers shared by the `mcptasks.auth` unit tests (imported as `authkit`)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from joserfc.jwk import RSAKey

from mcptasks.auth.config import AuthConfig

ISSUER = "https://as.example.com"
RESOURCE = "https://mcp.example.com/mcp"
JWKS_URI = "https://as.example.com/jwks"
INTROSPECTION_URL = "https://as.example.com/introspect"
CLIENT_ID = "mcptasks-rs"
CLIENT_SECRET = "rs-secret-3b9f1c2e7a"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def claims(**overrides: Any) -> dict[str, Any]:
    """RFC 9068 claims of alice through client c1 for `RESOURCE`; an override of None removes a claim."""
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "alice",
        "aud": RESOURCE,
        "client_id": "c1",
        "scope": "tasks:read tasks:write",
        "iat": now,
        "exp": now + 600,
        "jti": "jti-1",
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def jwt_config(**changes: Any) -> AuthConfig:
    """An `AuthConfig` for JWT access tokens of `ISSUER` for `RESOURCE`."""
    return AuthConfig(**{"issuer": ISSUER, "resource": RESOURCE, "jwks_uri": JWKS_URI, **changes})


def introspection_config(**changes: Any) -> AuthConfig:
    """An `AuthConfig` for opaque tokens introspected at `INTROSPECTION_URL`."""
    return AuthConfig(
        **{
            "issuer": ISSUER,
            "resource": RESOURCE,
            "introspection_url": INTROSPECTION_URL,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            **changes,
        }
    )


#: The `token` fixture: `token(claims=None, *, header=None, key=None, **claim_overrides) -> str`.
TokenFactory = Callable[..., str]


def sign(key: RSAKey, header: Mapping[str, Any], body: Mapping[str, Any]) -> str:
    """An RS256 compact JWS built by hand: whatever `header` says, signed with `key`."""
    signing_input = f"{b64url_json(header)}.{b64url_json(body)}".encode()
    signer = key.private_key
    signature = signer.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr, call-arg]
    return f"{signing_input.decode()}.{b64url(signature)}"


@dataclass
class JWKSEndpoint:
    """What the mocked `GET /jwks` answers."""

    keys: list[dict[str, Any]] = field(default_factory=list)
    #: When set, answer this HTTP status instead of the keys.
    fail_status: int | None = None
    #: When True, fail at the connection level (httpx.ConnectError).
    unreachable: bool = False
    #: Seconds each answer takes (to overlap concurrent fetches).
    delay_s: float = 0.0
    requests: int = 0

    def publish(self, key: RSAKey, **extra: Any) -> None:
        self.keys.append({**key.as_dict(private=False), **extra})

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.unreachable:
            raise httpx.ConnectError("connection refused", request=request)
        if self.fail_status is not None:
            return httpx.Response(self.fail_status, json={"error": "server_error"})
        return httpx.Response(200, json={"keys": self.keys})


class Clock:
    """Stands in for the `time` module of the auth modules: `monotonic()` and `time()` move together."""

    def __init__(self) -> None:
        self._offset = 0.0

    def advance(self, seconds: float) -> None:
        self._offset += seconds

    def monotonic(self) -> float:
        return time.monotonic() + self._offset

    def time(self) -> float:
        return time.time() + self._offset
