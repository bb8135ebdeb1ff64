"""The one place the task client reaches past the public API of `mcp` 2.3, and why.

1. `send_task_augmented_call`: on a 2025-11-25 connection, `ClientSession.send_request` validates
   every `tools/call` answer against `CallToolResult` (the SDK's result table lists no
   `CreateTaskResult` for 2025-11-25), so a task-augmented call fails inside the SDK with
   "CallToolResult content Field required" although the server answered correctly. The request
   is sent through the session's dispatcher instead (`ClientSession._dispatcher`), with the
   header the session's own stamp would add. Waits on python-sdk #3161 ("Let a legacy-era
   tools/call answer with a CreateTaskResult", branch `legacy-tasks`), which adds
   `CreateTaskResult` to the 2025-11-25 `tools/call` results.

Everything else the client does goes through public names: `Client`, `ClientSession.send_request`
with its own request models (`tasks/*` are not in the SDK's tables, so their answers are not
sieved), `ClientSession.call_tool(allow_claimed=True)`, `ClientExtension` with a `ResultClaim`
and a `NotificationBinding`, and the `elicitation_callback`/`sampling_callback`/`message_handler`
hooks.
"""

from __future__ import annotations

from typing import Any

from mcp.client.session import ClientSession
from mcp.shared.dispatcher import CallOptions
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER

__all__ = ["send_task_augmented_call"]


async def send_task_augmented_call(
    session: ClientSession, params: dict[str, Any], *, timeout_s: float | None = None
) -> dict[str, Any]:
    """Send a 2025-11-25 `tools/call` carrying `params.task`; return the raw result object.

    `params` are the wire params (`name`, `arguments`, `task`, `_meta`). `timeout_s` bounds the
    wait for the answer (None: no bound). Raises what the SDK raises for a request: `MCPError`
    for a JSON-RPC error, a closed connection or a timeout.
    """
    version = session.protocol_version
    options: CallOptions = {}
    if version is not None:
        options["headers"] = {MCP_PROTOCOL_VERSION_HEADER: version}
    if timeout_s is not None:
        options["timeout"] = timeout_s
    raw: dict[str, Any] = await session._dispatcher.send_raw_request("tools/call", params, options)
    return raw
