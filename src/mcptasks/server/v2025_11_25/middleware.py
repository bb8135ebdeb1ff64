"""`TasksMiddleware`: the 2025-11-25 tasks wire where the SDK cannot express it (workaround 4).

A task-augmented `tools/call` is answered here, above the SDK's `CallToolResult` sieve;
`initialize` gains `capabilities.tasks` and `tools/list` each tool's `execution.taskSupport`.
"""

from __future__ import annotations

import logging
from typing import Any

from mcp.server.context import CallNext, HandlerResult

from mcptasks.server.calls import call_v2025_11_25_task
from mcptasks.server.handlers import V2025_11_25_VERSIONS
from mcptasks.server.owner import resolve_owner
from mcptasks.server.state import Ctx, ServerState

logger = logging.getLogger("mcptasks.server")


#: `capabilities.tasks` on 2025-11-25: list, cancel, and task-augmented tools/call.
LEGACY_TASKS_CAPABILITY: dict[str, Any] = {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}}


class TasksMiddleware:
    """The 2025-11-25 tasks wire where the SDK cannot express it (workaround 4, python-sdk #3161)."""

    def __init__(self, state: ServerState) -> None:
        self._state = state

    async def __call__(self, ctx: Ctx, call_next: CallNext) -> HandlerResult:
        if (
            ctx.method == "tools/call"
            and ctx.protocol_version in V2025_11_25_VERSIONS
            and _has_task(ctx.params)
        ):
            # Answered here, above the runner's CallToolResult sieve.
            return await call_v2025_11_25_task(self._state, ctx)
        result = await call_next(ctx)
        if ctx.method == "initialize" and isinstance(result, dict):
            return _with_tasks_capability(
                result, can_list=resolve_owner(ctx, self._state.owner_scope).can_list
            )
        if (
            ctx.method == "tools/list"
            and ctx.protocol_version in V2025_11_25_VERSIONS
            and isinstance(result, dict)
        ):
            return self._with_task_support(result)
        return result

    def _with_task_support(self, result: dict[str, Any]) -> dict[str, Any]:
        tools = []
        for tool in result.get("tools", []):
            entry = self._state.tools.get(tool.get("name"))
            if entry is not None:
                tool = {**tool, "execution": {**tool.get("execution", {}), "taskSupport": entry.task_support}}
            tools.append(tool)
        return {**result, "tools": tools}


def _has_task(params: Any) -> bool:
    return isinstance(params, dict) and params.get("task") is not None


def _with_tasks_capability(result: dict[str, Any], *, can_list: bool) -> dict[str, Any]:
    """Advertise tasks on 2025-11-25; `tasks.list` only where the caller can be identified (S6)."""
    if result.get("protocolVersion") not in V2025_11_25_VERSIONS:
        return result
    capabilities = dict(result.get("capabilities") or {})
    tasks = dict(LEGACY_TASKS_CAPABILITY)
    if not can_list:
        del tasks["list"]
    capabilities["tasks"] = tasks
    return {**result, "capabilities": capabilities}
