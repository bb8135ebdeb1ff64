"""The app of the sampling tests: the demo's tools, plus two that ask before or while they run.

- `summarize(text)` asks the client's model (sampling) once, while its task runs;
- `greet(punctuation)` has a parameter filled by a resolver (`Resolve(...)`), asked before the
  task exists: a multi-round-trip question on 2026-07-28, a question on the `tools/call` stream
  on 2025-11-25.

Served with `mcptasks serve tests/client/app.py:server`. It extends the demo's `TaskServer` in the
serving process only (the module is imported by `serve`, nowhere else).
"""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver.resolve import Elicit, Resolve
from pydantic import BaseModel

from mcptasks import TaskContext
from mcptasks.demo import server

__all__ = ["server"]


@server.tool(task_support="optional")
async def summarize(text: str, task: TaskContext) -> str:
    """Ask the client's model (sampling) for a one-line summary of `text`; return it with the model name."""
    answer = await task.create_message(
        [{"role": "user", "content": {"type": "text", "text": f"Summarize in one line: {text}"}}],
        max_tokens=50,
        systemPrompt="You write one-line summaries.",
    )
    content = answer.get("content") or {}
    summary = content.get("text", "") if isinstance(content, dict) else ""
    return f"summary by {answer.get('model')}: {summary}"


class Person(BaseModel):
    name: str


def ask_name() -> Elicit[Person]:
    return Elicit("Who should be greeted?", Person)


@server.tool(task_support="optional")
async def greet(person: Annotated[Person, Resolve(ask_name)], punctuation: str, task: TaskContext) -> str:
    """Greet the person the client names before the task starts."""
    return f"Hello, {person.name}{punctuation} ({'a task' if task.task_id else 'inline'})"
