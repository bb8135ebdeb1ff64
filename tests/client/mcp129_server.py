"""A 2025-11-25 task server that is not mcptasks: `mcp` 1.29's experimental in-memory tasks.

Run it with the Python of a virtual environment that holds `mcp==1.29.0` (not this project's,
which holds `mcp` 2.3): `python mcp129_server.py PORT`. It serves Streamable HTTP (stateful) on
`http://127.0.0.1:PORT/mcp` with a low-level `Server`, `enable_tasks()` (in-memory store and
queue, tasks scoped to the session that made them) and these tools:

- `slow_echo(text, steps=3, delay_ms=100)`: `taskSupport: "optional"`; as a task it sets the
  status message at every step, then returns `echo: <text>`; called inline it returns at once;
- `confirm(question)`: `taskSupport: "required"`; asks the client (elicitation, delivered on the
  `tasks/result` stream as mcp 1.29 does) and returns `confirmed` / `refused`;
- `boom()`: `taskSupport: "required"`; fails (mcp 1.29 answers `tasks/result` of a failed task
  with an empty result carrying only the related-task `_meta`).

The file imports only mcp 1.29 and its own dependencies; it never imports mcptasks.
"""

from __future__ import annotations

import sys
from typing import Any

import anyio
import uvicorn
from mcp import types
from mcp.server.experimental.task_context import ServerTaskContext
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

server: Server[Any, Any] = Server("mcp129-tasks")
support = server.experimental.enable_tasks()

TOOLS = [
    types.Tool(
        name="slow_echo",
        description="Echo the text after a few steps.",
        inputSchema={
            "type": "object",
            "properties": {
                "text": {"type": "string"},
                "steps": {"type": "integer"},
                "delay_ms": {"type": "integer"},
            },
            "required": ["text"],
        },
        execution=types.ToolExecution(taskSupport="optional"),
    ),
    types.Tool(
        name="confirm",
        description="Ask the user to confirm.",
        inputSchema={
            "type": "object",
            "properties": {"question": {"type": "string"}},
            "required": ["question"],
        },
        execution=types.ToolExecution(taskSupport="required"),
    ),
    types.Tool(
        name="boom",
        description="Fail.",
        inputSchema={"type": "object", "properties": {}},
        execution=types.ToolExecution(taskSupport="required"),
    ),
]

CONFIRM_SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}


def _text(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)])


async def _stop_if_cancelled(task: ServerTaskContext) -> None:
    """Park forever once the task was cancelled.

    mcp 1.29's `run_task` completes a task from a stale copy of its status: work that returns (or
    raises) after `tasks/cancel` makes it move a cancelled task again, which raises inside the
    server's task group and stops the server. Work that never returns is cancelled when the
    server stops.
    """
    current = await support.store.get_task(task.task_id)
    if current is None or current.status == "cancelled":
        await anyio.sleep_forever()


@server.list_tools()
async def list_tools() -> list[types.Tool]:
    return TOOLS


@server.call_tool()
async def call_tool(name: str, arguments: dict[str, Any]) -> types.CallToolResult | types.CreateTaskResult:
    experimental = server.request_context.experimental
    if name == "slow_echo":
        text = str(arguments["text"])
        steps = int(arguments.get("steps", 3))
        delay_s = int(arguments.get("delay_ms", 100)) / 1000
        if not experimental.is_task:
            return _text(f"echo: {text}")

        async def echo(task: ServerTaskContext) -> types.CallToolResult:
            for step in range(1, steps + 1):
                await _stop_if_cancelled(task)
                await task.update_status(f"step {step} of {steps}")
                await anyio.sleep(delay_s)
            await _stop_if_cancelled(task)
            return _text(f"echo: {text}")

        return await experimental.run_task(echo)
    experimental.validate_task_mode("required")
    if name == "confirm":
        question = str(arguments["question"])

        async def confirm(task: ServerTaskContext) -> types.CallToolResult:
            answer = await task.elicit(question, CONFIRM_SCHEMA)
            ok = answer.action == "accept" and (answer.content or {}).get("ok") is True
            return _text("confirmed" if ok else "refused")

        return await experimental.run_task(confirm)

    async def fail(task: ServerTaskContext) -> types.CallToolResult:
        raise RuntimeError("boom")

    return await experimental.run_task(fail)


class _Endpoint:
    """The session manager as the ASGI app of one exact route (`/mcp`, no redirect to `/mcp/`)."""

    def __init__(self, manager: StreamableHTTPSessionManager) -> None:
        self.manager = manager

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.manager.handle_request(scope, receive, send)


def main(port: int) -> None:
    manager = StreamableHTTPSessionManager(app=server)

    async def lifespan(_app: Starlette) -> Any:
        async with manager.run():
            yield

    app = Starlette(routes=[Route("/mcp", endpoint=_Endpoint(manager))], lifespan=lifespan)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main(int(sys.argv[1]))
