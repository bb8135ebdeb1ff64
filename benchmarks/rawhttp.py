"""A minimal HTTP/1.1 client on asyncio streams, for driving load without disturbing the server.

One `Connection` is one keep-alive TCP connection, used by one simulated client at a time. It sends
POSTs with a `Content-Length` body and reads responses framed by `Content-Length`, by
`Transfer-Encoding: chunked`, or by the server closing the connection. Bodies are returned whole;
`sse_messages()` splits a `text/event-stream` body into its JSON messages.

Deliberately absent: TLS, redirects, pipelining, compression, proxies, request streaming. The load
generator shares two cores with the server, so every line here is about spending little CPU per
request (an httpx client spends several times more); it uses the standard library only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["Connection", "HttpError", "Response", "sse_messages"]

#: Reopen a connection that sat idle this long, in seconds. uvicorn closes idle keep-alive
#: connections after 5 s; reopening first avoids sending a POST into a socket the server is
#: closing, which could not be retried safely (a POST may create a task).
IDLE_REOPEN_S = 3.0
#: Largest header block accepted, in bytes.
MAX_HEADER_BYTES = 64 * 1024
#: How long one request may take before it counts as failed, in seconds.
DEFAULT_TIMEOUT_S = 120.0


class HttpError(Exception):
    """The connection failed, timed out, or the server sent something that is not HTTP/1.1."""


@dataclass(frozen=True, slots=True)
class Response:
    """One HTTP response, read whole."""

    #: The status code, e.g. 200.
    status: int
    #: Header names lower-cased; a repeated header keeps its last value.
    headers: dict[str, str]
    #: The body, de-chunked.
    body: bytes

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-cased ("" when absent)."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()


class Connection:
    """One keep-alive HTTP/1.1 connection to `host:port`, opened lazily and reopened when needed."""

    def __init__(self, host: str, port: int, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._last_used = 0.0  # time.monotonic() of the end of the last response
        #: TCP connections opened so far (1 when keep-alive held for the whole run).
        self.opened = 0

    async def post(self, path: str, headers: dict[str, str], body: bytes) -> Response:
        """POST `body` to `path` and return the whole response.

        `headers` are sent as given, after `Host` and `Content-Length`. Raises HttpError when the
        connection fails or the response is malformed; the connection is then closed and the next
        request opens a new one.
        """
        try:
            return await asyncio.wait_for(self._post(path, headers, body), self.timeout_s)
        except HttpError:
            await self.close()
            raise
        except TimeoutError as exc:
            await self.close()
            raise HttpError(f"no response within {self.timeout_s:g} s") from exc
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            await self.close()
            raise HttpError(f"{type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        """Close the connection, if open; the next request opens a new one."""
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            # The peer may already have reset it; nothing is lost.
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _post(self, path: str, headers: dict[str, str], body: bytes) -> Response:
        if self._writer is not None and time.monotonic() - self._last_used > IDLE_REOPEN_S:
            await self.close()
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(
                self.host, self.port, limit=MAX_HEADER_BYTES
            )
            self.opened += 1
        reader, writer = self._reader, self._writer
        assert reader is not None
        head = [f"POST {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
        head.extend(f"{name}: {value}" for name, value in headers.items())
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
        response, keep_alive = await _read_response(reader)
        if keep_alive:
            self._last_used = time.monotonic()
        else:
            await self.close()
        return response


async def _read_response(reader: asyncio.StreamReader) -> tuple[Response, bool]:
    """Read one response; also say whether the connection may be reused."""
    block = await reader.readuntil(b"\r\n\r\n")
    lines = block.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise HttpError(f"not an HTTP/1.x status line: {lines[0]!r}")
    status = int(parts[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    keep_alive = headers.get("connection", "").lower() != "close" and parts[0] == "HTTP/1.1"
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = await _read_chunked(reader)
    elif "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif status in (204, 304) or 100 <= status < 200:
        body = b""
    else:
        # No framing: the body runs to the end of the connection (RFC 9112 section 6.3).
        body = await reader.read()
        keep_alive = False
    return Response(status, headers, body), keep_alive


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    """Read a chunked body (RFC 9112 section 7.1), dropping extensions and trailers."""
    chunks: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            # Trailer fields, then an empty line.
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass
            return b"".join(chunks)
        data = await reader.readexactly(size + 2)
        if data[-2:] != b"\r\n":
            raise HttpError("chunk not followed by CRLF")
        chunks.append(data[:-2])


def sse_messages(body: bytes) -> list[Any]:
    """Return the JSON value of each `data:` event in a `text/event-stream` body, in order.

    Events without data (comments, keep-alive pings, retry hints) are skipped; a multi-line
    `data:` event is joined with newlines as the SSE specification says.
    """
    messages: list[Any] = []
    for event in body.replace(b"\r\n", b"\n").split(b"\n\n"):
        data = [line[5:].removeprefix(b" ") for line in event.split(b"\n") if line.startswith(b"data:")]
        if data:
            messages.append(json.loads(b"\n".join(data)))
    return messages
