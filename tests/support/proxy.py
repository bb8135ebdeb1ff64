"""A TCP proxy on loopback whose traffic can be paused: a network cut between a server and its
database, for fault tests (the server under test is not changed; only its path to the database)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class PausableProxy:
    """Forwards `127.0.0.1:port` to `target`; `pause()` holds every byte until `resume()`."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server: asyncio.Server | None = None
        self._pumps: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def pause(self) -> None:
        """Stop forwarding (connections stay open, nothing gets through)."""
        self._flowing.clear()

    def resume(self) -> None:
        """Forward again what was held and what comes next."""
        self._flowing.set()

    async def sever(self) -> None:
        """Close every connection and stop listening: connecting is refused until `restore()`."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for pump in list(self._pumps):
            pump.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)

    async def restore(self) -> None:
        """Listen again on the same port."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def close(self) -> None:
        self.resume()
        if self._server is not None:
            self._server.close()
        for pump in list(self._pumps):
            pump.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        for source, sink in ((reader, upstream_writer), (upstream_reader, writer)):
            pump = asyncio.ensure_future(self._pump(source, sink))
            self._pumps.add(pump)
            pump.add_done_callback(self._pumps.discard)

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                await self._flowing.wait()
                sink.write(data)
                await sink.drain()
        except ConnectionError:
            pass
        finally:
            with contextlib.suppress(Exception):
                sink.close()


@contextlib.asynccontextmanager
async def pausable_proxy(host: str, port: int) -> AsyncIterator[PausableProxy]:
    """A started `PausableProxy` to `host:port`, closed afterwards."""
    proxy = PausableProxy(host, port)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()
