"""Questions a server asks before it creates the task (a tool's `Resolve(...)` parameters).

On 2026-07-28 the `tools/call` answers `input_required` (multi-round-trip); the client answers
with its handlers and calls again, and the retry creates the task. On 2025-11-25 the question
arrives on the `tools/call` request's own stream. Either way the handler sees no task id.
"""

from __future__ import annotations

import anyio
import pytest
from mcp_types import ElicitRequestParams, ElicitResult, TextContent

from mcptasks.client import MissingHandler, TaskClient, Wire

pytestmark = pytest.mark.slow

WIRES: list[Wire] = ["2025-11-25", "2026-07-28"]


@pytest.mark.parametrize("wire", WIRES)
async def test_a_handler_answers_before_the_task_exists(app_url: str, wire: Wire) -> None:
    asked: list[tuple[str | None, str]] = []

    async def on_elicitation(task_id: str | None, params: ElicitRequestParams) -> ElicitResult:
        asked.append((task_id, params.message))
        return ElicitResult(action="accept", content={"name": "Ada"})

    async with TaskClient(app_url, wire=wire, on_elicitation=on_elicitation) as client:
        handle = await client.call_tool_as_task("greet", {"punctuation": "!"})
        assert handle.task_id is not None
        with anyio.fail_after(20):
            result = await handle.result()
    block = result.content[0]
    assert isinstance(block, TextContent) and block.text == "Hello, Ada! (a task)"
    assert asked == [(None, "Who should be greeted?")]


async def test_no_handler_for_a_question_before_the_task(app_url: str) -> None:
    async with TaskClient(app_url, wire="2026-07-28", elicitation=True) as client:
        with pytest.raises(MissingHandler):
            await client.call_tool_as_task("greet", {"punctuation": "?"})
