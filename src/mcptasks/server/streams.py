"""Which 2025-11-25 HTTP sessions have their standalone GET stream open right now.

A server-to-client request (a task's question) sent on a session's standalone channel while no GET
stream is open is dropped by the SDK's transport, and its answer would be awaited forever; whether
a stream is open is not visible through the SDK. This ASGI middleware watches the GET requests on
the MCP endpoint and tells `inputs.LegacyQuestions` when a session's stream is open, and when it
closes (so a question in flight on it goes back to waiting for the next stream or `tasks/result`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send


class GetStreams:
    """Open standalone GET streams per session id, with callbacks run when one closes."""

    def __init__(self) -> None:
        self._open: dict[str, int] = defaultdict(int)
        self._on_close: dict[str, set[Callable[[], None]]] = defaultdict(set)

    def is_open(self, session_id: str | None) -> bool:
        """Whether `session_id` has a GET stream open now."""
        return session_id is not None and self._open.get(session_id, 0) > 0

    def on_close(self, session_id: str, callback: Callable[[], None]) -> Callable[[], None]:
        """Run `callback` when the session's GET streams close; returns a function that forgets it."""
        self._on_close[session_id].add(callback)
        return lambda: self._on_close.get(session_id, set()).discard(callback)

    def opened(self, session_id: str) -> None:
        """A GET stream of `session_id` started."""
        self._open[session_id] += 1

    def closed(self, session_id: str) -> None:
        """A GET stream of `session_id` ended."""
        self._open[session_id] -= 1
        if self._open[session_id] > 0:
            return
        del self._open[session_id]
        for callback in self._on_close.pop(session_id, set()):
            callback()


class GetStreamTracker:
    """ASGI middleware recording the GET streams of the MCP endpoint `path` in `streams`."""

    def __init__(self, app: ASGIApp, *, streams: GetStreams, path: str) -> None:
        self._app = app
        self._streams = streams
        self._path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        session_id = None
        if scope["type"] == "http" and scope.get("method") == "GET" and scope.get("path") == self._path:
            for name, value in scope.get("headers", []):
                if name == b"mcp-session-id":
                    session_id = value.decode("latin-1")
        if session_id is None:
            await self._app(scope, receive, send)
            return
        self._streams.opened(session_id)
        try:
            await self._app(scope, receive, send)
        finally:
            self._streams.closed(session_id)
