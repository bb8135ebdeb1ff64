"""Log records that say which task they are about, as text or as JSON lines.

Every record logged while a task's tool runs, or while mcptasks works on one task (`about_task`),
carries that task's fields: `task_id`, `tool`, `attempt`; records also carry the `action` mcptasks
names in `extra` (`create_task`, `finish`, `tool_crash`, ...). A tool's own `logging` calls get the
fields too, without passing anything. `TaskFields` is the `logging.Filter` that copies them onto the
record (from the context variable, unless the record names them itself); the formatters print
them:

- `text`: `2026-12-03 06:41:07,123 WARNING mcptasks.runtime: tool 'x' raised [action=tool_crash
  task_id=… tool=x attempt=1]`, the traceback below it;
- `json`: one JSON object per line (python-json-logger) with `time`, `level`, `logger`, `message`,
  the task fields present, and `exc_info` for a traceback.

`configure(level, log_format)` installs one stderr handler on the root logger with both.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any, Literal, TextIO

from pythonjsonlogger.json import JsonFormatter

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")

#: The fields a record about a task carries, in the order they are printed.
TASK_FIELDS = ("action", "task_id", "tool", "attempt")

_about: ContextVar[Mapping[str, Any] | None] = ContextVar("mcptasks_log_task", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@contextlib.contextmanager
def about_task(task_id: str, tool: str | None = None, attempt: int | None = None) -> Iterator[None]:
    """Within the block (and the asyncio tasks and threads it starts), records name this task."""
    token = _about.set(_task_fields(task_id, tool, attempt))
    try:
        yield
    finally:
        _about.reset(token)


def set_task(task_id: str, tool: str | None = None, attempt: int | None = None) -> None:
    """From now on in this asyncio task (or thread), records name this task: for a coroutine that
    runs in a task of its own, where the context ends with it (`about_task` for a block)."""
    _about.set(_task_fields(task_id, tool, attempt))


def _task_fields(task_id: str, tool: str | None, attempt: int | None) -> dict[str, Any]:
    fields = {"task_id": task_id, "tool": tool, "attempt": attempt}
    return {name: value for name, value in fields.items() if value is not None}


class TaskFields(logging.Filter):
    """Give every record the task fields of its context (`about_task`), unless it has its own.

    Never drops a record; a field nobody set is None on the record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        about = _about.get() or {}
        for name in TASK_FIELDS:
            if getattr(record, name, None) is None:
                setattr(record, name, about.get(name))
        return True


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {name: value for name in TASK_FIELDS if (value := getattr(record, name, None)) is not None}


class TextFormatter(logging.Formatter):
    """`TEXT_FORMAT`, then the record's task fields as `[name=value ...]` when it has any."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        fields = _fields(record)
        if not fields:
            return line
        return f"{line} [{' '.join(f'{name}={value}' for name, value in fields.items())}]"


class JsonLinesFormatter(JsonFormatter):
    """One JSON object per record: `time`, `level`, `logger`, `message`, task fields, `exc_info`."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            timestamp=False,
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        """python-json-logger's hook: its fields, with the task fields only where they are set."""
        super().add_fields(log_data, record, message_dict)
        for name in TASK_FIELDS:
            if log_data.get(name) is None:
                log_data.pop(name, None)


def formatter(log_format: LogFormat) -> logging.Formatter:
    """The formatter of `log_format` ("text" or "json"). Raises: ValueError for another name."""
    if log_format == "text":
        return TextFormatter()
    if log_format == "json":
        return JsonLinesFormatter()
    raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")


def configure(
    level: str | int, log_format: LogFormat = "text", stream: TextIO | None = None
) -> logging.Handler:
    """Log to `stream` (stderr) at `level` in `log_format`, replacing the root logger's handlers.

    Returns the handler installed. Raises: ValueError for an unknown format.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(log_format))
    handler.addFilter(TaskFields())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler


__all__ = [
    "LOG_FORMATS",
    "TASK_FIELDS",
    "LogFormat",
    "TaskFields",
    "about_task",
    "configure",
    "formatter",
    "set_task",
]
