"""Tools that may run as tasks: registration, argument checks, and running them.

A tool is registered once as an SDK `Tool` (so its input schema and the conversion of its return
value into a `CallToolResult` are exactly the SDK's), with the parameter annotated `TaskContext`
kept out of the schema. It then runs either inline (`run_inline`, an ordinary `tools/call`) or as a
task (`task_invoker`, under the executor).

Parameters annotated `Annotated[T, Resolve(fn)]` (the SDK's resolvers: elicitation, sampling,
roots) are resolved by `resolve_parameters` inside the `tools/call` request, with the SDK's
`Context`, before the tool body runs and before any task exists ("ask before you start"); on
2026-07-28 that is a multi-round-trip `InputRequiredResult` answered by retrying the call. The
resolved values are then bound to the body (`run_inline`, `task_invoker`).
"""

from __future__ import annotations

import functools
import inspect
import logging
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pydantic_core
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.types import Audio, Image
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, InputRequiredResult, TextContent
from pydantic import ValidationError

from mcptasks.core.errors import InvalidParams, TaskCancelled, TaskError
from mcptasks.core.model import (
    Completed,
    ErrorInfo,
    Failed,
    Outcome,
    RecoveryPolicy,
    TaskSupport,
)
from mcptasks.runtime.context import TaskContext
from mcptasks.runtime.outcomes import CRASH_MESSAGE
from mcptasks.runtime.running import Invoke
from mcptasks.runtime.threads import run_in_daemon_thread
from mcptasks.wire.params import describe_problem, field_of

logger = logging.getLogger("mcptasks.server")


@dataclass(frozen=True, slots=True)
class TaskTool:
    """A registered tool and how it may run."""

    #: The SDK tool (schema, validation, result conversion).
    tool: Tool
    #: "optional", "required" or "forbidden".
    task_support: TaskSupport
    #: What happens to its task after a stop: "fail" or "rerun".
    on_restart: RecoveryPolicy = "fail"
    #: How long a call that would create a task (2026-07-28) first runs inline, in ms; a call that
    #: finishes within it answers its plain result and stores nothing. None: a task at once.
    inline_grace_ms: int | None = None

    @property
    def name(self) -> str:
        """The tool's name."""
        return self.tool.name


def find_task_context_parameter(fn: Callable[..., Any]) -> str | None:
    """The name of `fn`'s parameter annotated `TaskContext` (or `TaskContext | None`), if any."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        hints = {}
    for name in inspect.signature(fn).parameters:
        annotation = hints.get(name)
        if annotation is TaskContext or TaskContext in typing.get_args(annotation):
            return name
    return None


def build_tool(
    fn: Callable[..., Any],
    *,
    name: str | None,
    title: str | None,
    description: str | None,
    task_support: TaskSupport,
    structured_output: bool | None,
    on_restart: RecoveryPolicy = "fail",
    inline_grace_ms: int | None = None,
) -> TaskTool:
    """Build the SDK `Tool` for `fn`, excluding its `TaskContext` parameter from the schema.

    Raises: ValueError for a bad `task_support`, `on_restart` or `inline_grace_ms` (a whole number
    of ms, at least 1, for a tool that may run as a task).
    """
    if task_support not in ("optional", "required", "forbidden"):
        raise ValueError(f"task_support must be 'optional', 'required' or 'forbidden', not {task_support!r}")
    if on_restart not in ("fail", "rerun"):
        raise ValueError(f"on_restart must be 'fail' or 'rerun', not {on_restart!r}")
    if inline_grace_ms is not None:
        if isinstance(inline_grace_ms, bool) or not isinstance(inline_grace_ms, int) or inline_grace_ms < 1:
            raise ValueError(
                f"inline_grace_ms must be a whole number of ms, at least 1, not {inline_grace_ms!r}"
            )
        if task_support == "forbidden":
            raise ValueError(
                "inline_grace_ms needs a tool that may run as a task, not task_support='forbidden'"
            )
    tool = Tool.from_function(
        fn,
        name=name,
        title=title,
        description=description,
        context_kwarg=find_task_context_parameter(fn),
        structured_output=structured_output,
    )
    if tool.resolved_params and on_restart == "rerun":
        # The answers live in the request that created the task, not in the store: a rerun after a
        # restart could not ask them again.
        raise ValueError(
            f"tool {tool.name!r} has Resolve(...) parameters, which on_restart='rerun' cannot replay"
        )
    if not tool.is_async:
        tool = tool.model_copy(update={"fn": _on_daemon_thread(tool.fn), "is_async": True})
    return TaskTool(
        tool=tool, task_support=task_support, on_restart=on_restart, inline_grace_ms=inline_grace_ms
    )


def _on_daemon_thread(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A plain `def` tool as a coroutine function that runs it on a daemon thread (`threads.py`):
    a cancelled task or a stopping server stops waiting for it at once."""

    @functools.wraps(fn)
    async def run(**kwargs: Any) -> Any:
        return await run_in_daemon_thread(functools.partial(fn, **kwargs))

    return run


def validate_arguments(entry: TaskTool, arguments: dict[str, Any]) -> None:
    """Check `arguments` against the tool's input schema before a task is created.

    Raises: InvalidParams naming `arguments.<field>`.
    Spec: protocol reference E19 (validate synchronously; only later errors fail the task).
    """
    try:
        entry.tool.fn_metadata.validate_arguments(arguments)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        raise InvalidParams(field_of(first, ("arguments",)), describe_problem(first)) from None


def _error_result(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


#: The error of a tool whose return value cannot be sent: it has no JSON form (an arbitrary object,
#: which the SDK would send as its `repr`, memory address included) or does not match the tool's
#: output schema. Fixed text: the value itself never reaches the wire.
UNSENDABLE_MESSAGE = "The tool returned a result that cannot be sent as JSON"


def _has_json_form(value: Any) -> bool:
    """Whether the SDK can turn `value` into content without falling back to `str(value)`.

    Mirrors the SDK's conversion (`func_metadata._convert_to_content`): strings, content blocks,
    images and audio as they are, lists and tuples item by item, anything else through
    pydantic-core's JSON serializer, which knows models, dataclasses, dates, enums and the like.
    """
    if value is None or isinstance(value, str | CallToolResult | InputRequiredResult | Image | Audio):
        return True
    if isinstance(value, list | tuple):
        return all(_has_json_form(item) for item in value)
    try:
        pydantic_core.to_json(value)
    except (pydantic_core.PydanticSerializationError, ValueError, TypeError, RecursionError):
        return False
    return True


class _Unsendable(Exception):
    """The tool's return value cannot be sent (see `UNSENDABLE_MESSAGE`)."""


def _convert(tool: Tool, value: Any) -> CallToolResult | InputRequiredResult:
    """The tool's return value as the SDK converts it (`convert_result=True`), checked first.

    Raises: _Unsendable, with the SDK's conversion error (if any) as its cause.
    """
    if not _has_json_form(value):
        raise _Unsendable()
    try:
        return tool.fn_metadata.convert_result(value)
    except Exception as exc:  # e.g. a value that does not match the output schema
        raise _Unsendable() from exc


def _tool_error_text(exc: ToolError) -> str:
    """The text of an `isError` result for a `ToolError` the SDK raised from `Tool.run`.

    The SDK reports arguments that fail the input schema with pydantic's text (class names,
    links); that one is said in fixed words naming the argument. A tool's own `ToolError` keeps
    its text: the tool chose it for the client.
    """
    cause = exc.__cause__
    if isinstance(cause, ValidationError):
        return invalid_arguments_text(cause)
    return str(exc)


def invalid_arguments_text(exc: ValidationError) -> str:
    """Arguments that fail a tool's input schema, in fixed words naming the first field that
    failed (`Invalid arguments: arguments.text ...`), never pydantic's own text."""
    errors = exc.errors(include_url=False, include_input=False)
    if errors:
        first = errors[0]
        return f"Invalid arguments: {field_of(first, ('arguments',))} {describe_problem(first)}"
    return "Invalid arguments"


@dataclass(frozen=True, slots=True)
class _Captured:
    """What the SDK would have passed to the tool body: the resolved parameters among them."""

    values: dict[str, Any]


async def resolve_parameters(
    entry: TaskTool, arguments: dict[str, Any], context: Context[Any, Any]
) -> dict[str, Any] | CallToolResult | InputRequiredResult:
    """Run the tool's `Resolve(...)` resolvers now, in the request, with the SDK `context`.

    Returns the resolved values by parameter name (empty for a tool without resolvers); or what
    to answer instead of running the tool: an `InputRequiredResult` (2026-07-28: the client answers
    by retrying the call) or an `isError` result (bad arguments, a declined question, a resolver
    that failed; a crash is logged). The SDK's own `Tool.run` does the work, with the body replaced
    by one that returns what it was given, so resolution is exactly the SDK's.
    Raises: MCPError (e.g. -32021 when the client lacks the capability a resolver needs).
    """
    names = set(entry.tool.resolved_params)
    if not names:
        return {}

    async def capture(**kwargs: Any) -> _Captured:
        return _Captured({name: value for name, value in kwargs.items() if name in names})

    probe = entry.tool.model_copy(update={"fn": capture, "is_async": True})
    try:
        outcome = await probe.run(arguments, context)
    except MCPError:
        raise
    except UnexpectedToolError as exc:
        logger.error(
            "resolver of tool %r crashed", entry.name, exc_info=exc.__cause__, extra={"action": "tool_crash"}
        )
        return _error_result(str(exc))
    except ToolError as exc:
        return _error_result(_tool_error_text(exc))
    if isinstance(outcome, _Captured):
        return outcome.values
    return typing.cast(InputRequiredResult, outcome)


def _bound(entry: TaskTool, resolved: dict[str, Any] | None) -> Tool:
    """The tool with its resolved parameters bound, so running it does not resolve them again."""
    if resolved is None or not entry.tool.resolved_params:
        return entry.tool
    fn = functools.partial(entry.tool.fn, **resolved)
    return entry.tool.model_copy(update={"fn": fn, "resolved_params": {}, "resolver_plans": {}})


async def call_tool_body(
    entry: TaskTool, arguments: dict[str, Any], context: TaskContext, resolved: dict[str, Any] | None = None
) -> CallToolResult | InputRequiredResult:
    """Run the tool body once and convert its return value the way the SDK does.

    Raises what `Tool.run` raises (`ToolError`, `UnexpectedToolError`, `MCPError`) and
    `_Unsendable`; `inline_answer` and `task_outcome` map those for each way of running.
    """
    tool = _bound(entry, resolved)
    value = await tool.run(arguments, context)  # type: ignore[arg-type]  # passed through untouched to the TaskContext parameter
    return _convert(tool, value)


async def inline_answer(
    entry: TaskTool, call: Awaitable[CallToolResult | InputRequiredResult]
) -> CallToolResult | InputRequiredResult:
    """Await `call` (see `call_tool_body`) and answer the way the SDK does for a `tools/call`.

    A deliberate `ToolError` becomes an `isError` result with its text; a crash becomes an `isError`
    result with the SDK's generic text (the detail is logged); arguments that fail the schema and
    a return value that cannot be sent become an `isError` result with fixed text; an `MCPError`
    is raised as itself, and so is a `TaskError` of mcptasks' own raised through the tool (e.g.
    `InputUnavailable`, -32021: the client cannot be asked), answered as its JSON-RPC error.
    """
    try:
        return await call
    except MCPError:
        raise
    except UnexpectedToolError as exc:
        refused = _cause_of_type(exc, TaskError)
        if refused is not None:
            # Expected (e.g. the client cannot be asked): a JSON-RPC error with its public message.
            logger.info("tool %r refused: %s", entry.name, refused.message, extra={"action": "tool_refused"})
            raise refused from None
        logger.error("tool %r crashed", entry.name, exc_info=exc.__cause__, extra={"action": "tool_crash"})
        return _error_result(str(exc))
    except ToolError as exc:
        return _error_result(_tool_error_text(exc))
    except _Unsendable as exc:
        logger.error(
            "tool %r returned a result that cannot be sent as JSON",
            entry.name,
            exc_info=exc.__cause__,
            extra={"action": "tool_result"},
        )
        return _error_result(UNSENDABLE_MESSAGE)


async def run_inline(
    entry: TaskTool, arguments: dict[str, Any], context: TaskContext, resolved: dict[str, Any] | None = None
) -> CallToolResult | InputRequiredResult:
    """Run the tool inside its `tools/call` request and answer the way the SDK does.

    `resolved` holds the values of its `Resolve(...)` parameters (see `resolve_parameters`).
    Errors are mapped as `inline_answer` says. A tool returning an `InputRequiredResult` itself
    (2026 multi-round-trip) has it passed through as the SDK does.
    """
    return await inline_answer(entry, call_tool_body(entry, arguments, context, resolved))


E = typing.TypeVar("E", bound=BaseException)


def _cause_of_type(exc: BaseException, kind: type[E]) -> E | None:
    """The first exception of `kind` in `exc`'s `__cause__` chain (the SDK wraps what tools raise)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__
    return None


def task_invoker(
    entry: TaskTool, arguments: dict[str, Any], resolved: dict[str, Any] | None = None
) -> Invoke:
    """The executor's `invoke` for one task of this tool: run it and map how it ended.

    `resolved` holds the values of its `Resolve(...)` parameters, resolved before the task was
    created (see `resolve_parameters`). The mapping is `task_outcome`'s.
    """

    async def invoke(context: TaskContext) -> Outcome:
        return await task_outcome(entry, call_tool_body(entry, arguments, context, resolved), context.task_id)

    return invoke


async def task_outcome(
    entry: TaskTool, call: Awaitable[CallToolResult | InputRequiredResult], task_id: str | None
) -> Outcome:
    """Await `call` (see `call_tool_body`), the tool of task `task_id`, and map how it ended.

    - returns → `Completed` with the `CallToolResult` (an `isError` result too; both wires call
      that `completed`, SEP-2663 "Task Execution Errors");
    - `ToolError` (deliberate) → `Completed` with an `isError` result carrying its text;
    - `MCPError` → `Failed` with that JSON-RPC error;
    - a return value that cannot be sent as JSON → `Failed` with `UNSENDABLE_MESSAGE` (logged);
    - anything else → `Failed` with a fixed message; the exception is logged, never sent.
    Raises: TaskCancelled when the tool stopped because its task was cancelled.
    """
    try:
        result = await call
    except _Unsendable as exc:
        _log_tool_error(entry, task_id, "returned a result that cannot be sent as JSON", exc, "tool_result")
        return Failed(ErrorInfo(code=-32603, message=UNSENDABLE_MESSAGE), UNSENDABLE_MESSAGE)
    except MCPError as exc:
        error = ErrorInfo(code=exc.error.code, message=exc.error.message, data=exc.error.data)
        return Failed(error, exc.error.message)
    except UnexpectedToolError as exc:
        if _cause_of_type(exc, TaskCancelled) is not None:
            raise TaskCancelled() from None
        refused = _cause_of_type(exc, TaskError)
        if refused is not None:
            # mcptasks' own refusals (e.g. InputUnavailable) carry a public message and code.
            error = ErrorInfo(code=int(refused.code), message=refused.message, data=refused.data)
            return Failed(error, refused.message)
        _log_tool_error(entry, task_id, "crashed", exc, "tool_crash")
        return Failed(ErrorInfo(code=-32603, message=CRASH_MESSAGE), CRASH_MESSAGE)
    except ToolError as exc:
        if _cause_of_type(exc, TaskCancelled) is not None:
            raise TaskCancelled() from None
        return Completed(_dump(_error_result(_tool_error_text(exc))))
    if isinstance(result, InputRequiredResult):
        message = "The tool asked for input with a multi-round-trip result, which a task cannot carry"
        return Failed(ErrorInfo(code=-32603, message=message), message)
    return Completed(_dump(result))


def _log_tool_error(entry: TaskTool, task_id: str | None, what: str, exc: BaseException, action: str) -> None:
    """Log once, at ERROR with the traceback of what the tool raised, that it `what` in its task."""
    logger.error(
        "tool %r %s in task %s",
        entry.name,
        what,
        task_id,
        exc_info=exc.__cause__,
        extra={"action": action, "task_id": task_id},
    )


def _dump(result: CallToolResult) -> dict[str, Any]:
    """The stored, wire-neutral form: `resultType` is the 2026 envelope's, added per response."""
    dumped = result.model_dump(by_alias=True, mode="json", exclude_none=True)
    dumped.pop("resultType", None)
    return dumped
