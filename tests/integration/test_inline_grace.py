"""`inline_grace_ms`: a call from a client that declared the tasks extension runs inline first.

A call that finishes within the grace answers the plain `CallToolResult` and stores no task; one
that does not (or asks a question) goes on as a task, the running tool adopted, not started again.
Through a real server process over Streamable HTTP, on both engines.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from support.clients import ModernHttpClient
from support.db import query
from support.polling import until, wait_status
from support.process import HttpServer


def _tasks_of(db: Path | str, marker: Path) -> int:
    """How many tasks the database holds for the calls that used `marker` (a unique path)."""
    rows = query(
        db,
        "SELECT count(*) AS n FROM tasks WHERE CAST(arguments AS TEXT) LIKE ?",
        f"%{marker.name}%",
    )
    return int(rows[0]["n"])


async def test_a_quick_call_answers_plainly_and_stores_nothing(
    http_server: HttpServer, modern: ModernHttpClient, tmp_path: Path
) -> None:
    gate, marker = tmp_path / "gate-open", tmp_path / "quick-call.log"
    gate.write_text("open")
    result = await modern.call(
        "tools/call", {"name": "graced", "arguments": {"gate": str(gate), "marker": str(marker)}}
    )
    assert result["resultType"] == "complete"
    assert result["content"] == [{"type": "text", "text": "gate open (inline)"}]
    assert "taskId" not in result
    assert marker.read_text().splitlines() == ["start inline", "end inline"]
    assert _tasks_of(http_server.db, marker) == 0


async def test_a_slow_call_goes_on_as_a_task_and_runs_once(
    http_server: HttpServer, modern: ModernHttpClient, tmp_path: Path
) -> None:
    gate, marker = tmp_path / "gate-later", tmp_path / "slow-call.log"
    created = await modern.call(
        "tools/call", {"name": "graced", "arguments": {"gate": str(gate), "marker": str(marker)}}
    )
    assert created["resultType"] == "task"
    task_id = created["taskId"]
    assert _tasks_of(http_server.db, marker) == 1
    working = await modern.call("tasks/get", {"taskId": task_id})
    assert working["status"] == "working"
    # Set during the grace, stored when the task was created.
    assert working["statusMessage"] == "waiting for the gate"

    gate.write_text("open")
    done = await wait_status(modern, task_id, "completed")
    assert done["result"]["content"] == [{"type": "text", "text": "gate open (a task)"}]
    # Started once, inline; ended as the task.
    assert marker.read_text().splitlines() == ["start inline", f"end {task_id}"]


async def test_a_question_within_the_grace_makes_it_a_task_awaiting_input(
    http_server: HttpServer, modern: ModernHttpClient, tmp_path: Path
) -> None:
    marker = tmp_path / "asks.log"
    caps = {"elicitation": {}, "extensions": {"io.modelcontextprotocol/tasks": {}}}
    created = await modern.call(
        "tools/call", {"name": "graced_asks", "arguments": {"marker": str(marker)}}, capabilities=caps
    )
    assert created["resultType"] == "task"
    task_id = created["taskId"]
    waiting = await wait_status(modern, task_id, "input_required")
    [(key, request)] = waiting["inputRequests"].items()
    assert key == "input-1" and request["params"]["message"] == "Go on?"
    await modern.call(
        "tasks/update",
        {"taskId": task_id, "inputResponses": {key: {"action": "accept", "content": {"confirm": True}}}},
    )
    done = await wait_status(modern, task_id, "completed")
    assert done["result"]["content"] == [{"type": "text", "text": 'a task: accept {"confirm": true}'}]
    assert marker.read_text().splitlines() == [
        "attempt 0 asks first",
        'attempt 1 got first: accept {"confirm": true}',
    ]


async def test_cancelling_the_task_reaches_the_tool_it_adopted(
    http_server: HttpServer, modern: ModernHttpClient, tmp_path: Path
) -> None:
    gate, marker = tmp_path / "gate-never", tmp_path / "cancelled-call.log"
    created = await modern.call(
        "tools/call", {"name": "graced", "arguments": {"gate": str(gate), "marker": str(marker)}}
    )
    task_id = created["taskId"]
    await modern.call("tasks/cancel", {"taskId": task_id})
    await wait_status(modern, task_id, "cancelled")
    log = await until(
        lambda: _log_of(marker),
        lambda text: "cancelled" in text,
        within_s=20.0,
        what="the tool saw the cancel",
    )
    assert log.splitlines() == ["start inline", f"cancelled {task_id}"]


async def _log_of(marker: Path) -> str:
    return await asyncio.to_thread(lambda: marker.read_text() if marker.exists() else "")
