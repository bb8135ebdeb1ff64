"""`IntrospectionVerifier`: RFC 7662 with client_secret_basic, strict checks of the answer, and a
cache keyed by the token's SHA-256: positives until `exp` (at most 60 s), negatives for 10 s.

storage-and-auth.md §5.4 and §6 tests 13-15. The introspection endpoint is a `MockTransport` of
`httpx2` (the HTTP client authlib's `AsyncOAuth2Client` is built on); time is the `clock` fixture.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import httpx2
import pytest
from authkit import CLIENT_ID, CLIENT_SECRET, ISSUER, RESOURCE, Clock, introspection_config
from authlib.integrations.httpx_client import AsyncOAuth2Client

from mcptasks.auth import introspection
from mcptasks.auth.config import INTROSPECTION_CACHE_S, INTROSPECTION_NEGATIVE_CACHE_S
from mcptasks.auth.introspection import IntrospectionVerifier


class Endpoint:
    """The mocked introspection endpoint: token -> answer; records what it was asked."""

    def __init__(self) -> None:
        self.answers: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str | None, dict[str, list[str]]]] = []
        self.fail_status: int | None = None
        self.unreachable = False

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        form = parse_qs(request.content.decode())
        self.calls.append((request.headers.get("authorization"), form))
        if self.unreachable:
            raise httpx2.ConnectError("connection refused", request=request)
        if self.fail_status is not None:
            return httpx2.Response(self.fail_status, json={"error": "invalid_client"})
        return httpx2.Response(200, json=self.answers.get(form["token"][0], {"active": False}))


def active(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    answer: dict[str, Any] = {
        "active": True,
        "iss": ISSUER,
        "aud": RESOURCE,
        "sub": "alice",
        "client_id": "c1",
        "scope": "tasks:read tasks:write",
        "token_type": "Bearer",
        "exp": now + 3600,
        "iat": now,
    }
    answer.update(overrides)
    return {name: value for name, value in answer.items() if value is not None}


@pytest.fixture
def endpoint() -> Endpoint:
    return Endpoint()


@pytest.fixture
async def verifier(endpoint: Endpoint) -> AsyncIterator[IntrospectionVerifier]:
    client = AsyncOAuth2Client(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        token_endpoint_auth_method="client_secret_basic",
        transport=httpx2.MockTransport(endpoint.handle),
    )
    async with client:
        yield IntrospectionVerifier(introspection_config(), client)


async def test_an_active_answer_gives_the_principal(
    verifier: IntrospectionVerifier, endpoint: Endpoint
) -> None:
    endpoint.answers["tok-1"] = active()
    verified = await verifier.verify("tok-1")
    assert verified is not None
    assert (verified.issuer, verified.subject, verified.client_id) == (ISSUER, "alice", "c1")
    assert verified.scopes == ("tasks:read", "tasks:write")
    assert verified.resource == RESOURCE
    # One call, authenticated with HTTP Basic client credentials, asking about the token.
    ((authorization, form),) = endpoint.calls
    assert authorization == "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert form == {"token": ["tok-1"], "token_type_hint": ["access_token"]}


@pytest.mark.parametrize(
    "answer",
    [
        {"active": False},
        active(active="true"),
        active(aud="https://other.example.com/mcp"),
        active(aud=["https://a.example", "https://b.example"]),
        active(aud=RESOURCE + "/"),
        active(aud=None),
        active(iss="https://evil.example.com"),
        active(exp=int(time.time()) - 120),
        active(client_id=None),
        active(token_type="refresh_token"),
    ],
    ids=[
        "inactive",
        "active-string",
        "other-aud",
        "aud-list-without-us",
        "aud-trailing-slash",
        "no-aud",
        "other-iss",
        "expired",
        "no-client-id",
        "refresh-token",
    ],
)
async def test_refused_answers(
    verifier: IntrospectionVerifier,
    endpoint: Endpoint,
    answer: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    endpoint.answers["tok-x"] = answer
    with caplog.at_level(logging.INFO, logger="mcptasks.auth"):
        assert await verifier.verify("tok-x") is None
    assert "access token refused" in caplog.text and "tok-x" not in caplog.text


async def test_accepted_variants(verifier: IntrospectionVerifier, endpoint: Endpoint) -> None:
    endpoint.answers["list"] = active(aud=["https://x.example", RESOURCE])
    endpoint.answers["azp"] = active(client_id=None, azp="kc-client")
    endpoint.answers["no-iss"] = active(iss=None)
    endpoint.answers["no-exp"] = active(exp=None)
    for token in ("list", "azp", "no-iss", "no-exp"):
        assert await verifier.verify(token) is not None, token
    azp = await verifier.verify("azp")
    assert azp is not None and azp.client_id == "kc-client"


async def test_positive_results_are_cached_at_most_60_s(
    verifier: IntrospectionVerifier, endpoint: Endpoint, clock: Clock
) -> None:
    endpoint.answers["tok"] = active()
    for _ in range(5):
        assert await verifier.verify("tok") is not None
    assert len(endpoint.calls) == 1
    # Revoked at the issuer: still accepted from the cache until it runs out (the revocation latency).
    endpoint.answers["tok"] = {"active": False}
    clock.advance(INTROSPECTION_CACHE_S - 1)
    assert await verifier.verify("tok") is not None
    clock.advance(2)
    assert await verifier.verify("tok") is None
    assert len(endpoint.calls) == 2


async def test_positive_results_are_cached_no_longer_than_exp(
    verifier: IntrospectionVerifier, endpoint: Endpoint, clock: Clock
) -> None:
    endpoint.answers["short"] = active(exp=int(time.time()) + 5)
    assert await verifier.verify("short") is not None
    clock.advance(3)
    assert await verifier.verify("short") is not None
    assert len(endpoint.calls) == 1
    clock.advance(3)  # past exp: asked again (and refused only after the leeway)
    await verifier.verify("short")
    assert len(endpoint.calls) == 2


async def test_negative_results_are_cached_briefly(
    verifier: IntrospectionVerifier, endpoint: Endpoint, clock: Clock
) -> None:
    assert await verifier.verify("unknown") is None
    assert await verifier.verify("unknown") is None
    assert len(endpoint.calls) == 1
    endpoint.answers["unknown"] = active()  # became valid (e.g. issued just after the first call)
    clock.advance(INTROSPECTION_NEGATIVE_CACHE_S + 0.1)
    assert await verifier.verify("unknown") is not None
    assert len(endpoint.calls) == 2


@pytest.mark.parametrize("failure", ["401", "500", "unreachable"])
async def test_an_issuer_that_does_not_answer_refuses_every_token(
    verifier: IntrospectionVerifier, endpoint: Endpoint, failure: str
) -> None:
    """Fail closed; the failure is not cached, so the next request asks again."""
    endpoint.answers["tok"] = active()
    if failure == "unreachable":
        endpoint.unreachable = True
    else:
        endpoint.fail_status = int(failure)
    assert await verifier.verify("tok") is None
    assert await verifier.verify("tok") is None
    assert len(endpoint.calls) == 2
    endpoint.unreachable, endpoint.fail_status = False, None
    assert await verifier.verify("tok") is not None


async def test_the_cache_holds_digests_never_tokens(
    verifier: IntrospectionVerifier, endpoint: Endpoint
) -> None:
    secret_token = "opaque-secret-token-value-123456"
    endpoint.answers[secret_token] = active()
    await verifier.verify(secret_token)
    await verifier.verify("another-token")
    assert secret_token not in repr(verifier._cache)
    assert all(len(key) == 64 for key in verifier._cache)


async def test_the_cache_is_bounded(
    verifier: IntrospectionVerifier, endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(introspection, "CACHE_LIMIT", 3)
    for i in range(10):
        await verifier.verify(f"tok-{i}")
    assert len(verifier._cache) == 3


@pytest.mark.parametrize("token", ["", "x" * 8193])
async def test_empty_and_oversize_tokens_are_refused_without_a_call(
    verifier: IntrospectionVerifier, endpoint: Endpoint, token: str
) -> None:
    assert await verifier.verify(token) is None
    assert endpoint.calls == []
