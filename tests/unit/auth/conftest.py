"""Fixtures of the unit tests of `mcptasks.auth`: keys, a JWKS endpoint on `httpx.MockTransport`,
token factories and a controllable clock.

- `keys`: RSA signing keys `k1`, `k2` and an attacker's key that also says `k1` (made once per session).
- `jwks`: an `authkit.JWKSEndpoint` (what `GET /jwks` answers, how often it was asked, failure and
  delay switches) and `http`, an `httpx.AsyncClient` whose transport is that endpoint.
- `token`: `token(claims=None, *, header=None, key=None, **claim_overrides)` signs an RS256 compact
  JWS by hand, so any header (`alg`, `typ`, `jku`, ...) can be produced; a header or claim given as
  None is left out.
- `clock`: an `authkit.Clock` in place of the `time` module of `mcptasks.auth.jwks` and
  `.introspection`; `clock.advance(s)` moves both `monotonic()` and `time()`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import pytest
from authkit import Clock, JWKSEndpoint, TokenFactory, claims, sign
from joserfc.jwk import RSAKey


@pytest.fixture(scope="session")
def keys() -> dict[str, RSAKey]:
    made = {
        kid: RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})
        for kid in ("k1", "k2")
    }
    made["attacker"] = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"})
    return made


@pytest.fixture
def jwks(keys: dict[str, RSAKey]) -> JWKSEndpoint:
    endpoint = JWKSEndpoint()
    endpoint.publish(keys["k1"])
    return endpoint


@pytest.fixture
async def http(jwks: JWKSEndpoint) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(jwks.handle)) as client:
        yield client


@pytest.fixture
def token(keys: dict[str, RSAKey]) -> TokenFactory:
    """Sign alice's claims (or `claims_`) with k1 (or `key`); see the module docstring."""

    def make(
        claims_: Mapping[str, Any] | None = None,
        *,
        header: Mapping[str, Any] | None = None,
        key: RSAKey | None = None,
        **claim_overrides: Any,
    ) -> str:
        body = dict(claims_) if claims_ is not None else claims(**claim_overrides)
        head = {"alg": "RS256", "kid": "k1", "typ": "at+jwt", **(header or {})}
        return sign(
            key or keys["k1"], {name: value for name, value in head.items() if value is not None}, body
        )

    return make


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    from mcptasks.auth import introspection, jwks

    fake = Clock()
    monkeypatch.setattr(jwks, "time", fake)
    monkeypatch.setattr(introspection, "time", fake)
    return fake
