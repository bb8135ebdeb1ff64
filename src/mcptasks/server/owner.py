"""Which owner a request acts for: resolved once per request, before any handler runs.

- A verified OAuth token: the principal `(iss, sub, client_id)` (or `(iss, sub)` with
  `owner_scope="user"`). A token without `sub` is the client itself.
- stdio (`TaskServer.run_stdio_async`, both wires): the local user the server runs as,
  `Owner.local_user` (`local:<uid>`), so every stdio server of that user on one database shares
  the tasks: the user can read the database file anyway.
- No token, a 2025-11-25 session of stateful HTTP (`Mcp-Session-Id`): the session.
- No token, no session (2026-07-28, stateless legacy HTTP): the capability owner.

Spec: DESIGN §3; 2025-11-25 tasks "Security Considerations"; SEP-2663 "Security Implications".
"""

from __future__ import annotations

import contextlib
import getpass
import os
import secrets
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any, Literal

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.context import ServerRequestContext
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from mcptasks.core.owner import Owner
from mcptasks.server.workarounds import connection_of

OwnerScope = Literal["client", "user"]

#: Key under which a connection without a session id (not HTTP, not `stdio_owner`) keeps its random
#: connection id in `Connection.state`.
_CONNECTION_ID_KEY = "mcptasks.connection_id"

_current_owner: ContextVar[Owner | None] = ContextVar("mcptasks_owner", default=None)
#: The owner of every request served by `run_stdio_async` (set around it, inherited by its tasks).
_stdio_owner: ContextVar[Owner | None] = ContextVar("mcptasks_stdio_owner", default=None)


def current_local_user() -> Owner:
    """The user this process runs as: `Owner.local_user(uid, login name)` (the name where known)."""
    try:
        name: str | None = getpass.getuser()
    except (KeyError, OSError):  # a uid without a passwd entry (some containers)
        name = None
    getuid = getattr(os, "getuid", None)
    uid: int | str | None = getuid() if getuid is not None else name  # Windows: the login name
    return Owner.local_user(uid if uid is not None else "unknown", name)


@contextlib.contextmanager
def stdio_owner(owner: Owner) -> Iterator[None]:
    """Within: every request (of tasks started here) is owned by `owner`; for the stdio transport."""
    token = _stdio_owner.set(owner)
    try:
        yield
    finally:
        _stdio_owner.reset(token)


def resolve_owner(ctx: ServerRequestContext[Any, Any], owner_scope: OwnerScope = "client") -> Owner:
    """Compute the owner of the request `ctx` (see module docstring)."""
    token = get_access_token()
    if token is not None:
        claims = token.claims or {}
        issuer = str(claims.get("iss") or "")
        subject = token.subject or token.client_id
        return Owner.principal(issuer, subject, token.client_id, per_client=owner_scope == "client")
    local = _stdio_owner.get()
    if local is not None:
        return local
    if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
        return Owner.capability()
    connection = connection_of(ctx.session)
    if connection.session_id:
        return Owner.session(connection.session_id)
    if ctx.request is not None:
        # Stateless legacy HTTP: every request is a new connection; nothing identifies the caller.
        return Owner.capability()
    # A connection without HTTP and without `stdio_owner` (an in-memory transport of an embedding
    # application): the connection is the session; it has no id of its own, so it gets a random one.
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
