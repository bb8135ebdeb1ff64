"""Validation of request params into pydantic models, with errors that name the field.

An error says which field and what is wrong in fixed words of ours (`describe_problem`), never in
pydantic's: its messages name internal model classes ("a valid dictionary or instance of
TaskMetadata") and carry the text of validators' exceptions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from mcptasks.core.errors import InvalidParams

M = TypeVar("M", bound=BaseModel)
#: Longest `taskId` accepted, in characters (ours are 22).
TASK_ID_MAX_LENGTH = 256


#: What a pydantic error type means, in our words; `{name}` is filled from the error's context.
_PROBLEMS: dict[str, str] = {
    "missing": "is required",
    "extra_forbidden": "is not allowed",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "bool_type": "must be a boolean",
    "bool_parsing": "must be a boolean",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dataclass_type": "must be an object",
    "list_type": "must be an array",
    "tuple_type": "must be an array",
    "set_type": "must be an array",
    "frozen_set_type": "must be an array",
    "none_required": "must be null",
    "literal_error": "must be {expected}",
    "enum": "must be {expected}",
    "greater_than": "must be greater than {gt}",
    "greater_than_equal": "must be greater than or equal to {ge}",
    "less_than": "must be less than {lt}",
    "less_than_equal": "must be less than or equal to {le}",
    "multiple_of": "must be a multiple of {multiple_of}",
    "string_too_short": "must have at least {min_length} characters",
    "string_too_long": "must have at most {max_length} characters",
    "too_short": "must have at least {min_length} items",
    "too_long": "must have at most {max_length} items",
    "string_pattern_mismatch": "must match the pattern {pattern}",
    "datetime_type": "must be a date-time",
    "datetime_parsing": "must be a date-time",
    "datetime_from_date_parsing": "must be a date-time",
    "date_type": "must be a date",
    "date_parsing": "must be a date",
    "uuid_type": "must be a UUID",
    "uuid_parsing": "must be a UUID",
    "url_type": "must be a URL",
    "url_parsing": "must be a URL",
}
#: The problem of any other error type (a custom validator's among them: its text stays here).
INVALID_VALUE = "is not valid"


def describe_problem(error: ErrorDetails) -> str:
    """What is wrong with a value, in fixed words naming no class and echoing no value."""
    template = _PROBLEMS.get(error["type"], INVALID_VALUE)
    try:
        return template.format(**error.get("ctx", {}))
    except (KeyError, IndexError, ValueError):
        return INVALID_VALUE


def field_of(error: ErrorDetails, prefix: tuple[str, ...] = ()) -> str:
    """The dotted wire name of the field an error is about (`params` for the whole object)."""
    return ".".join([*prefix, *(str(part) for part in error["loc"])]) or "params"


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
        raise InvalidParams(field_of(first), describe_problem(first)) from None


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
