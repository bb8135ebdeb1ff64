"""Log records that name their task: the context fields, the text and JSON lines, a real executor."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from mcptasks.core.model import Completed, Outcome
from mcptasks.core.owner import Owner
from mcptasks.observe.logs import TaskFields, about_task, formatter, set_task
from mcptasks.runtime.context import TaskContext
from mcptasks.runtime.manager import TaskManager
from mcptasks.runtime.threads import run_in_daemon_thread

LOGGER = "mcptasks.tests.observe"


@pytest.fixture(params=["text", "json"])
def captured(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    """Records of LOGGER (and of the tools' logger) written by the real formatter and filter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(request.param))
    handler.addFilter(TaskFields())
    loggers = [logging.getLogger(LOGGER), logging.getLogger("a_tool")]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def _lines(stream: io.StringIO) -> list[str]:
    return [line for line in stream.getvalue().splitlines() if line.strip()]


def _fields(line: str) -> dict[str, str]:
    """The task fields of one line, from either format, as text."""
    if line.startswith("{"):
        record = json.loads(line)
        return {k: str(v) for k, v in record.items() if k in ("action", "task_id", "tool", "attempt")}
    if not line.endswith("]") or " [" not in line:
        return {}
    return dict(part.split("=", 1) for part in line[line.rindex(" [") + 2 : -1].split())


def test_records_inside_about_task_name_it_and_others_do_not(captured: io.StringIO) -> None:
    log = logging.getLogger(LOGGER)
    log.info("before")
    with about_task("t-1", "echo", 2):
        log.info("inside", extra={"action": "finish"})
    log.info("after")

    before, inside, after = _lines(captured)
    assert _fields(before) == {}
    assert _fields(inside) == {"action": "finish", "task_id": "t-1", "tool": "echo", "attempt": "2"}
    assert _fields(after) == {}


def test_a_records_own_fields_win(captured: io.StringIO) -> None:
    with about_task("t-1", "echo"):
        logging.getLogger(LOGGER).info("about another", extra={"task_id": "t-2"})
    assert _fields(_lines(captured)[0]) == {"task_id": "t-2", "tool": "echo"}


def test_a_traceback_stays_with_its_record(captured: io.StringIO) -> None:
    with about_task("t-9", "boom"):
        try:
            raise RuntimeError("kaput")
        except RuntimeError:
            logging.getLogger(LOGGER).exception("tool raised", extra={"action": "tool_crash"})
    text = captured.getvalue()
    assert "RuntimeError: kaput" in text
    first = _lines(captured)[0]
    assert _fields(first)["task_id"] == "t-9"
    if first.startswith("{"):
        assert "RuntimeError: kaput" in json.loads(first)["exc_info"]


async def test_set_task_holds_for_the_asyncio_task_only(captured: io.StringIO) -> None:
    log = logging.getLogger(LOGGER)

    async def runs_a_task() -> None:
        set_task("t-3", "sleepy", 1)
        await asyncio.sleep(0)
        log.info("in the task")

    await asyncio.create_task(runs_a_task())
    log.info("outside")
    inside, outside = _lines(captured)
    assert _fields(inside) == {"task_id": "t-3", "tool": "sleepy", "attempt": "1"}
    assert _fields(outside) == {}


async def test_a_sync_tools_thread_inherits_the_task(captured: io.StringIO) -> None:
    with about_task("t-4", "blocking"):
        await run_in_daemon_thread(lambda: logging.getLogger("a_tool").info("from a thread"))
    assert _fields(_lines(captured)[0]) == {"task_id": "t-4", "tool": "blocking"}


async def test_a_tools_own_logging_names_its_task_in_the_executor(
    captured: io.StringIO, manager: TaskManager
) -> None:
    """A real executor runs the tool: what it logs names the task, the tool and the attempt."""
    owner = Owner.session("logs-test")

    async def chatty(ctx: TaskContext) -> Outcome:
        logging.getLogger("a_tool").info("working on it")
        return Completed({"content": []})

    record = await manager.create(
        owner,
        wire="sep-2663",
        tool_name="chatty",
        arguments={},
        requested_ttl_ms=None,
        progress_token=None,
        invoke=chatty,
        client_capabilities=None,
    )
    await asyncio.wait_for(manager.wait_terminal(owner, record.task_id), 5)
    line = next(line for line in _lines(captured) if "working on it" in line)
    assert _fields(line) == {"task_id": record.task_id, "tool": "chatty", "attempt": "1"}
