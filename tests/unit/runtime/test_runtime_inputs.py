"""Tools that ask mid-task, on the real `Executor` and `TaskManager` over a real store.

A small `ToolResolver` (below) plays the server's part: a policy per tool name and an invoker
running the tool with its stored arguments, so a stop and a fresh `Executor.start()` exercise
recovery exactly as a restarted server does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from mcptasks.core.errors import ErrorCode, InputUnavailable, TaskCancelled
from mcptasks.core.model import (
    ELICITATION,
    SAMPLING,
    Completed,
    ElicitResult,
    ErrorInfo,
    InputRequest,
    Outcome,
    RecoveryPolicy,
    TaskRecord,
    utcnow,
)
from mcptasks.core.owner import Owner
from mcptasks.core.status import TaskStatus
from mcptasks.runtime import running as running_module
from mcptasks.runtime.bus import TaskBus
from mcptasks.runtime.context import TaskContext
from mcptasks.runtime.executor import Executor
from mcptasks.runtime.manager import TaskManager
from mcptasks.runtime.options import Leases, Retention
from mcptasks.runtime.outcomes import INTERRUPTED_WAITING_MESSAGE, UNKNOWN_TOOL_MESSAGE
from mcptasks.runtime.running import Invoke
from mcptasks.server.tools import build_tool, task_invoker
from mcptasks.store.store import Store

Eventually = Callable[..., Awaitable[float]]
StatusOf = Callable[[str], Awaitable[TaskStatus | None]]
OwnerFactory = Callable[..., Owner]
#: A tool as the test resolver serves it: `(context, stored arguments) -> outcome`.
ToolFn = Callable[[TaskContext, dict[str, Any]], Awaitable[Outcome]]

SCHEMA = {"type": "object", "properties": {"confirm": {"type": "boolean"}}, "required": ["confirm"]}
ACCEPT = {"action": "accept", "content": {"confirm": True}}
DECLINE = {"action": "decline"}
CANCEL = {"action": "cancel"}
#: What a client that can be asked declares.
ASKABLE: dict[str, Any] = {"elicitation": {}, "sampling": {}}


def done(text: str = "done") -> Completed:
    return Completed({"content": [{"type": "text", "text": text}]})


# -- the resolver and the runtime ----------------------------------------------------------------


@dataclass
class Resolver:
    """A `ToolResolver` over a dict: `tools[name] = (on_restart policy, tool)`."""

    tools: dict[str, tuple[RecoveryPolicy, ToolFn]] = field(default_factory=dict)

    def add(self, name: str, policy: RecoveryPolicy, tool: ToolFn) -> None:
        self.tools[name] = (policy, tool)

    def recovery_policy(self, tool_name: str) -> RecoveryPolicy | None:
        entry = self.tools.get(tool_name)
        return None if entry is None else entry[0]

    def invoker(self, record: TaskRecord) -> Invoke:
        return self.invoke(record.tool_name, dict(record.arguments))

    def invoke(self, tool_name: str, arguments: dict[str, Any]) -> Invoke:
        _, tool = self.tools[tool_name]

        async def invoke(context: TaskContext) -> Outcome:
            return await tool(context, arguments)

        return invoke


@dataclass
class Runtime:
    """One "process": an executor with the resolver, and the task manager over it."""

    executor: Executor
    manager: TaskManager

    async def create(
        self,
        owner: Owner,
        tool_name: str,
        arguments: dict[str, Any] | None = None,
        *,
        capabilities: dict[str, Any] | None = ASKABLE,
        ttl_ms: int | None = None,
        invoke: Invoke | None = None,
    ) -> TaskRecord:
        """Create a task as a client's `tools/call` would, started on this runtime's executor."""
        resolver = self.executor.resolver
        assert isinstance(resolver, Resolver)
        args = arguments or {}
        return await self.manager.create(
            owner,
            wire="2025-11-25",
            tool_name=tool_name,
            arguments=args,
            requested_ttl_ms=ttl_ms,
            progress_token=None,
            invoke=invoke or resolver.invoke(tool_name, args),
            client_capabilities=capabilities,
        )


RuntimeFactory = Callable[..., Awaitable[Runtime]]


@pytest.fixture
def resolver() -> Resolver:
    return Resolver()


@pytest.fixture
async def runtime_factory(
    store: Store, bus: TaskBus, leases: Leases, retention: Retention, resolver: Resolver
) -> Any:
    """`await runtime_factory(start=True, resolver=…)`: a fresh "process"; all stopped at teardown."""
    made: list[Executor] = []

    async def make(*, start: bool = True, resolver_: Resolver | None = None) -> Runtime:
        executor = Executor(store, bus, leases=leases, retention=retention, resolver=resolver_ or resolver)
        made.append(executor)
        if start:
            await executor.start()
        return Runtime(executor, TaskManager(store, executor, bus, retention))

    try:
        yield make
    finally:
        for executor in made:
            await executor.stop()


@pytest.fixture
async def runtime(runtime_factory: RuntimeFactory) -> Runtime:
    return await runtime_factory()


@pytest.fixture
def owner(owner_factory: OwnerFactory) -> Owner:
    return owner_factory()


# -- helpers ----------------------------------------------------------------------------------------


def gone(executor: Executor, task_id: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return task_id not in executor.running_task_ids

    return check


def running_here(executor: Executor, task_id: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return task_id in executor.running_task_ids

    return check


Parked = Callable[[str, list[str]], Callable[[], Awaitable[bool]]]


@pytest.fixture
def parked(store: Store, bus: TaskBus, owner: Owner) -> Parked:
    """`await eventually(parked(task_id, keys))`: the tool of the task's current attempt waits on
    exactly `keys`: stored outstanding, the task `input_required`, and each question published
    (the worker publishes a question just before it starts waiting on it)."""
    published: set[tuple[str, int, str]] = set()
    bus.on_input(lambda record, request: published.add((record.task_id, record.attempt, request.key)))

    def waiting_on(task_id: str, keys: list[str]) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            outstanding = [r.key for r in await store.outstanding_inputs(owner, task_id)]
            record = await store.get_task(owner, task_id)
            return (
                outstanding == keys
                and record is not None
                and record.status is TaskStatus.INPUT_REQUIRED
                and all((task_id, record.attempt, key) in published for key in keys)
            )

        return check

    return waiting_on


async def stored(store: Store, task_id: str) -> TaskRecord:
    found = await store.admin_get_task(task_id)
    assert found is not None
    return found[0]


async def history(store: Store, task_id: str) -> list[tuple[TaskStatus, int]]:
    return [(e.to_status, e.attempt) for e in await store.admin_task_events(task_id)]


# -- asking and answering ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (ACCEPT, ElicitResult("accept", {"confirm": True})),
        (DECLINE, ElicitResult("decline")),
        (CANCEL, ElicitResult("cancel")),
    ],
    ids=["accept", "decline", "cancel"],
)
async def test_elicit_parks_the_task_and_the_answer_wakes_the_tool(
    store: Store,
    runtime: Runtime,
    resolver: Resolver,
    bus: TaskBus,
    owner: Owner,
    parked: Parked,
    eventually: Eventually,
    response: dict[str, Any],
    expected: ElicitResult,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The waiting tool re-reads the store only every minute: the answer must wake it in-process.
    monkeypatch.setattr(running_module, "INPUT_POLL_S", 60.0)
    statuses: list[TaskStatus] = []
    bus.on_status(lambda record: statuses.append(record.status))
    asked: list[InputRequest] = []
    bus.on_input(lambda record, request: asked.append(request))
    seen: list[tuple[int, ElicitResult]] = []

    async def confirm(ctx: TaskContext, args: dict[str, Any]) -> Outcome:
        answer = await ctx.elicit(f"Delete {args['filename']}?", SCHEMA)
        seen.append((ctx.attempt, answer))
        return done(answer.action)

    resolver.add("confirm", "fail", confirm)
    task = await runtime.create(owner, "confirm", {"filename": "a.txt"})
    await eventually(parked(task.task_id, ["input-1"]))

    [request] = await runtime.manager.outstanding_inputs(owner, task.task_id)
    assert request.method == ELICITATION
    assert request.params == {"mode": "form", "message": "Delete a.txt?", "requestedSchema": SCHEMA}
    assert [r.key for r in asked] == ["input-1"]
    assert statuses == [TaskStatus.INPUT_REQUIRED]
    assert not seen

    outcome = await runtime.manager.answer(owner, task.task_id, {"input-1": response})

    assert outcome.answered == {"input-1"} and outcome.resumed
    await eventually(gone(runtime.executor, task.task_id))
    assert seen == [(1, expected)]
    found = await store.get_task_with_result(owner, task.task_id)
    assert found is not None
    assert found[0].status is TaskStatus.COMPLETED
    assert found[1] is not None and found[1].result == done(expected.action).result
    assert statuses == [TaskStatus.INPUT_REQUIRED, TaskStatus.WORKING, TaskStatus.COMPLETED]
    assert await history(store, task.task_id) == [
        (TaskStatus.WORKING, 1),
        (TaskStatus.INPUT_REQUIRED, 1),
        (TaskStatus.WORKING, 1),
        (TaskStatus.COMPLETED, 1),
    ]


async def test_create_message_is_asked_and_answered_like_elicit(
    store: Store, runtime: Runtime, resolver: Resolver, owner: Owner, parked: Parked, eventually: Eventually
) -> None:
    completion = {"role": "assistant", "content": {"type": "text", "text": "4"}, "model": "m"}
    seen: list[dict[str, Any]] = []

    async def sample(ctx: TaskContext, args: dict[str, Any]) -> Outcome:
        messages = [{"role": "user", "content": {"type": "text", "text": "2+2?"}}]
        seen.append(await ctx.create_message(messages, 10, systemPrompt="terse"))
        return done()

    resolver.add("sample", "fail", sample)
    task = await runtime.create(owner, "sample")
    await eventually(parked(task.task_id, ["input-1"]))
    [request] = await runtime.manager.outstanding_inputs(owner, task.task_id)
    assert request.method == SAMPLING
    assert request.params == {
        "messages": [{"role": "user", "content": {"type": "text", "text": "2+2?"}}],
        "maxTokens": 10,
        "systemPrompt": "terse",
    }

    await runtime.manager.answer(owner, task.task_id, {"input-1": completion})

    await eventually(gone(runtime.executor, task.task_id))
    assert seen == [completion]
    assert (await stored(store, task.task_id)).status is TaskStatus.COMPLETED


async def test_concurrent_questions_get_keys_in_the_order_asked(
    store: Store, runtime: Runtime, resolver: Resolver, owner: Owner, parked: Parked, eventually: Eventually
) -> None:
    seen: list[tuple[str, str]] = []

    async def survey(ctx: TaskContext, args: dict[str, Any]) -> Outcome:
        first, second = await asyncio.gather(ctx.elicit("first", SCHEMA), ctx.elicit("second", SCHEMA))
        seen.extend([("first", first.action), ("second", second.action)])
        third = await ctx.elicit("third", SCHEMA)
        seen.append(("third", third.action))
        return done()

    resolver.add("survey", "fail", survey)
    task = await runtime.create(owner, "survey")
    await eventually(parked(task.task_id, ["input-1", "input-2"]))
    listed = await runtime.manager.outstanding_inputs(owner, task.task_id)
    assert [(r.key, r.params["message"]) for r in listed] == [("input-1", "first"), ("input-2", "second")]

    # Answered one at a time, the second first: the task waits until both are in.
    partial = await runtime.manager.answer(owner, task.task_id, {"input-2": DECLINE})
    assert partial.answered == {"input-2"} and not partial.resumed
    assert (await stored(store, task.task_id)).status is TaskStatus.INPUT_REQUIRED
    assert [r.key for r in await runtime.manager.outstanding_inputs(owner, task.task_id)] == ["input-1"]
    assert not seen

    last = await runtime.manager.answer(owner, task.task_id, {"input-1": ACCEPT})
    assert last.resumed
    await eventually(parked(task.task_id, ["input-3"]))
    assert seen == [("first", "accept"), ("second", "decline")]
    [third] = await runtime.manager.outstanding_inputs(owner, task.task_id)
    assert third.params["message"] == "third"

    await runtime.manager.answer(owner, task.task_id, {"input-3": CANCEL})
    await eventually(gone(runtime.executor, task.task_id))
    assert seen[-1] == ("third", "cancel")
    assert (await stored(store, task.task_id)).status is TaskStatus.COMPLETED


# -- a client that cannot be asked ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("capabilities", "method", "missing"),
    [
        (None, ELICITATION, "elicitation"),
        ({}, ELICITATION, "elicitation"),
        ({"sampling": {}}, ELICITATION, "elicitation"),
        ({"elicitation": {}}, SAMPLING, "sampling"),
    ],
    ids=["none-declared", "empty", "sampling-only", "elicitation-only"],
)
async def test_asking_a_client_without_the_capability_raises_input_unavailable(
    store: Store,
    runtime: Runtime,
    resolver: Resolver,
    owner: Owner,
    eventually: Eventually,
    db: Any,
    capabilities: dict[str, Any] | None,
    method: str,
    missing: str,
) -> None:
    raised: list[InputUnavailable] = []

    async def ask(ctx: TaskContext, args: dict[str, Any]) -> Outcome:
        try:
            if method == ELICITATION:
                await ctx.elicit("Proceed?", SCHEMA)
            else:
                await ctx.create_message([{"role": "user", "content": {"type": "text", "text": "hi"}}], 5)
        except InputUnavailable as exc:
            raised.append(exc)
            return done("refused")
        return done("asked")

    resolver.add("ask", "fail", ask)
    task = await runtime.create(owner, "ask", capabilities=capabilities)
    await eventually(gone(runtime.executor, task.task_id))

    [exc] = raised
    assert exc.code is ErrorCode.MISSING_REQUIRED_CLIENT_CAPABILITY and int(exc.code) == -32021
    assert exc.capability == missing
    assert exc.data == {"requiredCapabilities": {missing: {}}}
    assert f"the {missing} capability" in exc.message
    assert await db.count("task_input_requests") == 0  # nothing stored, nobody asked
    assert await history(store, task.task_id) == [(TaskStatus.WORKING, 1), (TaskStatus.COMPLETED, 1)]


async def needs_confirmation(path: str, task: TaskContext) -> str:
    """A tool as a server registers it: the question's refusal escapes it."""
    answer = await task.elicit(f"Delete {path}?", SCHEMA)
    return str(answer.action)


async def test_the_task_of_a_tool_asking_a_client_without_the_capability_fails_with_32021(
    store: Store, runtime: Runtime, resolver: Resolver, owner: Owner, eventually: Eventually, db: Any
) -> None:
    # Invoked the way the server invokes its tools (`task_invoker`), which maps InputUnavailable.
    entry = build_tool(
        needs_confirmation,
        name=None,
        title=None,
        description=None,
        task_support="optional",
        structured_output=None,
    )
    task = await runtime.create(
        owner,
        "needs_confirmation",
        {"path": "a.txt"},
        capabilities={"sampling": {}},
        invoke=task_invoker(entry, {"path": "a.txt"}),
    )
    await eventually(gone(runtime.executor, task.task_id))

    found = await store.get_task_with_result(owner, task.task_id)
    assert found is not None
    record, outcome = found
    assert record.status is TaskStatus.FAILED
    assert record.status_message is not None and "elicitation capability" in record.status_message
    assert outcome is not None and outcome.error is not None
    assert outcome.error.code == -32021
    assert outcome.error.message == record.status_message
    assert outcome.error.data == {"requiredCapabilities": {"elicitation": {}}}
    assert await db.count("task_input_requests") == 0


# -- cancellation and ttl ---------------------------------------------------------------------------


async def test_cancelling_a_waiting_task_raises_task_cancelled_in_the_tool(
    store: Store,
    runtime: Runtime,
    resolver: Resolver,
    owner: Owner,
    parked: Parked,
    eventually: Eventually,
    leases: Leases,
) -> None:
    saw_cancel: list[float] = []

    async def confirm(ctx: TaskContext, args: dict[str, Any]) -> Outcome:
        try:
            await ctx.elicit("Proceed?", SCHEMA)
        except TaskCancelled:
            saw_cancel.append(time.monotonic())
            raise
        return done()

    resolver.add("confirm", "rerun", confirm)
    task = await runtime.create(owner, "confirm")
    await eventually(parked(task.task_id, ["input-1"]))

    start = time.monotonic()
    cancelled = await runtime.manager.cancel(owner, task.task_id, reject_terminal=True)
    assert cancelled.status is TaskStatus.CANCELLED

    await eventually(gone(runtime.executor, task.task_id))
    [when] = saw_cancel
    assert when - start < leases.cancel_grace_s  # the token, not a hard cancel
    found = await store.get_task_with_result(owner, task.task_id)
    assert found is not None and found[0].status is TaskStatus.CANCELLED and found[1] is None
    # A late answer is ignored, and nothing runs the tool again.
    late = await runtime.manager.answer(owner, task.task_id, {"input-1": ACCEPT})
    assert late.answered == frozenset() and late.record.status is TaskStatus.CANCELLED
    await asyncio.sleep(leases.recover_interval_s * 2)
    assert task.task_id not in runtime.executor.running_task_ids
    assert await history(store, task.task_id) == [
        (TaskStatus.WORKING, 1),
        (TaskStatus.INPUT_REQUIRED, 1),
        (TaskStatus.CANCELLED, 1),
    ]


async def test_a_parked_task_whose_ttl_runs_out_fails_as_expired_while_waiting(
    store: Store, runtime: Runtime, resolver: Resolver, owner: Owner, eventually: Eventually
) -> None:
    stopped: list[BaseException] = []

    async def confirm(ctx: TaskContext, args: dict[str, Any]) -> Outcome:
        try:
            await ctx.elicit("Proceed?", SCHEMA)
        except TaskCancelled as exc:
            stopped.append(exc)
            raise
        return done()

    resolver.add("confirm", "rerun", confirm)
    task = await runtime.create(owner, "confirm", ttl_ms=400)

    async def expired() -> bool:
        return (await stored(store, task.task_id)).status is TaskStatus.FAILED

    await eventually(expired, timeout_s=5)
    await eventually(gone(runtime.executor, task.task_id))
    assert len(stopped) == 1  # the sweeper stopped the waiting tool
    found = await store.get_task_with_result(owner, task.task_id)
    assert found is not None
    record, outcome = found
    assert record.status_message == "Task expired while waiting for input: its ttl of 400 ms ran out"
    assert outcome is not None and outcome.error == ErrorInfo(-32603, "Task expired")
    assert record.expires_at is not None and record.expires_at > record.created_at + timedelta(seconds=30)
    assert [s for s, _ in await history(store, task.task_id)][-2:] == [
        TaskStatus.INPUT_REQUIRED,
        TaskStatus.FAILED,
    ]


# -- stop and restart -------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["fail", "rerun"])
async def test_stop_keeps_a_waiting_task_parked_and_releases_its_lease(
    store: Store,
    runtime: Runtime,
    resolver: Resolver,
    owner: Owner,
    parked: Parked,
    eventually: Eventually,
    leases: Leases,
    policy: RecoveryPolicy,
) -> None:
    endings: list[str] = []

    async def confirm(ctx: TaskContext, args: dict[str, Any]) -> Outcome:
        try:
            await ctx.elicit("Proceed?", SCHEMA)
        except TaskCancelled:
            endings.append("TaskCancelled")
            raise
        return done()

    resolver.add("confirm", policy, confirm)
    task = await runtime.create(owner, "confirm")
    await eventually(parked(task.task_id, ["input-1"]))

    start = time.monotonic()
    await runtime.executor.stop()

    assert time.monotonic() - start < leases.shutdown_grace_s  # the token ended it, no hard cancel
    assert runtime.executor.running_task_ids == frozenset()
    assert endings == ["TaskCancelled"]
    found = await store.get_task_with_result(owner, task.task_id)
    assert found is not None
    record, outcome = found
    assert record.status is TaskStatus.INPUT_REQUIRED and outcome is None
    # Released: no node holds it, and the lease reads as run out from the stop on (recovery's query).
    assert record.lease_node is None
    assert record.lease_expires_at is not None and record.lease_expires_at <= utcnow()
    assert record.attempt == 1
    assert [r.key for r in await store.outstanding_inputs(owner, task.task_id)] == ["input-1"]
    assert await history(store, task.task_id) == [(TaskStatus.WORKING, 1), (TaskStatus.INPUT_REQUIRED, 1)]


async def test_the_next_start_reruns_a_parked_rerun_tool_and_answered_questions_are_not_asked_again(
    store: Store,
    runtime_factory: RuntimeFactory,
    resolver: Resolver,
    owner: Owner,
    parked: Parked,
    eventually: Eventually,
    db: Any,
) -> None:
    seen: list[tuple[int, str, str]] = []
    asked: list[tuple[int, str]] = []

    async def two_questions(ctx: TaskContext, args: dict[str, Any]) -> Outcome:
        asked.append((ctx.attempt, "first"))
        first = await ctx.elicit("first?", SCHEMA)
        seen.append((ctx.attempt, "first", first.action))
        asked.append((ctx.attempt, "second"))
        second = await ctx.elicit("second?", SCHEMA)
        seen.append((ctx.attempt, "second", second.action))
        return done(f"{first.action}/{second.action} on attempt {ctx.attempt}")

    resolver.add("two_questions", "rerun", two_questions)
    old = await runtime_factory()
    task = await old.create(owner, "two_questions")
    await eventually(parked(task.task_id, ["input-1"]))
    await old.manager.answer(owner, task.task_id, {"input-1": ACCEPT})
    await eventually(parked(task.task_id, ["input-2"]))
    first_row = await store.get_input_request(task.task_id, "input-1")
    await old.executor.stop()
    assert (await stored(store, task.task_id)).status is TaskStatus.INPUT_REQUIRED

    new = await runtime_factory()  # start() recovers before it returns

    await eventually(running_here(new.executor, task.task_id))
    record = await stored(store, task.task_id)
    assert record.attempt == 2 and record.lease_node == new.executor.node

    # The first question returned its stored answer at once; the second is asked (it was already).
    async def second_asked_again() -> bool:
        return (2, "second") in asked

    await eventually(second_asked_again)
    await eventually(parked(task.task_id, ["input-2"]))
    assert seen == [(1, "first", "accept"), (2, "first", "accept")]
    assert asked == [(1, "first"), (1, "second"), (2, "first"), (2, "second")]
    assert await db.count("task_input_requests", task_id=task.task_id) == 2
    assert await store.get_input_request(task.task_id, "input-1") == first_row

    await new.manager.answer(owner, task.task_id, {"input-2": DECLINE})

    await eventually(gone(new.executor, task.task_id))
    found = await store.get_task_with_result(owner, task.task_id)
    assert found is not None
    assert found[0].status is TaskStatus.COMPLETED
    assert found[1] is not None and found[1].result == done("accept/decline on attempt 2").result
    assert await history(store, task.task_id) == [
        (TaskStatus.WORKING, 1),
        (TaskStatus.INPUT_REQUIRED, 1),
        (TaskStatus.WORKING, 1),
        (TaskStatus.INPUT_REQUIRED, 1),  # parked through the restart: no event for stop or claim
        (TaskStatus.WORKING, 2),
        (TaskStatus.COMPLETED, 2),
    ]


async def test_the_next_start_fails_a_parked_fail_tool_as_interrupted_while_waiting(
    store: Store,
    runtime_factory: RuntimeFactory,
    resolver: Resolver,
    owner: Owner,
    parked: Parked,
    eventually: Eventually,
) -> None:
    runs: list[int] = []

    async def confirm(ctx: TaskContext, args: dict[str, Any]) -> Outcome:
        runs.append(ctx.attempt)
        await ctx.elicit("Proceed?", SCHEMA)
        return done()

    resolver.add("confirm", "fail", confirm)
    old = await runtime_factory()
    task = await old.create(owner, "confirm")
    await eventually(parked(task.task_id, ["input-1"]))
    await old.executor.stop()

    new = await runtime_factory()

    assert runs == [1]  # never run again
    assert new.executor.running_task_ids == frozenset()
    found = await store.get_task_with_result(owner, task.task_id)
    assert found is not None
    record, outcome = found
    assert record.status is TaskStatus.FAILED
    assert record.status_message == INTERRUPTED_WAITING_MESSAGE
    assert outcome is not None and outcome.error == ErrorInfo(-32603, INTERRUPTED_WAITING_MESSAGE)
    late = await new.manager.answer(owner, task.task_id, {"input-1": ACCEPT})
    assert late.answered == frozenset()


async def test_the_next_start_fails_a_parked_task_whose_tool_is_not_served_any_more(
    store: Store,
    runtime_factory: RuntimeFactory,
    resolver: Resolver,
    owner: Owner,
    parked: Parked,
    eventually: Eventually,
) -> None:
    async def retired(ctx: TaskContext, args: dict[str, Any]) -> Outcome:
        await ctx.elicit("Proceed?", SCHEMA)
        return done()

    resolver.add("retired", "rerun", retired)
    old = await runtime_factory()
    task = await old.create(owner, "retired")
    await eventually(parked(task.task_id, ["input-1"]))
    await old.executor.stop()
    assert (await stored(store, task.task_id)).status is TaskStatus.INPUT_REQUIRED

    new = await runtime_factory(resolver_=Resolver())  # the new version serves no `retired`

    found = await store.get_task_with_result(owner, task.task_id)
    assert found is not None
    record, outcome = found
    assert record.status is TaskStatus.FAILED
    assert record.status_message == UNKNOWN_TOOL_MESSAGE
    assert outcome is not None and outcome.error == ErrorInfo(-32603, UNKNOWN_TOOL_MESSAGE)
    assert new.executor.running_task_ids == frozenset()


async def test_an_answer_for_a_task_without_a_worker_reruns_its_tool_at_once(
    store: Store,
    runtime_factory: RuntimeFactory,
    resolver: Resolver,
    owner: Owner,
    parked: Parked,
    eventually: Eventually,
) -> None:
    seen: list[tuple[int, str]] = []

    async def confirm(ctx: TaskContext, args: dict[str, Any]) -> Outcome:
        answer = await ctx.elicit("Proceed?", SCHEMA)
        seen.append((ctx.attempt, answer.action))
        return done(answer.action)

    resolver.add("confirm", "rerun", confirm)
    old = await runtime_factory()
    task = await old.create(owner, "confirm")
    await eventually(parked(task.task_id, ["input-1"]))
    await old.executor.stop()
    # Another process, whose recovery loop has not run: only the answer can start the tool.
    other = await runtime_factory(start=False)

    outcome = await other.manager.answer(owner, task.task_id, {"input-1": ACCEPT})

    assert outcome.answered == {"input-1"} and outcome.resumed
    assert task.task_id in other.executor.running_task_ids  # claimed before `answer` returned
    await eventually(gone(other.executor, task.task_id))
    assert seen == [(2, "accept")]
    found = await store.get_task_with_result(owner, task.task_id)
    assert found is not None
    assert found[0].status is TaskStatus.COMPLETED and found[0].attempt == 2
    assert found[1] is not None and found[1].result == done("accept").result


async def test_an_answer_for_a_parked_fail_tool_without_a_worker_fails_it_at_once(
    store: Store,
    runtime_factory: RuntimeFactory,
    resolver: Resolver,
    owner: Owner,
    parked: Parked,
    eventually: Eventually,
) -> None:
    runs: list[int] = []

    async def confirm(ctx: TaskContext, args: dict[str, Any]) -> Outcome:
        runs.append(ctx.attempt)
        await ctx.elicit("Proceed?", SCHEMA)
        return done()

    resolver.add("confirm", "fail", confirm)
    old = await runtime_factory()
    task = await old.create(owner, "confirm")
    await eventually(parked(task.task_id, ["input-1"]))
    await old.executor.stop()
    other = await runtime_factory(start=False)

    await other.manager.answer(owner, task.task_id, {"input-1": ACCEPT})

    record = await stored(store, task.task_id)
    assert record.status is TaskStatus.FAILED
    assert record.status_message is not None and record.status_message.startswith("Task interrupted")
    assert runs == [1]


async def test_an_answer_arriving_while_the_server_stops_leaves_a_rerun_task_for_the_next_start(
    store: Store,
    runtime_factory: RuntimeFactory,
    resolver: Resolver,
    owner: Owner,
    parked: Parked,
    eventually: Eventually,
) -> None:
    # On HTTP the executor stops first and requests are still served until uvicorn exits, so a
    # `tasks/update` (or a 2025-11-25 client's response) can arrive after the lease was released.
    seen: list[tuple[int, str]] = []

    async def confirm(ctx: TaskContext, args: dict[str, Any]) -> Outcome:
        answer = await ctx.elicit("Proceed?", SCHEMA)
        seen.append((ctx.attempt, answer.action))
        return done(answer.action)

    resolver.add("confirm", "rerun", confirm)
    stopping = await runtime_factory()
    task = await stopping.create(owner, "confirm")
    await eventually(parked(task.task_id, ["input-1"]))
    await stopping.executor.stop()

    outcome = await stopping.manager.answer(owner, task.task_id, {"input-1": ACCEPT})

    assert outcome.answered == {"input-1"}
    # The answer is kept and the task waits for the next start: "rerun" must not turn into "fail".
    record = await stored(store, task.task_id)
    assert record.status is TaskStatus.WORKING, record.status_message
    assert record.lease_node is None
    restarted = await runtime_factory()
    await eventually(gone(restarted.executor, task.task_id))
    assert seen == [(2, "accept")]
    assert (await stored(store, task.task_id)).status is TaskStatus.COMPLETED
