"""`ServerState`: what request handlers reach at request time, and nothing else.

A plain object built by the composition root (`app.TaskServer`) and handed to the middleware,
the `tasks/*` handlers, the tool calls and the SEP-2663 extension. It holds parts; it decides
nothing, and no part it holds knows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import MCPServer

from mcptasks.runtime.manager import TaskManager
from mcptasks.server.inline import InlineRounds
from mcptasks.server.owner import OwnerScope
from mcptasks.server.registry import ToolRegistry
from mcptasks.server.v2025_11_25.notify import TaskNotifier
from mcptasks.server.v2025_11_25.questions import CLIENT_REQUEST_TIMEOUT_S, TaskQuestions
from mcptasks.server.v2025_11_25.streams import GetStreams

#: The SDK's context of one request, as the server handlers receive it.
Ctx = ServerRequestContext[Any, Any]


@dataclass(eq=False)
class ServerState:
    """The parts of a `TaskServer` its request handlers use (see module docstring)."""

    #: The SDK server (plain tools, the session machinery).
    mcp: MCPServer[Any]
    #: The task tools served, by name.
    tools: ToolRegistry
    #: Who owns a task of an authenticated caller (`Settings.owner_scope`).
    owner_scope: OwnerScope
    #: Open standalone GET streams of 2025-11-25 sessions.
    get_streams: GetStreams = field(default_factory=GetStreams)
    #: `notifications/tasks/status` and progress to 2025-11-25 clients.
    notifier: TaskNotifier = field(init=False)
    #: Questions of 2025-11-25 tasks sent to their clients, and their answers stored.
    questions: TaskQuestions = field(init=False)
    #: 2026-07-28 inline calls waiting between the rounds of their questions (`inline.py`).
    rounds: InlineRounds = field(init=False)
    #: A stop was requested or the server is closing: new requests are refused (ServerStopping).
    stopping: bool = False
    #: The task manager while the server is open, else None.
    opened_manager: TaskManager | None = None

    def __post_init__(self) -> None:
        self.notifier = TaskNotifier(self.get_streams)
        self.questions = TaskQuestions(lambda: self.manager, self.notifier, self.get_streams)
        self.rounds = InlineRounds(CLIENT_REQUEST_TIMEOUT_S)

    @property
    def manager(self) -> TaskManager:
        """The task manager; only while the server is open.

        Raises: RuntimeError before the server is opened and after it closed.
        """
        if self.opened_manager is None:
            raise RuntimeError("the TaskServer is not open: enter `async with server:` or start a transport")
        return self.opened_manager


__all__ = ["Ctx", "ServerState"]
