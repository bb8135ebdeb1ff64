"""Runtime option value objects: ttl default and cap, validation."""

from __future__ import annotations

import dataclasses

import pytest

from mcptasks.runtime.options import DEFAULT_TTL_MS, MAX_TTL_MS, Leases, Retention


class TestRetention:
    def test_defaults(self) -> None:
        retention = Retention()
        assert retention.default_ttl_ms == DEFAULT_TTL_MS == 3_600_000
        assert retention.max_ttl_ms == MAX_TTL_MS == 7 * 86_400_000

    @pytest.mark.parametrize(
        ("requested", "granted"),
        [
            (None, DEFAULT_TTL_MS),
            (1, 1),
            (60_000, 60_000),
            (MAX_TTL_MS, MAX_TTL_MS),
            (MAX_TTL_MS * 10, MAX_TTL_MS),
        ],
    )
    def test_ttl_for(self, requested: int | None, granted: int) -> None:
        assert Retention().ttl_for(requested) == granted

    def test_ttl_for_never_grants_less_than_one_ms(self) -> None:
        assert Retention().ttl_for(0) == 1
        assert Retention().ttl_for(-5) == 1

    @pytest.mark.parametrize(("default", "maximum"), [(0, 10), (-1, 10), (11, 10)])
    def test_default_must_be_positive_and_within_the_cap(self, default: int, maximum: int) -> None:
        with pytest.raises(ValueError):
            Retention(default_ttl_ms=default, max_ttl_ms=maximum)

    def test_frozen_and_keyword_only(self) -> None:
        retention = Retention()
        with pytest.raises(dataclasses.FrozenInstanceError):
            retention.default_ttl_ms = 5  # type: ignore[misc]
        with pytest.raises(TypeError):
            Retention(1000)  # type: ignore[misc]


class TestLeases:
    def test_heartbeat_must_be_shorter_than_the_lease(self) -> None:
        Leases(duration_s=1, heartbeat_s=0.2)
        for heartbeat in (0, 1, 2):
            with pytest.raises(ValueError):
                Leases(duration_s=1, heartbeat_s=heartbeat)
