"""The operator views of migration 0005 (`v_tasks`, `v_pending_inputs`, `v_task_history`) on a real
store holding tasks in every status, on SQLite and PostgreSQL: same columns, same rows."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from mcptasks.core.model import Completed, TaskRecord, utcnow
from mcptasks.core.owner import Owner
from mcptasks.core.status import TaskStatus
from mcptasks.store.engine import Engines, create_engines
from mcptasks.store.store import Store

TaskFactory = Callable[..., Awaitable[TaskRecord]]
OwnerFactory = Callable[..., Owner]
NODE = "views-node:1:abcdef"
QUESTION = {"message": "Deploy to production?", "requestedSchema": {"type": "object", "properties": {}}}

V_TASKS_COLUMNS = [
    "task_id",
    "owner_kind",
    "owner_key",
    "owner_issuer",
    "owner_subject",
    "owner_client_id",
    "wire",
    "tool_name",
    "status",
    "status_message",
    "created_at",
    "last_updated_at",
    "finished_at",
    "duration_ms",
    "expires_at",
    "attempt",
    "lease_node",
    "error_code",
    "error_message",
    "result_is_error",
    "result_text",
]
V_PENDING_INPUTS_COLUMNS = [
    "task_id",
    "request_key",
    "method",
    "question",
    "asked_at",
    "age_ms",
    "status",
    "tool_name",
    "owner_kind",
    "owner_key",
    "owner_issuer",
    "owner_subject",
    "owner_client_id",
]
V_TASK_HISTORY_COLUMNS = [
    "task_id",
    "step",
    "event_id",
    "at",
    "ms_since_created",
    "from_status",
    "to_status",
    "message",
    "attempt",
    "node",
    "tool_name",
    "wire",
    "owner_kind",
    "owner_key",
    "owner_issuer",
    "owner_subject",
    "owner_client_id",
]


@pytest.fixture
async def operator_sql(db_url: URL) -> AsyncIterator[Engines]:
    """Engines of their own on the test's database, as an operator's SQL client would connect."""
    engines = create_engines(db_url)
    try:
        yield engines
    finally:
        await engines.dispose()


async def _select(engines: Engines, sql: str, **params: Any) -> tuple[list[str], list[dict[str, Any]]]:
    async with engines.reader.connect() as conn:
        result = await conn.execute(text(sql), params)
        columns = list(result.keys())
        return columns, [dict(row._mapping) for row in result]


async def _ask(store: Store, task: TaskRecord, key: str = "1") -> None:
    asked = await store.request_input(
        task.task_id, task.attempt, NODE, key, "elicitation/create", QUESTION, utcnow()
    )
    assert asked is not None


async def test_views_answer_the_operator_questions(
    store: Store,
    task_factory: TaskFactory,
    owner_factory: OwnerFactory,
    operator_sql: Engines,
) -> None:
    alice = owner_factory("principal", subject="alice", client_id="client-a")
    bob = owner_factory("session")
    done = await task_factory(owner=alice, status=TaskStatus.COMPLETED, tool_name="report", node=NODE)
    failed = await task_factory(owner=bob, status=TaskStatus.FAILED, tool_name="flaky", node=NODE)
    cancelled = await task_factory(owner=bob, status=TaskStatus.CANCELLED, tool_name="slow", node=NODE)
    running = await task_factory(owner=alice, tool_name="slow", node=NODE)
    waiting = await task_factory(owner=alice, tool_name="deploy", node=NODE)
    await _ask(store, waiting)
    # A question that was answered, after which the tool completed: four history steps, no pending row.
    answered = await task_factory(owner=bob, tool_name="deploy", node=NODE)
    await _ask(store, answered)
    reply = await store.answer_inputs(bob, answered.task_id, {"1": {"action": "accept"}}, utcnow())
    assert reply is not None and reply.answered
    finished = Completed({"content": [{"type": "text", "text": "deployed"}]})
    assert await store.finish_task(answered.task_id, answered.attempt, NODE, finished, utcnow())

    columns, rows = await _select(operator_sql, "SELECT * FROM v_tasks ORDER BY created_at, task_id")
    assert columns == V_TASKS_COLUMNS
    by_id = {row["task_id"]: row for row in rows}
    expected_status = {
        done.task_id: "completed",
        failed.task_id: "failed",
        cancelled.task_id: "cancelled",
        running.task_id: "working",
        waiting.task_id: "input_required",
        answered.task_id: "completed",
    }
    assert {task_id: row["status"] for task_id, row in by_id.items()} == expected_status
    for row in rows:
        assert isinstance(row["duration_ms"], int) and row["duration_ms"] >= 0, row
        terminal = row["status"] in ("completed", "failed", "cancelled")
        assert (row["finished_at"] is not None) is terminal, row
    assert by_id[done.task_id]["owner_kind"] == "principal"
    assert by_id[done.task_id]["owner_subject"] == "alice"
    assert by_id[done.task_id]["owner_client_id"] == "client-a"
    assert by_id[done.task_id]["owner_issuer"] == "https://issuer.example"
    assert by_id[done.task_id]["result_text"] == "done"
    assert by_id[done.task_id]["result_is_error"] in (False, 0)
    assert by_id[done.task_id]["error_code"] is None
    assert by_id[answered.task_id]["result_text"] == "deployed"
    assert by_id[failed.task_id]["owner_kind"] == "session"
    assert by_id[failed.task_id]["owner_subject"] is None
    assert by_id[failed.task_id]["error_code"] == -32603
    assert by_id[failed.task_id]["error_message"] == "Tool execution failed"
    assert by_id[failed.task_id]["result_text"] is None
    for active in (running, waiting):
        row = by_id[active.task_id]
        assert row["error_code"] is None and row["result_is_error"] is None and row["result_text"] is None

    # "Who waits on whom, since when?"
    columns, pending = await _select(operator_sql, "SELECT * FROM v_pending_inputs")
    assert columns == V_PENDING_INPUTS_COLUMNS
    assert len(pending) == 1
    question = pending[0]
    assert question["task_id"] == waiting.task_id
    assert question["request_key"] == "1"
    assert question["method"] == "elicitation/create"
    assert question["question"] == "Deploy to production?"
    assert question["status"] == "input_required"
    assert question["tool_name"] == "deploy"
    assert (question["owner_kind"], question["owner_subject"]) == ("principal", "alice")
    assert isinstance(question["age_ms"], int) and question["age_ms"] >= 0

    # "What happened to this task, step by step?"
    columns, history = await _select(
        operator_sql, "SELECT * FROM v_task_history WHERE task_id = :id ORDER BY step", id=answered.task_id
    )
    assert columns == V_TASK_HISTORY_COLUMNS
    assert [(row["step"], row["from_status"], row["to_status"]) for row in history] == [
        (1, None, "working"),
        (2, "working", "input_required"),
        (3, "input_required", "working"),
        (4, "working", "completed"),
    ]
    assert [row["event_id"] for row in history] == sorted(row["event_id"] for row in history)
    assert {(row["tool_name"], row["owner_kind"], row["owner_key"]) for row in history} == {
        ("deploy", "session", by_id[answered.task_id]["owner_key"])
    }
    since = [row["ms_since_created"] for row in history]
    assert all(isinstance(ms, int) for ms in since) and since == sorted(since) and since[0] >= 0
    _, all_history = await _select(operator_sql, "SELECT task_id, step FROM v_task_history")
    assert {row["task_id"] for row in all_history} == set(expected_status)
    for task_id in expected_status:
        steps = sorted(row["step"] for row in all_history if row["task_id"] == task_id)
        assert steps == list(range(1, len(steps) + 1))
