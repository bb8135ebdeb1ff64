"""`PlainToolMiddleware`: tools registered directly on the SDK server, answered in our words.

Such a tool never runs as a task, and the SDK runs it; but for arguments that fail its input
schema the SDK answers an `isError` result quoting pydantic's text (class names, the input value,
a link). Those arguments are checked here first, on both wires, and answered the way mcptasks
answers its own tools (`Invalid arguments: arguments.<field> <problem>`), so no library text
reaches the wire.
"""

from __future__ import annotations

from typing import Any

from mcp.server.context import CallNext, HandlerResult
from pydantic import ValidationError

from mcptasks.server.state import Ctx, ServerState
from mcptasks.server.tools import invalid_arguments_text


class PlainToolMiddleware:
    """Checks the arguments of a `tools/call` of a plain SDK tool (see module docstring)."""

    def __init__(self, state: ServerState) -> None:
        self._state = state

    async def __call__(self, ctx: Ctx, call_next: CallNext) -> HandlerResult:
        if ctx.method == "tools/call" and isinstance(ctx.params, dict):
            refused = self._check(ctx.params)
            if refused is not None:
                return refused
        return await call_next(ctx)

    def _check(self, params: dict[str, Any]) -> dict[str, Any] | None:
        """The `isError` CallToolResult for arguments the tool's input schema refuses, else None."""
        arguments = params.get("arguments")
        if arguments is not None and not isinstance(arguments, dict):
            return None  # not a tools/call the SDK accepts: its params check answers -32602
        tool = self._state.tools.plain_tool(params.get("name"))
        if tool is None:
            return None
        try:
            tool.fn_metadata.validate_arguments(arguments or {})
        except ValidationError as exc:
            text = invalid_arguments_text(exc)
            return {"content": [{"type": "text", "text": text}], "isError": True}
        return None


__all__ = ["PlainToolMiddleware"]
