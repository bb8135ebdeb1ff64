"""`tools/call` for tools registered with mcptasks: as a task on either wire, or inline.

The decision table (protocol reference A1.2, A2.1, E23):

| wire / request                              | optional      | required   | forbidden  |
|---------------------------------------------|---------------|------------|------------|
| 2025-11-25 with `params.task`               | task          | task       | -32601     |
| 2025-11-25 without `params.task`            | inline        | -32601     | inline     |
| 2026-07-28, client declared the extension   | task (*)      | task (*)   | inline     |
| 2026-07-28, client did not declare it       | inline        | -32021     | inline     |

(*) inline first for a tool with `inline_grace_ms`: a task only when it does not finish in time.

A tool's `Resolve(...)` parameters are resolved first, in the request (after the argument check,
before any task exists): on 2026-07-28 a question turns the call into an `InputRequiredResult`
and the task is created only on the retry that answers it.

Inline calls and their questions, and `inline_grace_ms` (a task created only for a call that does
not finish within the grace), are `inline.py`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from mcp.server.mcpserver.server import require_client_extension
from mcp_types import CLIENT_CAPABILITIES_META_KEY, CallToolRequestParams, CallToolResult, InputRequiredResult

from mcptasks.core.errors import InputUnavailable, TaskSupportMismatch, ToolNotFound
from mcptasks.core.model import InputMethod, TaskRecord, Wire
from mcptasks.runtime.context import TaskContext
from mcptasks.runtime.running import Invoke, capability_of, require_capability
from mcptasks.server.handlers import SEP2663_VERSIONS
from mcptasks.server.inline import RoundState, run_with_grace
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
    invoke: Invoke,
    on_start: Callable[[TaskRecord], None] | None = None,
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
        invoke=invoke,
        client_capabilities=None
        if capabilities is None
        else capabilities.model_dump(by_alias=True, mode="json", exclude_none=True),
        on_start=on_start,
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
    connection, owner = connection_of(ctx.session), request_owner(ctx, state.owner_scope)
    attached: list[str] = []

    def notify_from_start(record: TaskRecord) -> None:
        # Before the tool can report anything (it may start before its row is committed), held
        # until the CreateTaskResult: the client hears of the task first, then of all it did.
        state.notifier.attach(record, connection, owner, is_pipe=ctx.request is None, held=True)
        attached.append(record.task_id)

    try:
        record = await _create(
            state,
            ctx,
            entry,
            arguments,
            wire="2025-11-25",
            requested_ttl_ms=params.task.ttl,
            invoke=task_invoker(entry, arguments, resolved),
            on_start=notify_from_start,
        )
    except BaseException:
        for task_id in attached:  # not stored, or nobody waits for the answer
            state.notifier.drop(task_id)
        raise
    answer = v2025_11_25.create_task_result(record)
    state.notifier.release(record.task_id)  # sent after this answer (a task of its own drains them)
    return answer


async def call_tool(state: ServerState, ctx: Ctx, entry: TaskTool, params: CallToolRequestParams) -> Any:
    """Any other `tools/call` of a registered tool: a SEP-2663 task, or inline (see table).

    A tool with `inline_grace_ms` called by a client that declared the extension runs inline first
    and becomes a task only when it does not finish within the grace (`inline.run_with_grace`).
    Raises: TaskSupportMismatch (2025-11-25, required tool without a task), MCPError -32021
    (2026-07-28, required tool, extension not declared; or a question the client cannot be asked).
    """
    arguments = dict(params.arguments or {})
    if ctx.protocol_version in SEP2663_VERSIONS:
        declared = _declares_extension(ctx)
        if declared and entry.task_support != "forbidden":
            resolved = await _prepare(state, ctx, entry, arguments, params)
            if not isinstance(resolved, dict):
                return resolved  # input required first (no task yet), or a resolver refused

            async def create(
                invoke: Invoke, on_start: Callable[[TaskRecord], None] | None = None
            ) -> TaskRecord:
                return await _create(
                    state,
                    ctx,
                    entry,
                    arguments,
                    wire="sep-2663",
                    requested_ttl_ms=None,
                    invoke=invoke,
                    on_start=on_start,
                )

            if entry.inline_grace_ms is None:
                return sep2663.create_task_result(await create(task_invoker(entry, arguments, resolved)))

            executor = state.manager.executor
            outcome = await run_with_grace(
                entry,
                arguments,
                resolved,
                entry.inline_grace_ms,
                create=create,
                stopping=lambda: executor.stopping,
            )
            if isinstance(outcome, TaskRecord):
                return sep2663.create_task_result(outcome)
            return outcome
        if entry.task_support == "required":
            require_client_extension(ctx, sep2663.EXTENSION_ID)
        return await _inline_rounds(state, ctx, entry, arguments, params)
    if entry.task_support == "required":
        raise TaskSupportMismatch("Task augmentation required for tools/call requests")
    return await _inline(state, ctx, entry, arguments, params)


async def _inline(
    state: ServerState, ctx: Ctx, entry: TaskTool, arguments: dict[str, Any], params: CallToolRequestParams
) -> CallToolResult | InputRequiredResult:
    """2025-11-25 without a task: questions go on the request's own stream."""
    resolved = await resolve_parameters(entry, arguments, sdk_context(state.mcp, ctx, params))
    if not isinstance(resolved, dict):
        return resolved
    return await run_inline(entry, arguments, TaskContext(None, _RequestSink(ctx)), resolved)


async def _inline_rounds(
    state: ServerState, ctx: Ctx, entry: TaskTool, arguments: dict[str, Any], params: CallToolRequestParams
) -> CallToolResult | InputRequiredResult:
    """2026-07-28 without a task: questions go back in multi-round-trip results (`inline.py`).

    Raises: InvalidParams naming `inputResponses.<key>` for an answer of the wrong shape.
    """
    raw = ctx.params or {}
    round_state = RoundState.read(raw.get("requestState"), raw.get("inputResponses"))
    resolved: dict[str, Any] = {}
    if entry.tool.resolved_params:
        # The resolvers see their own state and answers, as if the rounds were theirs alone.
        own = params.model_dump(by_alias=True, mode="json", exclude_none=True)
        own.pop("inputResponses", None)
        own.pop("requestState", None)
        if round_state.sdk is not None:
            own["requestState"] = round_state.sdk
        if round_state.sdk_answers:
            own["inputResponses"] = round_state.sdk_answers
        sdk_params = CallToolRequestParams.model_validate(own)
        outcome = await resolve_parameters(entry, arguments, sdk_context(state.mcp, ctx, sdk_params))
        if not isinstance(outcome, dict):
            return outcome
        resolved = outcome
    return await state.rounds.run(
        entry,
        arguments,
        resolved,
        round_state,
        owner=request_owner(ctx, state.owner_scope),
        declared=_declared_capabilities(ctx),
        progress=ctx.session.report_progress,
    )


def _declared_capabilities(ctx: Ctx) -> dict[str, Any]:
    capabilities = ctx.session.client_capabilities
    return capabilities.model_dump(exclude_none=True) if capabilities is not None else {}


def _declares_extension(ctx: Ctx) -> bool:
    capabilities = ctx.session.client_capabilities
    declared = capabilities.extensions if capabilities else None
    return bool(declared) and sep2663.EXTENSION_ID in (declared or {})


class _RequestSink:
    """A 2025-11-25 inline call's progress and questions go to the request's own channel."""

    def __init__(self, ctx: Ctx) -> None:
        self._ctx = ctx

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        await self._ctx.session.report_progress(progress, total, message)

    async def status_message(self, message: str | None) -> None:
        return None  # an inline call has no task, so no status to show

    async def ask(self, key: str, method: InputMethod, params: dict[str, Any]) -> dict[str, Any]:
        ctx = self._ctx
        require_capability(_declared_capabilities(ctx), method)
        if not ctx.session.can_send_request or ctx.request_id is None:
            capability = capability_of(method)
            raise InputUnavailable(
                capability,
                f"The tool asked the client a question ({method}), but this connection cannot carry "
                f"a request to the client; call the tool as a task",
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
