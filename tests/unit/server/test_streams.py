"""`GetStreamTracker`: which GET streams are open, and when a `tasks/result` stream closes."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from mcptasks.server.responses import ResponseModeMiddleware
from mcptasks.server.v2025_11_25.streams import GetStreams, GetStreamTracker

PATH = "/mcp"


def scope(method: str, session_id: str | None = "s1") -> Scope:
    headers = [(b"mcp-protocol-version", b"2025-11-25")]
    if session_id is not None:
        headers.append((b"mcp-session-id", session_id.encode()))
    return {"type": "http", "method": method, "path": PATH, "headers": headers}


class Recorder:
    def __init__(self, streams: GetStreams) -> None:
        self.events: list[tuple[str, ...]] = []
        streams.add_listeners(
            on_open=lambda s: self.events.append(("open", s)),
            on_close=lambda s: self.events.append(("close", s)),
            on_result_closed=lambda s, r: self.events.append(("result_closed", s, r)),
        )


async def test_a_get_stream_counts_as_open_from_its_200_until_it_ends() -> None:
    streams = GetStreams()
    recorder = Recorder(streams)
    release = asyncio.Event()
    seen_open: list[bool] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen_open.append(streams.is_open("s1"))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        seen_open.append(streams.is_open("s1"))
        await release.wait()

    async def send(message: Message) -> None:
        return None

    serving = asyncio.create_task(
        GetStreamTracker(app, streams=streams, path=PATH)(scope("GET"), _no_body, send)
    )
    await asyncio.sleep(0.01)
    assert seen_open == [False, True]
    assert recorder.events == [("open", "s1")]
    release.set()
    await serving
    assert not streams.is_open("s1") and len(streams) == 0
    assert recorder.events == [("open", "s1"), ("close", "s1")]


async def test_a_refused_get_stream_never_counts_as_open() -> None:
    streams = GetStreams()
    recorder = Recorder(streams)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 409, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def send(message: Message) -> None:
        return None

    await GetStreamTracker(app, streams=streams, path=PATH)(scope("GET"), _no_body, send)
    assert recorder.events == []


async def test_the_end_of_a_tasks_result_post_is_reported_with_its_request_id() -> None:
    streams = GetStreams()
    recorder = Recorder(streams)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        assert json.loads(body)["method"] in ("tasks/result", "tasks/get")  # the body is replayed whole
        raise ConnectionResetError  # the client went away mid-stream

    # As the app is built: the response-mode middleware (outer) parses the body for the tracker.
    tracked = ResponseModeMiddleware(
        GetStreamTracker(app, streams=streams, path=PATH), path=PATH, answers_at_once=lambda r, m: False
    )
    for method, request_id in (("tasks/result", 7), ("tasks/get", 8)):
        body = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": {"taskId": "t"}})
        with contextlib.suppress(ConnectionResetError):
            await tracked(scope("POST"), _body(body.encode()), _ignore)
    assert recorder.events == [("result_closed", "s1", "7")]


async def _no_body() -> Message:
    await asyncio.sleep(3600)
    return {"type": "http.disconnect"}


def _body(body: bytes) -> Receive:
    messages: list[dict[str, Any]] = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> Message:
        if messages:
            return messages.pop(0)
        return await _no_body()

    return receive


async def _ignore(message: Message) -> None:
    return None
