"""SIGTERM under load, on Streamable HTTP and on stdio, on both engines: what clients get.

A real server takes tasks from concurrent clients (HTTP: 2025-11-25 sessions and stateless
2026-07-28 clients; stdio: concurrent 2025-11-25 requests on the one connection), each create
carrying a marker of its own in its arguments. Mid-load it gets SIGTERM, and the clients go on
until it has exited. Then:

- no reply is `-32603`: a request refused because the server stops answers HTTP 503 with
  `Retry-After` (body: `ServerStopping`, -32011, `data.retryAfterMs`) or, on stdio and for a
  request already past the door, the JSON-RPC error -32011;
- an answer matches what is stored (checked in SQL): no task is stored whose create was answered
  with an error, and every task whose CreateTaskResult was received is stored;
- once restarted on the same database, after the lease and a recovery period, no task is left
  active.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.faults._readme import check_documented, check_documented_503

from mcptasks.core.errors import RETRY_AFTER_MS, ErrorCode
from mcptasks.runtime.outcomes import INTERRUPTED_MESSAGE
from support.clients import (
    ACCEPT_BOTH,
    LEGACY_VERSION,
    MODERN_VERSION,
    ModernHttpClient,
    StdioClient,
    envelope,
    sse_lines,
)
from support.db import query
from support.process import RUNNER, ServeProcess, server_config

pytestmark = pytest.mark.slow

#: Concurrent clients per wire on HTTP; concurrent requests on the stdio connection.
CLIENTS = 4
#: How long the clients load the server before SIGTERM, in s.
LOAD_S = 1.5
#: Longest a stop may take (shutdown grace, closing connections, a loaded machine), in s.
STOP_WITHIN_S = 20.0
#: Lease of the servers, in ms.
LEASE_MS = 1500
#: How long after the restart every task must be terminal, in s.
SETTLE_S = LEASE_MS / 1000 + 6.0
#: Step length of the slow tools, in ms.
STEP_MS = 50


@dataclass
class Ledger:
    """What clients were told, by marker (each create's own)."""

    acked: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)
    #: JSON-RPC error codes of every error answer.
    codes: list[int] = field(default_factory=list)
    #: HTTP 503 answers seen (each checked for Retry-After and its body).
    unavailable_503: int = 0
    #: Anything a client met that no stop may produce.
    wrong: list[str] = field(default_factory=list)


def create_arguments(rng: random.Random, markers: Path) -> tuple[str, str, dict[str, Any]]:
    """A create of the mix, with its marker: quick `echo`, `slow` ("fail"), `slow_rerun`."""
    marker = uuid.uuid4().hex
    roll = rng.random()
    if roll < 0.4:
        return marker, "echo", {"text": marker}
    path = str(markers / marker)  # the tools write their step count there: unique, and stored
    tool = "slow" if roll < 0.75 else "slow_rerun"
    return marker, tool, {"steps": rng.randint(2, 20), "delay_ms": STEP_MS, "marker": path}


def record_reply(ledger: Ledger, marker: str, reply: dict[str, Any]) -> None:
    """File one create's JSON-RPC reply under acknowledged or refused."""
    if "error" in reply:
        ledger.codes.append(int(reply["error"]["code"]))
        ledger.refused.add(marker)
        if reply["error"]["code"] != ErrorCode.SERVER_STOPPING:
            ledger.wrong.append(f"create answered {reply['error']}")
        elif reply["error"].get("data") != {"retryAfterMs": RETRY_AFTER_MS}:
            ledger.wrong.append(f"ServerStopping without retryAfterMs: {reply['error']}")
        else:
            check_documented(reply["error"])  # the README's table says what was answered
    else:
        ledger.acked.add(marker)


def check_503(ledger: Ledger, response: httpx.Response) -> None:
    ledger.unavailable_503 += 1
    if response.headers.get("retry-after") != str(RETRY_AFTER_MS // 1000):
        ledger.wrong.append(f"503 with Retry-After {response.headers.get('retry-after')!r}")
    body = response.json()
    if body.get("error", {}).get("code") != ErrorCode.SERVER_STOPPING:
        ledger.wrong.append(f"503 with body {body}")
    check_documented_503(response.status_code, response.headers.get("retry-after"), body)


def parse_reply(response: httpx.Response) -> dict[str, Any]:
    if "text/event-stream" in response.headers.get("content-type", ""):
        for line in sse_lines(response.text):
            if line.startswith("data:"):
                message: dict[str, Any] = json.loads(line[5:])
                if "result" in message or "error" in message:
                    return message
        raise AssertionError(f"no reply in the stream: {response.text!r}")
    parsed: dict[str, Any] = response.json()
    return parsed


async def http_client(
    base_url: str, modern: bool, ledger: Ledger, rng: random.Random, markers: Path, gone: asyncio.Event
) -> None:
    """Create tasks (and read one back) until the server is gone; file every answer."""
    url = base_url + "/mcp"
    async with httpx.AsyncClient(timeout=httpx.Timeout(20.0, connect=5.0)) as http:
        headers = {"Accept": ACCEPT_BOTH, "Content-Type": "application/json"}
        if modern:
            headers["MCP-Protocol-Version"] = MODERN_VERSION
        else:
            response = await http.post(
                url,
                json={
                    "jsonrpc": "2.0",
                    "id": 0,
                    "method": "initialize",
                    "params": {
                        "protocolVersion": LEGACY_VERSION,
                        "capabilities": {"tasks": {}},
                        "clientInfo": {"name": "stop-test", "version": "0"},
                    },
                },
                headers=headers,
            )
            assert response.status_code == 200, response.text
            headers["Mcp-Session-Id"] = response.headers["mcp-session-id"]
            headers["MCP-Protocol-Version"] = LEGACY_VERSION
            await http.post(
                url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers
            )
        n = 0
        while not gone.is_set():
            n += 1
            marker, tool, arguments = create_arguments(rng, markers)
            params: dict[str, Any] = {"name": tool, "arguments": arguments}
            extra = {}
            if modern:
                params["_meta"] = envelope()
                extra = {"Mcp-Method": "tools/call", "Mcp-Name": tool}
            else:
                params["task"] = {}
            body = {"jsonrpc": "2.0", "id": n, "method": "tools/call", "params": params}
            try:
                response = await http.post(url, json=body, headers={**headers, **extra})
            except httpx.TransportError:
                # The request may have been read before the connection dropped: neither told.
                await asyncio.sleep(0.05)
                continue
            if response.status_code == 503:
                check_503(ledger, response)
                ledger.refused.add(marker)
                await asyncio.sleep(0.02)
                continue
            if response.status_code == 404 and not modern:
                return  # the session ended with the server
            if response.status_code != 200:
                ledger.wrong.append(f"HTTP {response.status_code}: {response.text[:200]}")
                continue
            record_reply(ledger, marker, parse_reply(response))


async def stdio_client(client: StdioClient, ledger: Ledger, rng: random.Random, markers: Path) -> None:
    """Create tasks on the stdio connection until it closes; file every answer."""
    while client.process.returncode is None:
        marker, tool, arguments = create_arguments(rng, markers)
        try:
            reply = await client.request("tools/call", {"name": tool, "arguments": arguments, "task": {}})
        except (ConnectionError, BrokenPipeError, ConnectionResetError, AssertionError):
            return  # stdout closed: the server is gone (a request unanswered was not told anything)
        record_reply(ledger, marker, reply.message)


def stored_markers(db: Path | str) -> dict[str, str]:
    """marker -> status of every stored task (the marker is in its arguments)."""
    found: dict[str, str] = {}
    for row in query(db, "SELECT status, arguments FROM tasks"):
        arguments = row["arguments"]
        if isinstance(arguments, str):
            arguments = json.loads(arguments)
        marker = arguments.get("text") or Path(arguments.get("marker", "")).name
        found[marker] = row["status"]
    return found


async def settled(db: Path | str) -> list[str]:
    """Wait up to SETTLE_S for every task to be terminal; returns the markers still active."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        active = [
            m
            for m, status in (await asyncio.to_thread(stored_markers, db)).items()
            if status in ("working", "input_required")
        ]
        if not active or time.monotonic() >= deadline:
            return active
        await asyncio.sleep(0.2)


def check_round(ledger: Ledger, db: Path | str, what: str) -> None:
    stored = stored_markers(db)
    assert ledger.wrong == [], f"{what}: {ledger.wrong[:5]}"
    assert ErrorCode.INTERNAL_ERROR not in ledger.codes, what
    assert ledger.acked, f"{what}: no task was created before the stop"
    told_failed_but_stored = sorted(ledger.refused & set(stored))
    assert told_failed_but_stored == [], f"{what}: refused creates stored: {told_failed_but_stored}"
    lost = sorted(ledger.acked - set(stored))
    assert lost == [], f"{what}: acknowledged creates not stored: {lost}"


async def test_sigterm_under_load_on_http(server_db: Path | str, tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    server = ServeProcess(server_db, tmp_path / "server.log", lease_ms=LEASE_MS).start()
    ledger = Ledger()
    gone = asyncio.Event()
    rng = random.Random(11)
    try:
        clients = [
            asyncio.create_task(
                http_client(server.base_url, modern, ledger, random.Random(rng.random()), markers, gone)
            )
            for modern in (False, True)
            for _ in range(CLIENTS)
        ]
        await asyncio.sleep(LOAD_S)
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        exit_code = await asyncio.to_thread(server.process.wait, STOP_WITHIN_S)
        gone.set()
        await asyncio.wait_for(asyncio.gather(*clients), 30)
        assert exit_code == 0, server.log()
        server.process = None
        check_round(ledger, server_db, "http")
        # Restarted: the stopped server's leases run out, every task ends.
        server.start()
        assert await settled(server_db) == [], server.log()
    finally:
        gone.set()
        server.stop()
    print(
        f"\nSIGTERM on HTTP: {len(ledger.acked)} acknowledged, {len(ledger.refused)} refused "
        f"({ledger.unavailable_503} with 503), 0 refused-but-stored, 0 stuck"
    )


async def test_sigterm_under_load_on_stdio(server_db: Path | str, tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    config = server_config(server_db, leases={"duration_s": LEASE_MS / 1000, "shutdown_grace_s": 0.5})
    client = await StdioClient.start(RUNNER, config, tmp_path / "stdio.log")
    ledger = Ledger()
    rng = random.Random(12)
    try:
        await client.initialize()
        loaders = [
            asyncio.create_task(stdio_client(client, ledger, random.Random(rng.random()), markers))
            for _ in range(CLIENTS)
        ]
        await asyncio.sleep(LOAD_S)
        client.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(client.process.wait(), STOP_WITHIN_S)
        await asyncio.wait_for(asyncio.gather(*loaders), 30)
        assert client.process.returncode == 0, client.log()
        check_round(ledger, server_db, "stdio")
    finally:
        await client.aclose()
    restarted = ServeProcess(server_db, tmp_path / "restart.log", lease_ms=LEASE_MS).start()
    try:
        assert await settled(server_db) == [], restarted.log()
    finally:
        restarted.stop()
    print(
        f"\nSIGTERM on stdio: {len(ledger.acked)} acknowledged, {len(ledger.refused)} refused, "
        "0 refused-but-stored, 0 stuck"
    )


async def test_a_stop_does_not_wait_for_a_sync_tool_past_its_grace(
    server_db: Path | str, tmp_path: Path
) -> None:
    """A plain `def` tool that ignores cancellation runs on a daemon thread: SIGTERM ends the
    server after the shutdown grace, not after the tool; its task is failed as interrupted."""
    server = ServeProcess(
        server_db, tmp_path / "server.log", lease_ms=LEASE_MS, shutdown_grace_ms=500
    ).start()
    marker = tmp_path / "sync-marker"
    client = ModernHttpClient(server.base_url)
    try:
        arguments = {"seconds": 120, "marker": str(marker)}
        created = await client.call("tools/call", {"name": "sync_stubborn", "arguments": arguments})
        deadline = time.monotonic() + 20
        while not marker.exists():  # the tool is running (in its thread)
            assert time.monotonic() < deadline, server.log()
            await asyncio.sleep(0.05)
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        # Far below the tool's 120 s: the stop waited for the grace only.
        assert await asyncio.to_thread(server.process.wait, STOP_WITHIN_S) == 0, server.log()
        server.process = None
        [row] = query(
            server_db, "SELECT status, status_message FROM tasks WHERE task_id = ?", created["taskId"]
        )
        assert row["status"] == "failed", row
        assert row["status_message"] == INTERRUPTED_MESSAGE, row
        assert marker.read_text() == "1"  # the tool never finished
    finally:
        await client.aclose()
        server.stop()
