"""`mcptasks.testing`: a tool runs as a real task on each store a user's tests may pick."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from mcptasks import TaskContext, TaskServer
from mcptasks.core.status import TaskStatus
from mcptasks.testing import open_for_tests, run_as_task


def _server() -> TaskServer:
    server = TaskServer("testing-tests")

    @server.tool()
    async def double(n: int, task: TaskContext) -> int:
        await task.report_progress(1, total=1)
        return n * 2

    @server.tool()
    async def crash() -> str:
        raise RuntimeError("detail that must stay in the log")

    return server


@pytest.fixture(params=["memory", "file", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return ":memory:"
    if request.param == "file":
        return str(tmp_path / "tasks.db")
    url: URL = request.getfixturevalue("postgres_url")
    return url.render_as_string(hide_password=False)


async def test_a_task_runs_to_completion_and_a_crash_fails(db: str) -> None:
    async with open_for_tests(_server(), db=db) as server:
        record, result = await run_as_task(server, "double", {"n": 21})
        assert record.status is TaskStatus.COMPLETED
        assert result is not None and result.result is not None
        assert result.result["structuredContent"] == {"result": 42}

        record, result = await run_as_task(server, "crash", {})
        assert record.status is TaskStatus.FAILED
        assert record.status_message == "Tool execution failed"
        assert result is not None and result.error is not None
        assert "detail" not in result.error.message
