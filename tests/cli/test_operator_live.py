"""The operator commands against a live `mcptasks serve` (the test app, real processes, SQLite):
`db backup` while a client keeps creating tasks, and `tasks cancel` of a running tool.

Clients talk to the server over Streamable HTTP; the commands run as subprocesses of their own.
Blocking calls go to a thread so the clients keep running meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path

import pytest

from mcptasks.client import TaskClient
from support.polling import until
from support.process import CLI, ServeProcess

pytestmark = pytest.mark.slow

#: Longest one command may take, in s.
COMMAND_TIMEOUT_S = 60.0
#: Longest to wait for something a server does on its own (a loaded 2-core machine), in s.
DEADLINE_S = 60.0
#: A tool's step in the cancel test, in ms, and how long it must then stay still to count as stopped.
STEP_MS = 50
STILL_FOR_S = 1.0


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run one `mcptasks` command to completion."""
    return subprocess.run(
        [*CLI, *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


def _marker(path: Path) -> int:
    text = path.read_text() if path.exists() else ""
    return int(text) if text.strip() else 0


async def test_db_backup_of_a_database_a_server_keeps_writing(tmp_path: Path) -> None:
    db, copy = tmp_path / "live.db", tmp_path / "backup.db"
    server = ServeProcess(db, tmp_path / "server.log")
    await asyncio.to_thread(server.start)
    before: list[str] = []  # created (answer received) before the backup started
    after: list[str] = []  # asked for after the backup finished
    every: list[str] = []
    backing_up, backed_up = asyncio.Event(), asyncio.Event()

    async def keep_creating(client: TaskClient) -> None:
        n = 0
        while True:
            finished_before_asking = backed_up.is_set()
            handle = await client.call_tool_as_task("quick", {"n": n})
            assert handle.task_id is not None
            n += 1
            every.append(handle.task_id)
            if not backing_up.is_set():
                before.append(handle.task_id)
            if finished_before_asking:
                after.append(handle.task_id)
                if len(after) >= 5:
                    return

    try:
        async with TaskClient(f"{server.base_url}/mcp", wire="2026-07-28") as client:
            writer = asyncio.create_task(keep_creating(client))

            async def created() -> int:
                if writer.done():
                    writer.result()  # a failed client fails the test here
                return len(before)

            await until(created, lambda n: n >= 20, within_s=DEADLINE_S, what="20 tasks created")
            backing_up.set()
            backup = await asyncio.to_thread(
                run_cli, "db", "backup", str(copy), "--db", str(db), cwd=tmp_path
            )
            backed_up.set()
            await asyncio.wait_for(writer, DEADLINE_S)
    finally:
        code = await asyncio.to_thread(server.stop)

    assert backup.returncode == 0, backup.stderr
    assert backup.stdout.startswith(f"backed up {db} to {copy}")
    listed = run_cli("tasks", "list", "--json", "--limit", "100000", "--db", str(copy), cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    in_copy = {task["task_id"] for task in json.loads(listed.stdout)}
    assert len(before) >= 20, server.log()
    # A consistent copy of one moment: everything committed before it, nothing asked for after it.
    assert set(before) <= in_copy
    assert not set(after) & in_copy
    assert in_copy <= set(every)
    current = run_cli("db", "current", "--json", "--db", str(copy), cwd=tmp_path)
    assert json.loads(current.stdout)["at_head"] is True
    assert code == 0, server.log()


async def test_tasks_cancel_stops_a_running_tool(tmp_path: Path) -> None:
    db, marker = tmp_path / "live.db", tmp_path / "steps.txt"
    server = ServeProcess(db, tmp_path / "server.log")
    await asyncio.to_thread(server.start)
    try:
        async with TaskClient(f"{server.base_url}/mcp", wire="2025-11-25") as client:
            handle = await client.call_tool_as_task(
                "slow", {"steps": 100_000, "delay_ms": STEP_MS, "marker": str(marker)}
            )
            assert handle.task_id is not None

            async def steps() -> int:
                return _marker(marker)

            running_at = await until(steps, lambda n: n >= 3, within_s=DEADLINE_S, what="the tool running")

            cancelled = await asyncio.to_thread(
                run_cli,
                "tasks",
                "cancel",
                handle.task_id,
                "--reason",
                "runaway",
                "--db",
                str(db),
                cwd=tmp_path,
            )
            seen = await handle.status()  # tasks/get over HTTP

            # Stopped: the count stays still for STILL_FOR_S (20 steps of the tool).
            deadline = time.monotonic() + DEADLINE_S
            last = _marker(marker)
            while time.monotonic() < deadline:
                await asyncio.sleep(STILL_FOR_S)
                now = _marker(marker)
                if now == last:
                    break
                last = now
            stopped_at = _marker(marker)
            await asyncio.sleep(STILL_FOR_S)
            later = _marker(marker)
            final = await handle.status()
    finally:
        code = await asyncio.to_thread(server.stop)

    assert running_at >= 3, server.log()
    assert (cancelled.returncode, cancelled.stdout.strip()) == (0, f"cancelled {handle.task_id}")
    assert seen.status == "cancelled"
    assert seen.status_message == "Cancelled by an operator: runaway"
    assert later == stopped_at < 100_000
    assert final.status == "cancelled"  # the tool's last steps did not move it again
    assert code == 0, server.log()
