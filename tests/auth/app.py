"""The app the OAuth tests serve (`mcptasks serve tests/auth/app.py:server --auth-...`).

Four tools: `echo` finishes at once, `gate` runs until a file exists (a task that stays
`working`), `ask` asks one question (a task that parks in `input_required`), and `ask_rerun` does the
same but runs again from the start after a server stop (`on_restart="rerun"`).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from mcptasks import Leases, TaskContext, TaskServer

# Short graces: a test server stops within about a second even with tasks still running.
server = TaskServer(
    "mcptasks-auth-tests",
    version="0.0.1",
    leases=Leases(duration_s=4, heartbeat_s=1, cancel_grace_s=0.5, shutdown_grace_s=0.5),
)

#: The form `ask` sends.
CONFIRM_SCHEMA = {"type": "object", "properties": {"confirm": {"type": "boolean"}}, "required": ["confirm"]}


@server.tool(task_support="optional")
async def echo(text: str) -> str:
    """Return `text` at once."""
    return f"echo: {text}"


@server.tool(task_support="optional")
async def gate(path: str, task: TaskContext) -> str:
    """Wait until the file `path` exists, then return its content."""
    gate_file = Path(path)
    while not await asyncio.to_thread(gate_file.exists):
        task.check_cancelled()
        await asyncio.sleep(0.02)
    return f"released: {await asyncio.to_thread(gate_file.read_text)}"


@server.tool(task_support="optional")
async def ask(question: str, task: TaskContext) -> str:
    """Ask `question` (a confirm form) and return the answer's action."""
    answer = await task.elicit(question, CONFIRM_SCHEMA)
    return f"answered: {answer.action}"


@server.tool(task_support="optional", on_restart="rerun")
async def ask_rerun(question: str, task: TaskContext) -> str:
    """As `ask`, run again after a restart; return the attempt, the action and the content."""
    answer = await task.elicit(question, CONFIRM_SCHEMA)
    return f"attempt {task.attempt}: {answer.action} {json.dumps(answer.content, sort_keys=True)}"
