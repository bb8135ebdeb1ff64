"""`tools/call` for tools registered with mcptasks: as a task on either wire, or inline.

The decision table (protocol reference A1.2, A2.1, E23):

| wire / request                              | optional      | required   | forbidden  |
|---------------------------------------------|---------------|------------|------------|
| 2025-11-25 with `params.task`               | task          | task       | -32601     |
| 2025-11-25 without `params.task`            | inline        | -32601     | inline     |
| 2026-07-28, client declared the extension   | task          | task       | inline     |
| 2026-07-28, client did not declare it       | inline        | -32021     | inline     |

A tool's `Resolve(...)` parameters are resolved first, in the request (after the argument check,
before any task exists): on 2026-07-28 a question turns the call into an `InputRequiredResult`
and the task is created only on the retry that answers it.
"""

from __future__ import annotations

import logging
from typing import Any

from mcp.server.mcpserver.server import require_client_extension
from mcp_types import CLIENT_CAPABILITIES_META_KEY, CallToolRequestParams, CallToolResult, InputRequiredResult

from mcptasks.core.errors import InputUnavailable, TaskSupportMismatch, ToolNotFound
from mcptasks.core.model import ELICITATION, InputMethod, TaskRecord, Wire
from mcptasks.runtime.context import TaskContext
from mcptasks.server.handlers import SEP2663_VERSIONS
from mcptasks.server.owner import request_owner
from mcptasks.server.state import Ctx, ServerState
from mcptasks.server.tools import TaskTool, resolve_parameters, run_inline, task_invoker, validate_arguments
from mcptasks.server.v2025_11_25.questions import send_on_session
from mcptasks.server.workarounds import connection_of, sdk_context
from mcptasks.wire import sep2663, v2025_11_25
from mcptasks.wire.params import parse_params

logger = logging.getLogger("mcptasks.server")


def _progress_token(ctx: Ctx) -> str | int | None:
    raw = (ctx.params or {}).get("_meta")
    if isinstance(raw, dict):
        token = raw.get("progressToken")
        if isinstance(token, str | int) and not isinstance(token, bool):
            return token
    return None


async def _prepare(
    state: ServerState,
    ctx: Ctx,
    entry: TaskTool,
    arguments: dict[str, Any],
    params: CallToolRequestParams | None,
) -> dict[str, Any] | CallToolResult | InputRequiredResult:
    """Before a task is created: check the arguments, then resolve the `Resolve(...)` parameters.

    Returns the resolved values, or what to answer instead of creating the task (see
    `resolve_parameters`). Raises: InvalidParams naming the argument; MCPError from a resolver.
    """
    validate_arguments(entry, arguments)
    if not entry.tool.resolved_params:
        return {}  # nothing to resolve: no SDK `Context` to build
    return await resolve_parameters(entry, arguments, sdk_context(state.mcp, ctx, params))


async def _create(
    state: ServerState,
    ctx: Ctx,
    entry: TaskTool,
    arguments: dict[str, Any],
    *,
    wire: Wire,
    requested_ttl_ms: int | None,
    resolved: dict[str, Any],
) -> TaskRecord:
    owner = request_owner(ctx, state.owner_scope)
    capabilities = ctx.session.client_capabilities
    record = await state.manager.create(
        owner,
        wire=wire,
        tool_name=entry.name,
        arguments=arguments,
        requested_ttl_ms=requested_ttl_ms,
        progress_token=_progress_token(ctx) if wire == "2025-11-25" else None,
        invoke=task_invoker(entry, arguments, resolved),
        client_capabilities=None
        if capabilities is None
        else capabilities.model_dump(by_alias=True, mode="json", exclude_none=True),
    )
    logger.info(
        "task created",
        extra={"action": "create_task", "task_id": record.task_id, "tool": entry.name, "owner": owner.kind},
    )
    return record


async def call_v2025_11_25_task(state: ServerState, ctx: Ctx) -> dict[str, Any]:
    """A 2025-11-25 `tools/call` carrying `params.task`: create the task, answer `CreateTaskResult`.

    Raises: InvalidParams (e.g. `task.ttl`, `arguments.n`), ToolNotFound, TaskSupportMismatch.
    Spec: 2025-11-25 tasks "Creating Tasks", "Tool-Level Negotiation".
    """
    params = parse_params(v2025_11_25.CallToolTaskParams, ctx.params)
    entry = state.tools.get(params.name)
    if entry is None:
        if state.tools.has_plain_tool(params.name):
            raise TaskSupportMismatch(f"Tool {params.name!r} does not support task-augmented invocation")
        raise ToolNotFound(params.name)
    if entry.task_support == "forbidden":
        raise TaskSupportMismatch(f"Tool {params.name!r} does not support task-augmented invocation")
    arguments = params.arguments or {}
    resolved = await _prepare(state, ctx, entry, arguments, None)
    if not isinstance(resolved, dict):
        # A resolver refused (2025-11-25 asks its questions on this request's own stream).
        return resolved.model_dump(by_alias=True, mode="json", exclude_none=True)
    record = await _create(
        state,
        ctx,
        entry,
        arguments,
        wire="2025-11-25",
        requested_ttl_ms=params.task.ttl,
        resolved=resolved,
    )
    state.notifier.attach(
        record,
        connection_of(ctx.session),
        request_owner(ctx, state.owner_scope),
        is_pipe=ctx.request is None,
    )
    return v2025_11_25.create_task_result(record)


async def call_tool(state: ServerState, ctx: Ctx, entry: TaskTool, params: CallToolRequestParams) -> Any:
    """Any other `tools/call` of a registered tool: a SEP-2663 task, or inline (see table).

    Raises: TaskSupportMismatch (2025-11-25, required tool without a task), MCPError -32021
    (2026-07-28, required tool, extension not declared).
    """
    arguments = dict(params.arguments or {})
    if ctx.protocol_version in SEP2663_VERSIONS:
        declared = _declares_extension(ctx)
        if declared and entry.task_support != "forbidden":
            resolved = await _prepare(state, ctx, entry, arguments, params)
            if not isinstance(resolved, dict):
                return resolved  # input required first (no task yet), or a resolver refused
            record = await _create(
                state, ctx, entry, arguments, wire="sep-2663", requested_ttl_ms=None, resolved=resolved
            )
            return sep2663.create_task_result(record)
        if entry.task_support == "required":
            require_client_extension(ctx, sep2663.EXTENSION_ID)
    elif entry.task_support == "required":
        raise TaskSupportMismatch("Task augmentation required for tools/call requests")
    return await _inline(state, ctx, entry, arguments, params)


async def _inline(
    state: ServerState, ctx: Ctx, entry: TaskTool, arguments: dict[str, Any], params: CallToolRequestParams
) -> CallToolResult | InputRequiredResult:
    resolved = await resolve_parameters(entry, arguments, sdk_context(state.mcp, ctx, params))
    if not isinstance(resolved, dict):
        return resolved
    return await run_inline(entry, arguments, TaskContext(None, _RequestSink(ctx)), resolved)


def _declares_extension(ctx: Ctx) -> bool:
    capabilities = ctx.session.client_capabilities
    declared = capabilities.extensions if capabilities else None
    return bool(declared) and sep2663.EXTENSION_ID in (declared or {})


class _RequestSink:
    """An inline call's progress and questions go to the request's own channel (2025-11-25)."""

    def __init__(self, ctx: Ctx) -> None:
        self._ctx = ctx

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        await self._ctx.session.report_progress(progress, total, message)

    async def status_message(self, message: str | None) -> None:
        return None  # an inline call has no task, so no status to show

    async def ask(self, key: str, method: InputMethod, params: dict[str, Any]) -> dict[str, Any]:
        ctx = self._ctx
        capability = "elicitation" if method == ELICITATION else "sampling"
        capabilities = ctx.session.client_capabilities
        declared = capabilities.model_dump(exclude_none=True) if capabilities is not None else {}
        if capability not in declared:
            raise InputUnavailable(
                capability,
                f"The tool asked the client a question ({method}), but the client did not declare "
                f"the {capability} capability",
            )
        if (
            ctx.protocol_version in SEP2663_VERSIONS
            or not ctx.session.can_send_request
            or ctx.request_id is None
        ):
            raise InputUnavailable(
                capability, "A tool called without a task can ask questions only on a 2025-11-25 connection"
            )
        return await send_on_session(ctx.session, ctx.request_id, method, params)


def answers_at_once(state: ServerState, request: dict[str, Any], on_sep2663: bool) -> bool:
    """Whether a `tools/call` or `tasks/result` `request` is answered with nothing before it.

    A `tasks/result` of a task this process knows is finished (its questions are all asked).
    A `tools/call` that creates a task: on 2025-11-25 a task was asked for (`params.task`) of a
    tool of ours without `Resolve(...)` parameters (those ask on the request's own stream
    first); on 2026-07-28 the client declared the tasks extension and the tool may run as a task.
    """
    params = request.get("params")
    if not isinstance(params, dict):
        return False
    if request.get("method") == "tasks/result":
        task_id = params.get("taskId")
        if state.opened_manager is None or not isinstance(task_id, str):
            return False
        known = state.opened_manager.store.view.peek(task_id)
        return known is not None and known.record.is_terminal
    name = params.get("name")
    tool = state.tools.get(name)
    if tool is None or tool.task_support == "forbidden":
        return False
    if not on_sep2663:
        return params.get("task") is not None and not tool.tool.resolved_params
    meta = params.get("_meta")
    capabilities = meta.get(CLIENT_CAPABILITIES_META_KEY) if isinstance(meta, dict) else None
    extensions = capabilities.get("extensions") if isinstance(capabilities, dict) else None
    return isinstance(extensions, dict) and sep2663.EXTENSION_ID in extensions
