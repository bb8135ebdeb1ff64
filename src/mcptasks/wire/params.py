"""Validation of request params into pydantic models, with errors that name the field."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from mcptasks.core.errors import InvalidParams
from mcptasks.core.model import TaskRecord, as_utc

M = TypeVar("M", bound=BaseModel)
#: Longest `taskId` accepted, in characters (ours are 22).
TASK_ID_MAX_LENGTH = 256


def parse_params(model: type[M], params: Mapping[str, Any] | None) -> M:
    """Validate `params` (absent means `{}`) into `model`.

    Raises: InvalidParams naming the first offending field (dotted, wire spelling) and the problem;
    the rejected value is never echoed.
    """
    if params is not None and not isinstance(params, Mapping):
        raise InvalidParams("params", "must be an object")
    try:
        return model.model_validate(dict(params or {}))
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        field = ".".join(str(part) for part in first["loc"]) or "params"
        raise InvalidParams(field, first["msg"]) from None


def task_id_param(model: type[BaseModel], params: Mapping[str, Any] | None) -> str:
    """The `taskId` of a request whose params are `model` (`{taskId}` and nothing required else).

    The common well-formed request is read without building the model; anything else goes through
    `parse_params`, so errors are the same.
    Raises: InvalidParams naming the field.
    """
    if isinstance(params, dict):
        task_id = params.get("taskId")
        if type(task_id) is str and 1 <= len(task_id) <= TASK_ID_MAX_LENGTH:
            return task_id
    return str(getattr(parse_params(model, params), "task_id"))  # noqa: B009 - the models differ


def datetime_to_wire(value: datetime) -> str:
    """An ISO 8601 UTC timestamp with millisecond precision and a `Z` suffix."""
    utc = as_utc(value)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def task_fields(record: TaskRecord, *, ttl_key: str, poll_key: str) -> dict[str, Any]:
    """The fields of a Task common to both wires; the ttl and polling keys differ per wire.

    The ttl key is always present (null = unlimited): it is required-nullable on both wires.
    """
    task: dict[str, Any] = {
        "taskId": record.task_id,
        "status": record.status.value,
        "createdAt": datetime_to_wire(record.created_at),
        "lastUpdatedAt": datetime_to_wire(record.last_updated_at),
        ttl_key: record.ttl_ms,
    }
    if record.status_message is not None:
        task["statusMessage"] = record.status_message
    if record.poll_interval_ms is not None:
        task[poll_key] = record.poll_interval_ms
    return task
