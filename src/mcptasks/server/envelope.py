"""JSON-RPC envelope checks: a malformed message is answered with a fixed error naming the field.

Before the SDK parses a message, mcptasks checks its envelope (JSON-RPC 2.0 §4-§5, as MCP narrows
it: one message per request, no batches, `params` an object, an `id` a string or an integer) and
answers what is wrong itself, on every transport and both wires:

- not JSON (or not UTF-8) → `-32700 Parse error`;
- not a single JSON object, `jsonrpc` not "2.0", a `method` that is not a string, an `id` that is
  not a string or an integer, a response without exactly one of `result` (an object) and `error`
  (an object with an integer `code` and a string `message`) → `-32600 Invalid Request`;
- `params` present and neither an object nor null → `-32602 Invalid params`.

The message is fixed text naming the field, also given as `data.field`; the request's `id` is
echoed when it is itself valid, else null. Well-formed messages pass through untouched.

Why here: the SDK answers these on 2025-11-25 Streamable HTTP with the text of pydantic's
validation error ("Validation error: 4 validation errors for union[JSONRPCRequest, ...]", with
links), takes a request whose `id` has the wrong type for a notification (and answers nothing),
and on stdio drops every line it cannot parse without an answer, so the client waits forever.

- HTTP: `EnvelopeGuard`, an ASGI app wrapped around the SDK's MCP endpoint, inside the bearer
  guard (an unauthenticated request is refused before its body is read). A malformed body gets
  the SDK's Host/Origin/Content-Type checks first (their `421`/`403`/`400` win), then HTTP 400
  with the JSON-RPC error. Bodies over the SDK's size limit go to the SDK untouched (413).
- stdio: `GuardedLines` stands between stdin and the SDK's reader; it answers a malformed line on
  the transport's write stream, skips blank lines and passes the others on (workaround 11).

Spec: JSON-RPC 2.0 §4 (request object), §5 (response object), §5.1 (error codes); MCP
2025-11-25 and 2026-07-28 basic protocol (messages, "Requests MUST include a string or integer
ID"; batching removed since 2025-06-18).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
import pydantic_core
from mcp.server.auth.middleware.bearer_auth import RequireAuthMiddleware
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from mcp.shared.message import SessionMessage
from mcp_types import INVALID_PARAMS, INVALID_REQUEST, PARSE_ERROR, ErrorData, JSONRPCError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The fixed messages, by what is wrong (the field is named in the text and in `data.field`).
PARSE_ERROR_MESSAGE = "Parse error: the message is not valid JSON"
NOT_AN_OBJECT = "Invalid Request: a message must be one JSON object"
BATCH = "Invalid Request: batches are not supported; send one message at a time"
BAD_VERSION = "Invalid Request: 'jsonrpc' must be \"2.0\""
BAD_METHOD = "Invalid Request: 'method' must be a string"
BAD_ID = "Invalid Request: 'id' must be a string or an integer"
NO_METHOD = "Invalid Request: 'method' is required"
RESULT_AND_ERROR = "Invalid Request: a response carries either 'result' or 'error', not both"
BAD_RESULT = "Invalid Request: 'result' must be an object"
BAD_ERROR = "Invalid Request: 'error' must be an object with an integer 'code' and a string 'message'"
BAD_PARAMS = "Invalid params: 'params' must be an object"


@dataclass(frozen=True, slots=True)
class EnvelopeError:
    """What is wrong with a message, as the JSON-RPC error that answers it."""

    #: -32700, -32600 or -32602.
    code: int
    #: Fixed text naming the field.
    message: str
    #: The offending member (`id`, `params`, ...), None when the message as a whole is wrong.
    field: str | None = None
    #: The request's id when it is valid, else None (sent as null).
    request_id: int | str | None = None

    def as_jsonrpc(self) -> JSONRPCError:
        """The JSON-RPC error response (`data: {"field": ...}` when a field is named)."""
        error = ErrorData(code=self.code, message=self.message)
        if self.field is not None:
            error.data = {"field": self.field}
        return JSONRPCError(jsonrpc="2.0", id=self.request_id, error=error)

    def as_body(self) -> dict[str, Any]:
        """The JSON-RPC error response as a JSON-ready dict."""
        return self.as_jsonrpc().model_dump(by_alias=True, mode="json", exclude_unset=True)


def _valid_id(value: Any) -> bool:
    # bool is an int in Python, not in JSON.
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def check_envelope(message: Any) -> EnvelopeError | None:
    """What is wrong with the parsed JSON `message` as a JSON-RPC message, or None when nothing is.

    Anything this accepts, the SDK's `JSONRPCMessage` accepts too (a request, notification,
    result or error response).
    """
    if isinstance(message, list):
        return EnvelopeError(INVALID_REQUEST, BATCH)
    if not isinstance(message, dict):
        return EnvelopeError(INVALID_REQUEST, NOT_AN_OBJECT)
    has_id = "id" in message
    request_id = message.get("id")
    echoed = request_id if _valid_id(request_id) else None
    if message.get("jsonrpc") != "2.0":
        return EnvelopeError(INVALID_REQUEST, BAD_VERSION, "jsonrpc", echoed)
    if "method" in message:
        if not isinstance(message["method"], str):
            return EnvelopeError(INVALID_REQUEST, BAD_METHOD, "method", echoed)
        if has_id and echoed is None:
            return EnvelopeError(INVALID_REQUEST, BAD_ID, "id")
        params = message.get("params")
        if params is not None and not isinstance(params, dict):
            return EnvelopeError(INVALID_PARAMS, BAD_PARAMS, "params", echoed)
        return None
    # A response (to a request the server sent).
    if "result" not in message and "error" not in message:
        return EnvelopeError(INVALID_REQUEST, NO_METHOD, "method", echoed)
    if "result" in message and "error" in message:
        return EnvelopeError(INVALID_REQUEST, RESULT_AND_ERROR, "result", echoed)
    if "result" in message:
        if echoed is None:
            return EnvelopeError(INVALID_REQUEST, BAD_ID, "id")
        if not isinstance(message["result"], dict):
            return EnvelopeError(INVALID_REQUEST, BAD_RESULT, "result", echoed)
        return None
    if not has_id or (request_id is not None and echoed is None):
        return EnvelopeError(INVALID_REQUEST, BAD_ID, "id")
    error = message["error"]
    if not (
        isinstance(error, dict)
        and isinstance(error.get("code"), int)
        and not isinstance(error.get("code"), bool)
        and isinstance(error.get("message"), str)
    ):
        return EnvelopeError(INVALID_REQUEST, BAD_ERROR, "error", echoed)
    return None


def check_message(raw: bytes | str) -> EnvelopeError | None:
    """Parse `raw` as the SDK does (pydantic-core's JSON parser) and check its envelope."""
    try:
        message = pydantic_core.from_json(raw)
    except (ValueError, RecursionError):
        return EnvelopeError(PARSE_ERROR, PARSE_ERROR_MESSAGE)
    return check_envelope(message)


class EnvelopeGuard:
    """ASGI app answering a malformed POST body itself (400 and the JSON-RPC error); else `app`.

    `security` are the SDK's transport security settings (checked first for a malformed body, so
    a foreign Host still gets the SDK's 421); `max_body_bytes` is the SDK's body limit.
    """

    def __init__(
        self, app: ASGIApp, *, security: TransportSecuritySettings | None, max_body_bytes: int
    ) -> None:
        self.app = app
        self._security = TransportSecurityMiddleware(security)
        self._max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check a POST's body; pass everything else on untouched."""
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        buffered: list[Message] = []
        body = bytearray()
        complete = False
        while len(body) <= self._max_body_bytes:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                complete = True
                break

        async def replay() -> Message:
            if buffered:
                return buffered.pop(0)
            return await receive()

        problem = check_message(bytes(body)) if complete and len(body) <= self._max_body_bytes else None
        if problem is None:
            await self.app(scope, replay, send)
            return
        refusal = await self._security.validate_request(Request(scope, replay), is_post=True)
        response = refusal or JSONResponse(problem.as_body(), status_code=400)
        await response(scope, replay, send)


def guard_envelopes(app: Starlette, path: str, manager: StreamableHTTPSessionManager) -> None:
    """Put an `EnvelopeGuard` in front of the SDK's MCP endpoint `path` of `app`, inside its bearer
    guard when there is one; the SDK's security settings and body limit come from `manager`."""
    for route in app.router.routes:
        if isinstance(route, Route) and route.path == path:
            outer = route.app
            kwargs: dict[str, Any] = {
                "security": manager.security_settings,
                "max_body_bytes": manager.max_request_body_size,
            }
            if isinstance(outer, RequireAuthMiddleware):
                outer.app = EnvelopeGuard(outer.app, **kwargs)
            else:
                route.app = EnvelopeGuard(outer, **kwargs)


class GuardedLines:
    """The lines of stdin, minus malformed messages, which are answered on the write stream.

    Blank lines are skipped without an answer. The write stream is the stdio transport's, given
    with `attach()` once the transport has made it.
    """

    def __init__(self, lines: AsyncIterable[str]) -> None:
        self._lines = lines
        self._write: Any = None
        self._attached = anyio.Event()

    def attach(self, write_stream: Any) -> None:
        """Answer malformed lines on `write_stream` (the transport's `SessionMessage` stream)."""
        self._write = write_stream
        self._attached.set()

    def __aiter__(self) -> AsyncIterator[str]:
        return self._guarded()

    async def _guarded(self) -> AsyncIterator[str]:
        async for line in self._lines:
            if not line.strip():
                continue
            problem = check_message(line)
            if problem is None:
                yield line
                continue
            await self._attached.wait()
            await self._write.send(SessionMessage(problem.as_jsonrpc()))


__all__ = [
    "EnvelopeError",
    "EnvelopeGuard",
    "GuardedLines",
    "check_envelope",
    "check_message",
    "guard_envelopes",
]
