"""How an OAuth-protected deployment is configured (`--auth-*` options)."""

from __future__ import annotations

from dataclasses import dataclass, field

#: Signature algorithms accepted by default (RFC 9068 requires RS256 support). Never "none".
DEFAULT_ALGORITHMS: tuple[str, ...] = ("RS256", "PS256", "ES256")
#: JWT `typ` values of access tokens (RFC 9068 §4); compared case-insensitively.
ACCESS_TOKEN_TYPES: tuple[str, ...] = ("at+jwt", "application/at+jwt")
#: Clock tolerance for `exp`, `nbf` and `iat`, in seconds.
DEFAULT_LEEWAY_S = 30
#: A JWKS is fetched again for an unknown `kid` at most this often, in seconds.
JWKS_MIN_REFETCH_S = 30.0
#: A JWKS is kept this long before it is fetched again on its own, in seconds.
JWKS_MAX_AGE_S = 600.0
#: An `active` introspection result is reused for at most this long, in seconds.
INTROSPECTION_CACHE_S = 60.0
#: A rejected token is remembered (not introspected again) for this long, in seconds.
INTROSPECTION_NEGATIVE_CACHE_S = 10.0
#: Largest token accepted, in characters (RFC 8725 §3.5: bound what is parsed).
MAX_TOKEN_CHARS = 8192
#: Timeout of calls to the authorization server (JWKS, introspection), in seconds.
HTTP_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthConfig:
    """An OAuth resource server: who issues tokens, for which resource, and how to check them.

    Exactly one of `jwks_uri` (JWT access tokens) and `introspection_url` (opaque tokens, RFC 7662,
    with `client_id`/`client_secret` for the introspection call) is set.
    Raises: ValueError on an inconsistent configuration.
    """

    #: The authorization server's issuer identifier; a token's `iss` must equal it exactly.
    issuer: str
    #: This server's canonical URL (e.g. `https://mcp.example.com/mcp`); tokens must name it in `aud`.
    resource: str
    #: JWKS URL of the issuer (JWT access tokens).
    jwks_uri: str | None = None
    #: RFC 7662 introspection endpoint (opaque access tokens).
    introspection_url: str | None = None
    #: Client id of this server at the authorization server (introspection only).
    client_id: str | None = None
    #: Client secret of this server (introspection only); never shown by `repr`.
    client_secret: str | None = field(default=None, repr=False)
    #: Scopes every request must carry (403 `insufficient_scope` otherwise).
    required_scopes: tuple[str, ...] = ()
    #: Accepted JWT signature algorithms.
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    #: Accepted JWT `typ` values; empty accepts any (for issuers that send `typ: JWT`).
    token_types: tuple[str, ...] = ACCESS_TOKEN_TYPES
    #: Clock tolerance in seconds.
    leeway_s: int = DEFAULT_LEEWAY_S

    def __post_init__(self) -> None:
        if (self.jwks_uri is None) == (self.introspection_url is None):
            raise ValueError("set exactly one of --auth-jwks-uri and --auth-introspection-url")
        if self.introspection_url is not None and not (self.client_id and self.client_secret):
            raise ValueError("--auth-introspection-url needs --auth-client-id and --auth-client-secret")
        if "none" in (alg.lower() for alg in self.algorithms):
            raise ValueError("the 'none' algorithm is never accepted")


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """What a verified access token says (never the token itself)."""

    #: `iss` of the token (equal to the configured issuer).
    issuer: str
    #: `sub`; the client id for client-credentials tokens without `sub`.
    subject: str
    #: The OAuth client the token was issued to (`client_id`, or `azp`).
    client_id: str
    #: Granted scopes.
    scopes: tuple[str, ...]
    #: `exp` as Unix seconds, or None.
    expires_at: int | None
    #: The audience entry that matched this server (its canonical URL).
    resource: str
    #: Claims kept for the principal and for audit (no token, no secrets).
    claims: dict[str, object]
