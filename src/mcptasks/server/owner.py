"""Which owner a request acts for: resolved once per request, before any handler runs.

- A verified OAuth token: the principal `(iss, sub, client_id)` (or `(iss, sub)` with
  `owner_scope="user"`). A token without `sub` is the client itself.
- No token, a 2025-11-25 session (stateful HTTP `Mcp-Session-Id`, or the stdio connection): the
  session.
- No token, no session (2026-07-28, stateless legacy HTTP): the capability owner.

Spec: DESIGN §3; 2025-11-25 tasks "Security Considerations"; SEP-2663 "Security Implications".
"""

from __future__ import annotations

import secrets
from contextvars import ContextVar
from typing import Any, Literal

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.context import ServerRequestContext
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from mcptasks.core.owner import Owner
from mcptasks.server.workarounds import connection_of

OwnerScope = Literal["client", "user"]

#: Key under which a stdio connection keeps its random connection id in `Connection.state`.
_CONNECTION_ID_KEY = "mcptasks.connection_id"

_current_owner: ContextVar[Owner | None] = ContextVar("mcptasks_owner", default=None)


def resolve_owner(ctx: ServerRequestContext[Any, Any], owner_scope: OwnerScope = "client") -> Owner:
    """Compute the owner of the request `ctx` (see module docstring)."""
    token = get_access_token()
    if token is not None:
        claims = token.claims or {}
        issuer = str(claims.get("iss") or "")
        subject = token.subject or token.client_id
        return Owner.principal(issuer, subject, token.client_id, per_client=owner_scope == "client")
    if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
        return Owner.capability()
    connection = connection_of(ctx.session)
    if connection.session_id:
        return Owner.session(connection.session_id)
    if ctx.request is not None:
        # Stateless legacy HTTP: every request is a new connection; nothing identifies the caller.
        return Owner.capability()
    # stdio: the connection is the session; it has no id of its own, so it gets a random one.
    connection_id = connection.state.setdefault(_CONNECTION_ID_KEY, secrets.token_urlsafe(16))
    return Owner.session(str(connection_id))


def set_request_owner(owner: Owner) -> None:
    """Remember the owner resolved for the current request."""
    _current_owner.set(owner)


def request_owner(ctx: ServerRequestContext[Any, Any], owner_scope: OwnerScope = "client") -> Owner:
    """The owner resolved for the current request (resolving it now if middleware did not)."""
    owner = _current_owner.get()
    if owner is None:
        owner = resolve_owner(ctx, owner_scope)
        _current_owner.set(owner)
    return owner
