"""`input_required`: tools ask the client mid-task (`TaskContext.elicit`, `create_message`), on both wires.

Issue #3 "The wires" and "Tests"; protocol reference A1.10 and A1.12 (2025-11-25: the question is an
`elicitation/create` request carrying the related-task `_meta`, sent on the `tasks/result` stream or
the connection's own channel), A2.6, A2.7 and A2.15 (SEP-2663: `tasks/get` lists `inputRequests`,
`tasks/update` answers them), test cases D3 (21-22) and D9 (63-68).

2025-11-25 tests open their own sessions (or stdio processes); 2026-07-28 tests use their own task
ids, so all share the module's HTTP server. Tests of what goes over the wire (the question's
shape, the stream it rides, `inputRequests`, `tasks/update`) speak raw JSON-RPC; the others answer
questions through `mcptasks.client`, as a user would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp_types import (
    CallToolResult,
    CreateMessageRequestParams,
    CreateMessageResult,
    ElicitRequest,
    ElicitRequestParams,
    ElicitResult,
    TextContent,
)

from mcptasks.client import Question, QuestionUpdate, TaskCancelledError, TaskFailedError, Wire
from mcptasks.core.status import TaskStatus
from support.apps import CONFIRM_SCHEMA
from support.clients import (
    RELATED_TASK,
    TASKS_EXTENSION,
    LegacyFactory,
    LegacyHttpClient,
    ModernHttpClient,
    Reply,
    StdioClient,
)
from support.db import input_rows, task_events
from support.polling import get_task, sync_probe, until, wait_status, wait_terminal
from support.process import RUNNER, HttpServer, server_config
from support.task_clients import WIRES, stdio_params
from support.task_clients import task_client as task_client_of

from .conftest import TaskClientFactory

pytestmark = pytest.mark.slow

#: Client capabilities of a 2025-11-25 client that can be asked questions.
LEGACY_ASKABLE: dict[str, Any] = {"tasks": {}, "elicitation": {"form": {}}, "sampling": {}}
#: Client capabilities of a 2026-07-28 client that declares the tasks extension and elicitation.
MODERN_ASKABLE: dict[str, Any] = {"extensions": {TASKS_EXTENSION: {}}, "elicitation": {}}
#: The history of a task that asked once, was answered and completed.
ANSWERED_HISTORY = [
    (None, "working"),
    ("working", "input_required"),
    ("input_required", "working"),
    ("working", "completed"),
]
NOT_FOUND = {"code": -32602, "message": "Task not found"}
#: How long a test waits for a question the server should send at once, in seconds.
QUESTION_WAIT_S = 5.0
#: The longest a test waits for a task's result, in seconds.
RESULT_LIMIT_S = 20
#: How often the task client polls, in ms (the server answers a poll at the task's next change).
POLL_MS = 50


# -- helpers ---------------------------------------------------------------------------------------


def history(db: Path | str, task_id: str) -> list[tuple[str | None, str]]:
    """The task's status changes `(from, to)`, oldest first."""
    return [(source, target) for source, target, _ in task_events(db, task_id)]


async def wait_answered(db: Path | str, task_id: str, key: str) -> dict[str, Any]:
    """Poll the database until the answer to `key` is stored; return its row."""

    async def probe() -> dict[str, Any] | None:
        return next((r for r in input_rows(db, task_id) if r["request_key"] == key), None)

    row: dict[str, Any] = await until(
        probe, lambda r: r is not None and r["answered_at"] is not None, what=f"{key} answered"
    )
    return row


def related(task_id: str) -> dict[str, Any]:
    return {RELATED_TASK: {"taskId": task_id}}


def elicit_answer(task_id: str, action: str, content: dict[str, Any] | None = None) -> dict[str, Any]:
    """An `ElicitResult` as a 2025-11-25 client sends it: with the related-task `_meta` (A1.10 4)."""
    result: dict[str, Any] = {"action": action, "_meta": related(task_id)}
    if content is not None:
        result["content"] = content
    return result


def text_of(result: dict[str, Any]) -> str:
    content = result["content"]
    assert len(content) == 1 and content[0]["type"] == "text", result
    text: str = content[0]["text"]
    return text


def text_of_result(result: CallToolResult) -> str:
    """The one text block of a tool result read with `mcptasks.client`."""
    [block] = result.content
    assert isinstance(block, TextContent), result
    return block.text


def assert_question(request: dict[str, Any], task_id: str, message: str) -> None:
    """An `elicitation/create` request of the test tools, tied to `task_id`."""
    assert request["method"] == "elicitation/create"
    assert "id" in request
    params = request["params"]
    assert params["mode"] == "form"
    assert params["message"] == message
    assert params["requestedSchema"] == CONFIRM_SCHEMA
    assert params["_meta"][RELATED_TASK] == {"taskId": task_id}


class Declaring:
    """A 2026-07-28 client whose every request declares `capabilities` (the extension and more)."""

    def __init__(self, client: ModernHttpClient, capabilities: dict[str, Any]) -> None:
        self.client = client
        self.capabilities = capabilities

    async def request(self, method: str, params: dict[str, Any] | None = None, **kw: Any) -> Reply:
        kw.setdefault("capabilities", self.capabilities)
        return await self.client.request(method, params, **kw)

    async def call(self, method: str, params: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        return (await self.request(method, params, **kw)).unwrap()

    async def start(self, name: str, arguments: dict[str, Any]) -> str:
        """`tools/call` as a task; returns the task id."""
        created = await self.call("tools/call", {"name": name, "arguments": arguments})
        assert created["resultType"] == "task", created
        task_id: str = created["taskId"]
        return task_id


async def legacy_start(client: LegacyHttpClient | StdioClient, name: str, arguments: dict[str, Any]) -> str:
    created = await client.call("tools/call", {"name": name, "arguments": arguments, "task": {}})
    task_id: str = created["task"]["taskId"]
    return task_id


def status_sequence(notes: list[dict[str, Any]], task_id: str) -> list[str]:
    return [
        n["params"]["status"]
        for n in notes
        if n.get("method") == "notifications/tasks/status" and n["params"].get("taskId") == task_id
    ]


@pytest.fixture
async def asking(http_server: HttpServer) -> AsyncIterator[Declaring]:
    """A 2026-07-28 client declaring the tasks extension and `elicitation` on every request."""
    client = ModernHttpClient(http_server.base_url)
    try:
        yield Declaring(client, MODERN_ASKABLE)
    finally:
        await client.aclose()


StdioFactory = Callable[..., Awaitable[StdioClient]]


@pytest.fixture
async def stdio_server(server_db: Path | str, tmp_path: Path) -> AsyncIterator[StdioFactory]:
    """Start stdio server processes on the test's database (`server_db`), initialized with
    `LEGACY_ASKABLE`."""
    clients: list[StdioClient] = []

    async def start() -> StdioClient:
        log = tmp_path / f"stdio-{len(clients)}.log"
        client = await StdioClient.start(RUNNER, server_config(server_db), log)
        clients.append(client)
        client.auto_answer = False
        await client.initialize(capabilities=LEGACY_ASKABLE)
        return client

    try:
        yield start
    finally:
        for client in clients:
            await client.aclose()


# -- 2025-11-25 over stateful HTTP ------------------------------------------------------------------


async def test_2025_question_rides_the_tasks_result_stream_and_its_answer_completes_the_task(
    http_server: HttpServer,
) -> None:
    """D3 21: poll until input_required, call tasks/result, answer the question on its stream."""
    client = LegacyHttpClient(http_server.base_url)
    try:
        await client.open(capabilities=LEGACY_ASKABLE)
        task_id = await legacy_start(client, "elicit_once", {"filename": "report.txt"})
        parked = await wait_status(client, task_id, "input_required")
        assert RELATED_TASK not in (parked.get("_meta") or {})

        questions: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        async def on_message(message: dict[str, Any]) -> None:
            await questions.put(message)

        pending = asyncio.create_task(
            client.request("tasks/result", {"taskId": task_id}, on_message=on_message)
        )
        try:
            question = await asyncio.wait_for(questions.get(), QUESTION_WAIT_S)
        except TimeoutError:
            pending.cancel()
            raise AssertionError(
                f"no elicitation/create on the tasks/result stream within {QUESTION_WAIT_S}s of opening "
                "it on an input_required task (this session has no GET stream)"
            ) from None
        assert_question(question, task_id, "Delete report.txt?")
        assert not pending.done()
        assert (
            await client.respond(question["id"], elicit_answer(task_id, "accept", {"confirm": True})) == 202
        )

        reply = await asyncio.wait_for(pending, 10)
        result = reply.result
        assert text_of(result) == 'attempt 1: accept {"confirm": true}'
        assert result["_meta"][RELATED_TASK] == {"taskId": task_id}
        assert (await get_task(client, task_id))["status"] == "completed"
    finally:
        await client.aclose()

    # The question and its answer are rows; the history shows the round trip.
    (row,) = input_rows(http_server.db, task_id)
    assert row["request_key"] == "input-1"
    assert row["method"] == "elicitation/create"
    assert row["params"] == {
        "mode": "form",
        "message": "Delete report.txt?",
        "requestedSchema": CONFIRM_SCHEMA,
    }
    assert row["response"]["action"] == "accept"
    assert row["response"]["content"] == {"confirm": True}
    assert row["answered_at"] is not None and row["answered_at"] >= row["created_at"]
    assert history(http_server.db, task_id) == ANSWERED_HISTORY


async def test_2025_question_and_status_changes_arrive_on_the_get_stream(
    http_server: HttpServer,
) -> None:
    """D3 22: with a standalone GET stream open and no tasks/result, the question comes there, and
    `notifications/tasks/status` reports input_required and the return to working."""
    client = LegacyHttpClient(http_server.base_url)
    try:
        await client.open(listen=True, capabilities=LEGACY_ASKABLE)
        task_id = await legacy_start(client, "elicit_once", {"filename": "draft.md"})
        question = await client.notifications.wait_for(
            "elicitation/create", lambda p: p.get("_meta", {}).get(RELATED_TASK) == {"taskId": task_id}
        )
        assert_question(question, task_id, "Delete draft.md?")
        parked = await client.notifications.wait_for(
            "notifications/tasks/status",
            lambda p: p.get("taskId") == task_id and p["status"] == "input_required",
        )
        # Status notifications carry the Task, without related-task _meta (A1.12).
        assert RELATED_TASK not in (parked["params"].get("_meta") or {})
        assert (await get_task(client, task_id))["status"] == "input_required"

        assert await client.respond(question["id"], elicit_answer(task_id, "decline")) == 202
        await client.notifications.wait_for(
            "notifications/tasks/status", lambda p: p.get("taskId") == task_id and p["status"] == "completed"
        )
        assert status_sequence(client.notifications.items, task_id) == [
            "input_required",
            "working",
            "completed",
        ]
        result = await client.call("tasks/result", {"taskId": task_id})
        assert text_of(result) == "attempt 1: decline null"
    finally:
        await client.aclose()
    (row,) = input_rows(http_server.db, task_id)
    assert row["response"]["action"] == "decline"
    assert history(http_server.db, task_id) == ANSWERED_HISTORY


async def test_2025_two_outstanding_questions_answered_one_at_a_time(
    http_server: HttpServer, task_client: TaskClientFactory
) -> None:
    async with task_client("2025-11-25", elicitation=True) as client:
        handle = await client.call_tool_as_task("elicit_two")
        assert handle.task_id is not None
        asked: dict[str, Question] = {}
        with anyio.fail_after(QUESTION_WAIT_S * 2):
            async for update in handle.updates(poll_ms=POLL_MS):
                if isinstance(update, QuestionUpdate):
                    assert update.answer is None and update.question.task_id == handle.task_id
                    request = update.question.request
                    assert isinstance(request, ElicitRequest)
                    asked[request.params.message] = update.question
                    if len(asked) == 2:
                        break
        assert set(asked) == {"First of two?", "Second of two?"}
        first, second = asked["First of two?"], asked["Second of two?"]
        assert first.key != second.key
        assert set(await handle.input_requests()) == {first.key, second.key}

        await handle.answer({first.key: ElicitResult(action="accept", content={"confirm": True})})
        await wait_answered(http_server.db, handle.task_id, "input-1")
        # One answer of two: the task still waits.
        assert (await handle.status()).status is TaskStatus.INPUT_REQUIRED
        assert [r["answered_at"] is None for r in input_rows(http_server.db, handle.task_id)] == [False, True]
        assert set(await handle.input_requests()) == {second.key}

        await handle.answer({second.key: ElicitResult(action="cancel")})
        with anyio.fail_after(RESULT_LIMIT_S):
            result = await handle.result(poll_ms=POLL_MS)
    assert text_of_result(result) == 'first=accept {"confirm": true}; second=cancel null'
    rows = input_rows(http_server.db, handle.task_id)
    assert [(r["request_key"], r["params"]["message"], r["response"]["action"]) for r in rows] == [
        ("input-1", "First of two?", "accept"),
        ("input-2", "Second of two?", "cancel"),
    ]
    # One trip through input_required: the task turned working only once both were answered.
    assert history(http_server.db, handle.task_id) == ANSWERED_HISTORY


async def test_2025_client_without_elicitation_capability_fails_the_task(
    task_client: TaskClientFactory,
) -> None:
    async with task_client("2025-11-25") as client:  # declares no elicitation
        handle = await client.call_tool_as_task("elicit_once", {"filename": "x"})
        with anyio.fail_after(RESULT_LIMIT_S), pytest.raises(TaskFailedError) as raised:
            await handle.result(poll_ms=POLL_MS)
    final = handle.last_snapshot
    assert final is not None and final.status is TaskStatus.FAILED
    assert final.status_message is not None and "elicitation" in final.status_message
    assert raised.value.code == -32021
    assert "elicitation" in raised.value.error_message
    assert raised.value.data == {"requiredCapabilities": {"elicitation": {}}}


async def test_2025_another_session_cannot_see_or_answer_the_question(
    http_server: HttpServer, legacy_session: LegacyFactory
) -> None:
    owner = LegacyHttpClient(http_server.base_url)
    intruder = await legacy_session()
    try:
        await owner.open(listen=True, capabilities=LEGACY_ASKABLE)
        task_id = await legacy_start(owner, "elicit_once", {"filename": "secret.txt"})
        question = await owner.notifications.wait_for(
            "elicitation/create", lambda p: p.get("_meta", {}).get(RELATED_TASK) == {"taskId": task_id}
        )

        # Another session: the task does not exist for it, exactly like an unknown id.
        unknown = "00000000-0000-4000-8000-000000000000"
        for method in ("tasks/get", "tasks/result", "tasks/cancel"):
            foreign = await intruder.request(method, {"taskId": task_id})
            missing = await intruder.request(method, {"taskId": unknown})
            assert foreign.error == missing.error == NOT_FOUND, method

        # Its "answer" to the owner's request id goes to its own session, which asked nothing.
        await intruder.respond(question["id"], elicit_answer(task_id, "accept", {"confirm": False}))
        await intruder.call("ping", {})
        assert input_rows(http_server.db, task_id)[0]["response"] is None
        assert (await get_task(owner, task_id))["status"] == "input_required"

        await owner.respond(question["id"], elicit_answer(task_id, "accept", {"confirm": True}))
        result = await owner.call("tasks/result", {"taskId": task_id})
        assert text_of(result) == 'attempt 1: accept {"confirm": true}'
    finally:
        await owner.aclose()
    assert input_rows(http_server.db, task_id)[0]["response"]["content"] == {"confirm": True}


async def test_2025_session_has_no_tasks_update(legacy_session: LegacyFactory) -> None:
    client = await legacy_session()
    reply = await client.request("tasks/update", {"taskId": "x", "inputResponses": {}})
    assert reply.error["code"] == -32601


@pytest.mark.parametrize("wire", WIRES)
async def test_cancel_while_input_required_stops_the_tool(
    http_server: HttpServer, task_client: TaskClientFactory, tmp_path: Path, wire: Wire
) -> None:
    marker = tmp_path / "notes"
    async with task_client(wire, elicitation=True) as client:
        handle = await client.call_tool_as_task("elicit_once", {"filename": "f", "marker": str(marker)})
        assert handle.task_id is not None
        # The question: pushed to this client (2025-11-25) or listed by tasks/get (2026-07-28).
        waiting = await until(handle.input_requests, lambda found: len(found) == 1, what="the question")
        [key] = waiting
        assert (await handle.status()).status is TaskStatus.INPUT_REQUIRED
        cancelled = await handle.cancel()
        if wire == "2025-11-25":
            assert cancelled.status is TaskStatus.CANCELLED  # the answer is the cancelled task
        assert (await handle.status()).status is TaskStatus.CANCELLED
        await until(
            sync_probe(marker.read_text),
            lambda text: "stopped waiting" in text,
            what="the tool stopped",
        )
        with pytest.raises(TaskCancelledError):
            await handle.result()
        # A late answer is ignored: the task stays cancelled.
        await handle.answer({key: ElicitResult(action="decline")})
        assert (await handle.status()).status is TaskStatus.CANCELLED
    assert marker.read_text().splitlines() == [
        "attempt 1 asks first",
        "attempt 1 stopped waiting for first: TaskCancelled",
    ]
    assert history(http_server.db, handle.task_id)[-1] == ("input_required", "cancelled")
    assert input_rows(http_server.db, handle.task_id)[0]["response"] is None


# -- 2025-11-25 over stdio --------------------------------------------------------------------------


async def test_2025_stdio_question_and_status_changes_go_through_the_pipe(
    stdio_server: StdioFactory, server_db: Path | str
) -> None:
    client = await stdio_server()
    task_id = await legacy_start(client, "elicit_once", {"filename": "pipe.log"})
    question = await client.server_requests.wait_for("elicitation/create")
    assert_question(question, task_id, "Delete pipe.log?")
    await client.notifications.wait_for(
        "notifications/tasks/status", lambda p: p.get("taskId") == task_id and p["status"] == "input_required"
    )
    assert (await client.call("tasks/get", {"taskId": task_id}))["status"] == "input_required"

    await client.respond(question["id"], elicit_answer(task_id, "accept", {"confirm": False}))
    result = await client.call("tasks/result", {"taskId": task_id})
    assert text_of(result) == 'attempt 1: accept {"confirm": false}'
    assert result["_meta"][RELATED_TASK] == {"taskId": task_id}
    await client.notifications.wait_for(
        "notifications/tasks/status", lambda p: p.get("taskId") == task_id and p["status"] == "completed"
    )
    assert status_sequence(client.notifications.items, task_id) == ["input_required", "working", "completed"]
    assert history(server_db, task_id) == ANSWERED_HISTORY


async def test_2025_stdio_sampling_question_answered_with_a_create_message_result(
    server_db: Path | str,
) -> None:
    asked: list[tuple[str | None, CreateMessageRequestParams]] = []

    async def on_sampling(task_id: str | None, params: CreateMessageRequestParams) -> CreateMessageResult:
        asked.append((task_id, params))
        content = TextContent(type="text", text="hi there")
        return CreateMessageResult(
            role="assistant", content=content, model="test-model-1", stop_reason="endTurn"
        )

    server = stdio_params(server_config(server_db))
    async with task_client_of(server, "2025-11-25", on_sampling=on_sampling) as client:
        handle = await client.call_tool_as_task("sample_once", {"prompt": "Say hi"})
        with anyio.fail_after(RESULT_LIMIT_S):
            result = await handle.result(poll_ms=POLL_MS)
    assert text_of_result(result) == "test-model-1: hi there"
    [(task_id, params)] = asked
    assert task_id == handle.task_id  # the request's related-task _meta
    assert [message.model_dump(mode="json", exclude_none=True) for message in params.messages] == [
        {"role": "user", "content": {"type": "text", "text": "Say hi"}}
    ]
    assert params.max_tokens == 64
    assert params.system_prompt == "Be brief."
    assert handle.task_id is not None
    (row,) = input_rows(server_db, handle.task_id)
    assert row["method"] == "sampling/createMessage"
    assert row["response"]["model"] == "test-model-1"
    assert row["answered_at"] is not None


# -- 2026-07-28 (SEP-2663): tasks/get lists the questions, tasks/update answers ---------------------


async def test_2026_single_question_listed_by_get_and_answered_by_update(
    asking: Declaring, http_server: HttpServer
) -> None:
    """D9 63-64 and the A2.15 flow."""
    task_id = await asking.start("elicit_once", {"filename": "report.txt"})
    parked = await wait_status(asking, task_id, "input_required")
    expected = {
        "input-1": {
            "method": "elicitation/create",
            "params": {"mode": "form", "message": "Delete report.txt?", "requestedSchema": CONFIRM_SCHEMA},
        }
    }
    assert parked["resultType"] == "complete"
    assert parked["inputRequests"] == expected
    # A second poll before the answer: the same snapshot, same key.
    assert (await get_task(asking, task_id))["inputRequests"] == expected

    ack = await asking.call(
        "tasks/update",
        {
            "taskId": task_id,
            "inputResponses": {"input-1": {"action": "accept", "content": {"confirm": True}}},
        },
    )
    assert {k: v for k, v in ack.items() if k != "_meta"} == {"resultType": "complete"}
    # Stored before the ack.
    assert input_rows(http_server.db, task_id)[0]["answered_at"] is not None

    done = await wait_terminal(asking, task_id)
    assert done["status"] == "completed"
    assert "inputRequests" not in done
    assert text_of(done["result"]) == 'attempt 1: accept {"confirm": true}'

    (row,) = input_rows(http_server.db, task_id)
    assert row["request_key"] == "input-1"
    assert row["response"] == {"action": "accept", "content": {"confirm": True}}
    assert row["answered_at"] >= row["created_at"]
    assert history(http_server.db, task_id) == ANSWERED_HISTORY


async def test_2026_two_questions_partial_update_keeps_the_rest_outstanding(
    asking: Declaring, http_server: HttpServer
) -> None:
    """D9 65-66: answer one of two (plus a key never issued); the other stays listed."""
    task_id = await asking.start("elicit_two", {})
    both = await until(
        lambda: get_task(asking, task_id),
        lambda t: t["status"] == "input_required" and len(t.get("inputRequests", {})) == 2,
        what="two outstanding questions",
    )
    requests = both["inputRequests"]
    assert {k: v["params"]["message"] for k, v in requests.items()} == {
        "input-1": "First of two?",
        "input-2": "Second of two?",
    }

    ack = await asking.call(
        "tasks/update",
        {
            "taskId": task_id,
            "inputResponses": {
                "input-1": {"action": "accept", "content": {"confirm": True}},
                "never-issued": {"action": "accept", "content": {"confirm": False}},
            },
        },
    )
    assert ack["resultType"] == "complete"
    partial = await get_task(asking, task_id)
    assert partial["status"] == "input_required"
    assert partial["inputRequests"] == {"input-2": requests["input-2"]}

    # A second answer to an answered key is ignored: the first one stands.
    await asking.call(
        "tasks/update", {"taskId": task_id, "inputResponses": {"input-1": {"action": "decline"}}}
    )
    assert (await get_task(asking, task_id))["inputRequests"] == {"input-2": requests["input-2"]}

    await asking.call(
        "tasks/update", {"taskId": task_id, "inputResponses": {"input-2": {"action": "decline"}}}
    )
    done = await wait_terminal(asking, task_id)
    assert text_of(done["result"]) == 'first=accept {"confirm": true}; second=decline null'
    keys = [r["request_key"] for r in input_rows(http_server.db, task_id)]
    assert sorted(keys) == ["input-1", "input-2"]  # nothing stored for "never-issued"
    assert history(http_server.db, task_id) == ANSWERED_HISTORY


@pytest.mark.parametrize("action", ["decline", "cancel"])
async def test_2026_decline_and_cancel_reach_the_tool(task_client: TaskClientFactory, action: str) -> None:
    async def on_elicitation(task_id: str | None, params: ElicitRequestParams) -> ElicitResult:
        return ElicitResult(action=action)  # type: ignore[arg-type]

    async with task_client("2026-07-28", on_elicitation=on_elicitation) as client:
        handle = await client.call_tool_as_task("elicit_once", {"filename": "kept.txt"})
        with anyio.fail_after(RESULT_LIMIT_S):
            result = await handle.result(poll_ms=POLL_MS)
    assert handle.last_snapshot is not None and handle.last_snapshot.status is TaskStatus.COMPLETED
    assert text_of_result(result) == f"attempt 1: {action} null"


async def test_2026_client_without_elicitation_capability_fails_the_task(
    asking: Declaring, http_server: HttpServer
) -> None:
    """D9 68: no `elicitation/create` is ever listed; the task fails with -32021 naming it."""
    bare = Declaring(asking.client, {"extensions": {TASKS_EXTENSION: {}}})
    task_id = await bare.start("elicit_once", {"filename": "x"})
    failed = await wait_terminal(bare, task_id)
    assert failed["status"] == "failed"
    assert "inputRequests" not in failed
    assert "elicitation" in failed["statusMessage"]
    assert failed["error"]["code"] == -32021
    assert failed["error"]["data"] == {"requiredCapabilities": {"elicitation": {}}}
    assert input_rows(http_server.db, task_id) == []
    assert history(http_server.db, task_id) == [(None, "working"), ("working", "failed")]


async def test_2026_update_with_a_non_object_answer_names_the_key(asking: Declaring) -> None:
    task_id = await asking.start("elicit_once", {"filename": "x"})
    await wait_status(asking, task_id, "input_required")
    reply = await asking.request("tasks/update", {"taskId": task_id, "inputResponses": {"input-1": "yes"}})
    assert reply.error["code"] == -32602
    assert "inputResponses.input-1" in reply.error["message"]
    # Nothing was stored: the question is still outstanding.
    still = await get_task(asking, task_id)
    assert still["status"] == "input_required" and set(still["inputRequests"]) == {"input-1"}
    await asking.call("tasks/cancel", {"taskId": task_id})


async def test_2026_update_of_an_unknown_task_is_not_found(asking: Declaring) -> None:
    reply = await asking.request(
        "tasks/update",
        {
            "taskId": "00000000-0000-4000-8000-000000000000",
            "inputResponses": {"input-1": {"action": "cancel"}},
        },
    )
    assert reply.error == NOT_FOUND
