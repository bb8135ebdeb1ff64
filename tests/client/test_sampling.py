"""Sampling questions (`task.create_message`) answered by the client, over HTTP, on both wires.

The server is `app.py` (the demo plus `summarize`, which asks the client's model once).
"""

from __future__ import annotations

import anyio
import pytest
from mcp_types import CreateMessageRequest, CreateMessageRequestParams, CreateMessageResult, TextContent

from mcptasks.client import QuestionUpdate, TaskClient, TaskFailedError, Wire

pytestmark = pytest.mark.slow

WIRES: list[Wire] = ["2025-11-25", "2026-07-28"]
LIMIT_S = 20


def model_answer(text: str) -> CreateMessageResult:
    return CreateMessageResult(
        role="assistant", content=TextContent(type="text", text=text), model="test-model"
    )


@pytest.mark.parametrize("wire", WIRES)
async def test_a_handler_answers_a_sampling_question(app_url: str, wire: Wire) -> None:
    asked: list[tuple[str | None, CreateMessageRequestParams]] = []

    async def on_sampling(task_id: str | None, params: CreateMessageRequestParams) -> CreateMessageResult:
        asked.append((task_id, params))
        return model_answer("tasks outlive their requests")

    async with TaskClient(app_url, wire=wire, on_sampling=on_sampling) as client:
        handle = await client.call_tool_as_task("summarize", {"text": "MCP tasks are durable."})
        with anyio.fail_after(LIMIT_S):
            result = await handle.result()

    block = result.content[0]
    assert isinstance(block, TextContent)
    assert block.text == "summary by test-model: tasks outlive their requests"
    [(task_id, params)] = asked
    assert task_id == handle.task_id
    assert params.max_tokens == 50
    assert params.system_prompt == "You write one-line summaries."


@pytest.mark.parametrize("wire", WIRES)
async def test_a_sampling_question_answered_by_hand(app_url: str, wire: Wire) -> None:
    async with TaskClient(app_url, wire=wire, sampling=True) as client:
        handle = await client.call_tool_as_task("summarize", {"text": "by hand"})
        with anyio.fail_after(LIMIT_S):
            async for update in handle:
                if isinstance(update, QuestionUpdate):
                    assert isinstance(update.question.request, CreateMessageRequest)
                    answer = {
                        "role": "assistant",
                        "content": {"type": "text", "text": "manual"},
                        "model": "hand",
                    }
                    await handle.answer({update.question.key: answer})
            result = await handle.result()
    block = result.content[0]
    assert isinstance(block, TextContent) and block.text == "summary by hand: manual"


@pytest.mark.parametrize("wire", WIRES)
async def test_without_the_capability_the_question_fails_the_task(app_url: str, wire: Wire) -> None:
    # No handler and no `sampling=True`: the capability is not declared, the tool cannot ask.
    async with TaskClient(app_url, wire=wire) as client:
        handle = await client.call_tool_as_task("summarize", {"text": "nobody answers"})
        with anyio.fail_after(LIMIT_S), pytest.raises(TaskFailedError) as raised:
            await handle.result()
    assert raised.value.code == -32021  # MissingRequiredClientCapability
