"""Server middleware, outermost first: the error guard, then the 2025-11-25 tasks wire.

`ErrorGuardMiddleware` resolves the request's owner once, turns `TaskError`s into their JSON-RPC
code and fixed message, a store that cannot be used for a storage reason into `StoreUnavailable`
(-32010), anything that fails because the server is stopping into `ServerStopping` (-32011), and
answers anything else unexpected with `-32603 Internal error` (the detail goes to the log, never
to the wire: workaround 5). `LegacyTasksMiddleware` is workaround 4.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

from mcptasks.core.errors import (
    ErrorCode,
    MCPTasksError,
    ServerStopping,
    StoreError,
    StoreUnavailable,
    TaskError,
)
from mcptasks.server.calls import call_legacy_task
from mcptasks.server.handlers import LEGACY_VERSIONS
from mcptasks.server.owner import resolve_owner, set_request_owner

if TYPE_CHECKING:
    from mcptasks.server.app import Runtime

logger = logging.getLogger("mcptasks.server")

Ctx = ServerRequestContext[Any, Any]

#: `capabilities.tasks` on 2025-11-25: list, cancel, and task-augmented tools/call.
LEGACY_TASKS_CAPABILITY: dict[str, Any] = {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}}


class ErrorGuardMiddleware:
    """Owner resolution and error mapping for every request (see module docstring)."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    async def __call__(self, ctx: Ctx, call_next: CallNext) -> HandlerResult:
        if ctx.request_id is None:
            return await call_next(ctx)
        try:
            set_request_owner(resolve_owner(ctx, self._runtime.owner_scope))
            return await call_next(ctx)
        except TaskError as exc:
            raise _wire_error(exc) from None
        except (MCPError, ValidationError):
            raise
        except StoreError as exc:
            if self._runtime.stopping:
                raise _wire_error(ServerStopping()) from None  # the store closes as the server stops
            if exc.unavailable:
                # An outage: `StoreHealth` logs it once per episode, not once per request.
                raise _wire_error(StoreUnavailable()) from None
            # Never the cause's traceback: a driver's text may quote the statement's values.
            logger.error(
                "store failure in %s: %s (%s)",
                ctx.method,
                exc.message,
                type(exc.__cause__).__name__,
                extra={"action": ctx.method},
            )
            raise MCPError(code=int(ErrorCode.INTERNAL_ERROR), message="Internal error") from None
        except (MCPTasksError, Exception):
            if self._runtime.stopping:
                # The task manager went away under a request (the server closed): not a bug.
                raise _wire_error(ServerStopping()) from None
            logger.exception("unexpected failure in %s", ctx.method, extra={"action": ctx.method})
            raise MCPError(code=int(ErrorCode.INTERNAL_ERROR), message="Internal error") from None


def _wire_error(exc: TaskError) -> MCPError:
    return MCPError(code=int(exc.code), message=exc.message, data=exc.data)


class LegacyTasksMiddleware:
    """The 2025-11-25 tasks wire where the SDK cannot express it (workaround 4, python-sdk #3161)."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    async def __call__(self, ctx: Ctx, call_next: CallNext) -> HandlerResult:
        if ctx.method == "tools/call" and ctx.protocol_version in LEGACY_VERSIONS and _has_task(ctx.params):
            # Answered here, above the runner's CallToolResult sieve.
            return await call_legacy_task(self._runtime, ctx)
        result = await call_next(ctx)
        if ctx.method == "initialize" and isinstance(result, dict):
            return _with_tasks_capability(
                result, can_list=resolve_owner(ctx, self._runtime.owner_scope).can_list
            )
        if (
            ctx.method == "tools/list"
            and ctx.protocol_version in LEGACY_VERSIONS
            and isinstance(result, dict)
        ):
            return self._with_task_support(result)
        return result

    def _with_task_support(self, result: dict[str, Any]) -> dict[str, Any]:
        tools = []
        for tool in result.get("tools", []):
            entry = self._runtime.tools.get(tool.get("name"))
            if entry is not None:
                tool = {**tool, "execution": {**tool.get("execution", {}), "taskSupport": entry.task_support}}
            tools.append(tool)
        return {**result, "tools": tools}


def _has_task(params: Any) -> bool:
    return isinstance(params, dict) and params.get("task") is not None


def _with_tasks_capability(result: dict[str, Any], *, can_list: bool) -> dict[str, Any]:
    """Advertise tasks on 2025-11-25; `tasks.list` only where the caller can be identified (S6)."""
    if result.get("protocolVersion") not in LEGACY_VERSIONS:
        return result
    capabilities = dict(result.get("capabilities") or {})
    tasks = dict(LEGACY_TASKS_CAPABILITY)
    if not can_list:
        del tasks["list"]
    capabilities["tasks"] = tasks
    return {**result, "capabilities": capabilities}
