"""Refuse new HTTP requests while the server stops: 503 with `Retry-After`, in-flight ones finish.

Once a stop is requested, the executor gives running tools their shutdown grace and then fails
or releases what is left; requests already being served (a `tasks/result` waiting for its task, a
create being stored) are answered as usual. A request that arrives meanwhile is answered here,
before the MCP layer: HTTP 503 (RFC 9110 §15.6.4) with `Retry-After` in seconds, and a JSON-RPC
error body (`ServerStopping`, -32011, `data.retryAfterMs`) for clients that read bodies. Nothing
was done for it, so retrying it elsewhere or later is safe.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from mcptasks.core.errors import RETRY_AFTER_MS, ServerStopping

#: The refusal's body: a JSON-RPC error without an id (the request was not read).
STOPPING_BODY = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": None,
        "error": {
            "code": int(ServerStopping.code),
            "message": ServerStopping().message,
            "data": {"retryAfterMs": RETRY_AFTER_MS},
        },
    },
    separators=(",", ":"),
).encode()


class StoppingMiddleware:
    """Answer every HTTP request 503 + `Retry-After` once `stopping()` is true (module docstring)."""

    def __init__(self, app: ASGIApp, *, stopping: Callable[[], bool]) -> None:
        self._app = app
        self._stopping = stopping

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._stopping():
            await self._app(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(STOPPING_BODY)).encode()),
                    (b"retry-after", str(RETRY_AFTER_MS // 1000).encode()),
                    # The connection is not kept: the server is about to close it anyway.
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": STOPPING_BODY})


__all__ = ["STOPPING_BODY", "StoppingMiddleware"]
