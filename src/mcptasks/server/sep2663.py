"""`TasksExtension`: the SEP-2663 tasks extension (an SEP-2133 SDK extension), which binds the
`tasks/*` methods and intercepts `tools/call` for tools registered with mcptasks.

It advertises `io.modelcontextprotocol/tasks` under `capabilities.extensions` on
`server/discover` (2026-07-28). The SDK routes every method through extensions, so it also binds
the 2025-11-25 `tasks/*` methods (`handlers.METHODS` names the versions of each); the 2025-11-25
parts it cannot express live in `v2025_11_25/`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mcp.server.context import CallNext, HandlerResult
from mcp.server.extension import Extension, MethodBinding
from mcp_types import CallToolRequestParams
from pydantic import BaseModel, ConfigDict

from mcptasks.server.calls import call_tool
from mcptasks.server.handlers import METHODS, Handler
from mcptasks.server.state import Ctx, ServerState
from mcptasks.wire.sep2663 import EXTENSION_ID


class AnyParams(BaseModel):
    """Accept any params: each handler validates its own, so errors can name the field."""

    model_config = ConfigDict(extra="allow")


class TasksExtension(Extension):
    """Serves `tasks/*` and task-augmented `tools/call` from one store, on both wires."""

    identifier = EXTENSION_ID

    def __init__(self) -> None:
        # Bound after the SDK server is built: the state holds that server, and the SDK takes
        # its extensions in its constructor.
        self._state: ServerState | None = None

    def bind(self, state: ServerState) -> None:
        """Serve the requests with `state` (once, before the first request)."""
        self._state = state

    @property
    def state(self) -> ServerState:
        """The bound state. Raises: RuntimeError before `bind`."""
        if self._state is None:
            raise RuntimeError("TasksExtension.bind() was not called")
        return self._state

    def methods(self) -> Sequence[MethodBinding]:
        """Bind every method of `handlers.METHODS` at the versions where it exists."""
        return [
            MethodBinding(method, AnyParams, self._bind(spec.handler), protocol_versions=spec.versions)
            for method, spec in METHODS.items()
        ]

    def _bind(self, handler: Handler) -> Any:
        async def handle(ctx: Ctx, _params: AnyParams) -> HandlerResult:
            return await handler(self.state, ctx)

        return handle

    async def intercept_tool_call(
        self, params: CallToolRequestParams, ctx: Ctx, call_next: CallNext
    ) -> HandlerResult:
        """Run registered tools through mcptasks; pass every other tool to the SDK."""
        state = self.state
        entry = state.tools.get(params.name)
        if entry is None:
            return await call_next(ctx)
        result: HandlerResult = await call_tool(state, ctx, entry, params)
        return result
