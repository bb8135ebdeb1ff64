"""The client side of the tasks extension, on the SDK's client-extension hook (SEP-2133).

`TasksExtension` is what `mcp.Client(extensions=[...])` is given:

- it declares `io.modelcontextprotocol/tasks` in the capabilities of every 2026-07-28 request
  (the SDK adds an extension that claims result shapes only at versions where its claims apply,
  so a 2025-11-25 `initialize` does not carry it);
- its `ResultClaim` lets a `tools/call` answer `{resultType: "task", ...}` parse as
  `sep2663.CreateTaskResult`; a plain `mcp.Client.call_tool` that meets one is finished by
  `resolve` (the task client polls the task and returns its `CallToolResult`);
- its `NotificationBinding` receives `notifications/tasks/status` (2025-11-25), which the SDK's
  own tables leave out.

Spec: SEP-2663 "Capability Negotiation", "Task Creation"; 2025-11-25 tasks A1.9.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from mcp.client.extension import ClaimContext, ClientExtension, NotificationBinding, ResultClaim
from mcp_types import CallToolResult

from mcptasks.client import sep2663
from mcptasks.client._config import TASKS_EXTENSION
from mcptasks.client.v2025_11_25 import TaskStatusNotificationParams

ResolveTask = Callable[[sep2663.CreateTaskResult], Awaitable[CallToolResult]]
OnStatus = Callable[[TaskStatusNotificationParams], Awaitable[None]]


class TasksExtension(ClientExtension):
    """Declares the tasks extension, claims `resultType: "task"`, and observes task notifications."""

    identifier = TASKS_EXTENSION

    def __init__(self, resolve: ResolveTask, on_status: OnStatus) -> None:
        self._resolve = resolve
        self._on_status = on_status

    def claims(self) -> Sequence[ResultClaim[Any]]:
        return (ResultClaim(result_type="task", model=sep2663.CreateTaskResult, resolve=self._finish),)

    def notifications(self) -> Sequence[NotificationBinding[Any]]:
        return (
            NotificationBinding(
                method="notifications/tasks/status",
                params_type=TaskStatusNotificationParams,
                handler=self._on_status,
            ),
        )

    async def _finish(self, created: sep2663.CreateTaskResult, _context: ClaimContext) -> CallToolResult:
        return await self._resolve(created)
