"""Every place mcptasks works around a gap of `mcp` 2.3, each named with what it waits on.

1. `connection_of`: `ServerRequestContext` has no public accessor for the `Connection` (session
   id, standalone channel, per-connection state); the SDK's own `Context.session_id` is not yet
   built by the runner (SDK TODO "L54: Context rework"). We read `ServerSession._connection`.
2. `notify_raw`: `ServerSession.send_notification` dumps with `exclude_none=True`, which drops
   the required-nullable `ttl` of the 2025-11-25 `Task`, and `notifications/tasks/status` is not in
   the SDK's notification union. `Connection.notify(method, dict)` keeps nulls.
3. `add_prebuilt_tool`: `MCPServer.add_tool` only knows the SDK's own `Context` parameter; a
   parameter annotated `TaskContext` must be kept out of the input schema, which
   `Tool.from_function(context_kwarg=...)` does, but a prebuilt `Tool` can only be added through
   the private tool manager.
4. The 2025-11-25 `tools/call` short-circuit (`v2025_11_25.middleware.TasksMiddleware`): the
   SDK sieves a `tools/call` result against `CallToolResult`, so a `CreateTaskResult` from an
   extension interceptor becomes `-32603 Handler returned an invalid result`; a server middleware
   that answers without `call_next` owns its result. Waits on python-sdk #3161. The same middleware
   adds `capabilities.tasks` to `initialize` and `execution.taskSupport` to `tools/list`, which
   neither `MCPServer` nor `Extension` can express on 2.3.
5. `guard.ErrorGuardMiddleware`: on the legacy loop a handler exception that is not an
   `MCPError` reaches the wire as `{"code": 0, "message": str(exc)}` (SDK TODO "L58"); the guard
   answers `-32603 Internal error` and logs the detail instead.
6. `check_task_name_header`: SEP-2663 requires `Mcp-Name: <taskId>` on `tasks/get|update|cancel`
   over Streamable HTTP (SEP-2243 routing headers), but the SDK's `NAME_BEARING_METHODS` lists only
   `tools/call`, `prompts/get` and `resources/read`; the unreleased SEP-2663 branch of python-sdk
   (PR #3005) adds `tasks/*`. Until then the `tasks/*` handlers check it themselves.
7. `apply_auth`: `MCPServer` takes its `AuthSettings` and `TokenVerifier` only in its constructor,
   but a `TaskServer` is built (by the user's module) before the command line names the issuer;
   the settings are set on the server before its HTTP app is built.
8. `sdk_context`: a tool's `Resolve(...)` parameters are resolved with the SDK's `Context`, which
   `MCPServer` builds only inside its private `_handle_call_tool` (with its private subscription
   bus); mcptasks resolves them itself, before a task is created, so it builds the same `Context`.
   Waits on a public way to build a request's `Context` (SDK TODO "L54: Context rework").
9. `refine_auth_routes`: the SDK's bearer guard always names `error="invalid_token"`, even when no
   token was sent (RFC 6750 §3.1: it should not), puts no `scope` in its challenges, and takes the
   first of two `Authorization` headers; its RFC 9728 route spells a path-less issuer with an added
   trailing slash (`https://issuer.example/`), which is another issuer. The built app's routes are
   given our guard (`auth.BearerChallenge`) and an exact metadata document.
10. `answer_with_json_per_request`: the SDK decides between a JSON body and an SSE stream once per
   session manager (`json_response`), and on a stateful 2025-11-25 session once per transport. A
   task server wants both on one endpoint: `tasks/result` and inline tool calls need a stream (a
   tool's questions and progress ride it), while `tasks/get` and a task-creating `tools/call`
   never stream, and an SSE body costs them about half their CPU. The manager and each session's
   transport are given a subclass whose `json_response` / `is_json_response_enabled` is chosen
   per request (`responses.ResponseModeMiddleware` sets it, in the request's context, before the
   SDK reads it). Waits on a per-request response mode in the SDK's transports.
11. `run_stdio_guarded`: the SDK's stdio transport drops a line it cannot parse without an answer
   (its dispatcher logs the exception at DEBUG), so a client whose request had a malformed
   envelope waits forever, and no hook sees the raw line. The transport is given our stdin
   (`envelope.GuardedLines`, which answers such lines), read from the same claimed descriptor the
   SDK claims for itself (`mcp.server.stdio._claim_fd`: fd 0 then points at the null device, so
   tools and their children cannot read protocol bytes). `MCPServer.run_stdio_async` does the
   rest through the private low-level server. Waits on a stdio transport that answers parse
   errors (JSON-RPC 2.0 §5.1).
12. `spans_only_when_traced`: the SDK's `OpenTelemetryMiddleware` builds a span, its attributes
   and a trace-context extraction for every message even when no OpenTelemetry SDK is installed
   (every span a no-op), about 4 % of the server's CPU on the task wires. It is wrapped so that
   it runs only while a tracer provider is set (`observe.tracing.enabled`, looked at per
   message, so a provider installed later is honoured). Waits on an SDK middleware that skips
   span building when tracing is off.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

import anyio
from mcp.server._otel import OpenTelemetryMiddleware
from mcp.server.auth.middleware.bearer_auth import RequireAuthMiddleware
from mcp.server.auth.provider import TokenVerifier
from mcp.server.auth.routes import cors_middleware
from mcp.server.auth.settings import AuthSettings
from mcp.server.connection import Connection
from mcp.server.context import CallNext, HandlerResult, ServerMiddleware, ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.tools import Tool
from mcp.server.session import ServerSession
from mcp.server.stdio import _claim_fd, _open_stdin_diversion, _UnownedTextWrapper, stdio_server
from mcp.server.streamable_http import StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from mcp.shared.inbound import decode_header_value
from mcp_types import HEADER_MISMATCH, CallToolRequestParams
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mcptasks.observe import tracing
from mcptasks.server.envelope import GuardedLines


def connection_of(session: ServerSession) -> Connection:
    """The `Connection` behind a request's session (workaround 1)."""
    connection: Connection = session._connection
    return connection


async def notify_raw(connection: Connection, method: str, params: Mapping[str, Any]) -> None:
    """Send a notification on the connection's standalone channel, nulls kept (workaround 2).

    Best effort, like every server notification: a closed or absent channel drops it silently.
    """
    await connection.notify(method, dict(params))


def sdk_tool(mcp: MCPServer[Any], name: str) -> Tool | None:
    """The tool named `name` registered on the SDK server, or None (workaround 3: no public lookup)."""
    return mcp._tool_manager.get_tool(name)


def add_prebuilt_tool(mcp: MCPServer[Any], tool: Tool) -> None:
    """Register a `Tool` built with `Tool.from_function(context_kwarg=...)` (workaround 3).

    Raises: ValueError when a tool of that name exists.
    """
    manager = mcp._tool_manager
    if manager.get_tool(tool.name) is not None:
        raise ValueError(f"a tool named {tool.name!r} is already registered")
    manager._tools[tool.name] = tool


def check_task_name_header(ctx: ServerRequestContext[Any, Any]) -> None:
    """On Streamable HTTP, require `Mcp-Name` to equal `params.taskId` (workaround 6).

    Raises: MCPError -32020 (HeaderMismatch; HTTP 400) when it is missing or different.
    Spec: SEP-2663 "Streamable HTTP: Routing Headers"; 2026-07-28 transports (SEP-2243).
    """
    request = ctx.request
    headers = getattr(request, "headers", None)
    if headers is None:
        return  # stdio and in-process transports carry no headers
    task_id = (ctx.params or {}).get("taskId")
    if not isinstance(task_id, str) or not task_id:
        return  # a malformed taskId is the params check's to report (-32602 naming it)
    if decode_header_value(headers.get("mcp-name")) != task_id:
        raise MCPError(
            code=HEADER_MISMATCH,
            message="Mcp-Name header does not match the request body's 'taskId' parameter",
        )


def apply_auth(mcp: MCPServer[Any], settings: AuthSettings, verifier: TokenVerifier) -> None:
    """Make `mcp`'s next HTTP app require tokens checked by `verifier` (workaround 7)."""
    mcp.settings.auth = settings
    mcp._token_verifier = verifier


def sdk_context(
    mcp: MCPServer[Any], ctx: ServerRequestContext[Any, Any], params: CallToolRequestParams | None
) -> Context[Any, Any]:
    """The SDK `Context` of a `tools/call`, as `MCPServer._handle_call_tool` builds it (workaround 8)."""
    return Context(request_context=ctx, mcp_server=mcp, input_params=params, subscriptions=mcp._subscriptions)


def refine_auth_routes(app: Starlette, mcp_path: str, metadata: dict[str, Any]) -> None:
    """Swap the SDK's bearer guard and RFC 9728 handler in `app` for ours (workaround 9)."""
    from mcptasks.server.auth import BearerChallenge

    def serve_metadata(_request: Request) -> Response:
        return JSONResponse(metadata, headers={"Cache-Control": "public, max-age=3600"})

    for index, route in enumerate(app.router.routes):
        if not isinstance(route, Route):
            continue
        if route.path == mcp_path and isinstance(route.app, RequireAuthMiddleware):
            guard = route.app
            route.app = BearerChallenge(guard.app, guard.required_scopes, guard.resource_metadata_url)
        elif route.path.startswith("/.well-known/oauth-protected-resource"):
            app.router.routes[index] = Route(
                route.path,
                endpoint=cors_middleware(serve_metadata, ["GET", "OPTIONS"]),
                methods=["GET", "OPTIONS"],
            )


#: The response mode chosen for the current HTTP request: True = a JSON body, None = the default.
_JSON_RESPONSE: ContextVar[bool | None] = ContextVar("mcptasks_json_response", default=None)


def use_json_response(json_response: bool | None) -> None:
    """Choose the response mode of the current HTTP request (workaround 10); None = the default."""
    _JSON_RESPONSE.set(json_response)


class _PerRequestTransport(StreamableHTTPServerTransport):
    """A session's transport whose JSON/SSE choice is made per request (workaround 10)."""

    @property
    def is_json_response_enabled(self) -> bool:
        chosen = _JSON_RESPONSE.get()
        return bool(self.__dict__.get("is_json_response_enabled", False)) if chosen is None else chosen

    @is_json_response_enabled.setter
    def is_json_response_enabled(self, value: bool) -> None:
        self.__dict__["is_json_response_enabled"] = value


class _PerRequestSessionManager(StreamableHTTPSessionManager):
    """A session manager whose JSON/SSE choice is made per request (workaround 10)."""

    @property
    def json_response(self) -> bool:
        chosen = _JSON_RESPONSE.get()
        return bool(self.__dict__.get("json_response", False)) if chosen is None else chosen

    @json_response.setter
    def json_response(self, value: bool) -> None:
        self.__dict__["json_response"] = value

    def _admit_session(self, requestor: Any) -> StreamableHTTPServerTransport | None:
        transport = super()._admit_session(requestor)
        if transport is not None:
            transport.__class__ = _PerRequestTransport
        return transport


def answer_with_json_per_request(mcp: MCPServer[Any]) -> None:
    """Let `use_json_response` choose each request's response mode on `mcp`'s HTTP app (workaround 10).

    Call after `mcp.streamable_http_app()` built the session manager, before it serves.
    """
    manager = mcp.session_manager
    if type(manager) is StreamableHTTPSessionManager:
        manager.__class__ = _PerRequestSessionManager


async def run_stdio_guarded(mcp: MCPServer[Any]) -> None:
    """Serve `mcp` over stdin/stdout, answering malformed lines (workaround 11).

    As `MCPServer.run_stdio_async`, with stdin read through `envelope.GuardedLines`.
    """
    buffer, release = _claim_fd(0, sys.stdin, "rb", _open_stdin_diversion)
    try:
        lines = GuardedLines(anyio.wrap_file(_UnownedTextWrapper(buffer, encoding="utf-8", errors="replace")))
        async with stdio_server(stdin=lines) as (read_stream, write_stream):  # type: ignore[arg-type]  # only iterated
            lines.attach(write_stream)
            server = mcp._lowlevel_server
            await server.run(read_stream, write_stream, server.create_initialization_options())
    finally:
        if release is not None:
            release()


class _WhenTraced(ServerMiddleware[Any]):
    """Runs the SDK's span middleware only while spans are kept (workaround 12)."""

    def __init__(self, inner: ServerMiddleware[Any]) -> None:
        self.inner = inner

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if tracing.enabled():
            return await self.inner(ctx, call_next)
        return await call_next(ctx)


def spans_only_when_traced(mcp: MCPServer[Any]) -> None:
    """Wrap the SDK's `OpenTelemetryMiddleware` of `mcp` in `_WhenTraced` (workaround 12)."""
    chain = mcp.middleware
    for index, middleware in enumerate(chain):
        if isinstance(middleware, OpenTelemetryMiddleware):
            chain[index] = _WhenTraced(middleware)
