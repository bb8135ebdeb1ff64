"""`Store` verbs of questions a tool asks mid-task, on a real SQLite file.

Covers `request_input` (stored before anyone sees it, parks the task in the same transaction,
fenced by the worker's lease, idempotent per key), `outstanding_inputs` and `answer_inputs`
(owner-scoped, partial answers, unknown and answered keys ignored), and what the leases and the
ttl sweeper do to a parked task (`release_lease`, `claim_for_rerun`, `fail_expired`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from mcptasks.core.errors import StoreError
from mcptasks.core.model import ELICITATION, SAMPLING, ErrorInfo, InputRequest, TaskRecord, utcnow
from mcptasks.core.owner import Owner
from mcptasks.core.status import TaskStatus
from mcptasks.store.store import AnswerOutcome, Store

TaskFactory = Callable[..., Awaitable[TaskRecord]]
OwnerFactory = Callable[..., Owner]

#: A node that never holds any lease.
STRANGER = "stranger:9:999999"

SCHEMA = {"type": "object", "properties": {"confirm": {"type": "boolean"}}, "required": ["confirm"]}
ACCEPT = {"action": "accept", "content": {"confirm": True}}
DECLINE = {"action": "decline"}


def question(message: str = "Delete it?") -> dict[str, Any]:
    """The params `TaskContext.elicit` stores for a form question."""
    return {"mode": "form", "message": message, "requestedSchema": SCHEMA}


def holder(task: TaskRecord) -> str:
    """The node holding `task`'s lease (every `task_factory` task starts leased)."""
    assert task.lease_node is not None
    return task.lease_node


async def ask(
    store: Store,
    task: TaskRecord,
    key: str,
    params: dict[str, Any] | None = None,
    *,
    method: str = ELICITATION,
    attempt: int | None = None,
    node: str | None = None,
    now: datetime | None = None,
) -> tuple[TaskRecord, InputRequest] | None:
    """`request_input` as the worker holding `task` would call it (unless told otherwise)."""
    return await store.request_input(
        task.task_id,
        task.attempt if attempt is None else attempt,
        holder(task) if node is None else node,
        key,
        method,
        question() if params is None else params,
        now or utcnow(),
    )


async def claim(store: Store, record: TaskRecord, node: str = "next:1:000000") -> TaskRecord | None:
    """`claim_for_rerun` of `record` for `node`, for 30 s from now."""
    now = utcnow()
    return await store.claim_for_rerun(record, node, now + timedelta(seconds=30), now)


async def answer(
    store: Store, owner: Owner, task_id: str, responses: dict[str, dict[str, Any]]
) -> AnswerOutcome | None:
    """`answer_inputs` now."""
    return await store.answer_inputs(owner, task_id, responses, utcnow())


async def stored(store: Store, task_id: str) -> TaskRecord:
    found = await store.admin_get_task(task_id)
    assert found is not None
    return found[0]


async def moves(store: Store, task_id: str) -> list[tuple[TaskStatus | None, TaskStatus, int]]:
    """The task's history as `(from, to, attempt)`, oldest first."""
    return [(e.from_status, e.to_status, e.attempt) for e in await store.admin_task_events(task_id)]


# -- request_input ------------------------------------------------------------------------------


async def test_request_input_stores_the_question_and_parks_the_task(
    store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory, db: Any
) -> None:
    owner = owner_factory()
    task = await task_factory(owner=owner)
    now = utcnow()

    asked = await ask(store, task, "input-1", now=now)

    assert asked is not None
    record, request = asked
    assert record.status is TaskStatus.INPUT_REQUIRED
    assert record.lease_node == task.lease_node and record.attempt == task.attempt  # still held
    assert record == await stored(store, task.task_id)
    assert request == InputRequest(
        task_id=task.task_id, key="input-1", method=ELICITATION, params=question(), created_at=now
    )
    assert request.outstanding
    assert await store.get_input_request(task.task_id, "input-1") == request
    assert await moves(store, task.task_id) == [
        (None, TaskStatus.WORKING, 1),
        (TaskStatus.WORKING, TaskStatus.INPUT_REQUIRED, 1),
    ]
    rows = await db.rows()
    assert rows["task_events"][-1]["node"] == holder(task)
    [row] = rows["task_input_requests"]
    assert row["response"] is None and row["answered_at"] is None
    assert await store.outstanding_inputs(owner, task.task_id) == [request]


async def test_request_input_is_one_transaction(store: Store, task_factory: TaskFactory, db: Any) -> None:
    # The history row cannot be written: the question and the status change must vanish with it.
    await db.refuse_inserts("task_events", when="NEW.to_status = 'input_required'")
    task = await task_factory()

    with pytest.raises(StoreError) as refused:
        await ask(store, task, "input-1")
    assert "refused" in str(refused.value.__cause__)

    assert await db.count("task_input_requests") == 0
    assert (await stored(store, task.task_id)).status is TaskStatus.WORKING
    assert await moves(store, task.task_id) == [(None, TaskStatus.WORKING, 1)]


async def test_a_database_error_while_asking_is_a_store_error(
    store: Store, task_factory: TaskFactory, db: Any
) -> None:
    # `StoreError` is what the store raises when the database fails (core.errors), on PostgreSQL
    # and on SQLite alike; the executor and the middleware catch that type.
    await db.refuse_inserts("task_input_requests")
    task = await task_factory()

    with pytest.raises(StoreError):
        await ask(store, task, "input-1")


async def test_a_second_question_while_parked_adds_a_row_but_no_event(
    store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory, db: Any
) -> None:
    owner = owner_factory()
    task = await task_factory(owner=owner)
    first = await ask(store, task, "input-1", question("first"))
    second = await ask(store, task, "input-2", question("second"), method=SAMPLING)

    assert first is not None and second is not None
    assert second[0].status is TaskStatus.INPUT_REQUIRED
    assert second[1].key == "input-2" and second[1].method == SAMPLING
    assert await db.count("task_input_requests", task_id=task.task_id) == 2
    assert len(await moves(store, task.task_id)) == 2  # created, parked once
    assert [r.key for r in await store.outstanding_inputs(owner, task.task_id)] == ["input-1", "input-2"]


async def test_asking_again_under_a_stored_key_returns_the_stored_row(
    store: Store, task_factory: TaskFactory, db: Any
) -> None:
    task = await task_factory()
    first = await ask(store, task, "input-1", question("the original"))
    assert first is not None
    events = await moves(store, task.task_id)

    again = await ask(store, task, "input-1", question("something else"), method=SAMPLING)

    assert again is not None
    assert again[1] == first[1]  # params and method as first stored
    assert again[0].status is TaskStatus.INPUT_REQUIRED
    assert await db.count("task_input_requests") == 1
    assert await moves(store, task.task_id) == events


async def test_asking_again_under_an_answered_key_returns_the_answer_and_does_not_park(
    store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory, db: Any
) -> None:
    owner = owner_factory()
    task = await task_factory(owner=owner)
    assert await ask(store, task, "input-1")
    answered = await answer(store, owner, task.task_id, {"input-1": ACCEPT})
    assert answered is not None and answered.resumed
    events = await moves(store, task.task_id)

    again = await ask(store, task, "input-1", question("asked again"))

    assert again is not None
    record, request = again
    assert request.response == ACCEPT and request.answered_at is not None
    assert request.params == question()
    assert record.status is TaskStatus.WORKING  # an answered question parks nothing
    assert await db.count("task_input_requests") == 1
    assert await moves(store, task.task_id) == events


@pytest.mark.parametrize(
    ("attempt", "node"), [(2, None), (0, None), (None, STRANGER)], ids=["newer", "older", "node"]
)
async def test_request_input_by_a_worker_without_the_lease_writes_nothing(
    store: Store, task_factory: TaskFactory, db: Any, attempt: int | None, node: str | None
) -> None:
    task = await task_factory()
    before = await db.rows()

    assert await ask(store, task, "input-1", attempt=attempt, node=node) is None

    assert await db.rows() == before


async def test_request_input_after_the_lease_moved_on_writes_nothing(
    store: Store, task_factory: TaskFactory, db: Any
) -> None:
    task = await task_factory(lease_expires_at=utcnow() - timedelta(seconds=5))
    claimed = await claim(store, task)
    assert claimed is not None
    before = await db.rows()

    # The worker of attempt 1 (a zombie) may not ask; the new holder may.
    assert await ask(store, task, "input-1") is None
    assert await db.rows() == before
    asked = await ask(store, claimed, "input-1")
    assert asked is not None and asked[0].attempt == 2


@pytest.mark.parametrize("status", [TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED])
async def test_request_input_on_a_terminal_task_writes_nothing(
    store: Store, task_factory: TaskFactory, db: Any, status: TaskStatus
) -> None:
    live = await task_factory()
    task = await task_factory(status=status)
    before = await db.rows()

    # With the lease the task was created with, as a worker that missed the end would ask.
    assert await ask(store, task, "input-1", attempt=live.attempt, node=holder(live)) is None

    assert await db.rows() == before


# -- outstanding_inputs -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["session", "principal"])
async def test_outstanding_inputs_is_owner_scoped(
    store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory, kind: str
) -> None:
    owner, other = owner_factory(kind), owner_factory(kind)
    task = await task_factory(owner=owner)
    assert await ask(store, task, "input-1")

    assert [r.key for r in await store.outstanding_inputs(owner, task.task_id)] == ["input-1"]
    assert await store.outstanding_inputs(other, task.task_id) == []
    assert await store.outstanding_inputs(owner_factory("capability"), task.task_id) == []
    assert await store.outstanding_inputs(owner, "no-such-task") == []


async def test_outstanding_inputs_lists_the_unanswered_in_the_order_asked(
    store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory
) -> None:
    owner = owner_factory()
    task = await task_factory(owner=owner)
    start = utcnow()
    for n in (1, 2, 3):
        assert await ask(store, task, f"input-{n}", question(f"q{n}"), now=start + timedelta(milliseconds=n))
    answered = await answer(store, owner, task.task_id, {"input-2": DECLINE})
    assert answered is not None and answered.answered == {"input-2"}

    listed = await store.outstanding_inputs(owner, task.task_id)

    assert [(r.key, r.params["message"]) for r in listed] == [("input-1", "q1"), ("input-3", "q3")]
    assert all(r.outstanding for r in listed)


async def test_outstanding_inputs_keeps_the_order_asked_past_nine_questions(
    store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory
) -> None:
    # Questions asked within one clock tick (or after the wall clock stepped back) share
    # `created_at`; the order asked is then the key's number, not its spelling ("input-10" < "input-2").
    owner = owner_factory()
    task = await task_factory(owner=owner)
    now = utcnow()
    keys = [f"input-{n}" for n in range(1, 12)]
    for key in keys:
        assert await ask(store, task, key, now=now)

    assert [r.key for r in await store.outstanding_inputs(owner, task.task_id)] == keys


# -- answer_inputs ------------------------------------------------------------------------------


async def test_a_partial_answer_keeps_the_task_waiting(
    store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory, db: Any
) -> None:
    owner = owner_factory()
    task = await task_factory(owner=owner)
    assert await ask(store, task, "input-1")
    assert await ask(store, task, "input-2")
    events = await moves(store, task.task_id)
    now = utcnow()

    outcome = await store.answer_inputs(
        owner, task.task_id, {"input-1": ACCEPT, "input-9": ACCEPT, "nonsense": DECLINE}, now
    )

    assert outcome is not None
    assert outcome.answered == {"input-1"}
    assert not outcome.resumed
    assert outcome.record.status is TaskStatus.INPUT_REQUIRED
    assert (await stored(store, task.task_id)).status is TaskStatus.INPUT_REQUIRED
    assert await moves(store, task.task_id) == events
    assert await db.count("task_input_requests") == 2  # unknown keys create nothing
    first = await store.get_input_request(task.task_id, "input-1")
    assert first is not None and first.response == ACCEPT and first.answered_at == now
    assert [r.key for r in await store.outstanding_inputs(owner, task.task_id)] == ["input-2"]


async def test_the_last_answer_resumes_the_task_with_an_event(
    store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory
) -> None:
    owner = owner_factory()
    task = await task_factory(owner=owner)
    assert await ask(store, task, "input-1")
    assert await ask(store, task, "input-2")
    assert await answer(store, owner, task.task_id, {"input-1": ACCEPT})
    now = utcnow()

    # input-1 was answered already: its new answer is ignored, the stored one stays.
    outcome = await store.answer_inputs(owner, task.task_id, {"input-1": DECLINE, "input-2": DECLINE}, now)

    assert outcome is not None
    assert outcome.answered == {"input-2"}
    assert outcome.resumed
    assert outcome.record.status is TaskStatus.WORKING and outcome.record.last_updated_at == now
    record = await stored(store, task.task_id)
    assert record.status is TaskStatus.WORKING
    assert record.lease_node == task.lease_node  # the worker keeps its lease
    assert (await moves(store, task.task_id))[-1] == (TaskStatus.INPUT_REQUIRED, TaskStatus.WORKING, 1)
    first = await store.get_input_request(task.task_id, "input-1")
    assert first is not None and first.response == ACCEPT
    assert await store.outstanding_inputs(owner, task.task_id) == []


async def test_answers_naming_no_outstanding_key_change_nothing(
    store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory, db: Any
) -> None:
    owner = owner_factory()
    task = await task_factory(owner=owner)
    assert await ask(store, task, "input-1")
    before = await db.rows()

    for responses in ({}, {"input-2": ACCEPT}):
        outcome = await store.answer_inputs(owner, task.task_id, responses, utcnow())
        assert outcome is not None
        assert outcome.answered == frozenset() and not outcome.resumed
        assert outcome.record.status is TaskStatus.INPUT_REQUIRED

    assert await db.rows() == before


async def test_answers_to_a_terminal_task_are_ignored(
    store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory, db: Any
) -> None:
    owner = owner_factory()
    task = await task_factory(owner=owner)
    assert await ask(store, task, "input-1")
    cancelled = await store.cancel_task(owner, task.task_id, "stop", utcnow())
    assert cancelled is not None and cancelled.cancelled
    before = await db.rows()

    outcome = await answer(store, owner, task.task_id, {"input-1": ACCEPT})

    assert outcome is not None
    assert outcome.record.status is TaskStatus.CANCELLED
    assert outcome.answered == frozenset() and not outcome.resumed
    assert await db.rows() == before


@pytest.mark.parametrize("kind", ["session", "principal"])
async def test_answers_from_another_owner_are_refused_like_an_unknown_task(
    store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory, db: Any, kind: str
) -> None:
    owner = owner_factory(kind)
    task = await task_factory(owner=owner)
    assert await ask(store, task, "input-1")
    before = await db.rows()

    for stranger in (owner_factory(kind), owner_factory("capability")):
        assert await answer(store, stranger, task.task_id, {"input-1": ACCEPT}) is None
    assert await store.answer_inputs(owner, "no-such-task", {"input-1": ACCEPT}, utcnow()) is None

    assert await db.rows() == before


async def test_answers_to_a_parked_task_without_a_worker_are_stored(
    store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory
) -> None:
    # The server stopped while the task waited: the answer is kept for the next attempt.
    owner = owner_factory()
    task = await task_factory(owner=owner)
    assert await ask(store, task, "input-1")
    assert await store.release_lease(task.task_id, task.attempt, holder(task))

    outcome = await answer(store, owner, task.task_id, {"input-1": ACCEPT})

    assert outcome is not None and outcome.answered == {"input-1"} and outcome.resumed
    assert outcome.record.lease_node is None
    assert (await stored(store, task.task_id)).status is TaskStatus.WORKING


# -- leases ----------------------------------------------------------------------------------------


async def test_release_lease_only_by_the_holder(store: Store, task_factory: TaskFactory) -> None:
    task = await task_factory()
    assert await ask(store, task, "input-1")

    assert not await store.release_lease(task.task_id, task.attempt, STRANGER)
    assert not await store.release_lease(task.task_id, task.attempt + 1, holder(task))
    assert (await stored(store, task.task_id)).lease_node == holder(task)

    assert await store.release_lease(task.task_id, task.attempt, holder(task))
    record = await stored(store, task.task_id)
    assert record.status is TaskStatus.INPUT_REQUIRED  # parked for the next start
    # Reads as expired on any replica's clock: recovery finds it at once.
    assert record.lease_node is None and record.lease_expires_at == record.created_at
    assert record.attempt == task.attempt
    assert len(await moves(store, task.task_id)) == 2  # a release is no status change

    assert not await store.release_lease(task.task_id, task.attempt, holder(task))  # once only


async def test_release_lease_leaves_a_terminal_task_alone(store: Store, task_factory: TaskFactory) -> None:
    live = await task_factory()
    done = await task_factory(status=TaskStatus.COMPLETED)
    assert not await store.release_lease(done.task_id, live.attempt, holder(live))


async def test_claim_for_rerun_takes_a_released_task_as_the_next_attempt(
    store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory
) -> None:
    owner = owner_factory()
    task = await task_factory(owner=owner)
    assert await ask(store, task, "input-1")
    assert await store.release_lease(task.task_id, task.attempt, holder(task))
    parked = await stored(store, task.task_id)
    now = utcnow()
    until = now + timedelta(seconds=30)

    claimed = await store.claim_for_rerun(parked, "next:1:000000", until, now)

    assert claimed is not None
    assert claimed.attempt == task.attempt + 1
    assert claimed.lease_node == "next:1:000000" and claimed.lease_expires_at == until
    assert claimed.status is TaskStatus.INPUT_REQUIRED  # its question is still outstanding
    assert claimed == await stored(store, task.task_id)
    # The stale record cannot claim twice.
    assert await store.claim_for_rerun(parked, "third:1:000000", until, now) is None
    assert (await stored(store, task.task_id)).lease_node == "next:1:000000"
    # The question is still the same row, visible to the owner.
    assert [r.key for r in await store.outstanding_inputs(owner, task.task_id)] == ["input-1"]


async def test_claim_for_rerun_takes_an_expired_lease(store: Store, task_factory: TaskFactory) -> None:
    task = await task_factory(lease_expires_at=utcnow() - timedelta(seconds=1))
    claimed = await claim(store, task)
    assert claimed is not None and claimed.attempt == 2 and claimed.lease_node == "next:1:000000"


async def test_claim_for_rerun_refuses_a_live_lease(store: Store, task_factory: TaskFactory) -> None:
    task = await task_factory(lease_expires_at=utcnow() + timedelta(seconds=30))
    assert await ask(store, task, "input-1")
    before = await stored(store, task.task_id)

    assert await claim(store, before) is None

    assert await stored(store, task.task_id) == before


@pytest.mark.parametrize("status", [TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED])
async def test_claim_for_rerun_refuses_a_terminal_task(
    store: Store, task_factory: TaskFactory, status: TaskStatus
) -> None:
    task = await task_factory(status=status)
    assert await claim(store, task) is None
    assert await stored(store, task.task_id) == task


# -- ttl ------------------------------------------------------------------------------------------


async def test_fail_expired_fails_a_parked_task_as_expired_while_waiting(
    store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory
) -> None:
    owner = owner_factory()
    task = await task_factory(owner=owner, created_at=utcnow() - timedelta(minutes=5), ttl_ms=1000)
    assert await ask(store, task, "input-1")

    [failed] = await store.fail_expired(utcnow(), timedelta(seconds=60), 10)

    assert failed.task_id == task.task_id and failed.status is TaskStatus.FAILED
    assert failed.status_message == "Task expired while waiting for input: its ttl of 1000 ms ran out"
    found = await store.get_task_with_result(owner, task.task_id)
    assert found is not None
    record, outcome = found
    assert record.status is TaskStatus.FAILED and record.status_message == failed.status_message
    assert record.lease_node is None
    assert outcome is not None and outcome.error == ErrorInfo(-32603, "Task expired")
    assert (await moves(store, task.task_id))[-1] == (TaskStatus.INPUT_REQUIRED, TaskStatus.FAILED, 1)
    # A late answer changes nothing.
    late = await answer(store, owner, task.task_id, {"input-1": ACCEPT})
    assert late is not None and late.answered == frozenset()


# -- statements bind the owner --------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["session", "principal", "capability"])
async def test_owner_scoped_input_verbs_bind_the_owner_key(
    store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory, statements: Any, kind: str
) -> None:
    owner = owner_factory(kind)
    task = await task_factory(owner=owner)
    assert await ask(store, task, "input-1")
    assert await ask(store, task, "input-2")
    done = await task_factory(owner=owner, status=TaskStatus.COMPLETED)

    verbs: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("outstanding_inputs", lambda: store.outstanding_inputs(owner, task.task_id)),
        ("answer_inputs partial", lambda: answer(store, owner, task.task_id, {"input-1": ACCEPT})),
        ("answer_inputs last", lambda: answer(store, owner, task.task_id, {"input-2": ACCEPT})),
        ("answer_inputs terminal", lambda: answer(store, owner, done.task_id, {"input-1": ACCEPT})),
    ]
    for name, verb in verbs:
        store.view.clear()  # decided in SQL (the view applies `Owner.may_see`: test_view.py)
        statements.clear()
        await verb()
        ran = statements.touching_tasks()
        assert ran, name
        # Access is decided first, in SQL, with the owner's key.
        first, params = ran[0]
        assert first.endswith("_owned"), f"{name}: starts with {first!r}"
        assert params["owner_key"] == owner.key, f"{name}: {first!r} binds {params!r}"
        assert params["anonymous"] is (owner.kind != "principal")


async def test_a_foreign_answer_runs_only_the_owner_scoped_read(
    store: Store, task_factory: TaskFactory, owner_factory: OwnerFactory, statements: Any
) -> None:
    owner, other = owner_factory(), owner_factory()
    task = await task_factory(owner=owner)
    assert await ask(store, task, "input-1")
    statements.clear()

    assert await answer(store, other, task.task_id, {"input-1": ACCEPT}) is None

    ran = statements.touching_tasks()
    assert len(ran) == 1
    name, params = ran[0]
    assert name == "lock_task_owned" and params["owner_key"] == other.key
