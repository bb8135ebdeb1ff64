"""Credentials kept out of the logs of the libraries mcptasks serves with.

The `mcp` SDK logs 2025-11-25 session ids: at INFO every new one ("Created new transport with
session ID: …"), and others when a session ends, idles out, crashes or is refused. On a Streamable
HTTP server without OAuth a session id is the session's only credential, and whoever reads the log
could take the session over. `RedactCredentials` is a `logging.Filter` that rewrites such records
before any handler sees them, at every level: session ids (the SDK makes them as 32 hex digits),
bearer and basic `Authorization` values, JWTs, `client_secret=`/`token=` form fields, and the exact
secrets the server was given (`redact_secret`, e.g. the introspection client secret).

A filter on a logger only sees the records of that logger, not of its children, so
`install_redaction` puts it on every existing logger of the SDK, of uvicorn and httpx (which log
requests) and of sse-starlette (which logs response bodies at DEBUG), and on every SDK module that
logs, by name, so that a module imported later logs through a filtered logger too. mcptasks' own
loggers never log credentials.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

#: Loggers of the libraries below whose records are redacted (and every existing child logger).
LIBRARY_LOGGERS = ("mcp", "uvicorn", "httpx", "httpcore", "authlib", "sse_starlette")
#: SDK modules that log (mcp 2.3), named so their loggers are filtered even before they are imported.
SDK_MODULE_LOGGERS = (
    "mcp.server._streamable_http_modern",
    "mcp.server.auth.handlers.authorize",
    "mcp.server.auth.middleware.bearer_auth",
    "mcp.server.connection",
    "mcp.server.context",
    "mcp.server.lowlevel.server",
    "mcp.server.mcpserver.resolve",
    "mcp.server.mcpserver.server",
    "mcp.server.request_state",
    "mcp.server.runner",
    "mcp.server.session",
    "mcp.server.sse",
    "mcp.server.streamable_http",
    "mcp.server.streamable_http_manager",
    "mcp.server.subscriptions",
    "mcp.server.transport_security",
    "mcp.shared.dispatcher",
    "mcp.shared.jsonrpc_dispatcher",
    "uvicorn.error",
)
#: What replaces a credential in a log line.
REDACTED = "[redacted]"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # `Authorization: Bearer …` / `Basic …` values, wherever they are quoted.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), rf"\1 {REDACTED}"),
    # A JWT (compact JWS: base64url JSON header, payload, signature).
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*"), REDACTED),
    # Form and query fields that carry secrets (RFC 6749 client authentication, RFC 7662 requests).
    (
        re.compile(r"(?i)\b(client_secret|access_token|refresh_token|token)=[^&\s'\"]+"),
        rf"\1={REDACTED}",
    ),
    # Session ids: the SDK makes them with `uuid4().hex`; also in their dashed form.
    (
        re.compile(
            r"(?i)(?<![0-9a-f-])[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}(?![0-9a-f])"
        ),
        REDACTED,
    ),
)


class RedactCredentials(logging.Filter):
    """Rewrite a record's message, traceback and stack text with every credential replaced.

    Never drops a record. The message is formatted once (`record.getMessage()`) and stored back
    without arguments only when something was replaced.
    """

    def __init__(self) -> None:
        super().__init__()
        self._secrets: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def add_secret(self, secret: str) -> None:
        """Redact the exact text `secret` from now on (shorter than 8 characters: ignored)."""
        if len(secret) >= 8:
            with self._lock:
                self._secrets = self._secrets | {secret}

    def redact(self, text: str) -> str:
        """`text` with every credential replaced by `REDACTED`."""
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact `record` in place; always keep it."""
        try:
            message = record.getMessage()
        except Exception:
            return True  # a broken format string: logging reports it itself
        cleaned = self.redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            # What a handler's formatter would print, cached on the record as `Formatter` does.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


#: The one filter every `TaskServer` of this process installs.
_FILTER = RedactCredentials()


def _loggers() -> Iterable[logging.Logger]:
    names = set(SDK_MODULE_LOGGERS) | set(LIBRARY_LOGGERS)
    for name in list(logging.root.manager.loggerDict):
        if any(name == root or name.startswith(root + ".") for root in LIBRARY_LOGGERS):
            names.add(name)
    return (logging.getLogger(name) for name in sorted(names))


def install_redaction() -> RedactCredentials:
    """Put the process's `RedactCredentials` on the libraries' loggers (idempotent); return it."""
    for logger in _loggers():
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    return _FILTER


def redact_secret(secret: str | None) -> None:
    """Never log the exact text `secret` (a client secret the server was configured with)."""
    if secret:
        _FILTER.add_secret(secret)


__all__ = ["REDACTED", "RedactCredentials", "install_redaction", "redact_secret"]
