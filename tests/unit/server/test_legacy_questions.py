"""`TaskQuestions`: a 2025-11-25 question goes back to waiting when its stream goes away."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from mcp.shared.exceptions import MCPError
from mcp_types import REQUEST_TIMEOUT

from mcptasks.core.model import ELICITATION, InputRequest, utcnow
from mcptasks.core.owner import Owner
from mcptasks.server.v2025_11_25.questions import TaskQuestions
from mcptasks.server.v2025_11_25.streams import GetStreams

OWNER = Owner.session("s1")
QUESTION = InputRequest(
    task_id="t1",
    key="input-1",
    method=ELICITATION,
    params={"mode": "form", "message": "Sure?", "requestedSchema": {"type": "object", "properties": {}}},
    created_at=utcnow(),
)
ACCEPT = {"action": "accept", "content": {}}


class Session:
    """A `ServerSession` of one HTTP session: each question sent waits for `answer()`."""

    def __init__(self, session_id: str = "s1") -> None:
        self._connection = SimpleNamespace(session_id=session_id)
        self.asked: list[tuple[Any, float | None]] = []
        self.pending: list[asyncio.Future[Any]] = []
        self.cancelled = 0

    async def send_request(
        self,
        request: Any,
        result_type: Any,
        request_read_timeout_seconds: float | None = None,
        metadata: Any = None,
    ) -> Any:
        self.asked.append((metadata.related_request_id, request_read_timeout_seconds))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending.append(future)
        try:
            return result_type.model_validate(await future)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise


class Manager:
    def __init__(self) -> None:
        self.answers: list[tuple[str, dict[str, Any]]] = []

    async def outstanding_inputs(self, owner: Owner, task_id: str) -> list[InputRequest]:
        return [] if self.answers else [QUESTION]

    async def answer(self, owner: Owner, task_id: str, responses: dict[str, Any]) -> None:
        self.answers.append((task_id, responses))


def questions() -> tuple[TaskQuestions, Manager]:
    manager = Manager()
    notifier = SimpleNamespace(channel=lambda task_id: None, tasks_of_session=lambda session_id: [])
    return TaskQuestions(lambda: manager, notifier, GetStreams()), manager  # type: ignore[arg-type, return-value]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_closed_result_stream_sends_its_question_back_to_waiting_and_the_next_stream_asks() -> None:
    legacy, manager = questions()
    session = Session()
    with legacy.result_stream("t1", session, 1, OWNER) as closed:  # type: ignore[arg-type]
        await legacy.ask_outstanding(OWNER, "t1")
        await settle()
        assert [request_id for request_id, _ in session.asked] == [1]
        # The client drops the stream: the question is withdrawn, the handler told to stop waiting.
        assert not closed.is_set()
        legacy.result_stream_closed("s1", "1")
        assert closed.is_set()
        await settle()
        assert legacy.sizes() == {"result_streams": 0, "questions_in_flight": 0}
        assert session.cancelled == 1
        with legacy.result_stream("t1", session, 2, OWNER):  # type: ignore[arg-type]
            await legacy.ask_outstanding(OWNER, "t1")
            await settle()
            assert [request_id for request_id, _ in session.asked] == [1, 2]
            session.pending[-1].set_result(ACCEPT)
            await settle()
    assert manager.answers == [("t1", {"input-1": ACCEPT})]
    assert legacy.sizes() == {"result_streams": 0, "questions_in_flight": 0}


async def test_a_new_result_stream_asks_too_and_the_first_answer_to_any_copy_is_stored() -> None:
    legacy, manager = questions()
    session = Session()
    with legacy.result_stream("t1", session, 1, OWNER):  # type: ignore[arg-type]
        await legacy.ask_outstanding(OWNER, "t1")
        await settle()
        with legacy.result_stream("t1", session, 2, OWNER):  # type: ignore[arg-type]
            await legacy.ask_outstanding(OWNER, "t1")
            await settle()
            assert [request_id for request_id, _ in session.asked] == [1, 2]
            assert session.cancelled == 0  # the copy on stream 1 stays answerable
            assert legacy.sizes()["questions_in_flight"] == 1
            await legacy.ask_outstanding(OWNER, "t1")  # a copy is pending there already
            await settle()
            assert len(session.asked) == 2
            session.pending[0].set_result(ACCEPT)  # the client answers the older copy
            await settle()
            assert session.cancelled == 1  # the newer copy is withdrawn
            assert legacy.sizes()["questions_in_flight"] == 0
    assert manager.answers == [("t1", {"input-1": ACCEPT})]


async def test_when_one_of_two_streams_closes_its_question_moves_to_the_other() -> None:
    legacy, _ = questions()
    first, second = Session(), Session()
    with (
        legacy.result_stream("t1", first, 1, OWNER),  # type: ignore[arg-type]
        legacy.result_stream("t1", second, 2, OWNER),  # type: ignore[arg-type]
    ):
        await legacy.ask_outstanding(OWNER, "t1")
        await settle()
        assert [r for r, _ in second.asked] == [2] and first.asked == []
        legacy.result_stream_closed("s1", "2")
        await settle()
        assert [r for r, _ in first.asked] == [1]
        assert legacy.sizes() == {"result_streams": 1, "questions_in_flight": 1}
        first.pending[-1].cancel()  # the stream ends without an answer
        await settle()
    assert legacy.sizes() == {"result_streams": 0, "questions_in_flight": 0}


async def test_a_question_not_answered_in_time_goes_back_to_waiting() -> None:
    legacy, manager = questions()
    legacy.timeout_s = 12.5
    session = Session()
    with legacy.result_stream("t1", session, 1, OWNER):  # type: ignore[arg-type]
        await legacy.ask_outstanding(OWNER, "t1")
        await settle()
        assert session.asked == [(1, 12.5)]  # the timeout goes to the SDK with the request
        session.pending[-1].set_exception(MCPError(REQUEST_TIMEOUT, "Request 'elicitation/create' timed out"))
        await settle()
        assert legacy.sizes()["questions_in_flight"] == 0
        # Nothing re-asks on its own; the next tasks/result (or GET stream) does.
        assert len(session.asked) == 1
        await legacy.ask_outstanding(OWNER, "t1")
        await settle()
        assert len(session.asked) == 2
    assert manager.answers == []
