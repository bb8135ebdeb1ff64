"""TTL: expired terminal tasks are swept; a task still running past its ttl is failed visibly first.

Protocol reference A1.13 (after `createdAt + ttl` the receiver MAY delete the task; -32602 after
that) and DESIGN §7 (ttl never silently deletes running work).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from mcptasks.client import TaskNotFoundError
from support.clients import LegacyHttpClient
from support.db import row_counts
from support.polling import until, wait_counter_at_least, wait_counter_stopped, wait_gone, wait_status
from support.process import HttpServer
from support.task_clients import http_endpoint, task_client

pytestmark = pytest.mark.slow

TTL_MS = 300
#: How long a task failed by expiry stays readable before the sweeper deletes it, in seconds.
EXPIRED_KEEP_S = 1.5


@pytest.fixture(scope="module")
def ttl_server(module_db: Path | str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    """A server whose sweeper runs every 0.2 s and keeps expired-while-running tasks 1.5 s."""
    directory = tmp_path_factory.mktemp("ttl-server")
    server = HttpServer(
        module_db,
        directory / "server.log",
        retention={"sweep_interval_s": 0.2, "expired_keep_s": EXPIRED_KEEP_S},
    ).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def session(ttl_server: HttpServer) -> AsyncIterator[LegacyHttpClient]:
    client = LegacyHttpClient(ttl_server.base_url)
    try:
        yield await client.open(listen=True)
    finally:
        await client.aclose()


async def test_completed_task_is_deleted_after_its_ttl(ttl_server: HttpServer) -> None:
    sent = time.monotonic()
    async with task_client(http_endpoint(ttl_server), "2025-11-25") as client:
        handle = await client.call_tool_as_task("echo", {"text": "brief"}, ttl_ms=TTL_MS)
        task_id = handle.task_id
        assert task_id is not None
        assert handle.last_snapshot is not None and handle.last_snapshot.ttl_ms == TTL_MS
        # Readable right after creation (inside its ttl, unless this machine is very slow).
        assert (await handle.status()).task_id == task_id

        async def gone() -> TaskNotFoundError | None:
            try:
                await handle.status()
            except TaskNotFoundError as exc:
                return exc
            return None

        error = await until(gone, lambda found: found is not None, within_s=5, what=f"{task_id} gone")
        # Never before createdAt + ttl (createdAt is after `sent`).
        assert time.monotonic() - sent >= TTL_MS / 1000
        assert (error.code, error.error_message) == (-32602, "Task not found")
        with pytest.raises(TaskNotFoundError):
            await handle.result()
        assert task_id not in {task.task_id for task in (await client.list_tasks()).tasks}
    # The outcome and the history went with it.
    assert row_counts(ttl_server.db, task_id) == {"tasks": 0, "task_results": 0, "task_events": 0}


async def test_running_task_past_its_ttl_is_failed_visibly_before_deletion(
    session: LegacyHttpClient, ttl_server: HttpServer, tmp_path: Path
) -> None:
    marker = tmp_path / "counter"
    created = (
        await session.call(
            "tools/call",
            {
                "name": "slow",
                "arguments": {"steps": 10_000, "delay_ms": 50, "marker": str(marker)},
                "task": {"ttl": TTL_MS},
            },
        )
    )["task"]
    task_id = created["taskId"]
    await wait_counter_at_least(marker, 1)

    # Polling never sees the task vanish while working: it turns failed first, readably.
    failed = await wait_status(session, task_id, {"failed", "completed", "cancelled"}, within_s=5)
    failed_seen = time.monotonic()
    assert failed["status"] == "failed"
    assert "expired" in failed["statusMessage"]
    assert failed["ttl"] is not None and failed["ttl"] > TTL_MS
    notice = await session.notifications.wait_for(
        "notifications/tasks/status", lambda p: p.get("taskId") == task_id and p["status"] == "failed"
    )
    assert "expired" in notice["params"]["statusMessage"]
    result = await session.request("tasks/result", {"taskId": task_id})
    assert result.error["code"] == -32603
    assert "expired" in result.error["message"].lower()

    # The tool was stopped.
    assert await wait_counter_stopped(marker) < 10_000

    # Then, after the keep period, it is deleted.
    await wait_gone(session, task_id, within_s=EXPIRED_KEEP_S + 5)
    assert time.monotonic() - failed_seen >= EXPIRED_KEEP_S - 1.0
    assert row_counts(ttl_server.db, task_id)["tasks"] == 0
