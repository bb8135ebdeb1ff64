"""`ToolRegistry`: the task tools a server serves, by name; the executor finds them here again."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.tools import Tool

from mcptasks.core.model import RecoveryPolicy, TaskRecord
from mcptasks.runtime.running import Invoke
from mcptasks.server.tools import TaskTool, task_invoker
from mcptasks.server.workarounds import add_prebuilt_tool, sdk_tool


class ToolRegistry:
    """The task tools a server serves, by name, registered on its SDK server too.

    It is the executor's `ToolResolver`: recovery finds a task's tool and `on_restart` policy here.
    """

    def __init__(self, mcp: MCPServer[Any]) -> None:
        self._mcp = mcp
        self._tools: dict[str, TaskTool] = {}

    def add(self, entry: TaskTool) -> None:
        """Serve `entry`. Raises: ValueError when a tool of that name is registered already."""
        add_prebuilt_tool(self._mcp, entry.tool)
        self._tools[entry.name] = entry

    def get(self, name: object) -> TaskTool | None:
        """The task tool named `name`, or None (also for a name that is not a string)."""
        return self._tools.get(name) if isinstance(name, str) else None

    def has_plain_tool(self, name: str) -> bool:
        """Whether `name` is a tool registered directly on the SDK server (never a task)."""
        return self.plain_tool(name) is not None

    def plain_tool(self, name: object) -> Tool | None:
        """The SDK's tool named `name` when it is registered directly on the SDK server, else None."""
        if not isinstance(name, str) or name in self._tools:
            return None
        return sdk_tool(self._mcp, name)

    def recovery_policy(self, tool_name: str) -> RecoveryPolicy | None:
        """The `on_restart` policy of a served tool; None if no such tool is served."""
        entry = self._tools.get(tool_name)
        return None if entry is None else entry.on_restart

    def invoker(self, record: TaskRecord) -> Invoke:
        """Run `record`'s tool again with its stored arguments (a "rerun" after a stop).

        Raises: KeyError when the tool is not served (recovery asks `recovery_policy` first).
        """
        return task_invoker(self._tools[record.tool_name], dict(record.arguments))


__all__ = ["ToolRegistry"]
