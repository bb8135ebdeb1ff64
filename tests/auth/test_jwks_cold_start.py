"""Valid tokens that arrive together before the server ever fetched the issuer's JWKS are all accepted.

The first request starts the one JWKS fetch (single flight, `auth/jwks.py`); the others must wait
for its keys rather than be refused with 401 while it is in flight. The issuer answers this
server's JWKS slowly (`jwks_delay_s`), so every request surely arrives during the fetch.
"""

from __future__ import annotations

import asyncio

import pytest

from auth.harness import StartServer, jwt_args, marker, raw_create
from auth.issuer import LocalIssuer

pytestmark = pytest.mark.slow

#: Requests sent together, each with its own valid token.
CONCURRENT_REQUESTS = 8
#: How long the issuer takes to answer this server's JWKS, in seconds.
SLOW_JWKS_S = 0.5


async def test_concurrent_first_requests_with_valid_tokens_are_all_accepted(
    issuer: LocalIssuer, start_server: StartServer
) -> None:
    issuer.jwks_delay_s["cold"] = SLOW_JWKS_S
    server = start_server("cold", jwt_args(issuer, "cold"))  # not primed: no JWKS fetched yet
    assert issuer.jwks_fetches("cold") == 0
    tokens = [issuer.mint(("alice", "bob")[i % 2], "c1", server.resource) for i in range(CONCURRENT_REQUESTS)]
    texts = [marker(f"cold-start-{i}") for i in range(CONCURRENT_REQUESTS)]
    responses = await asyncio.gather(
        *(raw_create(server, f"Bearer {token}", text) for token, text in zip(tokens, texts, strict=True))
    )
    assert [response.status_code for response in responses] == [200] * CONCURRENT_REQUESTS, [
        (response.status_code, response.text) for response in responses
    ]
    assert all(response.json()["result"]["resultType"] == "task" for response in responses)
    # One fetch served them all.
    assert issuer.jwks_fetches("cold") == 1
    # Each request created its task.
    assert all(server.tasks_mentioning(text) == 1 for text in texts)
