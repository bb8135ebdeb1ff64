"""Answering the questions tools ask: the caller's handlers, and answers in wire form.

A tool asks with elicitation (a form for the user) or sampling (a completion from the client's
model). The caller answers either with a handler given to `TaskClient` (`on_elicitation`,
`on_sampling`), called for every question of that kind on both wires, or by hand with
`TaskHandle.answer()`. `Handlers.answer()` runs the matching handler; `wire_answer()` turns an
answer into the JSON object the wire carries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeGuard

from mcp_types import (
    CreateMessageRequest,
    CreateMessageRequestParams,
    CreateMessageResult,
    CreateMessageResultWithTools,
    ElicitRequest,
    ElicitRequestParams,
    ElicitResult,
)
from pydantic import BaseModel

from mcptasks.client._models import Answer, QuestionRequest

__all__ = ["ElicitationHandler", "SamplingHandler"]

ELICITATION = "elicitation/create"
SAMPLING = "sampling/createMessage"


class ElicitationHandler(Protocol):
    """Answers an elicitation: `await handler(task_id, params) -> ElicitResult`.

    `task_id` is the asking task (None for a question asked before the task exists, 2026-07-28);
    `params` is the form (`message`, `requestedSchema`) or a URL request. Return
    `ElicitResult(action="accept", content={...})`, or `action="decline"` / `"cancel"`.
    An exception raised here leaves the question unanswered (see `TaskClient`).
    """

    async def __call__(self, task_id: str | None, params: ElicitRequestParams, /) -> ElicitResult: ...


class SamplingHandler(Protocol):
    """Answers a sampling request: `await handler(task_id, params) -> CreateMessageResult`.

    `params` carries `messages`, `maxTokens` (`max_tokens`) and the model preferences; return the
    completion (`role`, `content`, `model`). An exception leaves the question unanswered.
    """

    async def __call__(
        self, task_id: str | None, params: CreateMessageRequestParams, /
    ) -> CreateMessageResult | CreateMessageResultWithTools: ...


@dataclass(frozen=True)
class Handlers:
    """The caller's question handlers, and which capabilities the client declares."""

    on_elicitation: ElicitationHandler | None = None
    on_sampling: SamplingHandler | None = None
    #: Declare `elicitation`: questions of that kind may be asked (answered by handler or by hand).
    elicitation: bool = False
    #: Declare `sampling`.
    sampling: bool = False

    async def answer(self, task_id: str | None, request: QuestionRequest) -> Answer | None:
        """The handler's answer to `request`, or None when no handler answers that kind."""
        if isinstance(request, ElicitRequest):
            if self.on_elicitation is None:
                return None
            return await self.on_elicitation(task_id, request.params)
        if self.on_sampling is None:
            return None
        return await self.on_sampling(task_id, request.params)


def as_answer(method: str | None, answer: Answer | Mapping[str, Any]) -> Answer | Mapping[str, Any]:
    """`answer` as the result model of `method` when it is a mapping and `method` is known.

    Raises: pydantic.ValidationError when the mapping does not fit the question's result type.
    """
    if isinstance(answer, BaseModel) or method is None:
        return answer
    if method == ELICITATION:
        return ElicitResult.model_validate(dict(answer))
    if method == SAMPLING:
        if isinstance(answer.get("content"), list):  # several content blocks: a tool-use answer
            return CreateMessageResultWithTools.model_validate(dict(answer))
        return CreateMessageResult.model_validate(dict(answer))
    return answer


def wire_answer(answer: Answer | Mapping[str, Any]) -> dict[str, Any]:
    """An answer as the JSON object the wire carries (camelCase keys, nulls inside kept)."""
    if isinstance(answer, BaseModel):
        dumped: dict[str, Any] = answer.model_dump(by_alias=True, mode="json", exclude_unset=True)
        return dumped
    return dict(answer)


def method_of(request: QuestionRequest) -> str:
    """The JSON-RPC method of a question."""
    return ELICITATION if isinstance(request, ElicitRequest) else SAMPLING


def is_question(request: object) -> TypeGuard[QuestionRequest]:
    """Whether `request` is a question the client can answer (elicitation or sampling)."""
    return isinstance(request, ElicitRequest | CreateMessageRequest)
