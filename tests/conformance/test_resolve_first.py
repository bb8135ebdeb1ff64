"""`Resolve(...)` parameters on mcptasks tools: ask before the task starts (tasks-mrtr-composition).

A tool's resolvers run inside its `tools/call`, with the SDK's `Context`, after the argument
check and before any task exists. On 2026-07-28 a question is a multi-round-trip
`InputRequiredResult`; the task is created by the retry that answers it, and its body receives the
answer. In-process over ASGI: no subprocess, no Node.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
import pytest
from mcp.server.mcpserver.resolve import Elicit, Resolve
from pydantic import BaseModel

from conformance.wire import TASK_CAPS, Answer, apost
from mcptasks import TaskContext, TaskServer
from mcptasks.testing import open_for_tests

Post = Callable[..., Awaitable[Answer]]


class Person(BaseModel):
    name: str


def ask_name() -> Elicit[Person]:
    return Elicit("Who should be greeted?", Person)


def build_server() -> TaskServer:
    server = TaskServer("resolve-first")

    @server.tool(task_support="optional")
    async def greet_later(
        person: Annotated[Person, Resolve(ask_name)], punctuation: str, task: TaskContext
    ) -> str:
        """Greet the person the client names first."""
        where = "a task" if task.task_id else "inline"
        return f"Hello, {person.name}{punctuation} ({where})"

    @server.tool(task_support="optional")
    async def greet_and_ask(person: Annotated[Person, Resolve(ask_name)], task: TaskContext) -> str:
        """Greet the person the client names first, then ask how they are."""
        answer = await task.elicit(f"How are you, {person.name}?", MOOD_SCHEMA)
        return f"{person.name} is {(answer.content or {}).get('mood')}"

    return server


MOOD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"mood": {"type": "string"}},
    "required": ["mood"],
}


@asynccontextmanager
async def serving(server: TaskServer) -> AsyncIterator[Post]:
    """`server` opened on an in-memory database, its HTTP app driven in-process."""
    async with open_for_tests(server):
        app = server.streamable_http_app()
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:

                async def send(**kwargs: Any) -> httpx.Response:
                    return await http.post("/mcp", **kwargs)

                async def post(method: str, params: dict[str, Any] | None = None, **options: Any) -> Answer:
                    return await apost(send, method, params, **options)

                yield post


def _call(arguments: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": "greet_later", "arguments": arguments, **extra}


async def _tasks(server: TaskServer) -> int:
    return len(await server.store.admin_list_tasks())


async def test_the_task_is_created_by_the_retry_that_answers() -> None:
    server = build_server()
    async with serving(server) as post:
        first = (await post("tools/call", _call({"punctuation": "!"}), caps=TASK_CAPS)).result
        assert first["resultType"] == "input_required"
        [(key, request)] = first["inputRequests"].items()
        assert request["method"] == "elicitation/create"
        assert request["params"]["message"] == "Who should be greeted?"
        assert await _tasks(server) == 0  # nothing started before the answer

        answer = {key: {"action": "accept", "content": {"name": "Alice"}}}
        retry = _call({"punctuation": "!"}, inputResponses=answer, requestState=first.get("requestState"))
        created = (await post("tools/call", retry, caps=TASK_CAPS)).result
        assert created["resultType"] == "task"
        assert "requestState" not in created and "inputRequests" not in created

        done = await _terminal(post, created["taskId"])
        assert done["status"] == "completed"
        assert done["result"]["content"][0]["text"] == "Hello, Alice! (a task)"
        assert await _tasks(server) == 1


async def test_a_declined_question_answers_an_error_and_creates_no_task() -> None:
    server = build_server()
    async with serving(server) as post:
        first = (await post("tools/call", _call({"punctuation": "!"}), caps=TASK_CAPS)).result
        [key] = first["inputRequests"]
        retry = _call(
            {"punctuation": "!"},
            inputResponses={key: {"action": "decline"}},
            requestState=first["requestState"],
        )
        result = (await post("tools/call", retry, caps=TASK_CAPS)).result
        assert result["resultType"] == "complete"
        assert result["isError"] is True
        assert "decline" in result["content"][0]["text"]
        assert await _tasks(server) == 0


async def test_bad_arguments_are_refused_before_any_question() -> None:
    server = build_server()
    async with serving(server) as post:
        answer = await post("tools/call", _call({"punctuation": 3}), caps=TASK_CAPS)
        assert answer.error["code"] == -32602
        assert "arguments.punctuation" in answer.error["message"]


async def test_a_client_that_cannot_answer_gets_32021() -> None:
    server = build_server()
    async with serving(server) as post:
        caps = {"extensions": TASK_CAPS["extensions"]}  # no elicitation
        answer = await post("tools/call", _call({"punctuation": "!"}), caps=caps)
        assert answer.status == 400
        assert answer.error["code"] == -32021
        assert "elicitation" in answer.error["data"]["requiredCapabilities"]


async def test_without_the_extension_the_answer_is_inline() -> None:
    server = build_server()
    async with serving(server) as post:
        first = (await post("tools/call", _call({"punctuation": "?"}))).result
        assert first["resultType"] == "input_required"
        [key] = first["inputRequests"]
        answer = {key: {"action": "accept", "content": {"name": "Bob"}}}
        retry = _call({"punctuation": "?"}, inputResponses=answer, requestState=first["requestState"])
        result = (await post("tools/call", retry)).result
        assert result["resultType"] == "complete"
        assert result["content"][0]["text"] == "Hello, Bob? (inline)"
        assert await _tasks(server) == 0


@pytest.mark.parametrize("resumed", [True, False], ids=["resumed", "run-again"])
async def test_resolver_then_body_question_inline(resumed: bool) -> None:
    server = build_server()
    async with serving(server) as post:
        call = {"name": "greet_and_ask", "arguments": {}}
        first = (await post("tools/call", call)).result
        [resolver_key] = first["inputRequests"]
        named = {resolver_key: {"action": "accept", "content": {"name": "Ann"}}}
        second = (await post("tools/call", {**call, "inputResponses": named, **_state(first)})).result
        assert second["resultType"] == "input_required"
        assert list(second["inputRequests"]) == ["input-1"]
        assert second["inputRequests"]["input-1"]["params"]["message"] == "How are you, Ann?"
        if not resumed:
            server._state.rounds.close()  # as if the retry reached another replica
        assert server.state_sizes()["inline_calls_waiting"] == (1 if resumed else 0)
        mood = {"input-1": {"action": "accept", "content": {"mood": "well"}}}
        done = (await post("tools/call", {**call, "inputResponses": mood, **_state(second)})).result
        assert done["resultType"] == "complete"
        assert done["content"][0]["text"] == "Ann is well"
        assert server.state_sizes()["inline_calls_waiting"] == 0
        assert await _tasks(server) == 0


def _state(result: dict[str, Any]) -> dict[str, Any]:
    return {"requestState": result["requestState"]}


def test_resolvers_cannot_be_replayed_by_a_rerun() -> None:
    server = TaskServer("resolve-rerun")

    async def body(person: Annotated[Person, Resolve(ask_name)]) -> str:
        return person.name

    with pytest.raises(ValueError, match="rerun"):
        server.tool(on_restart="rerun")(body)


async def _terminal(post: Post, task_id: str) -> dict[str, Any]:
    for _ in range(200):
        task = (await post("tasks/get", {"taskId": task_id}, caps=TASK_CAPS)).result
        if task["status"] in ("completed", "failed", "cancelled"):
            return task
        await asyncio.sleep(0.02)
    raise AssertionError(f"task {task_id} did not finish")
