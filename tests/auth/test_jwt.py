"""JWT access tokens over Streamable HTTP: what is accepted, what is refused and how, key rotation,
RFC 9728 metadata, required scopes, and stdio staying unauthenticated.

storage-and-auth.md §5.2-5.5 and §6 (tests 1-12, 16-18, 40); issue #5 "HTTP behaviour". Every
refusal is checked as the client sees it: the HTTP status, the `WWW-Authenticate` challenge (scheme,
`error`, `resource_metadata`), the JSON error body, and that the request created no task.
"""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from auth.harness import (
    APP,
    CLI,
    REQUIRED_SCOPES,
    AuthServer,
    StartServer,
    assert_refused,
    challenge,
    create_with,
    jwt_args,
    marker,
    modern_body,
    modern_headers,
    raw_create,
)
from auth.issuer import DROP, LocalIssuer, b64url, b64url_json, new_key
from mcptasks.auth.config import JWKS_MIN_REFETCH_S

pytestmark = pytest.mark.slow


# -- what is accepted ---------------------------------------------------------------------------------


async def test_a_valid_token_creates_a_task_owned_by_its_principal(
    issuer: LocalIssuer, jwt_server: AuthServer
) -> None:
    token = issuer.mint("alice", "c1", jwt_server.resource)
    task = await create_with(jwt_server, token, marker("control"))
    row = jwt_server.task_row(task["taskId"])
    assert row is not None
    assert (row["owner_kind"], row["owner_issuer"], row["owner_subject"], row["owner_client_id"]) == (
        "principal",
        issuer.issuer,
        "alice",
        "c1",
    )
    assert row["owner_key"] == f'principal:["{issuer.issuer}","alice","c1"]'


@pytest.mark.parametrize(
    ("case", "build"),
    [
        ("lowercase-scheme", lambda iss, res: "bearer " + iss.mint("alice", "c1", res)),
        (
            "audience-list",
            lambda iss, res: "Bearer " + iss.mint("alice", "c1", res, aud=["https://x.example", res]),
        ),
        (
            "application/at+jwt",
            lambda iss, res: "Bearer " + iss.mint("alice", "c1", res, typ="application/at+jwt"),
        ),
        (
            "azp-instead-of-client_id",
            lambda iss, res: "Bearer " + iss.mint("alice", "c1", res, client_id=DROP, azp="c1"),
        ),
        (
            "no-nbf-no-iat-no-jti",
            lambda iss, res: "Bearer " + iss.mint("alice", "c1", res, iat=DROP, jti=DROP),
        ),
    ],
)
async def test_accepted_variants(
    issuer: LocalIssuer, jwt_server: AuthServer, case: str, build: Callable[[LocalIssuer, str], str]
) -> None:
    text = marker(case)
    response = await raw_create(jwt_server, build(issuer, jwt_server.resource), text)
    assert response.status_code == 200, (case, response.status_code, response.text)
    task_id = response.json()["result"]["taskId"]
    row = jwt_server.task_row(task_id)
    assert row is not None and (row["owner_subject"], row["owner_client_id"]) == ("alice", "c1")


async def test_a_token_without_sub_is_owned_by_its_client(
    issuer: LocalIssuer, jwt_server: AuthServer
) -> None:
    """Client-credentials tokens (RFC 9068 §2.2: `sub` names the client): the owner is the client."""
    token = issuer.mint("ignored", "c2", jwt_server.resource, sub=DROP)
    task = await create_with(jwt_server, token, marker("no-sub"))
    row = jwt_server.task_row(task["taskId"])
    assert row is not None and (row["owner_subject"], row["owner_client_id"]) == ("c2", "c2")


async def test_exp_inside_the_leeway_is_accepted(issuer: LocalIssuer, jwt_server: AuthServer) -> None:
    """`exp` 10 s ago is inside the configured 30 s clock leeway (`AuthConfig.leeway_s`, §5.2 "Accepted").

    PRODUCT BUG: the JWT verifier accepts it, but the SDK's `BearerAuthBackend` then drops any token
    whose `AccessToken.expires_at` is before now, without leeway, so the request gets 401.
    """
    now = int(time.time())
    token = issuer.mint("alice", "c1", jwt_server.resource, exp=now - 10, iat=now - 300)
    response = await raw_create(jwt_server, f"Bearer {token}", marker("leeway"))
    assert response.status_code == 200, (response.status_code, response.headers.get("www-authenticate"))


# -- what is refused (storage-and-auth.md §6) --------------------------------------------------------------


@dataclass(frozen=True)
class Ctx:
    """What a refusal case builds its `Authorization` header from."""

    issuer: LocalIssuer
    resource: str
    #: The resource of another MCP server that trusts the same issuer.
    other_resource: str

    def claims(self, **overrides: Any) -> dict[str, Any]:
        return self.issuer.claims("alice", "c1", self.resource, **overrides)

    def header(self, **fields: Any) -> dict[str, Any]:
        return {"alg": "RS256", "kid": "k1", "typ": "at+jwt", **fields}


def _now() -> int:
    return int(time.time())


def _flip_last_signature_bit(token: str) -> str:
    head, payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[-1] ^= 0x01
    return f"{head}.{payload}.{b64url(bytes(raw))}"


def _swap_payload(ctx: Ctx) -> str:
    head, _, signature = ctx.issuer.mint("alice", "c1", ctx.resource).split(".")
    return f"{head}.{b64url_json(ctx.claims(sub='bob'))}.{signature}"


def _unknown_kid(ctx: Ctx) -> str:
    key = new_key("k-never-published")
    return ctx.issuer.forge(ctx.header(kid="k-never-published"), ctx.claims(), key=key)


def _attacker_key_known_kid(ctx: Ctx) -> str:
    return ctx.issuer.forge(ctx.header(), ctx.claims(), key=new_key("k1"))


def _oversize(ctx: Ctx) -> str:
    token = ctx.issuer.mint("alice", "c1", ctx.resource, padding="x" * 9000)
    assert len(token) > 8192
    return token


#: case -> the Authorization header value (None: no header). Each is refused with 401 invalid_token.
REFUSALS: dict[str, Callable[[Ctx], str | None]] = {
    "no-authorization-header": lambda ctx: None,
    "empty-bearer": lambda ctx: "Bearer",
    "basic-scheme": lambda ctx: "Basic " + base64.b64encode(b"alice:password").decode(),
    "garbage": lambda ctx: "Bearer not-a-token",
    "malformed-header-segment": lambda ctx: (
        "Bearer " + f"{b64url(b'{not json')}.{b64url_json(ctx.claims())}.{b64url(b'sig')}"
    ),
    "header-not-an-object": lambda ctx: (
        "Bearer " + f"{b64url(b'[1,2]')}.{b64url_json(ctx.claims())}.{b64url(b'x')}"
    ),
    "two-segments": lambda ctx: (
        "Bearer " + ".".join(ctx.issuer.mint("alice", "c1", ctx.resource).split(".")[:2])
    ),
    "alg-none": lambda ctx: "Bearer " + ctx.issuer.forge_unsigned(ctx.header(alg="none"), ctx.claims()),
    "alg-None": lambda ctx: "Bearer " + ctx.issuer.forge_unsigned(ctx.header(alg="None"), ctx.claims()),
    "alg-NONE-with-signature": lambda ctx: (
        "Bearer " + ctx.issuer.forge_unsigned(ctx.header(alg="NONE"), ctx.claims(), b64url(b"signature"))
    ),
    "hs256-signed-with-rsa-public-key": lambda ctx: (
        "Bearer " + ctx.issuer.forge_hs256_with_public_key(ctx.claims())
    ),
    "wrong-iss": lambda ctx: (
        "Bearer " + ctx.issuer.mint("alice", "c1", ctx.resource, iss="https://evil.example.com")
    ),
    "iss-trailing-slash": lambda ctx: (
        "Bearer " + ctx.issuer.mint("alice", "c1", ctx.resource, iss=ctx.issuer.issuer + "/")
    ),
    "missing-iss": lambda ctx: "Bearer " + ctx.issuer.mint("alice", "c1", ctx.resource, iss=DROP),
    "wrong-aud": lambda ctx: (
        "Bearer " + ctx.issuer.mint("alice", "c1", ctx.resource, aud="https://other.example.com/mcp")
    ),
    "aud-of-another-resource": lambda ctx: "Bearer " + ctx.issuer.mint("alice", "c1", ctx.other_resource),
    "aud-trailing-slash": lambda ctx: (
        "Bearer " + ctx.issuer.mint("alice", "c1", ctx.resource, aud=ctx.resource + "/")
    ),
    "aud-list-without-us": lambda ctx: (
        "Bearer "
        + ctx.issuer.mint("alice", "c1", ctx.resource, aud=[ctx.other_resource, "https://x.example"])
    ),
    "empty-aud": lambda ctx: "Bearer " + ctx.issuer.mint("alice", "c1", ctx.resource, aud=""),
    "missing-aud": lambda ctx: "Bearer " + ctx.issuer.mint("alice", "c1", ctx.resource, aud=DROP),
    "expired": lambda ctx: (
        "Bearer " + ctx.issuer.mint("alice", "c1", ctx.resource, exp=_now() - 120, iat=_now() - 720)
    ),
    "nbf-in-the-future": lambda ctx: (
        "Bearer " + ctx.issuer.mint("alice", "c1", ctx.resource, nbf=_now() + 300)
    ),
    "iat-in-the-future": lambda ctx: (
        "Bearer " + ctx.issuer.mint("alice", "c1", ctx.resource, iat=_now() + 3600)
    ),
    "missing-exp": lambda ctx: "Bearer " + ctx.issuer.mint("alice", "c1", ctx.resource, exp=DROP),
    "missing-client_id": lambda ctx: "Bearer " + ctx.issuer.mint("alice", "c1", ctx.resource, client_id=DROP),
    "unknown-kid": lambda ctx: "Bearer " + _unknown_kid(ctx),
    "attacker-key-reusing-kid-k1": lambda ctx: "Bearer " + _attacker_key_known_kid(ctx),
    "flipped-signature-bit": lambda ctx: (
        "Bearer " + _flip_last_signature_bit(ctx.issuer.mint("alice", "c1", ctx.resource))
    ),
    "swapped-payload": lambda ctx: "Bearer " + _swap_payload(ctx),
    "typ-JWT": lambda ctx: "Bearer " + ctx.issuer.mint("alice", "c1", ctx.resource, typ="JWT"),
    "no-typ": lambda ctx: "Bearer " + ctx.issuer.forge({"alg": "RS256", "kid": "k1"}, ctx.claims()),
    "jku-header": lambda ctx: (
        "Bearer " + ctx.issuer.forge(ctx.header(jku=ctx.issuer.jwks_uri_for("attacker")), ctx.claims())
    ),
    "x5u-header": lambda ctx: (
        "Bearer " + ctx.issuer.forge(ctx.header(x5u=ctx.issuer.jwks_uri_for("attacker")), ctx.claims())
    ),
    "jwk-header": lambda ctx: (
        "Bearer "
        + ctx.issuer.forge(ctx.header(jwk=ctx.issuer.keys["k1"].as_dict(private=False)), ctx.claims())
    ),
    "crit-header": lambda ctx: (
        "Bearer " + ctx.issuer.forge(ctx.header(crit=["exp-ext"], **{"exp-ext": 1}), ctx.claims())
    ),
    "token-over-8-kb": lambda ctx: "Bearer " + _oversize(ctx),
}


@pytest.mark.parametrize("case", list(REFUSALS))
async def test_refused_token(
    issuer: LocalIssuer, jwt_server: AuthServer, scope_server: AuthServer, case: str
) -> None:
    ctx = Ctx(issuer, jwt_server.resource, scope_server.resource)
    authorization = REFUSALS[case](ctx)
    text = marker(case)
    response = await raw_create(jwt_server, authorization, text)
    assert_refused(response, jwt_server, None if authorization is None else "invalid_token")
    assert jwt_server.tasks_mentioning(text) == 0
    # Keys come only from the configured JWKS: a token's jku/x5u is never fetched.
    assert issuer.jwks_fetches("attacker") == 0


async def test_no_token_challenge_carries_no_error_attribute(jwt_server: AuthServer) -> None:
    """RFC 6750 §3.1 / storage-and-auth.md §6 test 1: a request with no credentials gets a challenge
    without `error` (the client did not know authentication was needed; there is no bad token).
    """
    response = await raw_create(jwt_server, None, marker("no-header-challenge"))
    assert response.status_code == 401
    _, params = challenge(response)
    assert params["resource_metadata"] == jwt_server.metadata_url
    assert "error" not in params, response.headers["www-authenticate"]


async def test_token_in_the_query_string_is_not_accepted(issuer: LocalIssuer, jwt_server: AuthServer) -> None:
    """MCP authorization: tokens MUST NOT be taken from the URI query string."""
    token = issuer.mint("alice", "c1", jwt_server.resource)
    text = marker("query-string")
    async with httpx.AsyncClient(timeout=20) as http:
        response = await http.post(
            jwt_server.url,
            params={"access_token": token},
            json=modern_body("tools/call", {"name": "echo", "arguments": {"text": text}}),
            headers=modern_headers("tools/call", "echo", None),
        )
    assert_refused(response, jwt_server, None)  # a token in the URL is no credential at all
    assert jwt_server.tasks_mentioning(text) == 0


async def test_every_refusal_is_the_same_generic_answer(issuer: LocalIssuer, jwt_server: AuthServer) -> None:
    """The challenge never says which check failed (§5.5: keep error_description generic)."""
    ctx = Ctx(issuer, jwt_server.resource, jwt_server.resource + "-other")
    answers = set()
    for case in ("wrong-iss", "expired", "typ-JWT", "unknown-kid", "garbage", "alg-none"):
        response = await raw_create(jwt_server, REFUSALS[case](ctx), marker(case))
        answers.add((response.status_code, response.headers["www-authenticate"], response.text))
    assert len(answers) == 1, answers


async def test_an_issuer_sending_typ_jwt_needs_auth_token_type(
    issuer: LocalIssuer, start_server: StartServer
) -> None:
    """Keycloak-style tokens: header `typ: JWT`, the client in `azp` (no `client_id`), `aud` a list
    (an audience mapper adds this server next to `account`), payload `typ: Bearer`. They are
    accepted with `--auth-token-type JWT`, which replaces the default `at+jwt` list."""
    server = start_server("typ-jwt", jwt_args(issuer, "typ-jwt", "--auth-token-type", "JWT"))
    claims = issuer.claims(
        "5f0c1e9a-user-uuid",
        "unused",
        server.resource,
        client_id=DROP,
        azp="mcp-desktop",
        aud=["account", server.resource],
        scope="openid profile tasks:read tasks:write",
        typ="Bearer",
    )
    keycloak_like = issuer.forge({"alg": "RS256", "kid": "k1", "typ": "JWT"}, claims)
    task = await create_with(server, keycloak_like, marker("keycloak"))
    row = server.task_row(task["taskId"])
    assert row is not None
    assert (row["owner_subject"], row["owner_client_id"]) == ("5f0c1e9a-user-uuid", "mcp-desktop")
    rfc9068 = issuer.mint("alice", "c1", server.resource)
    assert_refused(await raw_create(server, f"Bearer {rfc9068}", marker("at+jwt-on-typ-jwt")), server)


# -- required scopes: 403 insufficient_scope -----------------------------------------------------------


async def test_all_required_scopes_give_access(issuer: LocalIssuer, scope_server: AuthServer) -> None:
    token = issuer.mint("alice", "c1", scope_server.resource, scope="openid tasks:read tasks:write")
    await create_with(scope_server, token, marker("scoped-ok"))


@pytest.mark.parametrize("scope", ["tasks:read", "", "tasks:write"])
async def test_a_missing_required_scope_is_403_insufficient_scope(
    issuer: LocalIssuer, scope_server: AuthServer, scope: str
) -> None:
    token = issuer.mint("alice", "c1", scope_server.resource, scope=scope)
    text = marker("scope")
    response = await raw_create(scope_server, f"Bearer {token}", text)
    assert_refused(response, scope_server, "insufficient_scope")
    assert scope_server.tasks_mentioning(text) == 0


async def test_the_insufficient_scope_challenge_names_the_scopes(
    issuer: LocalIssuer, scope_server: AuthServer
) -> None:
    """MCP 2025-11-25 authorization "Scope Challenge Handling" (SHOULD) and storage-and-auth.md §6
    test 17: the 403 challenge carries `scope="tasks:read tasks:write"`, so the client can step up.

    PRODUCT BUG (SHOULD level): the SDK's `RequireAuthMiddleware` sends no `scope` parameter, only
    `error_description="Required scope: tasks:write"`.
    """
    token = issuer.mint("alice", "c1", scope_server.resource, scope="tasks:read")
    response = await raw_create(scope_server, f"Bearer {token}", marker("scope-param"))
    assert response.status_code == 403
    _, params = challenge(response)
    assert params.get("scope") == " ".join(REQUIRED_SCOPES), response.headers["www-authenticate"]


async def test_an_invalid_token_on_a_scoped_server_is_still_401(
    issuer: LocalIssuer, scope_server: AuthServer
) -> None:
    token = issuer.mint("alice", "c1", scope_server.resource, scope=" ".join(REQUIRED_SCOPES), typ="JWT")
    assert_refused(await raw_create(scope_server, f"Bearer {token}", marker("scoped-bad")), scope_server)


# -- RFC 9728 protected-resource metadata --------------------------------------------------------------


async def test_protected_resource_metadata_is_served_without_auth(
    issuer: LocalIssuer, jwt_server: AuthServer, scope_server: AuthServer
) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        plain = await http.get(jwt_server.metadata_url)
        scoped = await http.get(scope_server.metadata_url)
    assert plain.status_code == 200 and scoped.status_code == 200
    for server, document in ((jwt_server, plain.json()), (scope_server, scoped.json())):
        assert document["resource"] == server.resource
        assert document["bearer_methods_supported"] == ["header"]
        assert len(document["authorization_servers"]) == 1
    assert "scopes_supported" not in plain.json() or plain.json()["scopes_supported"] is None
    assert scoped.json()["scopes_supported"] == list(REQUIRED_SCOPES)


async def test_protected_resource_metadata_names_the_issuer_exactly(
    issuer: LocalIssuer, jwt_server: AuthServer
) -> None:
    """RFC 9728 §2: `authorization_servers` holds issuer identifiers, which RFC 8414 §3.3 compares as
    identical strings; a client validating the issuer's metadata against this entry needs `iss`.

    PRODUCT BUG: the SDK's `AnyHttpUrl` turns a host-only issuer `http://host:port` into
    `http://host:port/`, so the metadata names an issuer that no token carries.
    """
    async with httpx.AsyncClient(timeout=10) as http:
        document = (await http.get(jwt_server.metadata_url)).json()
    assert document["authorization_servers"] == [issuer.issuer]


# -- key rotation (run after the other tests: they wait out the JWKS refetch window) -----------------------


async def _wait_out_refetch_window(issuer: LocalIssuer, server: AuthServer, label: str, token: str) -> None:
    """Make sure `server` has a cached key set, then wait until a refetch is allowed again."""
    if issuer.last_jwks_fetch(label) is None:
        assert (await raw_create(server, f"Bearer {token}", marker("prime"))).status_code == 200
    last = issuer.last_jwks_fetch(label)
    assert last is not None
    remaining = last + JWKS_MIN_REFETCH_S + 0.5 - time.monotonic()
    if remaining > 0:
        await asyncio.sleep(remaining)


async def test_a_rotated_key_is_picked_up_with_one_refetch(
    issuer: LocalIssuer, scope_server: AuthServer
) -> None:
    scope = " ".join(REQUIRED_SCOPES)
    await _wait_out_refetch_window(
        issuer, scope_server, "scoped", issuer.mint("alice", "c1", scope_server.resource, scope=scope)
    )
    before = issuer.jwks_fetches("scoped")
    if "k2" not in issuer.keys:
        issuer.add_key("k2")  # the issuer publishes the new key before signing with it
    rotated = issuer.mint("alice", "c1", scope_server.resource, kid="k2", scope=scope)
    task = await create_with(scope_server, rotated, marker("rotated"))
    assert issuer.jwks_fetches("scoped") == before + 1
    # Cached now: no further fetch, and the old key still works while it is published.
    await create_with(scope_server, rotated, marker("rotated-again"))
    await create_with(
        scope_server, issuer.mint("alice", "c1", scope_server.resource, scope=scope), marker("old")
    )
    assert issuer.jwks_fetches("scoped") == before + 1
    row = scope_server.task_row(task["taskId"])
    assert row is not None and row["owner_subject"] == "alice"


test_a_rotated_key_is_picked_up_with_one_refetch.run_order = 1  # type: ignore[attr-defined]


async def test_a_burst_of_unknown_kids_costs_at_most_one_refetch(
    issuer: LocalIssuer, jwt_server: AuthServer
) -> None:
    """§6 test 9: 40 tokens with unknown kids at once: one refetch (single flight), then none within the
    window; every token is refused because its kid is not in the JWKS even after the refetch."""
    await _wait_out_refetch_window(issuer, jwt_server, "jwt", issuer.mint("alice", "c1", jwt_server.resource))
    before = issuer.jwks_fetches("jwt")
    ctx = Ctx(issuer, jwt_server.resource, jwt_server.resource)

    def ghost(i: int) -> str:
        return "Bearer " + issuer.forge(ctx.header(kid=f"ghost-{i}"), ctx.claims())

    first = await asyncio.gather(*(raw_create(jwt_server, ghost(i), marker("ghost")) for i in range(40)))
    for response in first:
        assert_refused(response, jwt_server)
    assert issuer.jwks_fetches("jwt") == before + 1
    second = await asyncio.gather(
        *(raw_create(jwt_server, ghost(100 + i), marker("ghost")) for i in range(40))
    )
    for response in second:
        assert_refused(response, jwt_server)
    assert issuer.jwks_fetches("jwt") == before + 1
    assert jwt_server.tasks_mentioning("refused-ghost") == 0


test_a_burst_of_unknown_kids_costs_at_most_one_refetch.run_order = 1  # type: ignore[attr-defined]


# -- stdio is never authenticated --------------------------------------------------------------------------


@pytest.mark.parametrize("via", ["options", "environment"])
def test_stdio_with_auth_options_exits_1_with_one_line(issuer: LocalIssuer, tmp_path: Path, via: str) -> None:
    options = {
        "--auth-issuer": issuer.issuer,
        "--auth-resource": "http://127.0.0.1:1/mcp",
        "--auth-jwks-uri": issuer.jwks_uri,
    }
    args = [*CLI, "serve", APP, "--transport", "stdio", "--db", str(tmp_path / "stdio.db")]
    env = dict(os.environ)
    if via == "options":
        args += [part for item in options.items() for part in item]
    else:
        env.update(
            {"MCPTASKS_" + name[2:].upper().replace("-", "_"): value for name, value in options.items()}
        )
    done = subprocess.run(args, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    assert done.returncode == 1
    assert done.stdout == b""
    lines = done.stderr.decode().splitlines()
    assert lines == [
        "mcptasks: error: --auth-* options apply to --transport http; stdio is never authenticated"
    ]
    assert not (tmp_path / "stdio.db").exists()


async def test_two_authorization_headers_are_refused(issuer: LocalIssuer, jwt_server: AuthServer) -> None:
    """storage-and-auth.md §6 test 18: duplicate Authorization headers are rejected, not guessed at."""
    good = issuer.mint("alice", "c1", jwt_server.resource)
    text = marker("two-headers")
    headers = [(key, value) for key, value in modern_headers("tools/call", "echo", None).items()] + [
        ("Authorization", f"Bearer {good}"),
        ("Authorization", f"Bearer {good}"),
    ]
    async with httpx.AsyncClient(timeout=20) as http:
        response = await http.post(
            jwt_server.url,
            json=modern_body("tools/call", {"name": "echo", "arguments": {"text": text}}),
            headers=headers,
        )
    assert response.status_code == 400, response.text
    _, params = challenge(response)
    assert params.get("error") == "invalid_request", response.headers
    assert jwt_server.tasks_mentioning(text) == 0


# -- probes ---------------------------------------------------------------------------------------


async def test_health_probes_need_no_token(jwt_server: AuthServer) -> None:
    async with httpx.AsyncClient(base_url=jwt_server.base_url, timeout=10) as client:
        health = await client.get("/healthz")
        ready = await client.get("/readyz")
        headers = modern_headers("tools/list", None, None)
        mcp = await client.post("/mcp", json=modern_body("tools/list", {}), headers=headers)
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert mcp.status_code == 401  # the MCP endpoint itself still wants a token
