"""Resuming a task by its id from somewhere else: another client process, another server process.

Without authentication the 2026-07-28 wire allows this over HTTP (a task is readable by id from
anywhere), and stdio on both wires for the same local user; 2025-11-25 HTTP tasks belong to their
session (see `test_http`; with OAuth, to the principal: `test_oauth`).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from mcptasks.client import TaskClient
from mcptasks.core.status import TaskStatus

from .servers import ROOT, stdio_params

pytestmark = pytest.mark.slow

EXAMPLE = ROOT / "examples" / "resume_task.py"
#: Resumes a task in a process of its own (see its docstring).
CHILD = Path(__file__).resolve().parent / "resume_child.py"
#: How long one run of the example may take, in seconds.
RUN_TIMEOUT_S = 60


def run_example(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), *args], capture_output=True, text=True, timeout=RUN_TIMEOUT_S
    )
    assert done.returncode == 0, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done.stdout


def test_the_example_starts_a_task_and_a_second_process_resumes_it(demo_url: str, old_files: Path) -> None:
    first = run_example("--url", demo_url, "--directory", str(old_files))
    match = re.search(r"^task id: (\S+)$", first, re.MULTILINE)
    assert match, first
    task_id = match.group(1)
    assert "status: working" in first or "status: input_required" in first

    second = run_example("--url", demo_url, "--resume", task_id, "--answer", "yes")
    assert "Delete 2 files" in second  # the question, shown by the second process
    assert "answered input-1" in second
    assert "status: completed" in second
    assert '"decision": "confirmed"' in second


def test_the_example_reports_an_unknown_task(demo_url: str) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), "--url", demo_url, "--resume", "no-such-task", "--answer", "no"],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert done.returncode == 1
    assert "Task not found" in done.stderr


def resume_in_child(task_id: str, wire: str, *server: str) -> subprocess.CompletedProcess[str]:
    """Run `resume_child.py` (a process of its own) on the task; `server`: its server arguments."""
    return subprocess.run(
        [sys.executable, str(CHILD), f"--task-id={task_id}", "--wire", wire, *server],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )


async def test_a_task_made_over_stdio_is_answered_by_another_process(tmp_path: Path, old_files: Path) -> None:
    # Two stdio servers on one database file: the task runs in the first; another client process,
    # with a server process of its own, finds it by id, answers its question and reads its result.
    database = tmp_path / "tasks.db"
    async with TaskClient(stdio_params(database), wire="2026-07-28", elicitation=True) as first:
        made = await first.call_tool_as_task("clean_up", {"directory": str(old_files), "older_than_days": 0})
        assert made.task_id is not None
        done = await anyio.to_thread.run_sync(
            resume_in_child, made.task_id, "2026-07-28", "--stdio-db", str(database)
        )
        assert done.returncode == 0, done.stderr
        outcome = json.loads(done.stdout)
        assert outcome["status"] == "completed"
        assert outcome["answered"] == ["elicitation/create"]
        assert (await made.status()).status is TaskStatus.COMPLETED
        result = await made.result()
        assert result.structured_content is not None
        assert result.structured_content["decision"] == "confirmed"


async def test_a_2025_task_over_stdio_is_read_by_the_same_users_other_process(tmp_path: Path) -> None:
    # A stdio server's tasks belong to the local user (README "Owners"): another client process,
    # with a stdio server of its own on the same database, follows the task to its result.
    database = tmp_path / "tasks.db"
    async with TaskClient(stdio_params(database), wire="2025-11-25") as first:
        made = await first.call_tool_as_task("count_to", {"n": 3, "delay_ms": 100})
        assert made.task_id is not None
        done = await anyio.to_thread.run_sync(
            resume_in_child, made.task_id, "2025-11-25", "--stdio-db", str(database)
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {"status": "completed", "text": "counted to 3", "answered": []}
