"""`TasksExtension`: the SEP-2133 extension that binds the `tasks/*` methods and intercepts
`tools/call` for tools registered with mcptasks.

It advertises `io.modelcontextprotocol/tasks` under `capabilities.extensions` on
`server/discover` (2026-07-28). The 2025-11-25 parts it cannot express live in `middleware.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.extension import Extension, MethodBinding
from mcp_types import CallToolRequestParams
from pydantic import BaseModel, ConfigDict

from mcptasks.server.calls import call_tool
from mcptasks.server.handlers import METHODS, Handler
from mcptasks.wire.sep2663 import EXTENSION_ID

if TYPE_CHECKING:
    from mcptasks.server.app import Runtime

Ctx = ServerRequestContext[Any, Any]


class AnyParams(BaseModel):
    """Accept any params: each handler validates its own, so errors can name the field."""

    model_config = ConfigDict(extra="allow")


class TasksExtension(Extension):
    """Serves `tasks/*` and task-augmented `tools/call` from one store, on both wires."""

    identifier = EXTENSION_ID

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def methods(self) -> Sequence[MethodBinding]:
        """Bind every method of `handlers.METHODS` at the versions where it exists."""
        return [
            MethodBinding(method, AnyParams, self._bind(spec.handler), protocol_versions=spec.versions)
            for method, spec in METHODS.items()
        ]

    def _bind(self, handler: Handler) -> Any:
        runtime = self._runtime

        async def handle(ctx: Ctx, _params: AnyParams) -> HandlerResult:
            return await handler(runtime, ctx)

        return handle

    async def intercept_tool_call(
        self, params: CallToolRequestParams, ctx: Ctx, call_next: CallNext
    ) -> HandlerResult:
        """Run registered tools through mcptasks; pass every other tool to the SDK."""
        entry = self._runtime.tools.get(params.name)
        if entry is None:
            return await call_next(ctx)
        result: HandlerResult = await call_tool(self._runtime, ctx, entry, params)
        return result
