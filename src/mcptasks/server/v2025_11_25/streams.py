"""Which 2025-11-25 HTTP streams are open right now: standalone GET streams, `tasks/result` POSTs.

A server-to-client request (a task's question) sent on a session's standalone channel while no GET
stream is open is dropped by the SDK's transport, and its answer would be awaited forever; a
question sent on the response stream of a `tasks/result` the client dropped waits the same way
(the SDK keeps running the request's handler). Neither is visible through the SDK. This ASGI
middleware watches the MCP endpoint and tells `questions.TaskQuestions` when a session's GET stream
opens and closes, and when the response stream of a `tasks/result` closes, so a question in flight
on it goes back to waiting (and is asked on the next stream).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcptasks.server.responses import SCOPE_REQUEST_KEY

#: Called with a session id when its GET stream opens or closes.
SessionListener = Callable[[str], None]
#: Called with (session id, JSON-RPC request id as a string) when a `tasks/result` stream closes.
ResultListener = Callable[[str, str], None]


class GetStreams:
    """Open standalone GET streams per session id, and listeners told of opens and closes."""

    def __init__(self) -> None:
        self._open: dict[str, int] = {}
        self._on_open: list[SessionListener] = []
        self._on_close: list[SessionListener] = []
        self._on_result_closed: list[ResultListener] = []

    def __len__(self) -> int:
        return len(self._open)

    def is_open(self, session_id: str | None) -> bool:
        """Whether `session_id` has a GET stream open now."""
        return session_id is not None and session_id in self._open

    def add_listeners(
        self,
        *,
        on_open: SessionListener | None = None,
        on_close: SessionListener | None = None,
        on_result_closed: ResultListener | None = None,
    ) -> None:
        """Call `on_open(session_id)` once a GET stream answers, `on_close(session_id)` when the
        session's last one ends, `on_result_closed(session_id, request_id)` when a `tasks/result`
        response ends (answered or dropped)."""
        if on_open is not None:
            self._on_open.append(on_open)
        if on_close is not None:
            self._on_close.append(on_close)
        if on_result_closed is not None:
            self._on_result_closed.append(on_result_closed)

    def opened(self, session_id: str) -> None:
        """A GET stream of `session_id` started answering."""
        self._open[session_id] = self._open.get(session_id, 0) + 1
        for listener in self._on_open:
            listener(session_id)

    def closed(self, session_id: str) -> None:
        """A GET stream of `session_id` that had started ended."""
        remaining = self._open.get(session_id, 0) - 1
        if remaining > 0:
            self._open[session_id] = remaining
            return
        self._open.pop(session_id, None)
        for listener in self._on_close:
            listener(session_id)

    def result_closed(self, session_id: str, request_id: str) -> None:
        """The response of `tasks/result` request `request_id` of `session_id` ended."""
        for listener in self._on_result_closed:
            listener(session_id, request_id)


def _session_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"mcp-session-id":
            return str(value.decode("latin-1"))
    return None


class GetStreamTracker:
    """ASGI middleware recording the streams of the MCP endpoint `path` in `streams`.

    A GET counts as open from its `200` response start (the SDK registers its stream before that
    message is sent) to its end. A POST whose JSON-RPC request `responses.ResponseModeMiddleware`
    parsed as `tasks/result` reports its end, whatever ended it.
    """

    def __init__(self, app: ASGIApp, *, streams: GetStreams, path: str) -> None:
        self._app = app
        self._streams = streams
        self._path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") != self._path:
            await self._app(scope, receive, send)
            return
        method = scope.get("method")
        if method == "POST":
            request: Any = scope.get(SCOPE_REQUEST_KEY)
            if isinstance(request, dict) and request.get("method") == "tasks/result" and "id" in request:
                session_id = _session_id(scope)
                try:
                    await self._app(scope, receive, send)
                finally:
                    if session_id is not None:
                        self._streams.result_closed(session_id, str(request["id"]))
                return
        session_id = _session_id(scope) if method == "GET" else None
        if session_id is None:
            await self._app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start" and message.get("status") == 200 and not started:
                started = True
                self._streams.opened(session_id)
            await send(message)

        try:
            await self._app(scope, receive, watch)
        finally:
            if started:
                self._streams.closed(session_id)
