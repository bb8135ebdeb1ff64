"""Raw JSON-RPC clients for the integration tests: no MCP SDK on the client side, every byte visible.

- `LegacyHttpClient`: 2025-11-25 over stateful Streamable HTTP (`initialize`, `Mcp-Session-Id`,
  optional standalone GET SSE stream collecting server notifications).
- `ModernHttpClient`: 2026-07-28 over stateless Streamable HTTP (per-request `_meta` envelope,
  `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` headers).
- `StdioClient`: newline-delimited JSON-RPC over a server subprocess's stdin/stdout.

Each `request()` returns a `Reply` (the raw JSON-RPC message plus transport facts) and never raises
for a JSON-RPC error; `call()` returns the result or raises `RpcError`.

Requests the server sends (`elicitation/create`, `sampling/createMessage`) are answered by the test
with `respond()`: on HTTP they arrive on the GET stream (in `notifications`) or on a request's own
response stream (`request(..., on_message=...)`); on stdio they land in `server_requests` and are
answered `{}` at once unless `auto_answer` is False.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

LEGACY_VERSION = "2025-11-25"
MODERN_VERSION = "2026-07-28"
TASKS_EXTENSION = "io.modelcontextprotocol/tasks"
RELATED_TASK = "io.modelcontextprotocol/related-task"
ACCEPT_BOTH = "application/json, text/event-stream"
#: How long a single request may take before a test fails, in seconds.
REQUEST_TIMEOUT_S = 20.0

#: Where an SSE body breaks lines (the SSE format: CRLF, CR or LF).
SSE_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class RpcError(Exception):
    """A JSON-RPC error answer."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error.get('code')}: {error.get('message')}")
        self.error = error
        self.code = int(error.get("code", 0))
        self.message: str = error.get("message", "")
        self.data: Any = error.get("data")


@dataclass
class Reply:
    """One answered request: the raw JSON-RPC response and what the transport said."""

    message: dict[str, Any]
    #: HTTP status of the response (None on stdio).
    http_status: int | None = None
    #: The raw body text as received (SSE or JSON); the JSON line on stdio.
    raw: str = ""
    #: Notifications that arrived on this request's own response stream (HTTP SSE).
    notifications: list[dict[str, Any]] = field(default_factory=list)

    @property
    def result(self) -> dict[str, Any]:
        """The result; fails the test when the answer is an error."""
        assert "error" not in self.message, f"expected a result, got {self.message}"
        result: dict[str, Any] = self.message["result"]
        return result

    @property
    def error(self) -> dict[str, Any]:
        """The error object; fails the test when the answer is a result."""
        assert "error" in self.message, f"expected an error, got {self.message}"
        error: dict[str, Any] = self.message["error"]
        return error

    @property
    def is_error(self) -> bool:
        return "error" in self.message

    def unwrap(self) -> dict[str, Any]:
        """The result, or raise `RpcError`."""
        if self.is_error:
            raise RpcError(self.message["error"])
        return self.result


def sse_lines(text: str) -> list[str]:
    """The lines of an SSE body: split at CRLF, CR or LF only, as the SSE format says. JSON may
    carry other line breaks unescaped (U+0085, U+2028), which `str.splitlines` would split at."""
    return SSE_LINE_BREAK.split(text)


def parse_sse(text: str) -> list[dict[str, Any]]:
    """The JSON messages of an SSE body (`data:` lines; multi-line data joined with newlines)."""
    messages: list[dict[str, Any]] = []
    data: list[str] = []
    for line in sse_lines(text):
        if line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
        elif line == "" and data:
            messages.append(json.loads("\n".join(data)))
            data = []
    if data:
        messages.append(json.loads("\n".join(data)))
    return messages


class Notifications:
    """Notifications collected from a channel, with a deadline-bounded wait."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self._changed = asyncio.Condition()

    async def add(self, message: dict[str, Any]) -> None:
        async with self._changed:
            self.items.append(message)
            self._changed.notify_all()

    def matching(self, method: str, predicate: Callable[[dict[str, Any]], bool] | None = None) -> list[dict]:
        return [
            m
            for m in self.items
            if m.get("method") == method and (predicate is None or predicate(m.get("params") or {}))
        ]

    async def wait_for(
        self,
        method: str,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        *,
        within_s: float = 10.0,
    ) -> dict[str, Any]:
        """The first notification `method` whose params satisfy `predicate`; fails after `within_s` s."""

        def found() -> list[dict[str, Any]]:
            return self.matching(method, predicate)

        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(found), within_s)
            except TimeoutError:
                raise AssertionError(
                    f"no {method} notification matched within {within_s}s; got {self.items}"
                ) from None
            return found()[0]


class _HttpBase:
    def __init__(self, base_url: str) -> None:
        self.url = base_url.rstrip("/") + "/mcp"
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(REQUEST_TIMEOUT_S, connect=5.0))
        self._ids = itertools.count(1)

    def next_id(self) -> int:
        return next(self._ids)

    async def _post(
        self,
        body: dict[str, Any],
        headers: dict[str, str],
        on_message: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
    ) -> Reply:
        """POST one JSON-RPC message; read a JSON body or an SSE stream up to the response.

        `on_message` is awaited with every other message of the SSE stream (notifications, server
        requests) as it arrives, while the stream is still open.
        """
        async with self.http.stream("POST", self.url, json=body, headers=headers) as response:
            content_type = response.headers.get("content-type", "")
            if "text/event-stream" in content_type:
                seen: list[str] = []
                event: list[str] = []
                notes: list[dict[str, Any]] = []
                answer: dict[str, Any] | None = None
                async for line in response.aiter_lines():
                    seen.append(line)
                    event.append(line)
                    if line == "":
                        for message in parse_sse("\n".join(event)):
                            if "id" in message and ("result" in message or "error" in message):
                                answer = message
                            else:
                                notes.append(message)
                                if on_message is not None:
                                    await on_message(message)
                        event = []
                        if answer is not None:
                            break
                for message in parse_sse("\n".join(event)) if answer is None else []:
                    if "id" in message and ("result" in message or "error" in message):
                        answer = message
                assert answer is not None, f"SSE stream ended without a response to {body.get('method')}"
                return Reply(answer, response.status_code, "\n".join(seen), notes)
            raw = (await response.aread()).decode()
            if not raw:
                return Reply({}, response.status_code, raw)
            return Reply(json.loads(raw), response.status_code, raw)

    async def aclose(self) -> None:
        await self.http.aclose()


class LegacyHttpClient(_HttpBase):
    """A 2025-11-25 client on one stateful Streamable HTTP session."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self.session_id: str | None = None
        self.initialize_result: dict[str, Any] | None = None
        self.notifications = Notifications()
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    async def open(
        self, *, listen: bool = False, capabilities: dict[str, Any] | None = None
    ) -> LegacyHttpClient:
        """`initialize`, keep the session id, `notifications/initialized`; optionally open the GET stream.

        `capabilities` are the client capabilities declared (default `{"tasks": {}}`).
        """
        body = {
            "jsonrpc": "2.0",
            "id": self.next_id(),
            "method": "initialize",
            "params": {
                "protocolVersion": LEGACY_VERSION,
                "capabilities": {"tasks": {}} if capabilities is None else capabilities,
                "clientInfo": {"name": "mcptasks-integration-tests", "version": "0"},
            },
        }
        headers = {"Accept": ACCEPT_BOTH, "Content-Type": "application/json"}
        async with self.http.stream("POST", self.url, json=body, headers=headers) as response:
            assert response.status_code == 200, await response.aread()
            self.session_id = response.headers["mcp-session-id"]
            raw = (await response.aread()).decode()
        content = parse_sse(raw) if raw.lstrip().startswith(("event", "data", ":")) else [json.loads(raw)]
        self.initialize_result = next(m for m in content if m.get("id") == body["id"])["result"]
        reply = await self._post({"jsonrpc": "2.0", "method": "notifications/initialized"}, self._headers())
        assert reply.http_status == 202, reply
        if listen:
            await self.listen()
        return self

    def _headers(self) -> dict[str, str]:
        assert self.session_id is not None
        return {
            "Accept": ACCEPT_BOTH,
            "Content-Type": "application/json",
            "Mcp-Session-Id": self.session_id,
            "MCP-Protocol-Version": LEGACY_VERSION,
        }

    async def listen(self) -> None:
        """Open the standalone GET SSE stream; notifications land in `self.notifications`."""
        self._listener = asyncio.create_task(self._listen())
        await asyncio.wait_for(self._listening.wait(), 10)
        # A round trip after the stream opened, so the server has registered it.
        await self.call("ping", {})

    async def stop_listening(self) -> None:
        """Close the standalone GET stream (as a client that drops it would)."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await listener
        self._listening.clear()

    async def _listen(self) -> None:
        headers = {
            "Accept": "text/event-stream",
            "Mcp-Session-Id": self.session_id or "",
            "MCP-Protocol-Version": LEGACY_VERSION,
        }
        timeout = httpx.Timeout(None, connect=5.0)
        async with self.http.stream("GET", self.url, headers=headers, timeout=timeout) as response:
            assert response.status_code == 200, await response.aread()
            self._listening.set()
            data: list[str] = []
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    data.append(line[5:].lstrip(" "))
                elif line == "" and data:
                    await self.notifications.add(json.loads("\n".join(data)))
                    data = []

    async def request(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        on_message: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
        **extra: Any,
    ) -> Reply:
        """Send a request; `on_message` sees the other messages of its response stream as they come."""
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": self.next_id(), "method": method}
        if params is not None:
            body["params"] = params
        body.update(extra)
        return await self._post(body, self._headers(), on_message)

    async def respond(self, request_id: int | str, result: dict[str, Any]) -> int:
        """POST the JSON-RPC response to a request the server sent; returns the HTTP status (202)."""
        body = {"jsonrpc": "2.0", "id": request_id, "result": result}
        response = await self.http.post(self.url, json=body, headers=self._headers())
        return response.status_code

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return (await self.request(method, params)).unwrap()

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> int:
        """POST a notification; returns the HTTP status (202 when accepted)."""
        body: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            body["params"] = params
        response = await self.http.post(self.url, json=body, headers=self._headers())
        return response.status_code

    async def aclose(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await self._listener
        if self.session_id is not None:
            with contextlib.suppress(httpx.HTTPError):
                await self.http.delete(self.url, headers=self._headers())
        await super().aclose()


#: `legacy_session` fixture: `await legacy_session(listen=False)` opens a new 2025-11-25 session.
LegacyFactory = Callable[..., Awaitable[LegacyHttpClient]]


def envelope(*, declare: bool = True, capabilities: dict[str, Any] | None = None) -> dict[str, Any]:
    """The 2026-07-28 per-request `_meta` envelope, declaring the tasks extension or not."""
    if capabilities is None:
        capabilities = {"extensions": {TASKS_EXTENSION: {}}} if declare else {}
    return {
        "io.modelcontextprotocol/protocolVersion": MODERN_VERSION,
        "io.modelcontextprotocol/clientCapabilities": capabilities,
    }


class ModernHttpClient(_HttpBase):
    """A stateless 2026-07-28 client: every request carries its envelope and routing headers."""

    async def request(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        declare: bool = True,
        capabilities: dict[str, Any] | None = None,
        mcp_name: str | None = None,
        omit_name: bool = False,
    ) -> Reply:
        params = dict(params or {})
        params["_meta"] = {**envelope(declare=declare, capabilities=capabilities), **params.get("_meta", {})}
        headers = {
            "Accept": ACCEPT_BOTH,
            "Content-Type": "application/json",
            "MCP-Protocol-Version": MODERN_VERSION,
            "Mcp-Method": method,
        }
        name = mcp_name
        if name is None:
            candidate = params.get("name", params.get("taskId"))
            name = candidate if isinstance(candidate, str) else None
        if name is not None and not omit_name:
            headers["Mcp-Name"] = name
        body = {"jsonrpc": "2.0", "id": self.next_id(), "method": method, "params": params}
        return await self._post(body, headers)

    async def call(self, method: str, params: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        return (await self.request(method, params, **kw)).unwrap()


class StdioClient:
    """A JSON-RPC client over a server subprocess's stdin/stdout (newline-delimited)."""

    def __init__(self, process: asyncio.subprocess.Process, log_path: Path) -> None:
        self.process = process
        self.log_path = log_path
        self.notifications = Notifications()
        #: Requests the server sent (elicitation/create, sampling/createMessage, ...), as received.
        self.server_requests = Notifications()
        #: Answer every server request `{}` at once; when False the test answers with `respond()`.
        self.auto_answer = True
        self.lines: list[str] = []
        self._ids = itertools.count(1)
        self._pending: dict[int | str, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())
        self.initialize_result: dict[str, Any] | None = None

    @classmethod
    async def start(cls, runner: Path, config: dict[str, Any], log_path: Path) -> StdioClient:
        with log_path.open("ab") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                str(runner),
                json.dumps({**config, "transport": "stdio"}),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
            )
        return cls(process, log_path)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while True:
            line = await self.process.stdout.readline()
            if not line:
                break
            text = line.decode().strip()
            if not text:
                continue
            self.lines.append(text)
            message = json.loads(text)
            if "id" in message and ("result" in message or "error" in message):
                future = self._pending.pop(message["id"], None)
                if future is not None and not future.done():
                    future.set_result(message)
            elif "id" in message and "method" in message:
                await self.server_requests.add(message)
                if self.auto_answer:
                    await self._send({"jsonrpc": "2.0", "id": message["id"], "result": {}})
            else:
                await self.notifications.add(message)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError("the server closed stdout"))

    async def _send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(message) + "\n").encode())
        await self.process.stdin.drain()

    async def request(self, method: str, params: dict[str, Any] | None = None) -> Reply:
        request_id = next(self._ids)
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            body["params"] = params
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        await self._send(body)
        try:
            message = await asyncio.wait_for(future, REQUEST_TIMEOUT_S)
        except TimeoutError:
            raise AssertionError(
                f"no answer to {method} within {REQUEST_TIMEOUT_S}s; log:\n{self.log()}"
            ) from None
        return Reply(message, None, json.dumps(message))

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return (await self.request(method, params)).unwrap()

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        body: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            body["params"] = params
        await self._send(body)

    async def respond(self, request_id: int | str, result: dict[str, Any]) -> None:
        """Send the JSON-RPC response to a request the server sent."""
        await self._send({"jsonrpc": "2.0", "id": request_id, "result": result})

    async def initialize(
        self, version: str = LEGACY_VERSION, *, capabilities: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The 2025-11-25 handshake; `capabilities` default to `{"tasks": {}}`."""
        self.initialize_result = await self.call(
            "initialize",
            {
                "protocolVersion": version,
                "capabilities": {"tasks": {}} if capabilities is None else capabilities,
                "clientInfo": {"name": "mcptasks-integration-tests", "version": "0"},
            },
        )
        await self.notify("notifications/initialized")
        return self.initialize_result

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def aclose(self, within_s: float = 10.0) -> int:
        """Close stdin, then SIGINT, then SIGKILL: the process is gone when this returns."""
        process = self.process
        if process.stdin is not None and not process.stdin.is_closing():
            process.stdin.close()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                await process.stdin.wait_closed()
        for sig in (None, signal.SIGINT, signal.SIGKILL):
            if process.returncode is not None:
                break
            if sig is not None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(sig)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), within_s / 2)
        await process.wait()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self._reader, 5)
        return process.returncode if process.returncode is not None else -1


class ModernStdio:
    """2026-07-28 requests over a `StdioClient`: each request carries the `_meta` envelope."""

    def __init__(self, client: StdioClient, *, declare: bool = True) -> None:
        self.client = client
        self.declare = declare

    async def request(
        self, method: str, params: dict[str, Any] | None = None, *, declare: bool | None = None
    ) -> Reply:
        params = dict(params or {})
        params["_meta"] = envelope(declare=self.declare if declare is None else declare)
        return await self.client.request(method, params)

    async def call(self, method: str, params: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        return (await self.request(method, params, **kw)).unwrap()
