"""`JWTVerifier`: RFC 9068 / RFC 8725 checks of JWT access tokens, keys from the JWKS only.

storage-and-auth.md §5.2 and §6 tests 2-12, 18. The JWKS is fetched through `httpx.MockTransport`
(`jwks`/`http` fixtures); tokens are signed by hand (`token` fixture), so any header can be sent.
Every refusal answers None (the HTTP layer turns it into 401) and logs which check failed, never the
token.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from authkit import (
    ISSUER,
    JWKS_URI,
    RESOURCE,
    Clock,
    JWKSEndpoint,
    TokenFactory,
    b64url,
    b64url_json,
    claims,
    jwt_config,
)
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from mcptasks.auth.config import DEFAULT_LEEWAY_S, JWKS_MIN_REFETCH_S, AuthConfig, VerifiedToken
from mcptasks.auth.jwks import JWKSCache
from mcptasks.auth.verifier import JWTVerifier
from mcptasks.observe import metrics


def verifier(http: httpx.AsyncClient, config: AuthConfig | None = None) -> JWTVerifier:
    return JWTVerifier(config or jwt_config(), JWKSCache(http, JWKS_URI))


async def test_a_valid_token_gives_the_principal(http: httpx.AsyncClient, token: TokenFactory) -> None:
    sent = claims(extra="not kept", scope="tasks:read tasks:write")
    verified = await verifier(http).verify(token(sent))
    kept = {name: sent[name] for name in ("iss", "sub", "aud", "client_id", "exp", "iat", "jti")}
    assert verified == VerifiedToken(
        issuer=ISSUER,
        subject="alice",
        client_id="c1",
        scopes=("tasks:read", "tasks:write"),
        # Reported with the clock tolerance, which the SDK's own expiry check lacks.
        expires_at=sent["exp"] + DEFAULT_LEEWAY_S,
        resource=RESOURCE,
        claims=kept,
    )


@pytest.mark.parametrize(
    ("overrides", "header", "expected"),
    [
        ({"aud": ["https://x.example", RESOURCE]}, {}, ("alice", "c1")),
        ({"client_id": None, "azp": "kc-client"}, {}, ("alice", "kc-client")),
        ({"sub": None}, {}, ("c1", "c1")),
        ({"iat": None, "jti": None}, {}, ("alice", "c1")),
        ({}, {"typ": "application/at+jwt"}, ("alice", "c1")),
        ({}, {"typ": "AT+JWT"}, ("alice", "c1")),
    ],
    ids=[
        "aud-list",
        "azp",
        "no-sub-is-the-client",
        "no-iat-no-jti",
        "application-typ",
        "typ-case",
    ],
)
async def test_accepted(
    http: httpx.AsyncClient,
    token: TokenFactory,
    overrides: dict[str, Any],
    header: dict[str, Any],
    expected: tuple[str, str],
) -> None:
    verified = await verifier(http).verify(token(header=header, **overrides))
    assert verified is not None
    assert (verified.subject, verified.client_id) == expected


async def test_exp_inside_the_leeway_is_accepted_here(http: httpx.AsyncClient, token: TokenFactory) -> None:
    """`exp` 10 s ago, inside the 30 s leeway: accepted, and reported as valid until the leeway ends
    (so the SDK's own expiry check, which has no leeway, lets it through too)."""
    now = int(time.time())
    verified = await verifier(http).verify(token(exp=now - 10, iat=now - 300))
    assert verified is not None and verified.expires_at == now - 10 + DEFAULT_LEEWAY_S


async def test_scopes_from_an_scp_list(http: httpx.AsyncClient, token: TokenFactory) -> None:
    verified = await verifier(http).verify(token(scope=None, scp=["tasks:read", "x"]))
    assert verified is not None and verified.scopes == ("tasks:read", "x")


def _now() -> int:
    return int(time.time())


def _unsigned(alg: str, signature: str = "") -> Callable[[TokenFactory, dict[str, RSAKey]], str]:
    return lambda token, keys: (
        f"{b64url_json({'alg': alg, 'kid': 'k1', 'typ': 'at+jwt'})}.{b64url_json(claims())}.{signature}"
    )


def _hs256_with_public_key(token: TokenFactory, keys: dict[str, RSAKey]) -> str:
    signing_input = f"{b64url_json({'alg': 'HS256', 'kid': 'k1', 'typ': 'at+jwt'})}.{b64url_json(claims())}"
    secret = keys["k1"].as_pem(private=False)
    return f"{signing_input}.{b64url(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def _flipped(token: TokenFactory, keys: dict[str, RSAKey]) -> str:
    head, body, signature = token().split(".")
    return f"{head}.{body}.{signature[:-2]}{'A' if signature[-2] != 'A' else 'B'}{signature[-1]}"


def _swapped(token: TokenFactory, keys: dict[str, RSAKey]) -> str:
    head, _, signature = token().split(".")
    return f"{head}.{b64url_json(claims(sub='admin'))}.{signature}"


def _es256_unknown_key(token: TokenFactory, keys: dict[str, RSAKey]) -> str:
    key = ECKey.generate_key("P-256", parameters={"kid": "ec-1"})
    return jwt.encode({"alg": "ES256", "kid": "ec-1", "typ": "at+jwt"}, claims(), key)


#: case -> a token the verifier refuses.
REFUSED: dict[str, Callable[[TokenFactory, dict[str, RSAKey]], str]] = {
    "empty": lambda token, keys: "",
    "garbage": lambda token, keys: "garbage",
    "two-segments": lambda token, keys: ".".join(token().split(".")[:2]),
    "header-not-json": lambda token, keys: f"{b64url(b'{nope')}.{b64url_json(claims())}.{b64url(b'x')}",
    "non-ascii": lambda token, keys: token() + "é",
    "alg-none": _unsigned("none"),
    "alg-None": _unsigned("None"),
    "alg-NONE-signed": _unsigned("NONE", b64url(b"sig")),
    "hs256-with-rsa-public-key": _hs256_with_public_key,
    "attacker-key-same-kid": lambda token, keys: token(key=keys["attacker"]),
    "flipped-signature": _flipped,
    "swapped-payload": _swapped,
    "unknown-kid": lambda token, keys: token(header={"kid": "k-unknown"}, key=keys["k2"]),
    "unknown-es256-key": _es256_unknown_key,
    "typ-JWT": lambda token, keys: token(header={"typ": "JWT"}),
    "no-typ": lambda token, keys: token(header={"typ": None}),
    "jku": lambda token, keys: token(header={"jku": "https://evil.example.com/jwks"}),
    "x5u": lambda token, keys: token(header={"x5u": "https://evil.example.com/cert"}),
    "jwk": lambda token, keys: token(header={"jwk": keys["attacker"].as_dict(private=False)}),
    "crit": lambda token, keys: token(header={"crit": ["exp"]}),
    "wrong-iss": lambda token, keys: token(iss="https://evil.example.com"),
    "iss-trailing-slash": lambda token, keys: token(iss=ISSUER + "/"),
    "no-iss": lambda token, keys: token(iss=None),
    "wrong-aud": lambda token, keys: token(aud="https://other.example.com/mcp"),
    "aud-trailing-slash": lambda token, keys: token(aud=RESOURCE + "/"),
    "aud-prefix": lambda token, keys: token(aud="https://mcp.example.com"),
    "no-aud": lambda token, keys: token(aud=None),
    "expired": lambda token, keys: token(exp=_now() - 60),
    "no-exp": lambda token, keys: token(exp=None),
    "nbf-future": lambda token, keys: token(nbf=_now() + 120),
    "iat-future": lambda token, keys: token(iat=_now() + 3600),
    "no-client-id": lambda token, keys: token(client_id=None),
    "empty-client-id": lambda token, keys: token(client_id=""),
    "oversize": lambda token, keys: token(padding="x" * 9000),
}


def _refusals_counted() -> float:
    """All `mcptasks_auth_refusals_total` samples, whatever their reason."""
    return sum(
        sample.value
        for family in metrics.REGISTRY.collect()
        if family.name == "mcptasks_auth_refusals"
        for sample in family.samples
        if sample.name == "mcptasks_auth_refusals_total"
    )


@pytest.mark.parametrize("case", list(REFUSED))
async def test_refused(
    http: httpx.AsyncClient,
    token: TokenFactory,
    keys: dict[str, RSAKey],
    case: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    raw = REFUSED[case](token, {**keys})
    counted = _refusals_counted()
    with caplog.at_level(logging.INFO, logger="mcptasks.auth"):
        assert await verifier(http).verify(raw) is None
    refusals = [r for r in caplog.records if r.getMessage().startswith("access token refused")]
    assert len(refusals) == 1, caplog.text
    assert _refusals_counted() == counted + 1  # mcptasks_auth_refusals_total, by reason
    # The log names the check, never the token (nor its signature).
    if raw:
        assert raw not in caplog.text
        signature = raw.split(".")[-1]
        assert len(signature) < 16 or signature not in caplog.text


async def test_keys_come_only_from_the_configured_jwks(
    http: httpx.AsyncClient, jwks: JWKSEndpoint, token: TokenFactory, keys: dict[str, RSAKey]
) -> None:
    """A `jku` naming another JWKS is never fetched: the only request goes to the configured URI."""
    seen: list[str] = []

    async def record(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return await jwks.handle(request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(record)) as client:
        assert await verifier(client).verify(token(header={"jku": "https://evil.example.com/jwks"})) is None
        assert await verifier(client).verify(token()) is not None
    assert set(seen) == {JWKS_URI}


async def test_rotation_and_unknown_kids_cost_one_refetch_per_window(
    http: httpx.AsyncClient, jwks: JWKSEndpoint, token: TokenFactory, keys: dict[str, RSAKey], clock: Clock
) -> None:
    check = verifier(http)
    assert await check.verify(token()) is not None
    assert jwks.requests == 1
    # The issuer publishes k2 and signs with it: refused until the refetch window has passed ...
    jwks.publish(keys["k2"])
    rotated = token(header={"kid": "k2"}, key=keys["k2"])
    assert await check.verify(rotated) is None
    assert jwks.requests == 1
    # ... then one refetch picks it up.
    clock.advance(JWKS_MIN_REFETCH_S)
    assert await check.verify(rotated) is not None
    assert jwks.requests == 2
    # An unknown kid after the next window: one refetch, still unknown, refused.
    clock.advance(JWKS_MIN_REFETCH_S)
    assert await check.verify(token(header={"kid": "k-unknown"}, key=keys["attacker"])) is None
    assert jwks.requests == 3


async def test_the_algorithm_list_is_pinned(http: httpx.AsyncClient, token: TokenFactory) -> None:
    only_es256 = verifier(http, jwt_config(algorithms=("ES256",)))
    assert await only_es256.verify(token()) is None


@pytest.mark.parametrize(
    ("token_types", "typ", "accepted"),
    [
        (("jwt",), "JWT", True),
        (("jwt",), "at+jwt", False),
        (("jwt", "at+jwt"), "at+jwt", True),
        ((), "JWT", True),
        ((), None, True),
    ],
    ids=["jwt-only-JWT", "jwt-only-at+jwt", "both", "any-JWT", "any-no-typ"],
)
async def test_configured_token_types(
    http: httpx.AsyncClient,
    token: TokenFactory,
    token_types: tuple[str, ...],
    typ: str | None,
    accepted: bool,
) -> None:
    check = verifier(http, jwt_config(token_types=token_types))
    verified = await check.verify(token(header={"typ": typ}))
    assert (verified is not None) is accepted
