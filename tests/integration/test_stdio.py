"""Tasks over stdio (newline-delimited JSON-RPC on a server subprocess's stdin/stdout).

A stdio server's tasks belong to the local user it runs as (`local:<uid>`), not to its connection:
a later stdio server of the same user on the same database lists and reads them. The wire tests
speak raw JSON-RPC on the pipe; the happy path goes through `mcptasks.client` over stdio on both wires.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import anyio
import pytest
from mcp_types import TextContent

from mcptasks.client import ProgressUpdate, StatusUpdate, TaskCancelledError, Wire
from mcptasks.core.status import TaskStatus
from support.clients import RELATED_TASK, TASKS_EXTENSION, ModernStdio, StdioClient
from support.db import task_rows
from support.polling import wait_counter_at_least, wait_counter_stopped, wait_status
from support.process import RUNNER, server_config
from support.task_clients import WIRES, stdio_params, task_client

pytestmark = pytest.mark.slow

INTERRUPTED = "Task interrupted: the server stopped while it was running"
#: The longest a test waits for a task, in seconds.
RESULT_LIMIT_S = 20
#: How often the task client polls, in ms (the server answers a poll at the task's next change).
POLL_MS = 50
#: A graceful stop takes the shutdown grace (1 s) plus the hard cancel; far less than this.
STOP_LIMIT_S = 6.0

StdioFactory = Callable[..., Awaitable[StdioClient]]


@pytest.fixture
async def stdio_server(server_db: Path | str, tmp_path: Path) -> AsyncIterator[StdioFactory]:
    """Start stdio server processes on the test's database, `server_db` (`await stdio_server()`); all
    stopped after."""
    clients: list[StdioClient] = []

    async def start() -> StdioClient:
        log = tmp_path / f"stdio-{len(clients)}.log"
        client = await StdioClient.start(RUNNER, server_config(server_db), log)
        clients.append(client)
        return client

    try:
        yield start
    finally:
        for client in clients:
            await client.aclose()


async def test_core_flow_on_2025_11_25(stdio_server: StdioFactory, tmp_path: Path) -> None:
    client = await stdio_server()
    init = await client.initialize()
    assert init["protocolVersion"] == "2025-11-25"
    assert init["capabilities"]["tasks"] == {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}}
    tools = {t["name"]: t for t in (await client.call("tools/list", {}))["tools"]}
    assert tools["req_tool"]["execution"]["taskSupport"] == "required"

    created = await client.call(
        "tools/call",
        {
            "name": "slow",
            "arguments": {"steps": 4, "delay_ms": 30},
            "task": {"ttl": 60_000},
            "_meta": {"progressToken": 77},
        },
    )
    task = created["task"]
    task_id = task["taskId"]
    assert task["status"] == "working"
    assert task["ttl"] == 60_000
    assert (await client.call("tasks/get", {"taskId": task_id}))["taskId"] == task_id

    # tasks/result blocks until the task is done and answers the tool's result.
    result = await client.call("tasks/result", {"taskId": task_id})
    assert result["content"] == [{"type": "text", "text": "counted to 4"}]
    assert result["_meta"][RELATED_TASK] == {"taskId": task_id}

    # Progress (original token, related-task _meta) and the status change arrived on the pipe.
    status = await client.notifications.wait_for(
        "notifications/tasks/status", lambda p: p.get("taskId") == task_id and p["status"] == "completed"
    )
    assert status["params"]["ttl"] == 60_000
    await client.notifications.wait_for("notifications/progress", lambda p: p.get("progress") == 4)
    progress = client.notifications.matching("notifications/progress")
    assert [p["params"]["progress"] for p in progress] == [1, 2, 3, 4]
    for report in progress:
        assert report["params"]["progressToken"] == 77
        assert report["params"]["_meta"][RELATED_TASK] == {"taskId": task_id}


@pytest.mark.parametrize("wire", WIRES)
async def test_create_follow_cancel_and_list_with_the_task_client(
    server_db: Path | str, tmp_path: Path, wire: Wire
) -> None:
    """The happy path over stdio through `mcptasks.client`, which starts the server itself."""
    async with task_client(stdio_params(server_config(server_db)), wire) as client:
        done = await client.call_tool_as_task("slow", {"steps": 4, "delay_ms": 30}, ttl_ms=60_000)
        with anyio.fail_after(RESULT_LIMIT_S):
            updates = [update async for update in done.updates(poll_ms=POLL_MS)]
            result = await done.result()
        [block] = result.content
        assert isinstance(block, TextContent) and block.text == "counted to 4"
        last = updates[-1]
        assert isinstance(last, StatusUpdate) and last.task.status is TaskStatus.COMPLETED
        if wire == "2025-11-25":
            assert last.task.ttl_ms == 60_000
            # Progress came through the pipe, all of it before the end.
            assert [u.progress for u in updates if isinstance(u, ProgressUpdate)] == [1, 2, 3, 4]

        # Cancel a running task: cancelled, and the tool stops.
        marker = tmp_path / "counter"
        running = await client.call_tool_as_task(
            "slow", {"steps": 400, "delay_ms": 50, "marker": str(marker)}
        )
        await wait_counter_at_least(marker, 2)
        await running.cancel()
        with anyio.fail_after(RESULT_LIMIT_S):
            assert (await running.wait(poll_ms=POLL_MS)).status is TaskStatus.CANCELLED
        assert await wait_counter_stopped(marker) < 400
        with pytest.raises(TaskCancelledError):
            await running.result()
        if wire == "2025-11-25":
            page = await client.list_tasks()
            assert [task.task_id for task in page.tasks] == [running.task_id, done.task_id]


async def test_2026_07_28_envelope_over_stdio(stdio_server: StdioFactory) -> None:
    client = ModernStdio(await stdio_server())
    discovered = await client.call("server/discover", {})
    assert discovered["capabilities"]["extensions"][TASKS_EXTENSION] == {}
    created = await client.call("tools/call", {"name": "echo", "arguments": {"text": "piped"}})
    assert created["resultType"] == "task"
    task_id = created["taskId"]
    done = await wait_status(client, task_id, "completed")
    assert done["resultType"] == "complete"
    assert done["result"]["content"] == [{"type": "text", "text": "echo: piped"}]
    gated = await client.request("tasks/get", {"taskId": task_id}, declare=False)
    assert gated.error["code"] == -32021
    plain = await client.call("tools/call", {"name": "echo", "arguments": {"text": "x"}}, declare=False)
    assert plain["resultType"] == "complete"
    assert plain["content"] == [{"type": "text", "text": "echo: x"}]


async def test_a_later_stdio_server_of_the_same_user_lists_and_reads_the_tasks(
    stdio_server: StdioFactory, server_db: Path | str, tmp_path: Path
) -> None:
    """stdio tasks belong to the local user, not the connection: the next stdio server the user
    starts on the database (after the first exited) lists and reads them, on both wires."""
    first = await stdio_server()
    await first.initialize()
    done_id = (await first.call("tools/call", {"name": "echo", "arguments": {"text": "1"}, "task": {}}))[
        "task"
    ]["taskId"]
    await wait_status(first, done_id, "completed")
    assert await first.aclose() == 0

    second = ModernStdio(await stdio_server())  # the 2026-07-28 wire
    modern_id = (await second.call("tools/call", {"name": "echo", "arguments": {"text": "2"}}))["taskId"]
    await wait_status(second, modern_id, "completed")
    earlier = await second.call("tasks/get", {"taskId": done_id})
    assert await second.client.aclose() == 0

    third = await stdio_server()
    await third.initialize()
    listed = (await third.call("tasks/list", {}))["tasks"]
    got = await third.call("tasks/get", {"taskId": modern_id})
    result = await third.call("tasks/result", {"taskId": done_id})

    assert earlier["status"] == "completed"
    assert earlier["result"]["content"] == [{"type": "text", "text": "echo: 1"}]
    assert [task["taskId"] for task in listed] == [modern_id, done_id]
    assert got["status"] == "completed"
    assert result["content"] == [{"type": "text", "text": "echo: 1"}]
    rows = task_rows(server_db, done_id, modern_id)
    for row in rows.values():
        assert (row["owner_kind"], row["owner_key"]) == ("principal", f"local:{os.getuid()}")
        assert (row["owner_issuer"], row["owner_subject"]) == ("local", getpass.getuser())


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_signal_stops_the_process_and_fails_running_tasks(
    stdio_server: StdioFactory, server_db: Path | str, tmp_path: Path, signum: signal.Signals
) -> None:
    """Ctrl-C / SIGTERM of a stdio server whose client keeps stdin open (as a terminal does)."""
    marker = tmp_path / "counter"
    client = await stdio_server()
    await client.initialize()
    task_id = (
        await client.call(
            "tools/call",
            {
                "name": "slow",
                "arguments": {"steps": 10_000, "delay_ms": 50, "marker": str(marker)},
                "task": {},
            },
        )
    )["task"]["taskId"]
    await wait_counter_at_least(marker, 2)

    started = time.monotonic()
    client.process.send_signal(signum)
    try:
        code: int | None = await asyncio.wait_for(client.process.wait(), STOP_LIMIT_S)
    except TimeoutError:
        code = None
    elapsed = time.monotonic() - started
    stored = task_rows(server_db, task_id)[task_id]
    assert code == 0, (
        f"{signum.name} did not end the stdio server within {STOP_LIMIT_S}s (exit code {code}); "
        f"the task was meanwhile {stored['status']!r} ({stored['status_message']!r})"
    )
    assert elapsed < STOP_LIMIT_S
    assert stored["status"] == "failed"
    assert stored["status_message"] == INTERRUPTED
