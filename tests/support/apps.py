"""The app the integration tests serve: a `TaskServer` named `server` with one tool per behaviour.

Tools that run for a while advance a counter file (`marker`) at every step, so a test can observe
from outside the process whether the tool is still running. `gate` blocks until a file exists, so a
test decides exactly when it finishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import json
import time
from pathlib import Path
from typing import Any

import apsw
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError

from mcptasks import TaskContext, TaskServer

#: The secret text the crashing tool raises; it must never reach the wire.
SECRET = "secret-db-password-hunter2"
#: The JSON-RPC error `rpc_error` raises.
RPC_ERROR_CODE = -32042
RPC_ERROR_MESSAGE = "boom: the upstream API refused"
RPC_ERROR_DATA = {"retryAfter": 7}
#: The text of the deliberate tool error of `tool_error`.
TOOL_ERROR_TEXT = "the tool said no"

server = TaskServer("mcptasks-integration-tests", version="0.0.1")


def _bump(marker: str, value: int) -> None:
    if marker:
        Path(marker).write_text(str(value))


@server.tool(task_support="optional")
async def echo(text: str) -> str:
    """Return `text` at once."""
    return f"echo: {text}"


@server.tool(task_support="optional")
async def quick(n: int) -> str:
    """Return at once (for listing many tasks)."""
    return f"quick {n}"


@server.tool(task_support="optional")
async def slow(steps: int, delay_ms: int, task: TaskContext, marker: str = "") -> str:
    """Count to `steps`, sleeping `delay_ms` per step; writes the count to `marker`; reports progress."""
    for i in range(1, steps + 1):
        task.check_cancelled()
        _bump(marker, i)
        await task.report_progress(i, total=steps, message=f"step {i}")
        await asyncio.sleep(delay_ms / 1000)
    return f"counted to {steps}"


@server.tool(task_support="optional", on_restart="rerun")
async def slow_rerun(steps: int, delay_ms: int, task: TaskContext, marker: str = "") -> str:
    """As `slow`, but run again from the start after a crash or stop (on_restart "rerun"); the
    result names the attempt that finished."""
    for i in range(1, steps + 1):
        task.check_cancelled()
        _bump(marker, i)
        await asyncio.sleep(delay_ms / 1000)
    return f"attempt {task.attempt} counted to {steps}"


@server.tool(task_support="optional")
async def gate(path: str, task: TaskContext) -> str:
    """Wait until the file `path` holds some text, then return it.

    A file seen empty is not opened yet: the test's write may have created it and not filled it.
    """
    gate_file = Path(path)
    while not await asyncio.to_thread(_has_text, gate_file):
        task.check_cancelled()
        await asyncio.sleep(0.02)
    return f"released: {await asyncio.to_thread(gate_file.read_text)}"


def _has_text(path: Path) -> bool:
    return path.exists() and path.stat().st_size > 0


@server.tool(task_support="optional")
async def stubborn(marker: str, task: TaskContext) -> str:
    """Ignore cancellation: advance `marker` every 50 ms forever (only a hard cancel stops it)."""
    i = 0
    while True:
        i += 1
        _bump(marker, i)
        await asyncio.sleep(0.05)


@server.tool(task_support="required")
async def req_tool(text: str = "") -> str:
    """Only runs as a task."""
    return f"required: {text}"


@server.tool(task_support="forbidden")
async def forb_tool(text: str = "") -> str:
    """Never runs as a task."""
    return f"forbidden: {text}"


@server.tool(task_support="optional")
async def crash(task: TaskContext) -> str:
    """Raise an unexpected exception whose text is a secret."""
    raise RuntimeError(f"{SECRET}: connection to postgres://admin:{SECRET}@db failed")


@server.tool(task_support="optional")
async def rpc_error() -> str:
    """Raise a JSON-RPC error."""
    raise MCPError(code=RPC_ERROR_CODE, message=RPC_ERROR_MESSAGE, data=RPC_ERROR_DATA)


@server.tool(task_support="optional")
async def tool_error() -> str:
    """Fail deliberately: an `isError` result."""
    raise ToolError(TOOL_ERROR_TEXT)


@server.tool(task_support="optional")
def sync_stubborn(seconds: float, marker: str = "") -> str:
    """A plain `def` tool that sleeps `seconds` in one call and never looks at cancellation."""
    _bump(marker, 1)
    time.sleep(seconds)
    _bump(marker, 2)
    return f"slept {seconds}"


@server.mcp.tool()
async def plain_tool(text: str = "") -> str:
    """A tool registered on the SDK server directly: no `execution.taskSupport` (forbidden)."""
    return f"plain: {text}"


# -- tools that ask the client (elicitation, sampling) -----------------------------------------------
#
# They append a line to `marker` (a text file) when they ask, get an answer and stop, so a test can
# see from outside the process which attempt asked what and whether the tool ended.

#: The form the asking tools send.
CONFIRM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"confirm": {"type": "boolean"}},
    "required": ["confirm"],
}


def _note(marker: str, line: str) -> None:
    if marker:
        with Path(marker).open("a") as file:
            file.write(line + "\n")


def _said(answer: Any) -> str:
    """An `ElicitResult` as text: its action and its content as sorted JSON."""
    return f"{answer.action} {json.dumps(answer.content, sort_keys=True)}"


async def _ask_noted(task: TaskContext, marker: str, label: str, message: str) -> Any:
    _note(marker, f"attempt {task.attempt} asks {label}")
    try:
        answer = await task.elicit(message, CONFIRM_SCHEMA)
    except BaseException as exc:
        _note(marker, f"attempt {task.attempt} stopped waiting for {label}: {type(exc).__name__}")
        raise
    _note(marker, f"attempt {task.attempt} got {label}: {_said(answer)}")
    return answer


@server.tool(task_support="optional")
async def elicit_once(filename: str, task: TaskContext, marker: str = "") -> str:
    """Ask once whether to delete `filename` (on_restart "fail"); return the attempt and the answer."""
    answer = await _ask_noted(task, marker, "first", f"Delete {filename}?")
    return f"attempt {task.attempt}: {_said(answer)}"


@server.tool(task_support="optional", on_restart="rerun")
async def elicit_once_rerun(filename: str, task: TaskContext, marker: str = "") -> str:
    """As `elicit_once`, but run again from the start after a server stop (on_restart "rerun")."""
    answer = await _ask_noted(task, marker, "first", f"Delete {filename}?")
    return f"attempt {task.attempt}: {_said(answer)}"


@server.tool(task_support="optional")
async def elicit_two(task: TaskContext, marker: str = "") -> str:
    """Ask two questions at once (`asyncio.gather`): both are outstanding together."""
    first, second = await asyncio.gather(
        _ask_noted(task, marker, "first", "First of two?"),
        _ask_noted(task, marker, "second", "Second of two?"),
    )
    return f"first={_said(first)}; second={_said(second)}"


@server.tool(task_support="optional", on_restart="rerun")
async def elicit_in_turn_rerun(task: TaskContext, marker: str = "") -> str:
    """Ask one question, then another once the first is answered (on_restart "rerun")."""
    first = await _ask_noted(task, marker, "first", "First question?")
    second = await _ask_noted(task, marker, "second", "Second question?")
    return f"attempt {task.attempt}: first={_said(first)}; second={_said(second)}"


#: The inline grace of `graced` (`inline_grace_ms`), in ms.
GRACE_MS = 2000


@server.tool(task_support="optional", inline_grace_ms=GRACE_MS)
async def graced(gate: str, task: TaskContext, marker: str = "") -> str:
    """Wait until the file `gate` holds some text, then return; runs inline for a while before it becomes a
    task (`inline_grace_ms`). Appends a line to `marker` when it starts, ends or sees a cancel."""
    _note(marker, f"start {task.task_id or 'inline'}")
    await task.set_status_message("waiting for the gate")
    while not _has_text(Path(gate)):
        if task.is_cancelled:
            _note(marker, f"cancelled {task.task_id or 'inline'}")
            task.check_cancelled()
        await asyncio.sleep(0.02)
    _note(marker, f"end {task.task_id or 'inline'}")
    return f"gate open ({'a task' if task.task_id else 'inline'})"


@server.tool(task_support="optional", inline_grace_ms=GRACE_MS)
async def graced_asks(task: TaskContext, marker: str = "") -> str:
    """Ask one question at once (within its inline grace): it goes on as a task awaiting input."""
    answer = await _ask_noted(task, marker, "first", "Go on?")
    return f"{'a task' if task.task_id else 'inline'}: {_said(answer)}"


@server.tool(task_support="optional")
async def sample_once(prompt: str, task: TaskContext) -> str:
    """Ask the client's model (sampling) and return the model name and its text."""
    result = await task.create_message(
        [{"role": "user", "content": {"type": "text", "text": prompt}}], 64, systemPrompt="Be brief."
    )
    return f"{result['model']}: {result['content']['text']}"


class Opaque:
    """A value with no JSON form: the SDK would send its `repr`, memory address included."""


@server.tool(task_support="optional")
async def opaque_result(text: str = ""):  # no return annotation: no output schema
    """Return a value that cannot be sent as JSON."""
    return {"text": text, "value": Opaque()}


# -- introspection ------------------------------------------------------------------------------------


@server.tool(task_support="forbidden")
async def state_sizes(collect: bool = False) -> dict[str, int]:
    """The server's per-task and per-connection map sizes (`TaskServer.state_sizes`), its RSS
    (`rss_kb`) and the heap the database library holds (`db_heap_kb`: its page caches, bounded
    per connection).

    `collect`: first run a full garbage collection and return freed heap to the system
    (`malloc_trim`, glibc only), so `rss_kb` counts what is held, not what the allocator keeps.
    """
    if collect:
        gc.collect()
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)
    sizes = server.state_sizes()
    sizes["rss_kb"] = _rss_kb()
    sizes["db_heap_kb"] = apsw.memory_used() // 1024
    return sizes


def _rss_kb() -> int:
    """This process's resident set size in KiB (Linux `/proc`), or -1 where unavailable."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return -1
