"""One long-lived session runs many tasks: memory and per-task state return to a bound, both wires.

A server (`mcptasks serve`, the real command line) runs `MCPTASKS_MEMORY_TASKS` tasks (default
`DEFAULT_TASKS`; fewer on PostgreSQL, whose round trips are slower) through ONE client session per
wire, `CONCURRENCY` at a time:

- 2025-11-25: one stateful HTTP session with its standalone GET stream open (status notifications
  are pushed to it); each task is created with `tools/call` + `task` and its result fetched with
  `tasks/result`, and every tenth task's `tasks/result` is asked again once it is terminal;
- 2026-07-28: one HTTP client; each task is created with `tools/call` and polled with `tasks/get`.

The server runs with a small in-process view (`VIEW_CAPACITY`), which the warm-up fills. After
the warm-up, the server's RSS is read after a full garbage collection and `malloc_trim` (the
`state_sizes` test tool: what is held, not what the allocator keeps), before, during and after the
run, with the heap SQLite itself holds (its page caches, bounded by `cache_size` per connection,
grow with the file until full). Asserted: RSS growth per stored task, SQLite's heap growth left
out, is at most `MAX_BYTES_PER_TASK`; and once every task has ended every per-task and
per-connection map of the server is back at its idle size (the view within its capacity). The
figures are printed (`-s`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from tests.integration.test_input_required import text_of

from support.clients import LegacyHttpClient, ModernHttpClient
from support.polling import until
from support.process import ServeProcess

# The load comes from the benchmark's HTTP client (`benchmarks/wires.py`, standard library only):
# an httpx client spends several times the server's CPU per request, and on two cores the test
# would measure its own client.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from wires import WireClient, new_client

pytestmark = pytest.mark.slow

#: Tasks per wire on SQLite unless `MCPTASKS_MEMORY_TASKS` says otherwise.
DEFAULT_TASKS = 10_000
#: Tasks per wire on PostgreSQL unless `MCPTASKS_MEMORY_TASKS` says otherwise.
DEFAULT_TASKS_POSTGRES = 2_000
#: Tasks run before the first measurement (imports, caches, pools and the allocator warm up).
WARM_UP_TASKS = 500
#: The in-process view's capacity on the server (tasks): small, so the warm-up fills it.
VIEW_CAPACITY = 256
#: RSS readings during the run.
CHECKPOINTS = 4
#: Tasks in flight at once.
CONCURRENCY = 32
#: How long the server's state may take to drain once the last task was seen terminal, in seconds.
SETTLE_S = 30.0
#: The bound on RSS growth per stored task, in bytes (0.5 KB), SQLite's own heap left out.
MAX_BYTES_PER_TASK = 512
#: The sizes every per-task and per-connection map returns to once no task is active; the rest
#: (`view`, `notify_connections_watched`, `get_streams`) are checked on their own.
IDLE_ZERO = (
    "bus_tasks",
    "bus_waiters",
    "held_polls",
    "result_streams",
    "questions_in_flight",
    "notify_channels",
    "notify_connections_active",
    "notify_outboxes",
    "notify_queued",
)


def task_count(engine: str) -> int:
    configured = os.environ.get("MCPTASKS_MEMORY_TASKS")
    if configured:
        return int(configured)
    return DEFAULT_TASKS if engine == "sqlite" else DEFAULT_TASKS_POSTGRES


async def run_many(
    count: int, one: Callable[[WireClient, int], Awaitable[None]], clients: list[WireClient]
) -> None:
    """Run `one(client, n)` for n in range(count), one worker per client (`CONCURRENCY`)."""
    numbers = iter(range(count))

    async def worker(client: WireClient) -> None:
        for n in numbers:
            await one(client, n)

    await asyncio.gather(*(worker(client) for client in clients))


async def legacy_task(client: WireClient, n: int) -> None:
    """2025-11-25: create, then `tasks/result`; every tenth terminal task is asked again."""
    task = await client.create("quick", {"n": n})
    result = await client.result(task)
    assert text_of(result) == f"quick {n}"
    if n % 10 == 0:  # a terminal task asked for again leaves no waiter behind
        assert text_of(await client.result(task)) == f"quick {n}"


async def modern_task(client: WireClient, n: int) -> None:
    """2026-07-28: create, then poll `tasks/get` until terminal."""
    task = await client.create("quick", {"n": n})
    while task["status"] not in ("completed", "failed", "cancelled"):
        task = await client.get(task["taskId"])
    assert text_of(await client.result(task)) == f"quick {n}"


@pytest.mark.parametrize("wire", ["2025-11-25", "2026-07-28"])
async def test_many_tasks_through_one_session_keep_memory_and_state_bounded(
    wire: str, engine: str, server_db: Path | str, tmp_path: Path
) -> None:
    count = task_count(engine)
    server = ServeProcess(server_db, tmp_path / "serve.log", poll_interval_ms=20, view_capacity=VIEW_CAPACITY)
    server.start()
    observer: LegacyHttpClient | ModernHttpClient
    clients: list[WireClient] = []
    try:
        if wire == "2025-11-25":
            # The session, with its GET stream open (status notifications go there); the load
            # rides it over several connections, as one client with a connection pool would.
            observer = await LegacyHttpClient(server.base_url).open(listen=True)
            one = legacy_task
        else:
            observer = ModernHttpClient(server.base_url)
            one = modern_task
        clients = [
            new_client(wire[:4], "127.0.0.1", server.port, session_id=getattr(observer, "session_id", None))
            for _ in range(CONCURRENCY)
        ]
        numbers = itertools.count()

        async def run(tasks: int) -> None:
            await run_many(tasks, lambda client, _: one(client, next(numbers)), clients)
            if isinstance(observer, LegacyHttpClient):
                observer.notifications.items.clear()  # the test's own memory

        async def sizes() -> dict[str, int]:
            arguments = {"name": "state_sizes", "arguments": {"collect": True}}
            if isinstance(observer, LegacyHttpClient):
                result = await observer.call("tools/call", arguments)
            else:
                result = await observer.call("tools/call", arguments, declare=False)
            found: dict[str, int] = json.loads(text_of(result))
            return found

        async def settled() -> dict[str, int]:
            # A task's tasks/result (or tasks/get) may see it terminal a moment before the server
            # has told its own listeners (the commit is visible first): wait for the state to drain.
            found: dict[str, int] = await until(
                sizes, lambda s: all(s[name] == 0 for name in IDLE_ZERO), within_s=SETTLE_S, what="idle state"
            )
            return found

        await run(WARM_UP_TASKS)
        before = await settled()
        started = time.monotonic()
        checkpoints = []
        for _ in range(CHECKPOINTS):
            await run(count // CHECKPOINTS)
            checkpoints.append((await sizes())["rss_kb"])
        elapsed_s = time.monotonic() - started
        after = await settled()
    finally:
        for client in clients:
            await client.close()
        await observer.aclose()
        server.stop()

    raw_bytes = (after["rss_kb"] - before["rss_kb"]) * 1024
    sqlite_bytes = (after["db_heap_kb"] - before["db_heap_kb"]) * 1024
    growth_bytes = raw_bytes - sqlite_bytes
    per_task = growth_bytes / count
    print(
        f"\n{wire} {engine}: {count} tasks in {elapsed_s:.1f}s ({count / elapsed_s:.0f}/s); "
        f"RSS {before['rss_kb']} KiB -> {after['rss_kb']} KiB ({raw_bytes / count:.0f} B per task), "
        f"SQLite heap {before['db_heap_kb']} KiB -> {after['db_heap_kb']} KiB, "
        f"{per_task:.0f} B per stored task held by the rest; "
        f"checkpoints {checkpoints} KiB; state before {before}; after {after}"
    )
    assert before["rss_kb"] > 0 and after["rss_kb"] > 0, "RSS not readable on this system"
    assert per_task <= MAX_BYTES_PER_TASK, (
        f"RSS grew {growth_bytes} B over {count} tasks: {per_task:.0f} B per task (> {MAX_BYTES_PER_TASK})"
    )
    for name in IDLE_ZERO:
        assert after[name] == 0, f"{name} is {after[name]} with no task active: {after}"
    assert after["view"] <= VIEW_CAPACITY
    assert after["notify_connections_watched"] <= 1  # the one session, if it created a task
    assert after["get_streams"] == (1 if wire == "2025-11-25" else 0)
