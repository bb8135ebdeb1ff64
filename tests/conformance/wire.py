"""Raw JSON-RPC over Streamable HTTP for the conformance tests: every header and byte is the test's.

`Wire.post()` sends one 2026-07-28 stateless request the way the official conformance suite does:
the `_meta` envelope (protocol version, client info, capabilities), `MCP-Protocol-Version`,
`Mcp-Method` and `Mcp-Name` headers, each of which a test may override or drop. It returns the
HTTP status, the JSON-RPC message answering it, and the notifications that came before it on an
SSE response. It works on a live server (`base_url`) and in-process on an ASGI app (`transport`).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

MODERN = "2026-07-28"
LEGACY = "2025-11-25"
TASKS = "io.modelcontextprotocol/tasks"
#: The capabilities the suite declares by default, and with the tasks extension.
DEFAULT_CAPS: dict[str, Any] = {"sampling": {}, "elicitation": {}, "roots": {"listChanged": True}}
TASK_CAPS: dict[str, Any] = {"elicitation": {}, "sampling": {}, "extensions": {TASKS: {}}}
#: `params` fields that `Mcp-Name` mirrors, per method (SEP-2243, SEP-2663).
NAME_FIELDS = {
    "tools/call": "name",
    "prompts/get": "name",
    "resources/read": "uri",
    "tasks/get": "taskId",
    "tasks/update": "taskId",
    "tasks/cancel": "taskId",
}
#: Marks a header the request must not carry.
OMIT = object()
_ids = itertools.count(1_700_000_000_000)  # large ids, like the suite's Date.now()


@dataclass
class Answer:
    """One answered request."""

    status: int
    message: dict[str, Any]
    notifications: list[dict[str, Any]] = field(default_factory=list)
    content_type: str = ""

    @property
    def result(self) -> dict[str, Any]:
        assert "error" not in self.message, f"expected a result, got {self.message} (HTTP {self.status})"
        result: dict[str, Any] = self.message["result"]
        return result

    @property
    def error(self) -> dict[str, Any]:
        assert "error" in self.message, f"expected an error, got {self.message} (HTTP {self.status})"
        error: dict[str, Any] = self.message["error"]
        return error


def parse_body(text: str, content_type: str, request_id: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The JSON-RPC message answering `request_id`, and the notifications before it."""
    if "text/event-stream" not in content_type:
        return json.loads(text), []
    notifications: list[dict[str, Any]] = []
    for event in text.replace("\r\n", "\n").split("\n\n"):
        data = "\n".join(line[5:].lstrip() for line in event.split("\n") if line.startswith("data:"))
        if not data:
            continue
        message = json.loads(data)
        if "method" in message and "id" not in message:
            notifications.append(message)
        elif message.get("id") == request_id:
            return message, notifications
        else:
            raise AssertionError(f"unexpected message on the response stream: {message}")
    raise AssertionError(f"no answer to request {request_id} in {text!r}")


def build_request(
    method: str,
    params: dict[str, Any] | None,
    *,
    caps: dict[str, Any] | None,
    meta: dict[str, Any] | None,
    headers: dict[str, Any] | None,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(id, body, headers) of a 2026-07-28 request as the suite sends it."""
    request_id = next(_ids)
    body_params = dict(params or {})
    envelope: dict[str, Any] = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientInfo": {"name": "mcptasks-conformance-tests", "version": "1.0.0"},
        "io.modelcontextprotocol/clientCapabilities": DEFAULT_CAPS if caps is None else caps,
    }
    body_params["_meta"] = {**envelope, **(meta or {})}
    body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": body_params}
    sent: dict[str, Any] = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": method,
    }
    name_field = NAME_FIELDS.get(method)
    if name_field is not None and isinstance(body_params.get(name_field), str):
        sent["Mcp-Name"] = body_params[name_field]
    sent.update(headers or {})
    return request_id, body, {key: value for key, value in sent.items() if value is not OMIT}


class Wire:
    """A synchronous raw client of one live server's `/mcp` endpoint."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(timeout=20.0)

    def close(self) -> None:
        self.http.close()

    def post(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        caps: dict[str, Any] | None = None,
        meta: dict[str, Any] | None = None,
        headers: dict[str, Any] | None = None,
    ) -> Answer:
        """Send one 2026-07-28 request; `caps=None` declares `DEFAULT_CAPS`."""
        request_id, body, sent = build_request(method, params, caps=caps, meta=meta, headers=headers)
        response = self.http.post(self.url, json=body, headers=sent)
        content_type = response.headers.get("content-type", "")
        message, notifications = parse_body(response.text, content_type, request_id)
        return Answer(response.status_code, message, notifications, content_type)

    def call(self, name: str, arguments: dict[str, Any] | None = None, **options: Any) -> Answer:
        params: dict[str, Any] = {"name": name}
        if arguments is not None:
            params["arguments"] = arguments
        params.update(options.pop("extra", {}))
        return self.post("tools/call", params, **options)

    def get_task(self, task_id: str) -> dict[str, Any]:
        return self.post("tasks/get", {"taskId": task_id}, caps=TASK_CAPS).result

    def wait_for(self, task_id: str, *statuses: str, timeout: float = 10.0) -> dict[str, Any]:
        """Poll `tasks/get` until the task is in one of `statuses` (or terminal); return it."""
        terminal = {"completed", "failed", "cancelled"}
        deadline = time.monotonic() + timeout
        while True:
            task = self.get_task(task_id)
            if task["status"] in statuses or task["status"] in terminal:
                return task
            assert time.monotonic() < deadline, f"task {task_id} still {task['status']} after {timeout}s"
            time.sleep(0.1)


async def apost(
    send: Callable[..., Awaitable[httpx.Response]],
    method: str,
    params: dict[str, Any] | None = None,
    *,
    caps: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
    headers: dict[str, Any] | None = None,
) -> Answer:
    """`Wire.post` for an async `send(json=..., headers=...)` (an in-process ASGI client)."""
    request_id, body, sent = build_request(method, params, caps=caps, meta=meta, headers=headers)
    response = await send(json=body, headers=sent)
    content_type = response.headers.get("content-type", "")
    message, notifications = parse_body(response.text, content_type, request_id)
    return Answer(response.status_code, message, notifications, content_type)
