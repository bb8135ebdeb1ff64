"""The `--auth-*` options of `mcptasks serve`: one settings field per option, and the `AuthConfig`
they give (auth/config.py checks that they fit together)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, SecretStr
from pydantic_settings import NoDecode

from mcptasks.auth.config import ACCESS_TOKEN_TYPES, AuthConfig
from mcptasks.cli.errors import CLIError
from mcptasks.cli.settings import CommandSettings, Option, words

#: The `--help` group of the options below: title and description.
AUTH_GROUP = (
    "OAuth (Streamable HTTP only; stdio is never authenticated)",
    "Give --auth-issuer and --auth-resource, and either --auth-jwks-uri (JWT access tokens) or "
    "--auth-introspection-url with --auth-client-id and --auth-client-secret (opaque tokens).",
)


def _auth(metavar: str, help: str) -> Option:
    return Option(help, metavar=metavar, group="auth")


#: A repeatable option whose variable takes a space- or comma-separated list.
_Words = Annotated[tuple[str, ...], NoDecode, BeforeValidator(words)]


class AuthOptions(CommandSettings):
    """The `--auth-*` options (mixed into `ServeSettings`); none given means no OAuth."""

    auth_issuer: Annotated[
        str | None, _auth("URL", "the authorization server's issuer; a token's iss must equal it exactly")
    ] = None
    auth_resource: Annotated[
        str | None,
        _auth(
            "URL", "this server's canonical URL, e.g. https://mcp.example.com/mcp; tokens must name it in aud"
        ),
    ] = None
    auth_jwks_uri: Annotated[str | None, _auth("URL", "the issuer's JWKS, to verify JWT access tokens")] = (
        None
    )
    auth_introspection_url: Annotated[
        str | None, _auth("URL", "the issuer's RFC 7662 introspection endpoint, to verify opaque tokens")
    ] = None
    auth_client_id: Annotated[
        str | None, _auth("ID", "this server's client id at the issuer (introspection)")
    ] = None
    auth_client_secret: Annotated[
        SecretStr | None,
        _auth(
            "SECRET",
            "this server's client secret at the issuer (introspection); prefer the environment variable",
        ),
    ] = None
    auth_required_scope: Annotated[
        _Words,
        _auth(
            "SCOPE",
            "a scope every request must carry (repeatable; the variable takes a space-separated list)",
        ),
    ] = ()
    auth_token_type: Annotated[
        _Words,
        _auth(
            "TYP",
            "accepted JWT typ values instead of at+jwt and application/at+jwt (repeatable), for issuers "
            "that send typ JWT",
        ),
    ] = ()

    def auth_config(self, *, stdio: bool) -> AuthConfig | None:
        """The OAuth settings these options give, or None when none is given.

        Raises: CLIError when they are incomplete or inconsistent, or given for stdio.
        """
        secret = None if self.auth_client_secret is None else self.auth_client_secret.get_secret_value()
        given = [self.auth_issuer, self.auth_resource, self.auth_jwks_uri, self.auth_introspection_url]
        if not any(given):
            if self.auth_client_id or secret or self.auth_required_scope:
                raise CLIError("the --auth-* options need --auth-issuer and --auth-resource")
            return None
        if not (self.auth_issuer and self.auth_resource):
            raise CLIError("OAuth needs both --auth-issuer and --auth-resource")
        if stdio:
            raise CLIError("--auth-* options apply to --transport http; stdio is never authenticated")
        try:
            return AuthConfig(
                issuer=self.auth_issuer,
                resource=self.auth_resource,
                jwks_uri=self.auth_jwks_uri or None,
                introspection_url=self.auth_introspection_url or None,
                client_id=self.auth_client_id or None,
                client_secret=secret or None,
                required_scopes=self.auth_required_scope,
                token_types=tuple(t.lower() for t in self.auth_token_type) or ACCESS_TOKEN_TYPES,
            )
        except ValueError as exc:
            raise CLIError(str(exc)) from None
