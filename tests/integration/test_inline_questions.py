"""A tool called without a task that asks a question: what each kind of client gets.

- 2026-07-28, elicitation declared: multi-round-trip `input_required` results, answered by the
  `mcp` client's elicitation callback and retried until the tool's answer. The call waits,
  suspended, for the retry that answers; when it waited too long, the retry runs the tool again
  from its start, replaying earlier answers (not asked again);
- elicitation not declared, on either wire: JSON-RPC error -32021 naming `elicitation`, never the
  generic "Error executing tool", and no traceback in the server log.

Through a real server process over Streamable HTTP (and over stdio for 2026-07-28).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import ElicitRequestParams, ElicitResult, TextContent

from support.clients import LegacyHttpClient, ModernHttpClient
from support.polling import until
from support.process import CLI, HttpServer, ServeProcess, server_config
from support.task_clients import http_endpoint, stdio_params

MODERN = "2026-07-28"
#: How long a test waits for the server to do something, in seconds (generous: a loaded machine).
LIMIT_S = 20.0


class Answers:
    """An elicitation callback that accepts every question with `{"confirm": ...}` and notes it."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def __call__(self, context: Any, params: ElicitRequestParams) -> ElicitResult:
        self.asked.append(params.message)
        return ElicitResult(action="accept", content={"confirm": len(self.asked) % 2 == 1})


def _text(result: Any) -> str:
    [block] = result.content
    assert isinstance(block, TextContent)
    return block.text


async def test_questions_in_turn_come_back_in_rounds(http_server: HttpServer, tmp_path: Path) -> None:
    answers = Answers()
    marker = tmp_path / "asked.log"
    async with Client(http_endpoint(http_server), mode=MODERN, elicitation_callback=answers) as client:
        result = await client.call_tool("elicit_in_turn_rerun", {"marker": str(marker)})
    assert not result.is_error
    assert _text(result) == 'attempt 0: first=accept {"confirm": true}; second=accept {"confirm": false}'
    # Each question was put to the user once; the tool ran once, resumed by each retry.
    assert answers.asked == ["First question?", "Second question?"]
    assert marker.read_text().splitlines() == [
        "attempt 0 asks first",
        'attempt 0 got first: accept {"confirm": true}',
        "attempt 0 asks second",
        'attempt 0 got second: accept {"confirm": false}',
    ]


async def test_a_call_that_waited_too_long_runs_again_replaying_answers(
    server_db: Path | str, tmp_path: Path
) -> None:
    server = ServeProcess(server_db, tmp_path / "serve.log", client_request_timeout_ms=100).start()
    marker = tmp_path / "asked.log"
    client = ModernHttpClient(server.base_url)
    asks = {"capabilities": {"elicitation": {}}}
    call = {"name": "elicit_in_turn_rerun", "arguments": {"marker": str(marker)}}
    try:
        first = await client.call("tools/call", call, **asks)
        assert list(first["inputRequests"]) == ["input-1"]
        # The call stopped waiting for its answer (100 ms): the retry runs the tool again.
        await until(
            lambda: _log_of(marker),
            lambda log: "stopped waiting for first" in log,
            within_s=LIMIT_S,
            what="the call stopped waiting",
        )
        yes = {"action": "accept", "content": {"confirm": True}}
        retry = {**call, "inputResponses": {"input-1": yes}, "requestState": first["requestState"]}
        second = await client.call("tools/call", retry, **asks)
        assert list(second["inputRequests"]) == ["input-2"]
        assert second["inputRequests"]["input-2"]["params"]["message"] == "Second question?"
        # The second run got the first answer replayed, without asking, and asked the second.
        assert marker.read_text().splitlines()[:5] == [
            "attempt 0 asks first",
            "attempt 0 stopped waiting for first: CancelledError",
            "attempt 0 asks first",
            'attempt 0 got first: accept {"confirm": true}',
            "attempt 0 asks second",
        ]
    finally:
        await client.aclose()
        server.stop()


async def _log_of(marker: Path) -> str:
    return await asyncio.to_thread(lambda: marker.read_text() if marker.exists() else "")


async def test_guess_number_of_the_demo_played_inline(tmp_path: Path) -> None:
    server = DemoServer(tmp_path / "demo.db", tmp_path / "demo.log").start()
    game = Bisect(1, 64)
    try:
        async with Client(f"{server.base_url}/mcp", mode=MODERN, elicitation_callback=game) as client:
            result = await client.call_tool("guess_number", {"maximum": 64})
    finally:
        server.stop()
    played = result.structured_content
    assert played is not None and played["outcome"] == "found"
    assert played["guesses"][-1] == played["number"]
    assert len(played["guesses"]) == game.asked


class Bisect:
    """Plays `guess_number`: halves the range the hints leave."""

    def __init__(self, low: int, high: int) -> None:
        self.low, self.high, self.last, self.asked = low, high, 0, 0

    async def __call__(self, context: Any, params: ElicitRequestParams) -> ElicitResult:
        self.asked += 1
        if "higher" in params.message:
            self.low = self.last + 1
        elif "lower" in params.message:
            self.high = self.last - 1
        self.last = (self.low + self.high) // 2
        return ElicitResult(action="accept", content={"guess": self.last})


class DemoServer(HttpServer):
    """`mcptasks serve --demo` on a free loopback port."""

    def command(self) -> list[str]:
        return [
            *CLI,
            "serve",
            "--demo",
            "--db",
            str(self.db),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]


async def test_questions_asked_together_go_out_in_one_round(http_server: HttpServer) -> None:
    answers = Answers()
    async with Client(http_endpoint(http_server), mode=MODERN, elicitation_callback=answers) as client:
        result = await client.call_tool("elicit_two", {})
    assert sorted(answers.asked) == ["First of two?", "Second of two?"]
    assert _text(result).startswith("first=accept")


async def test_the_raw_rounds_carry_input_requests_and_request_state(http_server: HttpServer) -> None:
    client = ModernHttpClient(http_server.base_url)
    try:
        asks = {"capabilities": {"elicitation": {}}}  # no tasks extension: the tool runs inline
        first = await client.call(
            "tools/call", {"name": "elicit_once", "arguments": {"filename": "a.txt"}}, **asks
        )
        assert first["resultType"] == "input_required"
        assert list(first["inputRequests"]) == ["input-1"]
        assert first["inputRequests"]["input-1"]["method"] == "elicitation/create"
        assert first["inputRequests"]["input-1"]["params"]["message"] == "Delete a.txt?"
        retry = {
            "name": "elicit_once",
            "arguments": {"filename": "a.txt"},
            "inputResponses": {"input-1": {"action": "decline"}},
            "requestState": first["requestState"],
        }
        done = await client.call("tools/call", retry, **asks)
        assert done["resultType"] == "complete"
        assert done["content"][0]["text"] == "attempt 0: decline null"

        # A sampling result where an elicitation answer belongs.
        sampled = {"role": "assistant", "content": {"type": "text", "text": "yes"}, "model": "m"}
        bad = {**retry, "inputResponses": {"input-1": sampled}}
        refused = await client.request("tools/call", bad, **asks)
        assert refused.error["code"] == -32602
        assert "inputResponses.input-1" in refused.error["message"]
    finally:
        await client.aclose()


async def test_modern_client_without_elicitation_gets_32021(http_server: HttpServer) -> None:
    client = ModernHttpClient(http_server.base_url)
    try:
        reply = await client.request(
            "tools/call",
            {"name": "elicit_once", "arguments": {"filename": "b.txt"}},
            capabilities={},
        )
    finally:
        await client.aclose()
    assert reply.error["code"] == -32021
    assert "elicitation" in reply.error["message"]
    assert reply.error["data"] == {"requiredCapabilities": {"elicitation": {}}}
    assert "Error executing tool" not in reply.error["message"]


async def test_legacy_client_without_elicitation_gets_32021(http_server: HttpServer) -> None:
    client = LegacyHttpClient(http_server.base_url)
    await client.open(capabilities={})
    try:
        reply = await client.request(
            "tools/call", {"name": "elicit_once", "arguments": {"filename": "c.txt"}}
        )
    finally:
        await client.aclose()
    assert reply.error["code"] == -32021
    assert "elicitation" in reply.error["message"]
    assert "InputUnavailable" not in http_server.log()
    assert "Traceback" not in http_server.log()


async def test_sdk_client_without_elicitation_hears_32021(http_server: HttpServer) -> None:
    async with Client(http_endpoint(http_server), mode=MODERN) as client:
        with pytest.raises(MCPError) as refused:
            await client.call_tool("elicit_once", {"filename": "d.txt"})
    assert refused.value.error.code == -32021
    assert "elicitation" in refused.value.error.message


async def test_rounds_over_stdio(server_db: Path | str) -> None:
    answers = Answers()
    params = stdio_params(server_config(server_db))
    async with Client(params, mode=MODERN, elicitation_callback=answers) as client:
        result = await client.call_tool("elicit_once", {"filename": "e.txt"})
    assert _text(result) == 'attempt 0: accept {"confirm": true}'
    assert answers.asked == ["Delete e.txt?"]


async def test_a_stop_ends_the_calls_waiting_between_rounds(server_db: Path | str, tmp_path: Path) -> None:
    server = HttpServer(server_db, tmp_path / "server.log").start()
    marker = tmp_path / "asked.log"
    client = ModernHttpClient(server.base_url)
    try:
        first = await client.call(
            "tools/call",
            {"name": "elicit_once", "arguments": {"filename": "f.txt", "marker": str(marker)}},
            capabilities={"elicitation": {}},
        )
        assert first["resultType"] == "input_required"
    finally:
        await client.aclose()
        code = await asyncio.to_thread(server.stop)
    assert code == 0
    assert (await _log_of(marker)).splitlines() == [
        "attempt 0 asks first",
        "attempt 0 stopped waiting for first: CancelledError",
    ]
