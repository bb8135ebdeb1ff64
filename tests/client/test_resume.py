"""Resuming a task by its id from somewhere else: another client process, another server process.

Without authentication only the 2026-07-28 wire allows this (a task is readable by id from
anywhere); 2025-11-25 tasks belong to their session or stdio connection (see `test_http`).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp_types import ElicitRequestParams, ElicitResult

from mcptasks.client import TaskClient
from mcptasks.core.status import TaskStatus

from .servers import ROOT, stdio_params

pytestmark = pytest.mark.slow

EXAMPLE = ROOT / "examples" / "resume_task.py"
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


async def test_a_task_made_over_stdio_is_answered_through_another_server_process(
    tmp_path: Path, old_files: Path
) -> None:
    # Two stdio servers on one database file: the task runs in the first; a fresh client, with a
    # server process of its own, finds it by id, answers its question and reads its result.
    database = tmp_path / "tasks.db"

    async def confirm(task_id: str | None, params: ElicitRequestParams) -> ElicitResult:
        return ElicitResult(action="accept", content={"confirm": True})

    async with TaskClient(stdio_params(database), wire="2026-07-28", elicitation=True) as first:
        made = await first.call_tool_as_task("clean_up", {"directory": str(old_files), "older_than_days": 0})
        assert made.task_id is not None
        async with TaskClient(stdio_params(database), wire="2026-07-28", on_elicitation=confirm) as second:
            resumed = second.task(made.task_id)
            with anyio.fail_after(20):
                result = await resumed.result(poll_ms=50)
        assert result.structured_content is not None
        assert result.structured_content["decision"] == "confirmed"
        assert (await made.status()).status is TaskStatus.COMPLETED
