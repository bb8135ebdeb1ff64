"""Helpers for testing tools against the real task store, without a transport.

```python
from mcptasks.testing import open_for_tests, run_as_task

async def test_count_to() -> None:
    async with open_for_tests(my_module.server) as server:
        record, result = await run_as_task(server, "count_to", {"n": 3, "delay_ms": 1})
        assert record.status == "completed"
        assert result.result["content"][0]["text"] == "counted to 3"
```
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from mcptasks.core.errors import ToolNotFound
from mcptasks.core.model import TaskRecord, TaskResult
from mcptasks.core.owner import Owner
from mcptasks.runtime.options import Leases, Retention
from mcptasks.server.app import TaskServer
from mcptasks.server.tools import task_invoker, validate_arguments

#: Short leases and grace periods, so tests that stop or cancel do not wait long.
FAST_LEASES = Leases(
    duration_s=2.0, heartbeat_s=0.5, recover_interval_s=0.5, cancel_grace_s=0.5, shutdown_grace_s=0.5
)


@asynccontextmanager
async def open_for_tests(
    server: TaskServer,
    *,
    db: str = ":memory:",
    leases: Leases = FAST_LEASES,
    retention: Retention | None = None,
) -> AsyncIterator[TaskServer]:
    """Configure `server` for a test (in-memory SQLite unless `db` names a file) and open it."""
    server.configure(db=db, leases=leases, retention=retention or Retention())
    async with server:
        yield server


async def run_as_task(
    server: TaskServer,
    tool: str,
    arguments: Mapping[str, Any],
    *,
    owner: Owner | None = None,
    ttl_ms: int | None = None,
) -> tuple[TaskRecord, TaskResult | None]:
    """Run `tool` as a task of `owner` (a test session by default) and wait until it is terminal.

    Raises: ToolNotFound, InvalidParams (bad arguments), as a `tools/call` would.
    """
    entry = server.tools.get(tool)
    if entry is None:
        raise ToolNotFound(tool)
    args = dict(arguments)
    validate_arguments(entry, args)
    who = owner or Owner.session("mcptasks-tests")
    record = await server.manager.create(
        who,
        wire="2025-11-25",
        tool_name=tool,
        arguments=args,
        requested_ttl_ms=ttl_ms,
        progress_token=None,
        invoke=task_invoker(entry, args),
    )
    return await server.manager.wait_terminal(who, record.task_id)


__all__ = ["FAST_LEASES", "open_for_tests", "run_as_task"]
