"""Parked tasks across server restarts, crashes and ttl expiry.

Issue #3 "Restarts": a task waiting for input when the server stops stays `input_required` (its lease
released); at the next start an `on_restart="rerun"` tool runs again as attempt N+1, where questions
answered before return their stored answers, and an `on_restart="fail"` tool's task is failed with a
statusMessage saying so. A parked task whose ttl runs out is failed visibly, then swept.

Each test prints a transcript (run with `pytest -s`): the statuses seen by polling, with the stops
and starts in between, then the `task_events` and `task_input_requests` rows. The graceful-stop
tests share one stop and restart (fixture `restarted`, four parked tasks); the crash and the ttl
tests run their own servers.

The 2026-07-28 tasks are anonymous, hence capability-owned: the same id is readable and answerable
after the restart. A 2025-11-25 task belongs to its session, which dies with the server, so after a
restart its status is read from the database.

The database is read directly with `support.db` (SQLite or PostgreSQL, same rows): timestamps
come back as aware UTC datetimes on both engines.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from mcptasks.core.errors import ErrorCode
from support.apps import CONFIRM_SCHEMA
from support.clients import TASKS_EXTENSION, LegacyHttpClient, ModernHttpClient, RpcError
from support.db import input_rows, query, row_counts, task_rows
from support.polling import StatusTrail, get_task, sync_probe, until, wait_gone, wait_status, wait_terminal
from support.process import TEST_LEASES, HttpServer

pytestmark = pytest.mark.slow

#: Client capabilities of a 2026-07-28 client that declares the tasks extension and elicitation.
MODERN_ASKABLE: dict[str, Any] = {"extensions": {TASKS_EXTENSION: {}}, "elicitation": {}}
LEGACY_ASKABLE: dict[str, Any] = {"tasks": {}, "elicitation": {"form": {}}}
INTERRUPTED_WAITING = (
    "Task interrupted while waiting for input: the server stopped and this tool cannot resume"
)
#: A graceful stop of a server whose only tool waits for input takes far less than this.
STOP_LIMIT_S = 6.0
#: The ttl of the expiry test's tasks (the server's default), and how long they stay readable after.
PARKED_TTL_MS = 1_500
EXPIRED_KEEP_S = 1.5
#: The transcript's note when the server is up again.
RESTARTED = "server started again on the same database"

ServerFactory = Callable[..., HttpServer]


# -- helpers ---------------------------------------------------------------------------------------


def events(db: Path | str, task_id: str) -> list[dict[str, Any]]:
    """The task's `task_events` rows, oldest first."""
    return query(
        db,
        "SELECT from_status, to_status, attempt, message FROM task_events "
        "WHERE task_id = ? ORDER BY event_id",
        task_id,
    )


def stored(db: Path | str, task_id: str) -> dict[str, Any]:
    return task_rows(db, task_id)[task_id]


def question(message: str) -> dict[str, Any]:
    """An `inputRequests` entry of the test tools' form."""
    return {
        "method": "elicitation/create",
        "params": {"mode": "form", "message": message, "requestedSchema": CONFIRM_SCHEMA},
    }


def transcript(title: str, trail: StatusTrail, db: Path | str, task_id: str) -> str:
    """The transcript printed by each test (visible with `pytest -s`)."""
    lines = [f"=== transcript: {title} (task {task_id})", "statuses seen by polling:"]
    lines += [f"  {line}" for line in trail.lines()]
    lines.append("task_events rows (from -> to, attempt, message):")
    for event in events(db, task_id):
        change = f"{event['from_status'] or '(new)'} -> {event['to_status']}"
        message = f"  {event['message']!r}" if event["message"] else ""
        lines.append(f"  {change}  attempt {event['attempt']}{message}")
    lines.append("task_input_requests rows (key, answered):")
    for row in input_rows(db, task_id):
        answer = "unanswered" if row["response"] is None else f"{row['response']} at {row['answered_at']}"
        lines.append(f"  {row['request_key']}: {answer}")
    return "\n".join(lines)


def db_status(db: Path | str, task_id: str) -> Callable[[], Any]:
    """A trail probe reading the status straight from the database ("gone" once deleted)."""

    async def probe() -> str | None:
        rows = task_rows(db, task_id)
        return rows[task_id]["status"] if task_id in rows else "gone"

    return probe


def wire_status(client: ModernHttpClient | LegacyHttpClient, task_id: str) -> Callable[[], Any]:
    """A trail probe polling `tasks/get` ("gone" once the task is not found; nothing while the
    server is stopping and refuses new requests)."""

    async def probe() -> str | None:
        try:
            status: str = (await get_task(client, task_id))["status"]
        except RpcError as exc:
            return None if exc.code == ErrorCode.SERVER_STOPPING else "gone"
        return status

    return probe


def seen(trail: StatusTrail, *, since: str | None = None) -> list[str]:
    """The statuses the trail saw (after the note starting with `since`), each change once, without
    `working`: a tool that continues at once can pass through it between two polls."""
    entries = trail.entries
    if since is not None:
        start = next(
            i for i, (_, kind, text) in enumerate(entries) if kind == "note" and text.startswith(since)
        )
        entries = entries[start:]
    statuses: list[str] = []
    for _, kind, text in entries:
        if kind == "status" and text != "working" and (not statuses or statuses[-1] != text):
            statuses.append(text)
    return statuses


def notes(marker: Path) -> list[str]:
    return marker.read_text().splitlines() if marker.exists() else []


class Modern:
    """A 2026-07-28 client of one server: declares the extension and elicitation on every request."""

    def __init__(self, server: HttpServer) -> None:
        self.client = ModernHttpClient(server.base_url)

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.client.call(method, params, capabilities=MODERN_ASKABLE)

    async def start(self, name: str, arguments: dict[str, Any]) -> str:
        created = await self.call("tools/call", {"name": name, "arguments": arguments})
        task_id: str = created["taskId"]
        return task_id

    async def answer(self, task_id: str, key: str, response: dict[str, Any]) -> None:
        ack = await self.call("tasks/update", {"taskId": task_id, "inputResponses": {key: response}})
        assert ack["resultType"] == "complete"

    async def aclose(self) -> None:
        await self.client.aclose()


@pytest.fixture
def servers(server_db: Path | str, tmp_path: Path) -> Iterator[ServerFactory]:
    """Make `HttpServer`s on the test's database, `server_db` (`servers(retention=...)`); all stopped
    after."""
    started: list[HttpServer] = []

    def make(**options: Any) -> HttpServer:
        server = HttpServer(server_db, tmp_path / "server.log", **options)
        started.append(server)
        return server.start()

    try:
        yield make
    finally:
        for server in started:
            server.stop()


@pytest.fixture
async def clients() -> AsyncIterator[list[Modern]]:
    """Collects the test's `Modern` clients and closes them after."""
    made: list[Modern] = []
    try:
        yield made
    finally:
        for client in made:
            await client.aclose()


def assert_parked_without_lease(row: dict[str, Any], attempt: int, *, stopped_at: datetime) -> None:
    """Still parked, its lease released by the stop: no node holds it, and it expired no later than
    the stop (a released lease keeps the time it was released), so the next start may take it."""
    assert row["status"] == "input_required", row
    assert row["lease_node"] is None, row
    assert row["lease_expires_at"] is not None and row["lease_expires_at"] <= stopped_at, row
    assert row["attempt"] == attempt, row


# -- one graceful stop and restart, four parked tasks ------------------------------------------------


@dataclass
class Parked:
    """A task parked in input_required when the server was stopped."""

    task_id: str
    marker: Path
    trail: StatusTrail
    #: Its `tasks` row and `task_input_requests` rows right after the stop, before the restart.
    row_at_stop: dict[str, Any] = field(default_factory=dict)
    inputs_at_stop: list[dict[str, Any]] = field(default_factory=list)
    #: What `tasks/get` listed before the stop (2026-07-28 tasks).
    listed_before: dict[str, Any] = field(default_factory=dict)


@dataclass
class Restarted:
    """The state after the stop and restart: the database, the new server and its client."""

    db: Path | str
    server: HttpServer
    client: Modern
    #: When the first server had exited (after its graceful stop), by this process's clock.
    stopped_at: datetime
    #: elicit_once_rerun, elicit_once (fail), elicit_in_turn_rerun (input-1 answered), 2025 rerun.
    rerun: Parked
    fail: Parked
    in_turn: Parked
    legacy: Parked


async def _park(client: Modern, directory: Path, name: str, arguments: dict[str, Any]) -> Parked:
    marker = directory / f"{name}.notes"
    task_id = await client.start(name, {**arguments, "marker": str(marker)})
    trail = StatusTrail(wire_status(client.client, task_id)).start()
    parked = await wait_status(client, task_id, "input_required")
    return Parked(task_id, marker, trail, listed_before=parked["inputRequests"])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def restarted(
    module_db: Path | str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Restarted]:
    """Park four tasks, stop the server with SIGINT, start a new one on the same database.

    The parked tasks: a rerun tool and a fail tool asking once (2026-07-28), a rerun tool asking
    twice in turn whose first question is answered before the stop (2026-07-28), and a rerun tool
    of a 2025-11-25 session. One lifecycle for all four keeps the suite fast.
    """
    directory = tmp_path_factory.mktemp("parked")
    db, log = module_db, directory / "server.log"
    first = HttpServer(db, log).start()
    second: HttpServer | None = None
    parked: list[Parked] = []
    clients: list[Modern] = []
    try:
        client = Modern(first)
        clients.append(client)
        owner = LegacyHttpClient(first.base_url)
        try:
            rerun = await _park(client, directory, "elicit_once_rerun", {"filename": "keep.txt"})
            fail = await _park(client, directory, "elicit_once", {"filename": "gone.txt"})
            in_turn = await _park(client, directory, "elicit_in_turn_rerun", {})
            parked += [rerun, fail, in_turn]
            await in_turn.trail.mark("tasks/update answers input-1")
            await client.answer(
                in_turn.task_id, "input-1", {"action": "accept", "content": {"confirm": True}}
            )
            second_question = await until(
                lambda: get_task(client, in_turn.task_id),
                lambda t: t["status"] == "input_required" and set(t.get("inputRequests", {})) == {"input-2"},
                what="the second question outstanding",
            )
            in_turn.listed_before = second_question["inputRequests"]

            await owner.open(listen=True, capabilities=LEGACY_ASKABLE)
            marker = directory / "legacy.notes"
            legacy_id = (
                await owner.call(
                    "tools/call",
                    {
                        "name": "elicit_once_rerun",
                        "arguments": {"filename": "s.txt", "marker": str(marker)},
                        "task": {},
                    },
                )
            )["task"]["taskId"]
            legacy = Parked(legacy_id, marker, StatusTrail(wire_status(owner, legacy_id)).start())
            parked.append(legacy)
            await owner.notifications.wait_for("elicitation/create")
            await wait_status(owner, legacy_id, "input_required")

            for task in parked:
                await task.trail.mark("SIGINT: server stops")
            code = await asyncio.to_thread(first.stop, STOP_LIMIT_S)
            stopped_at = datetime.now(UTC)
            assert code == 0, f"the server did not stop cleanly (exit code {code}):\n{first.log()}"
            for task in parked:
                task.trail.note("server stopped")
        finally:
            await owner.aclose()
        for task in parked:
            task.row_at_stop = stored(db, task.task_id)
            task.inputs_at_stop = input_rows(db, task.task_id)

        second = HttpServer(db, log).start()
        client = Modern(second)
        clients.append(client)
        for task in (rerun, fail, in_turn):
            task.trail.probe = wire_status(client.client, task.task_id)
            await task.trail.mark(RESTARTED)
        # The 2025-11-25 session died with the server: its task is read from the database.
        legacy.trail.probe = db_status(db, legacy.task_id)
        await legacy.trail.mark(RESTARTED + "; the session is gone: status read from the database")
        yield Restarted(db, second, client, stopped_at, rerun, fail, in_turn, legacy)
    finally:
        for task in parked:
            await task.trail.stop()
        for made in clients:
            await made.aclose()
        for server in (first, second):
            if server is not None:
                server.stop()


@pytest.mark.asyncio(loop_scope="module")
async def test_rerun_tool_parked_at_a_stop_runs_again_and_completes_with_the_answer(
    restarted: Restarted,
) -> None:
    db, client, task = restarted.db, restarted.client, restarted.rerun
    task_id = task.task_id
    assert task.listed_before == {"input-1": question("Delete keep.txt?")}
    # At the stop: still parked, lease released, question outstanding; nothing failed or answered.
    assert_parked_without_lease(task.row_at_stop, attempt=1, stopped_at=restarted.stopped_at)
    assert [r["response"] for r in task.inputs_at_stop] == [None]

    # Recovery at start-up claimed it as attempt 2; the question is listed exactly as before.
    again = await get_task(client, task_id)
    assert again["status"] == "input_required"
    assert again["inputRequests"] == task.listed_before
    row = await until(
        sync_probe(lambda: stored(db, task_id)),
        lambda r: r["attempt"] == 2 and r["lease_node"] is not None,
        what="attempt 2 running",
    )
    assert row["status"] == "input_required"

    await task.trail.mark("tasks/update answers input-1")
    await client.answer(task_id, "input-1", {"action": "accept", "content": {"confirm": True}})
    done = await wait_terminal(client, task_id)
    await task.trail.stop()
    print(
        "\n"
        + transcript("rerun tool, SIGINT while input_required (2026-07-28 HTTP)", task.trail, db, task_id)
    )

    assert done["status"] == "completed"
    assert done["result"]["content"][0]["text"] == 'attempt 2: accept {"confirm": true}'
    assert seen(task.trail) == ["input_required", "completed"]
    assert seen(task.trail, since=RESTARTED) == ["input_required", "completed"]
    assert [(e["from_status"], e["to_status"], e["attempt"]) for e in events(db, task_id)] == [
        (None, "working", 1),
        ("working", "input_required", 1),
        ("input_required", "working", 2),
        ("working", "completed", 2),
    ]
    assert notes(task.marker) == [
        "attempt 1 asks first",
        "attempt 1 stopped waiting for first: TaskCancelled",
        "attempt 2 asks first",
        'attempt 2 got first: accept {"confirm": true}',
    ]


@pytest.mark.asyncio(loop_scope="module")
async def test_fail_tool_parked_at_a_stop_is_failed_at_the_next_start(restarted: Restarted) -> None:
    db, client, task = restarted.db, restarted.client, restarted.fail
    task_id = task.task_id
    assert_parked_without_lease(task.row_at_stop, attempt=1, stopped_at=restarted.stopped_at)
    assert [r["response"] for r in task.inputs_at_stop] == [None]

    # Failed during start-up, before the server took requests: the first read after it saw it.
    failed = await get_task(client, task_id)
    await task.trail.stop()
    print(
        "\n" + transcript("fail tool, SIGINT while input_required (2026-07-28 HTTP)", task.trail, db, task_id)
    )

    assert failed["status"] == "failed"
    assert failed["statusMessage"] == INTERRUPTED_WAITING
    assert failed["error"]["code"] == -32603
    assert "inputRequests" not in failed
    assert seen(task.trail) == ["input_required", "failed"]
    assert seen(task.trail, since=RESTARTED) == ["failed"]
    assert events(db, task_id)[-1] == {
        "from_status": "input_required",
        "to_status": "failed",
        "attempt": 1,
        "message": INTERRUPTED_WAITING,
    }
    # Nobody is asked a question whose answer cannot be used: the tool never ran again.
    assert notes(task.marker) == [
        "attempt 1 asks first",
        "attempt 1 stopped waiting for first: TaskCancelled",
    ]
    # A late answer changes nothing.
    await client.answer(task_id, "input-1", {"action": "accept", "content": {"confirm": True}})
    assert (await get_task(client, task_id))["status"] == "failed"
    assert input_rows(db, task_id)[0]["response"] is None


@pytest.mark.asyncio(loop_scope="module")
async def test_rerun_reuses_the_answer_given_before_the_stop_and_asks_only_the_next_question(
    restarted: Restarted,
) -> None:
    db, client, task = restarted.db, restarted.client, restarted.in_turn
    task_id = task.task_id
    assert task.listed_before == {"input-2": question("Second question?")}
    assert_parked_without_lease(task.row_at_stop, attempt=1, stopped_at=restarted.stopped_at)
    answered = task.inputs_at_stop[0]
    assert answered["request_key"] == "input-1" and answered["answered_at"] is not None

    await until(
        sync_probe(lambda: notes(task.marker)),
        lambda lines: "attempt 2 asks second" in lines,
        what="attempt 2 asking the second question",
    )
    after = await get_task(client, task_id)
    assert after["status"] == "input_required"
    assert after["inputRequests"] == {"input-2": question("Second question?")}
    # input-1 was not asked again: the same row, answered at the same time as before the stop.
    rows = input_rows(db, task_id)
    assert [r["request_key"] for r in rows] == ["input-1", "input-2"]
    assert rows[0] == answered
    assert stored(db, task_id)["attempt"] == 2

    await task.trail.mark("tasks/update answers input-2")
    await client.answer(task_id, "input-2", {"action": "decline"})
    done = await wait_terminal(client, task_id)
    await task.trail.stop()
    print(
        "\n" + transcript("rerun tool, two questions, first answered before SIGINT", task.trail, db, task_id)
    )

    assert done["status"] == "completed"
    assert (
        done["result"]["content"][0]["text"]
        == 'attempt 2: first=accept {"confirm": true}; second=decline null'
    )
    assert seen(task.trail, since=RESTARTED) == ["input_required", "completed"]
    assert [(e["from_status"], e["to_status"], e["attempt"]) for e in events(db, task_id)] == [
        (None, "working", 1),
        ("working", "input_required", 1),
        ("input_required", "working", 1),
        ("working", "input_required", 1),
        ("input_required", "working", 2),
        ("working", "completed", 2),
    ]
    assert notes(task.marker) == [
        "attempt 1 asks first",
        'attempt 1 got first: accept {"confirm": true}',
        "attempt 1 asks second",
        "attempt 1 stopped waiting for second: TaskCancelled",
        "attempt 2 asks first",
        'attempt 2 got first: accept {"confirm": true}',
        "attempt 2 asks second",
        "attempt 2 got second: decline null",
    ]


@pytest.mark.asyncio(loop_scope="module")
async def test_2025_rerun_tool_parked_at_a_stop_stays_parked_for_its_session(restarted: Restarted) -> None:
    """The 2025-11-25 counterpart: the task survives the stop and its tool runs again as attempt 2,
    still waiting; but its owner, the session, died with the server, so no new session sees it."""
    db, task = restarted.db, restarted.legacy
    task_id = task.task_id
    assert_parked_without_lease(task.row_at_stop, attempt=1, stopped_at=restarted.stopped_at)
    row = await until(
        sync_probe(lambda: stored(db, task_id)),
        lambda r: r["attempt"] == 2 and r["lease_node"] is not None,
        what="attempt 2 running",
    )
    assert row["status"] == "input_required"
    assert row["owner_kind"] == "session"
    await until(
        sync_probe(lambda: notes(task.marker)),
        lambda lines: "attempt 2 asks first" in lines,
        what="attempt 2 asking again",
    )
    newcomer = LegacyHttpClient(restarted.server.base_url)
    try:
        await newcomer.open(capabilities=LEGACY_ASKABLE)
        for method in ("tasks/get", "tasks/result", "tasks/cancel"):
            reply = await newcomer.request(method, {"taskId": task_id})
            assert reply.error == {"code": -32602, "message": "Task not found"}, method
    finally:
        await newcomer.aclose()
    await task.trail.stop()
    print(
        "\n"
        + transcript("rerun tool, SIGINT while input_required (2025-11-25 HTTP)", task.trail, db, task_id)
    )
    assert seen(task.trail) == ["input_required"]
    assert seen(task.trail, since=RESTARTED) == ["input_required"]
    assert [r["response"] for r in input_rows(db, task_id)] == [None]
    assert notes(task.marker) == [
        "attempt 1 asks first",
        "attempt 1 stopped waiting for first: TaskCancelled",
        "attempt 2 asks first",
    ]


# -- a crash, and the ttl ---------------------------------------------------------------------------


async def test_rerun_tool_parked_when_the_server_is_killed_is_parked_again_after_its_lease(
    servers: ServerFactory, clients: list[Modern], server_db: Path | str, tmp_path: Path
) -> None:
    """kill -9: nothing is written at the crash; the dead node's lease runs out, then attempt 2
    parks again on the stored question and is answerable."""
    db, marker = server_db, tmp_path / "notes"
    server = servers()
    client = Modern(server)
    clients.append(client)
    task_id = await client.start("elicit_once_rerun", {"filename": "crash.txt", "marker": str(marker)})
    trail = StatusTrail(wire_status(client.client, task_id)).start()
    await wait_status(client, task_id, "input_required")

    await trail.mark("SIGKILL")
    server.kill()
    dead = stored(db, task_id)
    assert dead["status"] == "input_required"
    assert dead["lease_node"] is not None and dead["attempt"] == 1

    server = servers()
    client = Modern(server)
    clients.append(client)
    trail.probe = wire_status(client.client, task_id)
    await trail.mark(RESTARTED)
    within = TEST_LEASES["duration_s"] + TEST_LEASES["recover_interval_s"] + 5.0
    row = await until(
        sync_probe(lambda: stored(db, task_id)),
        lambda r: r["attempt"] == 2,
        within_s=within,
        what="attempt 2 after the dead node's lease ran out",
    )
    await trail.mark("attempt 2 claimed the task")
    assert row["status"] == "input_required"
    assert row["lease_node"] not in (None, dead["lease_node"])
    parked = await get_task(client, task_id)
    assert parked["status"] == "input_required"
    assert parked["inputRequests"] == {"input-1": question("Delete crash.txt?")}

    await trail.mark("tasks/update answers input-1")
    await client.answer(task_id, "input-1", {"action": "accept", "content": {"confirm": False}})
    done = await wait_terminal(client, task_id)
    await trail.stop()
    print("\n" + transcript("rerun tool, SIGKILL while input_required", trail, db, task_id))

    assert done["status"] == "completed"
    assert done["result"]["content"][0]["text"] == 'attempt 2: accept {"confirm": false}'
    assert seen(trail) == ["input_required", "completed"]
    assert seen(trail, since=RESTARTED) == ["input_required", "completed"]
    assert [(e["from_status"], e["to_status"], e["attempt"]) for e in events(db, task_id)] == [
        (None, "working", 1),
        ("working", "input_required", 1),
        ("input_required", "working", 2),
        ("working", "completed", 2),
    ]
    # The killed attempt wrote nothing when it died.
    assert notes(marker) == [
        "attempt 1 asks first",
        "attempt 2 asks first",
        'attempt 2 got first: accept {"confirm": false}',
    ]


async def test_parked_task_past_its_ttl_is_failed_visibly_then_deleted(
    servers: ServerFactory, clients: list[Modern], server_db: Path | str, tmp_path: Path
) -> None:
    db, marker = server_db, tmp_path / "notes"
    server = servers(
        retention={
            "default_ttl_ms": PARKED_TTL_MS,
            "sweep_interval_s": 0.2,
            "expired_keep_s": EXPIRED_KEEP_S,
        }
    )
    client = Modern(server)
    clients.append(client)
    task_id = await client.start("elicit_once_rerun", {"filename": "late.txt", "marker": str(marker)})
    trail = StatusTrail(wire_status(client.client, task_id)).start()
    parked = await wait_status(client, task_id, "input_required")
    assert parked["ttlMs"] == PARKED_TTL_MS

    failed = await wait_status(
        client, task_id, {"failed", "completed", "cancelled"}, within_s=PARKED_TTL_MS / 1000 + 5
    )
    assert failed["status"] == "failed"
    assert failed["statusMessage"].startswith("Task expired while waiting for input")
    assert failed["error"]["code"] == -32603
    assert failed["ttlMs"] > PARKED_TTL_MS  # grown to cover the keep period
    assert "inputRequests" not in failed
    # The waiting tool was stopped.
    await until(
        sync_probe(lambda: notes(marker)),
        lambda lines: any("stopped waiting" in line for line in lines),
        what="the tool stopped",
    )
    assert events(db, task_id)[-1]["from_status"] == "input_required"
    assert events(db, task_id)[-1]["to_status"] == "failed"

    error = await wait_gone(client, task_id, within_s=EXPIRED_KEEP_S + 5)
    await trail.stop()
    print("\n" + "\n".join(["=== transcript: parked task past its ttl", *trail.lines()]))
    assert (error.code, error.message) == (-32602, "Task not found")
    assert seen(trail) == ["input_required", "failed", "gone"]
    assert row_counts(db, task_id) == {"tasks": 0, "task_results": 0, "task_events": 0}
    assert input_rows(db, task_id) == []
