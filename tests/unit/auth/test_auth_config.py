"""`AuthConfig`: the `--auth-*` settings are checked when built, and never show the client secret."""

from __future__ import annotations

import dataclasses

import pytest
from authkit import (
    CLIENT_SECRET,
    INTROSPECTION_URL,
    ISSUER,
    JWKS_URI,
    RESOURCE,
    introspection_config,
    jwt_config,
)

from mcptasks.auth.config import (
    ACCESS_TOKEN_TYPES,
    DEFAULT_ALGORITHMS,
    DEFAULT_LEEWAY_S,
    MAX_TOKEN_CHARS,
    AuthConfig,
)


def test_jwt_defaults() -> None:
    config = jwt_config()
    assert config.algorithms == DEFAULT_ALGORITHMS == ("RS256", "PS256", "ES256")
    assert config.token_types == ACCESS_TOKEN_TYPES == ("at+jwt", "application/at+jwt")
    assert config.leeway_s == DEFAULT_LEEWAY_S == 30
    assert config.required_scopes == ()
    assert MAX_TOKEN_CHARS == 8192


def test_introspection_with_client_credentials_is_valid() -> None:
    config = introspection_config()
    assert config.jwks_uri is None and config.introspection_url == INTROSPECTION_URL


@pytest.mark.parametrize(
    "sources",
    [
        {},
        {
            "jwks_uri": JWKS_URI,
            "introspection_url": INTROSPECTION_URL,
            "client_id": "a",
            "client_secret": "b",
        },
    ],
    ids=["neither", "both"],
)
def test_exactly_one_of_jwks_and_introspection(sources: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="exactly one of --auth-jwks-uri and --auth-introspection-url"):
        AuthConfig(issuer=ISSUER, resource=RESOURCE, **sources)


@pytest.mark.parametrize(
    "credentials",
    [{}, {"client_id": "rs"}, {"client_secret": "s"}, {"client_id": "", "client_secret": "s"}],
    ids=["none", "no-secret", "no-id", "empty-id"],
)
def test_introspection_needs_client_credentials(credentials: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="needs --auth-client-id and --auth-client-secret"):
        AuthConfig(issuer=ISSUER, resource=RESOURCE, introspection_url=INTROSPECTION_URL, **credentials)


@pytest.mark.parametrize("algorithms", [("none",), ("RS256", "None"), ("NONE",)])
def test_the_none_algorithm_is_refused(algorithms: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="'none' algorithm"):
        jwt_config(algorithms=algorithms)


def test_repr_hides_the_client_secret() -> None:
    config = introspection_config()
    assert CLIENT_SECRET not in repr(config)
    assert CLIENT_SECRET not in str(config)
    assert "client_secret" not in repr(config)
    assert config.client_secret == CLIENT_SECRET  # still there for the introspection call


def test_it_is_immutable() -> None:
    config = jwt_config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.issuer = "https://evil.example.com"  # type: ignore[misc]
