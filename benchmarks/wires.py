"""The two MCP task wires, spoken as raw JSON-RPC over one `rawhttp.Connection`.

- "2025": MCP 2025-11-25 in-core tasks on stateful Streamable HTTP. One `initialize` and
  `notifications/initialized` per session; every later request carries `Mcp-Session-Id` and
  `MCP-Protocol-Version`. A task is asked for with `params.task` on `tools/call`, which answers
  `{task: {...}}`; `tasks/get` answers the flat Task; `tasks/result` answers the CallToolResult.
- "2026": the SEP-2663 tasks extension on the stateless 2026-07-28 wire. No handshake: every request
  carries the `_meta` envelope (protocol version, client capabilities declaring the extension,
  client info) and the routing headers `Mcp-Method` and `Mcp-Name`. `tools/call` answers a flat
  `{resultType: "task", taskId, ...}`; `tasks/get` inlines `result` once the task is `completed`.

Only what the workloads use is here (no list, cancel, update or input requests). Any refusal raises
`RpcError` carrying the server's answer, so a misconfigured run says why at once.
"""

from __future__ import annotations

import json
from itertools import count
from typing import Any, ClassVar

from rawhttp import Connection, HttpError, sse_messages

__all__ = [
    "CLIENT_INFO",
    "TERMINAL",
    "WIRES",
    "Client2025",
    "Client2026",
    "RpcError",
    "WireClient",
    "new_client",
]

WIRES = ("2025", "2026")
PROTOCOL_2025 = "2025-11-25"
PROTOCOL_2026 = "2026-07-28"
TASKS_EXTENSION = "io.modelcontextprotocol/tasks"
CLIENT_INFO = {"name": "mcptasks-bench", "version": "0"}
#: Statuses after which a task never changes again (both wires).
TERMINAL = frozenset({"completed", "failed", "cancelled"})
#: ttl asked for on 2025-11-25 task creation, in ms (W1, W2; W3 asks for a longer one).
TASK_TTL_MS = 60_000
#: Characters of a refused answer kept in an error message.
ANSWER_EXCERPT = 600

# JSON-RPC ids are unique across every client of the process, not per client: clients that share
# a 2025-11-25 session (over separate connections) must not reuse an id the session has in flight,
# or the server routes one answer to both requests and the other never gets one.
_request_ids = count(1)


class RpcError(Exception):
    """A request got no usable result: an HTTP error, a JSON-RPC error, or a malformed answer.

    The message names the method and quotes the server's answer.
    """

    def __init__(self, method: str, detail: str) -> None:
        super().__init__(f"{method}: {detail}")
        self.method = method
        self.detail = detail


class WireClient:
    """One simulated MCP client on one connection; subclasses speak one wire."""

    wire = ""

    def __init__(self, conn: Connection, path: str = "/mcp") -> None:
        self.conn = conn
        self.path = path

    async def open(self) -> None:
        """Do whatever the wire needs before the first task request (nothing on 2026)."""

    async def create(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Call `tool` as a task and return the created Task (with `taskId` and `status`)."""
        raise NotImplementedError

    async def get(self, task_id: str) -> dict[str, Any]:
        """Return the Task `task_id` as `tasks/get` answers it (flat, with `status`)."""
        raise NotImplementedError

    async def result(self, task: dict[str, Any]) -> dict[str, Any]:
        """Return the CallToolResult of the terminal `task` (a `tasks/get` answer)."""
        raise NotImplementedError

    async def close(self) -> None:
        """Close the connection."""
        await self.conn.close()

    async def _call(self, method: str, params: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        """Send one request and return its `result`; raise RpcError otherwise."""
        request_id = next(_request_ids)
        body = json.dumps(
            {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}, separators=(",", ":")
        ).encode()
        try:
            response = await self.conn.post(self.path, headers, body)
        except HttpError as exc:
            raise RpcError(method, f"connection: {exc}") from exc
        excerpt = response.body[:ANSWER_EXCERPT].decode("utf-8", "replace")
        if response.status != 200:
            raise RpcError(method, f"HTTP {response.status}: {excerpt}")
        try:
            if response.content_type == "text/event-stream":
                message = next(
                    (
                        m
                        for m in sse_messages(response.body)
                        if isinstance(m, dict) and m.get("id") == request_id
                    ),
                    None,
                )
            else:
                message = json.loads(response.body)
        except ValueError as exc:
            raise RpcError(method, f"unparseable {response.content_type or 'body'}: {excerpt}") from exc
        if not isinstance(message, dict):
            raise RpcError(method, f"no JSON-RPC response with id {request_id} in: {excerpt}")
        if "error" in message:
            error = message["error"]
            raise RpcError(method, f"JSON-RPC error {json.dumps(error)[:ANSWER_EXCERPT]}")
        result = message.get("result")
        if not isinstance(result, dict):
            raise RpcError(method, f"no result object in: {excerpt}")
        return result


class Client2025(WireClient):
    """MCP 2025-11-25 in-core tasks over a stateful Streamable HTTP session."""

    wire = "2025"

    def __init__(
        self,
        conn: Connection,
        path: str = "/mcp",
        *,
        session_id: str | None = None,
        ttl_ms: int = TASK_TTL_MS,
    ) -> None:
        super().__init__(conn, path)
        #: The `Mcp-Session-Id` the server gave at `initialize` (or a shared one, see `open`).
        self.session_id = session_id
        #: The ttl every create asks for, in ms.
        self.ttl_ms = ttl_ms

    async def open(self) -> None:
        """Open a session (`initialize`, then `notifications/initialized`).

        A client built with `session_id=` joins that session instead, over its own connection:
        tasks on 2025-11-25 belong to the session that made them, so clients that read each
        other's tasks share one.
        """
        if self.session_id is not None:
            return
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        params = {"protocolVersion": PROTOCOL_2025, "capabilities": {}, "clientInfo": CLIENT_INFO}
        message = {"jsonrpc": "2.0", "id": next(_request_ids), "method": "initialize", "params": params}
        body = json.dumps(message).encode()
        try:
            response = await self.conn.post(self.path, headers, body)
        except HttpError as exc:
            raise RpcError("initialize", f"connection: {exc}") from exc
        session_id = response.headers.get("mcp-session-id")
        if response.status != 200 or not session_id:
            excerpt = response.body[:ANSWER_EXCERPT].decode("utf-8", "replace")
            raise RpcError("initialize", f"HTTP {response.status}, no Mcp-Session-Id: {excerpt}")
        self.session_id = session_id
        notification = b'{"jsonrpc":"2.0","method":"notifications/initialized"}'
        response = await self.conn.post(self.path, self._headers(), notification)
        if response.status not in (200, 202):
            raise RpcError("notifications/initialized", f"HTTP {response.status}: {response.body[:200]!r}")

    async def create(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        params = {"name": tool, "arguments": arguments, "task": {"ttl": self.ttl_ms}}
        result = await self._call("tools/call", params, self._headers())
        task = result.get("task")
        if not isinstance(task, dict) or "taskId" not in task or "status" not in task:
            raise RpcError("tools/call", f"not a CreateTaskResult: {json.dumps(result)[:ANSWER_EXCERPT]}")
        return task

    async def get(self, task_id: str) -> dict[str, Any]:
        task = await self._call("tasks/get", {"taskId": task_id}, self._headers())
        if "status" not in task:
            raise RpcError("tasks/get", f"not a Task: {json.dumps(task)[:ANSWER_EXCERPT]}")
        return task

    async def result(self, task: dict[str, Any]) -> dict[str, Any]:
        return await self._call("tasks/result", {"taskId": task["taskId"]}, self._headers())

    def _headers(self) -> dict[str, str]:
        assert self.session_id is not None, "open() first"
        return {
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            "Mcp-Session-Id": self.session_id,
            "MCP-Protocol-Version": PROTOCOL_2025,
        }


class Client2026(WireClient):
    """The SEP-2663 tasks extension on the stateless 2026-07-28 wire."""

    wire = "2026"

    #: The per-request envelope: the same on every request, as the wire has no session.
    META: ClassVar[dict[str, Any]] = {
        "io.modelcontextprotocol/protocolVersion": PROTOCOL_2026,
        "io.modelcontextprotocol/clientCapabilities": {"extensions": {TASKS_EXTENSION: {}}},
        "io.modelcontextprotocol/clientInfo": CLIENT_INFO,
    }

    async def create(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        params = {"name": tool, "arguments": arguments, "_meta": self.META}
        task = await self._call("tools/call", params, self._headers("tools/call", tool))
        if task.get("resultType") != "task" or "taskId" not in task:
            # The server may answer inline (no task) when the extension is not negotiated.
            raise RpcError("tools/call", f"not a CreateTaskResult: {json.dumps(task)[:ANSWER_EXCERPT]}")
        return task

    async def get(self, task_id: str) -> dict[str, Any]:
        params = {"taskId": task_id, "_meta": self.META}
        task = await self._call("tasks/get", params, self._headers("tasks/get", task_id))
        if "status" not in task:
            raise RpcError("tasks/get", f"not a Task: {json.dumps(task)[:ANSWER_EXCERPT]}")
        return task

    async def result(self, task: dict[str, Any]) -> dict[str, Any]:
        # tasks/result does not exist on this wire: a completed task's `tasks/get` inlines it.
        result = task.get("result")
        if not isinstance(result, dict):
            raise RpcError("tasks/get", f"{task.get('status')} task without an inlined result")
        return result

    @staticmethod
    def _headers(method: str, name: str) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": PROTOCOL_2026,
            "Mcp-Method": method,
            "Mcp-Name": name,
        }


def new_client(
    wire: str, host: str, port: int, *, session_id: str | None = None, ttl_ms: int = TASK_TTL_MS
) -> WireClient:
    """Build an unopened client for `wire` ("2025" or "2026") on a new connection to `host:port`.

    `session_id` (2025 only) joins an existing session instead of opening one; `ttl_ms` (2025
    only, as 2026 clients cannot ask for one) is the ttl its creates ask for.
    """
    conn = Connection(host, port)
    if wire == "2025":
        return Client2025(conn, session_id=session_id, ttl_ms=ttl_ms)
    if wire == "2026":
        return Client2026(conn)
    raise ValueError(f"unknown wire {wire!r}: use one of {', '.join(WIRES)}")
