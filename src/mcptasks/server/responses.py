"""Answer the task requests that never stream with a plain JSON body (workaround 10).

Streamable HTTP lets a server answer a POST with one JSON body or with an SSE stream. A stream is
needed only where the server sends something before the answer: a 2025-11-25 `tasks/result`
(the task's questions ride it) and a tool run inline (its progress and questions). `tasks/get`,
`tasks/list`, `tasks/cancel`, `tasks/update` and a `tools/call` that creates a task answer at once
and send nothing else; an SSE body costs them about half their CPU. This ASGI middleware reads the
JSON-RPC method of each POST to the MCP endpoint (bodies up to `PEEK_LIMIT_BYTES`; larger ones and
anything it does not recognise keep the SDK's default) and chooses for that request alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcptasks.server.workarounds import use_json_response

#: Largest request body read ahead to choose the response mode, in bytes.
PEEK_LIMIT_BYTES = 65_536

#: Methods whose answer is never preceded by anything on the request's stream.
NEVER_STREAMING = frozenset({"tasks/get", "tasks/list", "tasks/cancel", "tasks/update"})

#: Decides whether a parsed `tools/call` or `tasks/result` request will be answered with nothing
#: sent before the answer (a task is created; the task is finished already).
AnswersAtOnce = Callable[[dict[str, Any], bool], bool]

#: Where the parsed JSON-RPC request of a POST is left in the ASGI scope for inner middleware
#: (`streams.GetStreamTracker` watches the streams of `tasks/result`); absent when not parsed.
SCOPE_REQUEST_KEY = "mcptasks.request"

_HANDSHAKE_VERSIONS = frozenset(version.encode() for version in HANDSHAKE_PROTOCOL_VERSIONS)
_VERSION_HEADER = b"mcp-protocol-version"
_METHOD_HEADER = b"mcp-method"


class ResponseModeMiddleware:
    """Choose a JSON body for the requests of `NEVER_STREAMING` and those `answers_at_once` names.

    `answers_at_once(request, modern)` tells whether a `tools/call` will create a task, or a
    `tasks/result` asks for a task that is finished already (`modern`: the request is on the
    2026-07-28 wire).
    """

    def __init__(self, app: ASGIApp, *, path: str, answers_at_once: AnswersAtOnce) -> None:
        self._app = app
        self._path = path
        self._answers_at_once = answers_at_once

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or scope.get("path") != self._path:
            await self._app(scope, receive, send)
            return
        version = method = None
        for name, value in scope.get("headers", ()):
            if name == _VERSION_HEADER:
                version = value
            elif name == _METHOD_HEADER:
                method = value
        # The SDK's own routing: a version header that is not a handshake version is the 2026 wire,
        # whose requests name their method in a header (checked against the body by the SDK).
        modern = version is not None and version not in _HANDSHAKE_VERSIONS
        if modern and method is not None and method != b"tools/call":
            use_json_response(True if method.decode("latin-1") in NEVER_STREAMING else None)
            await self._app(scope, receive, send)
            return
        buffered: list[Message] = []
        size = 0
        complete = False
        while size <= PEEK_LIMIT_BYTES:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                complete = True
                break
        request = _parse(buffered) if complete else None
        if request is not None:
            scope[SCOPE_REQUEST_KEY] = request
        use_json_response(True if request is not None and self._streams_nothing(request, modern) else None)

        async def replay() -> Message:
            if buffered:
                return buffered.pop(0)
            return await receive()

        await self._app(scope, replay, send)

    def _streams_nothing(self, request: dict[str, Any], modern: bool) -> bool:
        if "id" not in request:
            return False
        method = request.get("method")
        if not isinstance(method, str):
            return False  # a malformed envelope: `envelope.EnvelopeGuard` answers it
        if method in NEVER_STREAMING:
            return True
        return method in ("tools/call", "tasks/result") and self._answers_at_once(request, modern)


def _parse(buffered: list[Message]) -> dict[str, Any] | None:
    """The JSON object of a complete buffered body; None when it is not one (the SDK answers)."""
    body = (
        buffered[0].get("body", b"") if len(buffered) == 1 else b"".join(m.get("body", b"") for m in buffered)
    )
    try:
        request = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return request if isinstance(request, dict) else None


__all__ = ["SCOPE_REQUEST_KEY", "NEVER_STREAMING", "PEEK_LIMIT_BYTES", "ResponseModeMiddleware"]
