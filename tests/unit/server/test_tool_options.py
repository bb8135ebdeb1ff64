"""`TaskServer.tool` options checked at registration: `inline_grace_ms`."""

from __future__ import annotations

from typing import Any

import pytest

from mcptasks import TaskServer


async def _quick() -> str:
    return "done"


@pytest.mark.parametrize("grace", [0, -5, 1.5, True, "100"])
def test_inline_grace_ms_must_be_a_positive_whole_number(grace: Any) -> None:
    server = TaskServer("options")
    with pytest.raises(ValueError, match="inline_grace_ms must be a whole number of ms"):
        server.tool(inline_grace_ms=grace)(_quick)


def test_inline_grace_ms_needs_a_tool_that_may_run_as_a_task() -> None:
    server = TaskServer("options")
    with pytest.raises(ValueError, match="task_support='forbidden'"):
        server.tool(task_support="forbidden", inline_grace_ms=100)(_quick)


def test_inline_grace_ms_is_off_by_default_and_kept_when_given() -> None:
    server = TaskServer("options")
    server.tool(name="plain")(_quick)
    server.tool(name="graced", inline_grace_ms=250)(_quick)
    plain, graced = server.tools.get("plain"), server.tools.get("graced")
    assert plain is not None and plain.inline_grace_ms is None
    assert graced is not None and graced.inline_grace_ms == 250
