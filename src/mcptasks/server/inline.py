"""Tools called without a task: the questions they ask, and the inline grace of quick tools.

Questions. A tool called inline (no task) that asks (`TaskContext.elicit`, `create_message`):

| connection                                  | capability declared | outcome                         |
|---------------------------------------------|---------------------|---------------------------------|
| 2025-11-25 that can carry a request back    | yes                 | asked on the request's stream   |
| 2026-07-28                                  | yes                 | multi-round-trip `input_required` |
| either                                      | no                  | JSON-RPC error -32021 naming it |
| 2025-11-25 that cannot carry a request back | yes                 | JSON-RPC error -32021           |

The -32021 error (`InputUnavailable`, `data.requiredCapabilities`) is an expected answer, not a
crash: it is logged at INFO, without a traceback.

On 2026-07-28 a question ends the round: the call answers an `InputRequiredResult` carrying every
question the tool is waiting on (`inputRequests`, keyed `input-N` like a task's questions) and a
`requestState`; the client answers them and sends the call again with `inputResponses` and that
`requestState` (the `mcp` client does so itself when it has an elicitation callback). The state is
sealed by the SDK (`RequestStateBoundary`: bound to the tool, its arguments and the caller, and
expiring), so what it carries back is what this server wrote.

Between rounds the tool stays suspended in this process, awaiting its answers, for up to
`Settings.client_request_timeout_s` (`InlineRounds`): the retry that brings them resumes it, so
the tool runs once and may hold what it likes in memory (the demo's `guess_number` keeps its
secret number). When no suspended call is found (it waited too long, too many calls wait, or the
retry reached a replica sharing the SDK's state keys: by default each process seals with its own
key, and another one refuses the state), the retry runs the tool again from its start,
as `on_restart="rerun"` runs a task again: the answers of earlier rounds ride the `requestState` and
are returned at once to the question that asks them again, matched by key and by the exact
question (a question worded differently from the one answered is asked again). Only a tool that
asks the same questions in the same order given the same answers gets the same outcome then;
a tool that must not run twice should run as a task, which asks durably.
`Resolve(...)` parameters are resolved first, by the SDK, on the same channel: their state rides
inside ours.

Why not a task: a client that did not declare the tasks extension cannot read one, and one that
did gets a task anyway (the table in `calls.py`); the multi-round-trip result is the 2026-07-28 way
to ask in a request.

Grace (`inline_grace_ms`, 2026-07-28, client declared the tasks extension). The tool starts inline;
if it finishes within the grace, the plain `CallToolResult` is answered and nothing is stored. If it
does not, or it asks a question first, a task is created and the running tool goes on as that task
(`TaskContext._continue_as`): it is not started again. Its status message set during the grace is
stored then; progress reported during the grace is dropped (no task to show it on yet). The
executor needs nothing new for this: the task's `invoke` adopts the running tool instead of
starting one. The trade-off: a call answered within the grace leaves no record (no `tasks/get`, no
history, no recovery), and the answer waits up to the grace before the task exists.

Long on purpose: the rounds, their sealed state, the replay of answers and the adoption of a
running call by a task are one mechanism, easier to check in one file.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from mcp_types import (
    CallToolResult,
    CreateMessageResult,
    CreateMessageResultWithTools,
    ElicitResult,
    InputRequiredResult,
)
from pydantic import BaseModel, ValidationError

from mcptasks.core.errors import InvalidParams
from mcptasks.core.model import ELICITATION, InputMethod, Outcome, TaskRecord
from mcptasks.core.owner import Owner
from mcptasks.runtime.context import TaskContext, TaskSink
from mcptasks.runtime.running import capability_of, require_capability
from mcptasks.server.tools import TaskTool, call_tool_body, inline_answer, task_outcome

logger = logging.getLogger("mcptasks.server")

#: Event-loop passes a round waits, after the tool's first question, for questions asked at the
#: same time (`asyncio.gather`), so they go out in one `InputRequiredResult`.
SETTLE_PASSES = 3
#: Marks a `requestState` as this module's (the SDK's resolvers write their own).
STATE_MARK = "mcptasks"
#: Most inline calls suspended between rounds at once; past it, a retry runs its tool again.
MAX_SUSPENDED = 1000


def question_digest(method: str, params: dict[str, Any]) -> str:
    """A short digest of a question as asked (method and params): an answer counts only for it."""
    rendered = json.dumps({"method": method, "params": params}, sort_keys=True, separators=(",", ":"))
    return base64.urlsafe_b64encode(hashlib.sha256(rendered.encode()).digest()[:16]).decode().rstrip("=")


# -- 2026-07-28: questions in rounds -------------------------------------------------------------


@dataclass(slots=True)
class RoundState:
    """What the rounds of one inline call carry in `requestState` (module docstring).

    `answers`: key -> {"q": digest, "r": result JSON} of questions answered in earlier rounds;
    `asked`: key -> {"q": digest, "m": method} of the questions the last round asked; `sdk`: the
    SDK resolvers' own `requestState` and `sdk_answers` their answers (`Resolve(...)` parameters).
    """

    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    asked: dict[str, dict[str, str]] = field(default_factory=dict)
    sdk: str | None = None
    sdk_answers: dict[str, Any] = field(default_factory=dict)
    #: The token of the call suspended in this process waiting for these answers, if any.
    resume: str | None = None

    @classmethod
    def read(cls, request_state: Any, input_responses: Any) -> RoundState:
        """The state of a retried call: its `requestState` (unsealed) and `inputResponses` (raw).

        A `requestState` that is not ours is the SDK resolvers' (their first rounds). Answers to
        questions this call asked are checked and kept; others are the resolvers'.
        Raises: InvalidParams naming `inputResponses.<key>` for an answer of the wrong shape.
        """
        state = cls()
        decoded: Any = None
        if isinstance(request_state, str):
            with contextlib.suppress(ValueError):
                decoded = json.loads(request_state)
        if isinstance(decoded, dict) and decoded.get(STATE_MARK) == 1:
            state.answers = dict(decoded.get("answers") or {})
            state.asked = dict(decoded.get("asked") or {})
            state.sdk = decoded.get("sdk")
            state.sdk_answers = dict(decoded.get("sdkAnswers") or {})
            resume = decoded.get("resume")
            state.resume = resume if isinstance(resume, str) else None
        elif isinstance(request_state, str):
            state.sdk = request_state
        if isinstance(input_responses, dict):
            for key, response in input_responses.items():
                asked = state.asked.get(key)
                if not isinstance(asked, dict):
                    state.sdk_answers[key] = response
                    continue
                state.answers[key] = {
                    "q": asked.get("q"),
                    "r": _checked_answer(key, asked.get("m"), response),
                }
        state.asked = {}
        return state

    def dump(self) -> str:
        """The `requestState` of the next round (sealed by the SDK on its way out)."""
        body: dict[str, Any] = {STATE_MARK: 1, "answers": self.answers, "asked": self.asked}
        if self.resume is not None:
            body["resume"] = self.resume
        if self.sdk is not None or self.sdk_answers:
            body.update(sdk=self.sdk, sdkAnswers=self.sdk_answers)
        return json.dumps(body, separators=(",", ":"))


def _checked_answer(key: str, method: Any, response: Any) -> dict[str, Any]:
    """The client's answer to question `key` (a `method` request), checked and in wire form.

    Raises: InvalidParams naming `inputResponses.<key>`.
    """
    result_types: tuple[type[BaseModel], ...] = (
        (ElicitResult,) if method == ELICITATION else (CreateMessageResult, CreateMessageResultWithTools)
    )
    for result_type in result_types:
        with contextlib.suppress(ValidationError):
            checked = result_type.model_validate(response)
            return checked.model_dump(by_alias=True, mode="json", exclude_none=True)
    raise InvalidParams(f"inputResponses.{key}", f"is not a valid {method} result")


@dataclass(eq=False, slots=True)
class _Waiting:
    """A question of a suspended call, waiting for the round that brings its answer."""

    method: InputMethod
    params: dict[str, Any]
    digest: str
    answer: asyncio.Future[dict[str, Any]]


class _RoundSink:
    """A 2026-07-28 inline call's sink: answers of earlier rounds at once; a new question waits
    for the round that answers it (its call suspended between rounds)."""

    def __init__(self, declared: dict[str, Any], state: RoundState, progress: Progress) -> None:
        self._declared = declared
        self._state = state
        self._progress = progress
        #: Questions the tool waits on: key -> question and the future its answer resolves.
        self.waiting: dict[str, _Waiting] = {}
        #: Set at each new question.
        self.asked = asyncio.Event()

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        try:
            await self._progress(progress, total, message)
        except Exception:
            # Between rounds the request it would ride has ended: progress is dropped, never fatal.
            logger.debug("could not send the progress of an inline call", exc_info=True)

    async def status_message(self, message: str | None) -> None:
        return None  # no task, so no status to show

    async def ask(self, key: str, method: InputMethod, params: dict[str, Any]) -> dict[str, Any]:
        require_capability(self._declared, method)
        digest = question_digest(method, params)
        answered = self._state.answers.get(key)
        if answered is not None and answered.get("q") == digest and isinstance(answered.get("r"), dict):
            return dict(answered["r"])  # answered in an earlier round (this is a rerun)
        waiting = _Waiting(method, params, digest, asyncio.get_running_loop().create_future())
        self.waiting[key] = waiting
        self.asked.set()
        try:
            return await waiting.answer
        finally:
            self.waiting.pop(key, None)

    def unanswered(self) -> dict[str, _Waiting]:
        """The questions waiting whose answer has not arrived."""
        return {key: waiting for key, waiting in self.waiting.items() if not waiting.answer.done()}

    def resume(self, state: RoundState, declared: dict[str, Any], progress: Progress) -> None:
        """A later round of the same call: answer the questions its `state` answers; progress
        and capabilities are now the new request's."""
        self._state, self._declared, self._progress = state, declared, progress
        for key, waiting in self.unanswered().items():
            answered = state.answers.get(key)
            if answered is not None and answered.get("q") == waiting.digest:
                waiting.answer.set_result(dict(answered["r"]))


Progress = Callable[[float, float | None, str | None], Awaitable[None]]


@dataclass(eq=False, slots=True)
class _Suspended:
    """An inline call waiting between rounds for its answers."""

    call: asyncio.Task[CallToolResult | InputRequiredResult]
    sink: _RoundSink
    owner: Owner
    timer: asyncio.TimerHandle


class InlineRounds:
    """The rounds of 2026-07-28 inline calls that ask questions (module docstring).

    Between rounds a call waits, suspended in this process, for up to `keep_s` seconds
    (`Settings.client_request_timeout_s`); the retry that answers resumes it. A retry that finds no
    suspended call (it waited too long, the retry reached another replica, more than
    `MAX_SUSPENDED` calls wait) runs the tool again from its start, replaying the answers.
    """

    def __init__(self, keep_s: float) -> None:
        #: How long a call waits for the retry that answers it, in seconds.
        self.keep_s = keep_s
        self._suspended: dict[str, _Suspended] = {}

    def __len__(self) -> int:
        return len(self._suspended)

    async def run(
        self,
        entry: TaskTool,
        arguments: dict[str, Any],
        resolved: dict[str, Any],
        state: RoundState,
        *,
        owner: Owner,
        declared: dict[str, Any],
        progress: Progress,
    ) -> CallToolResult | InputRequiredResult:
        """One round of an inline call: the tool's answer, or the questions it waits on.

        Raises: InputUnavailable (-32021) when the client did not declare the capability a
        question needs; MCPError as the tool raised it.
        """
        suspended = self._take(state.resume, owner)
        if suspended is None:
            sink = _RoundSink(declared, state, progress)
            call = asyncio.ensure_future(call_tool_body(entry, arguments, TaskContext(None, sink), resolved))
        else:
            call, sink = suspended.call, suspended.sink
            sink.resume(state, declared, progress)
        kept = False
        try:
            await _until_blocked(call, sink)
            if call.done():
                return await inline_answer(entry, call)
            questions = sink.unanswered()
            state.asked = {
                key: {"q": waiting.digest, "m": waiting.method} for key, waiting in questions.items()
            }
            state.resume = self._keep(call, sink, owner)
            kept = state.resume is not None
            requests = {key: {"method": w.method, "params": w.params} for key, w in questions.items()}
            return InputRequiredResult.model_validate(
                {"resultType": "input_required", "inputRequests": requests, "requestState": state.dump()}
            )
        finally:
            if not kept and not call.done():
                call.cancel()
                await asyncio.wait({call})

    def _take(self, token: str | None, owner: Owner) -> _Suspended | None:
        suspended = self._suspended.get(token) if token is not None else None
        if suspended is None or suspended.owner != owner:
            return None
        del self._suspended[token]  # type: ignore[arg-type]  # found, so not None
        suspended.timer.cancel()
        return suspended

    def _keep(
        self, call: asyncio.Task[CallToolResult | InputRequiredResult], sink: _RoundSink, owner: Owner
    ) -> str | None:
        if len(self._suspended) >= MAX_SUSPENDED:
            return None  # the retry runs the tool again, replaying the answers
        token = secrets.token_urlsafe(16)
        timer = asyncio.get_running_loop().call_later(self.keep_s, self._expire, token)
        self._suspended[token] = _Suspended(call, sink, owner, timer)
        return token

    def _expire(self, token: str) -> None:
        suspended = self._suspended.pop(token, None)
        if suspended is not None:
            suspended.call.cancel()

    def close(self) -> None:
        """Stop every suspended call (the server stops); a retry then runs its tool again."""
        for token in list(self._suspended):
            suspended = self._suspended.pop(token)
            suspended.timer.cancel()
            suspended.call.cancel()


async def _until_blocked(call: asyncio.Future[Any], sink: _RoundSink) -> None:
    """Wait until the tool finished, or waits on a question whose answer has not arrived."""
    while not call.done():
        if sink.unanswered():
            # Let questions asked alongside (asyncio.gather) be asked too: one round for all.
            seen = -1
            while not call.done() and seen != len(sink.waiting):
                seen = len(sink.waiting)
                for _ in range(SETTLE_PASSES):
                    await asyncio.sleep(0)
            return
        sink.asked.clear()
        asked = asyncio.ensure_future(sink.asked.wait())
        try:
            await asyncio.wait({call, asked}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            asked.cancel()


# -- inline grace -------------------------------------------------------------------------------


class _GraceSink:
    """The sink of a tool in its inline grace: status kept for the task, a question promotes it."""

    def __init__(self) -> None:
        #: Set when the tool asks a question: the task is created at once.
        self.promote = asyncio.Event()
        self._target: TaskSink | None = None
        self._ready = asyncio.Event()
        self._status: tuple[str | None] | None = None

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        if self._target is not None:
            await self._target.progress(progress, total, message)

    async def status_message(self, message: str | None) -> None:
        if self._target is not None:
            await self._target.status_message(message)
        else:
            self._status = (message,)

    async def ask(self, key: str, method: InputMethod, params: dict[str, Any]) -> dict[str, Any]:
        if self._target is None:
            self.promote.set()
            await self._ready.wait()
        assert self._target is not None
        return await self._target.ask(key, method, params)

    async def attach(self, target: TaskSink) -> None:
        """The tool became a task with sink `target`: store the status it set, release questions.

        Never raises for the status message: it is shown, not needed (the failure is logged).
        """
        self._target = target
        try:
            if self._status is not None:
                await target.status_message(self._status[0])
        except Exception:
            logger.info("could not store the status message set during the inline grace", exc_info=True)
        finally:
            self._ready.set()


async def run_with_grace(
    entry: TaskTool,
    arguments: dict[str, Any],
    resolved: dict[str, Any],
    grace_ms: int,
    *,
    create: Callable[
        [Callable[[TaskContext], Awaitable[Outcome]], Callable[[TaskRecord], None]], Awaitable[TaskRecord]
    ],
    stopping: Callable[[], bool],
) -> CallToolResult | InputRequiredResult | TaskRecord:
    """Run the tool inline for up to `grace_ms` ms; past it (or at its first question), make it a task.

    `create(invoke, on_start)` stores the task and hands `invoke` to the executor (calling
    `on_start(record)` just before), which calls it once with the task's context; `stopping()`
    says whether the executor began to stop (then `invoke` is not called, and the tool is
    stopped here). Returns the tool's answer, or the task record.
    Raises: what `inline_answer` raises for a call that ended within the grace; what `create`
    raises (ServerStopping, StoreError: the tool is stopped, nothing stored).
    """
    sink = _GraceSink()
    context = TaskContext(None, sink)
    call = asyncio.ensure_future(call_tool_body(entry, arguments, context, resolved))
    promote = asyncio.ensure_future(sink.promote.wait())
    adopted = False
    try:
        await asyncio.wait({call, promote}, timeout=grace_ms / 1000, return_when=asyncio.FIRST_COMPLETED)
        if call.done():
            return await inline_answer(entry, call)

        async def invoke(task: TaskContext) -> Outcome:
            try:
                await sink.attach(context._continue_as(task))
            except BaseException:
                call.cancel()  # cancelled hard before it was adopted: the tool stops with it
                raise
            # A hard cancel of this invoke cancels the awaited call too.
            return await task_outcome(entry, call, task.task_id)

        def handed_over(record: TaskRecord) -> None:
            # Called right before the executor takes `invoke`: its choice is made now.
            nonlocal adopted
            adopted = not stopping()

        try:
            return await create(invoke, handed_over)
        except BaseException:
            adopted = False  # not stored, or nobody waits for the answer: the tool stops here
            raise
    finally:
        promote.cancel()
        if not adopted and not call.done():
            call.cancel()
            await asyncio.wait({call})


__all__ = [
    "InlineRounds",
    "RoundState",
    "capability_of",
    "question_digest",
    "require_capability",
    "run_with_grace",
]
