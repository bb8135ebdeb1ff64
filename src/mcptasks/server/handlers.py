"""The `tasks/*` methods of both wires, bound by name in `METHODS` (grep the spec name to land here).

Each handler checks, in this order (protocol reference, Appendix 2): the method exists at the
request's version (bound with `protocol_versions`, else -32601); on 2026-07-28 over HTTP the
`Mcp-Name` header names the task (-32020); on 2026-07-28 the client declared
the extension on this request (-32021); the params are valid (-32602 naming the field); the task
exists and belongs to the caller (-32602 "Task not found", the same for both); then the state
rules of the wire.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mcp.server.mcpserver.server import require_client_extension
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from mcptasks.core.errors import InvalidParams
from mcptasks.core.model import TaskRecord, TaskResult
from mcptasks.core.owner import Owner
from mcptasks.core.status import TaskStatus
from mcptasks.server.owner import request_owner
from mcptasks.server.state import Ctx, ServerState
from mcptasks.server.workarounds import check_task_name_header
from mcptasks.wire import sep2663, v2025_11_25
from mcptasks.wire.params import parse_params, task_id_param

#: The only handshake revision that has tasks.
V2025_11_25_VERSIONS = frozenset({"2025-11-25"})
#: The revisions that carry the SEP-2663 extension.
SEP2663_VERSIONS = frozenset(MODERN_PROTOCOL_VERSIONS)

Handler = Callable[[ServerState, Ctx], Awaitable[dict[str, Any]]]


def _is_sep2663(ctx: Ctx) -> bool:
    return ctx.protocol_version in SEP2663_VERSIONS


async def tasks_get(state: ServerState, ctx: Ctx) -> dict[str, Any]:
    """`tasks/get`: the Task (2025-11-25) or the DetailedTask with result/error inlined (SEP-2663)."""
    if _is_sep2663(ctx):
        check_task_name_header(ctx)
        require_client_extension(ctx, sep2663.EXTENSION_ID)
        task_id = task_id_param(sep2663.TaskIdParams, ctx.params)
        owner = request_owner(ctx, state.owner_scope)
        record, outcome = await state.manager.poll(owner, task_id)
        input_requests = None
        if record.status is TaskStatus.INPUT_REQUIRED:
            outstanding = await state.manager.outstanding_inputs(owner, task_id)
            input_requests = {r.key: {"method": r.method, "params": r.params} for r in outstanding}
        return sep2663.detailed_task(record, outcome, input_requests)
    task_id = task_id_param(v2025_11_25.TaskIdParams, ctx.params)
    record, _ = await state.manager.poll(request_owner(ctx, state.owner_scope), task_id)
    return v2025_11_25.render_task(record)


async def tasks_result(state: ServerState, ctx: Ctx) -> dict[str, Any]:
    """`tasks/result` (2025-11-25 only): block until terminal, then answer what the call would have.

    While it is open, the task's questions (`elicitation/create`, `sampling/createMessage`) are sent
    on its response stream. Completed: the `CallToolResult` with related-task `_meta`. Failed: the
    stored JSON-RPC error. Cancelled: a JSON-RPC error saying so (the spec leaves this open;
    reference E3).
    """
    params = parse_params(v2025_11_25.TaskIdParams, ctx.params)
    owner = request_owner(ctx, state.owner_scope)
    current = await state.manager.get(owner, params.task_id)
    assert ctx.request_id is not None
    with state.questions.result_stream(params.task_id, ctx.session, ctx.request_id, owner) as closed:
        if current.status is TaskStatus.INPUT_REQUIRED:
            # The client SHOULD call tasks/result on input_required: its stream carries the questions.
            await state.questions.ask_outstanding(owner, params.task_id)
        if current.is_terminal:
            record, outcome = await state.manager.wait_terminal(owner, params.task_id)
        else:
            record, outcome = await _wait_terminal_while_open(state, owner, params.task_id, closed)
    if record.status is TaskStatus.COMPLETED and outcome is not None and outcome.result is not None:
        return v2025_11_25.with_related_task(outcome.result, record.task_id)
    if record.status is TaskStatus.FAILED and outcome is not None and outcome.error is not None:
        error = outcome.error
        raise MCPError(code=error.code, message=error.message, data=error.data)
    if record.status is TaskStatus.CANCELLED:
        raise MCPError(
            code=-32603, message="Task was cancelled", data=v2025_11_25.related_task_meta(record.task_id)
        )
    raise MCPError(code=-32603, message=record.status_message or "Task failed")


async def _wait_terminal_while_open(
    state: ServerState, owner: Owner, task_id: str, closed: asyncio.Event
) -> tuple[TaskRecord, TaskResult | None]:
    """`wait_terminal`, given up when the request's stream closes first (nobody reads the answer:
    the SDK keeps running a handler whose client went away).

    Raises: TaskNotFound; MCPError -32603 when the stream closed (the answer goes nowhere).
    """
    waiting = asyncio.ensure_future(state.manager.wait_terminal(owner, task_id))
    closing = asyncio.ensure_future(closed.wait())
    try:
        await asyncio.wait({waiting, closing}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        closing.cancel()
        if not waiting.done():
            waiting.cancel()
    if waiting.cancelled() or not waiting.done():
        raise MCPError(code=-32603, message="The tasks/result stream closed")
    return waiting.result()


async def tasks_list(state: ServerState, ctx: Ctx) -> dict[str, Any]:
    """`tasks/list` (2025-11-25 only): the caller's tasks, newest first, opaque cursor."""
    params = parse_params(v2025_11_25.ListParams, ctx.params)
    owner = request_owner(ctx, state.owner_scope)
    if not owner.can_list:
        # Anonymous callers without a session are never shown a listing (2025-11-25 S6).
        return v2025_11_25.list_result([], None)
    page = await state.manager.list_tasks(owner, params.cursor)
    return v2025_11_25.list_result(page.tasks, page.next_cursor)


async def tasks_cancel(state: ServerState, ctx: Ctx) -> dict[str, Any]:
    """`tasks/cancel`: cancelled before the answer; 2025-11-25 rejects terminal tasks, SEP-2663 acks."""
    if _is_sep2663(ctx):
        check_task_name_header(ctx)
        require_client_extension(ctx, sep2663.EXTENSION_ID)
        params = parse_params(sep2663.TaskIdParams, ctx.params)
        await state.manager.cancel(
            request_owner(ctx, state.owner_scope), params.task_id, reject_terminal=False
        )
        return sep2663.ack()
    legacy = parse_params(v2025_11_25.TaskIdParams, ctx.params)
    record = await state.manager.cancel(
        request_owner(ctx, state.owner_scope), legacy.task_id, reject_terminal=True
    )
    return v2025_11_25.render_task(record)


async def tasks_update(state: ServerState, ctx: Ctx) -> dict[str, Any]:
    """`tasks/update` (SEP-2663 only): store the answers in `inputResponses`, then acknowledge.

    Answers are durable before the acknowledgement; keys that are not outstanding are ignored; a
    partial answer leaves the task `input_required` with the rest still listed.
    """
    check_task_name_header(ctx)
    require_client_extension(ctx, sep2663.EXTENSION_ID)
    params = parse_params(sep2663.UpdateParams, ctx.params)
    responses: dict[str, dict[str, Any]] = {}
    for key, response in params.input_responses.items():
        if not isinstance(response, dict):
            raise InvalidParams(
                f"inputResponses.{key}", "must be an object (ElicitResult or CreateMessageResult)"
            )
        responses[key] = response
    await state.manager.answer(request_owner(ctx, state.owner_scope), params.task_id, responses)
    return sep2663.ack()


@dataclass(frozen=True, slots=True)
class MethodSpec:
    """One bound method: its handler and the protocol versions it exists at (None = all)."""

    handler: Handler
    versions: frozenset[str] | None


#: Method name -> handler. `tasks/get` and `tasks/cancel` exist on both wires; `tasks/result` and
#: `tasks/list` only on 2025-11-25 (SEP-2663 removed them: -32601); `tasks/update` only on 2026-07-28.
METHODS: dict[str, MethodSpec] = {
    "tasks/get": MethodSpec(tasks_get, V2025_11_25_VERSIONS | SEP2663_VERSIONS),
    "tasks/result": MethodSpec(tasks_result, V2025_11_25_VERSIONS),
    "tasks/list": MethodSpec(tasks_list, V2025_11_25_VERSIONS),
    "tasks/cancel": MethodSpec(tasks_cancel, V2025_11_25_VERSIONS | SEP2663_VERSIONS),
    "tasks/update": MethodSpec(tasks_update, SEP2663_VERSIONS),
}
