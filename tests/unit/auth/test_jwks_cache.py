"""`JWKSCache`: keys fetched on demand from the issuer's JWKS, refetched for an unknown `kid` at most
once per window (single flight), the last good set kept when a fetch fails, encryption keys ignored.

storage-and-auth.md §5.3. The JWKS endpoint is an `httpx.MockTransport` (`jwks` fixture); time is
the `clock` fixture, so windows pass without waiting.
"""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from authkit import JWKS_URI, Clock, JWKSEndpoint
from joserfc.jwk import RSAKey

from mcptasks.auth.config import JWKS_MAX_AGE_S, JWKS_MIN_REFETCH_S
from mcptasks.auth.jwks import JWKSCache


def kids(keyset: object) -> set[str]:
    assert keyset is not None
    return {key.kid for key in keyset.keys}  # type: ignore[attr-defined]


async def test_the_first_use_fetches_and_known_kids_are_served_from_the_cache(
    http: httpx.AsyncClient, jwks: JWKSEndpoint, clock: Clock
) -> None:
    cache = JWKSCache(http, JWKS_URI)
    assert kids(await cache.keys_for("k1")) == {"k1"}
    for _ in range(5):
        clock.advance(JWKS_MIN_REFETCH_S)  # windows pass, but the kid is known
        assert kids(await cache.keys_for("k1")) == {"k1"}
    assert jwks.requests == cache.fetches == 1


async def test_an_unknown_kid_refetches_at_most_once_per_window(
    http: httpx.AsyncClient, jwks: JWKSEndpoint, clock: Clock, keys: dict[str, RSAKey]
) -> None:
    cache = JWKSCache(http, JWKS_URI)
    await cache.keys_for("k1")
    # Within the window: no refetch for unknown kids, however many.
    for i in range(10):
        await cache.keys_for(f"ghost-{i}")
    assert jwks.requests == 1
    # The issuer publishes k2 (rotation); once the window has passed one refetch picks it up.
    jwks.publish(keys["k2"])
    clock.advance(JWKS_MIN_REFETCH_S - 1)
    assert "k2" not in kids(await cache.keys_for("k2"))
    clock.advance(1)
    assert kids(await cache.keys_for("k2")) == {"k1", "k2"}
    assert jwks.requests == 2
    assert "k2" in kids(await cache.keys_for("k2"))
    assert jwks.requests == 2


async def test_concurrent_unknown_kids_share_one_fetch(
    http: httpx.AsyncClient, jwks: JWKSEndpoint, clock: Clock
) -> None:
    cache = JWKSCache(http, JWKS_URI)
    jwks.delay_s = 0.05
    # The very first use, from 20 requests at once: one fetch.
    await asyncio.gather(*(cache.keys_for("k1") for _ in range(20)))
    assert jwks.requests == 1
    # After the window, 50 unknown kids at once: one refetch (single flight).
    clock.advance(JWKS_MIN_REFETCH_S)
    results = await asyncio.gather(*(cache.keys_for(f"ghost-{i}") for i in range(50)))
    assert jwks.requests == 2
    assert all(kids(result) == {"k1"} for result in results)


async def test_concurrent_first_requests_all_wait_for_the_keys(
    http: httpx.AsyncClient, jwks: JWKSEndpoint
) -> None:
    """Requests that arrive while the first fetch is in flight get its keys, not None (a refusal)."""
    cache = JWKSCache(http, JWKS_URI)
    jwks.delay_s = 0.05
    results = await asyncio.gather(*(cache.keys_for("k1") for _ in range(8)))
    assert [kids(result) for result in results] == [{"k1"}] * 8
    assert jwks.requests == 1


async def test_a_cancelled_waiter_does_not_cancel_the_fetch_others_wait_for(
    http: httpx.AsyncClient, jwks: JWKSEndpoint
) -> None:
    cache = JWKSCache(http, JWKS_URI)
    jwks.delay_s = 0.05
    first = asyncio.ensure_future(cache.keys_for("k1"))
    second = asyncio.ensure_future(cache.keys_for("k1"))
    await asyncio.sleep(0.01)
    first.cancel()
    assert kids(await second) == {"k1"}
    assert first.cancelled()
    assert jwks.requests == 1


async def test_the_key_set_is_fetched_again_when_it_is_old(
    http: httpx.AsyncClient, jwks: JWKSEndpoint, clock: Clock
) -> None:
    cache = JWKSCache(http, JWKS_URI)
    await cache.keys_for("k1")
    clock.advance(JWKS_MAX_AGE_S + 1)
    await cache.keys_for("k1")
    assert jwks.requests == 2


@pytest.mark.parametrize("failure", ["status-500", "unreachable", "not-json"])
async def test_a_failed_refetch_keeps_the_last_good_key_set(
    http: httpx.AsyncClient,
    jwks: JWKSEndpoint,
    clock: Clock,
    failure: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = JWKSCache(http, JWKS_URI)
    assert kids(await cache.keys_for("k1")) == {"k1"}
    if failure == "status-500":
        jwks.fail_status = 500
    elif failure == "unreachable":
        jwks.unreachable = True
    else:
        jwks.keys = "garbage"  # type: ignore[assignment]
    clock.advance(JWKS_MAX_AGE_S + 1)
    with caplog.at_level(logging.WARNING, logger="mcptasks.auth"):
        assert kids(await cache.keys_for("k1")) == {"k1"}
        clock.advance(JWKS_MIN_REFETCH_S)
        assert kids(await cache.keys_for("k-new")) == {"k1"}
    assert jwks.requests == 3
    assert "keeping the last good key set" in caplog.text


async def test_keys_for_encryption_are_ignored(
    http: httpx.AsyncClient, jwks: JWKSEndpoint, keys: dict[str, RSAKey]
) -> None:
    jwks.keys = []
    jwks.publish(keys["k1"])
    jwks.publish(keys["k2"], use="enc")
    cache = JWKSCache(http, JWKS_URI)
    assert kids(await cache.keys_for("k2")) == {"k1"}


async def test_without_any_keys_it_answers_none(http: httpx.AsyncClient, jwks: JWKSEndpoint) -> None:
    jwks.fail_status = 503
    cache = JWKSCache(http, JWKS_URI)
    assert await cache.keys_for("k1") is None


async def test_an_unreachable_jwks_is_not_fetched_for_every_token(
    http: httpx.AsyncClient, jwks: JWKSEndpoint
) -> None:
    """The refetch limit also holds while no key set was ever obtained (the issuer is down when the
    server starts): otherwise every request with a well-formed token costs one outbound fetch (up to
    the 5 s timeout each), which the module docstring rules out ("garbage ids cannot make us flood
    the issuer").

    PRODUCT BUG: `keys_for` forces a fetch whenever `self._keys is None`, and `_refresh(force=True)`
    skips the window check when there are no keys, so 10 tokens cost 10 fetches.
    """
    jwks.unreachable = True
    cache = JWKSCache(http, JWKS_URI)
    for _ in range(10):
        assert await cache.keys_for("k1") is None
    assert jwks.requests == 1
