"""A 2025-11-25 question is never stuck on a stream its client dropped, on both engines.

A task's question (`elicitation/create`) rides the response stream of a `tasks/result`, or the
session's standalone GET stream. When the client drops that stream without answering, or does not
answer within the server's client-request timeout (`--client-request-timeout-ms`), the question
goes back to waiting: the next `tasks/result` (or the GET stream, when it opens again) asks it
again, and its answer completes the task. A new `tasks/result` asks a pending question too; the
first answer to any copy is stored and the other copies are withdrawn.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.test_input_required import (
    LEGACY_ASKABLE,
    assert_question,
    elicit_answer,
    legacy_start,
    text_of,
)

from support.clients import LegacyHttpClient, Reply
from support.db import input_rows
from support.polling import get_task, until, wait_status
from support.process import HttpServer, ServeProcess

pytestmark = pytest.mark.slow

#: How long a test waits for a question the server should send at once, in seconds (generous: the
#: machine may be loaded; the figure seen is printed).
QUESTION_WAIT_S = 10.0
#: The client-request timeout of the timeout test's server, in ms.
SHORT_TIMEOUT_MS = 1000

Message = dict[str, Any]


class ResultStream:
    """A `tasks/result` request held open, with the questions that arrive on its stream."""

    def __init__(self, client: LegacyHttpClient, task_id: str) -> None:
        self.messages: asyncio.Queue[Message] = asyncio.Queue()
        self.seen: list[Message] = []
        self.reply: asyncio.Task[Reply] = asyncio.create_task(
            client.request("tasks/result", {"taskId": task_id}, on_message=self._add)
        )

    async def _add(self, message: Message) -> None:
        self.seen.append(message)
        await self.messages.put(message)

    async def question(self) -> tuple[Message, float]:
        """The next server request on this stream, and how long it took to come, in seconds."""
        started = time.monotonic()
        while True:
            try:
                message = await asyncio.wait_for(self.messages.get(), QUESTION_WAIT_S)
            except TimeoutError:
                raise AssertionError(f"no question within {QUESTION_WAIT_S}s; got {self.seen}") from None
            if message.get("method") == "elicitation/create":
                return message, time.monotonic() - started

    async def drop(self) -> None:
        """Close the stream without answering (the HTTP response is abandoned)."""
        self.reply.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reply


async def sizes(base_url: str) -> dict[str, int]:
    """The server's `state_sizes` (a test tool), through a session of its own."""
    client = LegacyHttpClient(base_url)
    try:
        await client.open()
        result = await client.call("tools/call", {"name": "state_sizes", "arguments": {}})
        found: dict[str, int] = json.loads(text_of(result))
        return found
    finally:
        await client.aclose()


async def asked_task(client: LegacyHttpClient, filename: str) -> str:
    """Start `elicit_once` as a task and wait until it asks."""
    task_id = await legacy_start(client, "elicit_once", {"filename": filename})
    await wait_status(client, task_id, "input_required")
    return task_id


@pytest.fixture
async def askable(http_server: HttpServer) -> AsyncIterator[LegacyHttpClient]:
    client = LegacyHttpClient(http_server.base_url)
    await client.open(capabilities=LEGACY_ASKABLE)
    try:
        yield client
    finally:
        await client.aclose()


async def test_a_dropped_tasks_result_stream_gives_its_question_to_the_next_one(
    http_server: HttpServer, askable: LegacyHttpClient
) -> None:
    task_id = await asked_task(askable, "dropped.txt")
    first = ResultStream(askable, task_id)
    dropped, _ = await first.question()
    await first.drop()
    # Nothing is left of the dropped request: no stream, no question in flight, and no waiter but
    # the parked tool's own (the request's handler stopped waiting for the task).
    await until(
        lambda: sizes(http_server.base_url),
        lambda s: s["questions_in_flight"] == 0 and s["result_streams"] == 0 and s["bus_waiters"] == 1,
        what="nothing left of the dropped tasks/result",
    )

    second = ResultStream(askable, task_id)
    again, waited_s = await second.question()
    print(f"question asked again {waited_s:.3f}s after the new tasks/result opened")
    assert_question(again, task_id, "Delete dropped.txt?")
    assert again["id"] != dropped["id"]
    assert await askable.respond(again["id"], elicit_answer(task_id, "accept", {"confirm": True})) == 202
    reply = await asyncio.wait_for(second.reply, QUESTION_WAIT_S)
    assert text_of(reply.result) == 'attempt 1: accept {"confirm": true}'

    (row,) = input_rows(http_server.db, task_id)
    assert row["response"]["action"] == "accept"
    after = await until(
        lambda: sizes(http_server.base_url),
        lambda s: s["questions_in_flight"] == 0 and s["result_streams"] == 0,
        what="no question in flight and no result stream left",
    )
    assert after["bus_waiters"] == 0


async def test_a_new_tasks_result_asks_too_and_the_first_answer_to_any_copy_is_stored(
    http_server: HttpServer, askable: LegacyHttpClient
) -> None:
    task_id = await asked_task(askable, "twice.txt")
    first = ResultStream(askable, task_id)
    old, _ = await first.question()

    second = ResultStream(askable, task_id)
    new, waited_s = await second.question()
    print(f"question asked on the second tasks/result {waited_s:.3f}s after it opened")
    assert new["id"] != old["id"]

    # The client answers the older copy (it was answering it when the second stream opened).
    assert await askable.respond(old["id"], elicit_answer(task_id, "accept", {"confirm": True})) == 202
    # The newer copy is then withdrawn on its stream (the SDK's notifications/cancelled).
    await until(
        lambda: asyncio.sleep(0, second.seen),
        lambda seen: any(
            m.get("method") == "notifications/cancelled" and m["params"].get("requestId") == new["id"]
            for m in seen
        ),
        what="notifications/cancelled for the other copy",
    )
    # A late answer to the withdrawn copy changes nothing: a stored answer never changes.
    assert await askable.respond(new["id"], elicit_answer(task_id, "decline")) == 202
    for stream in (first, second):
        reply = await asyncio.wait_for(stream.reply, QUESTION_WAIT_S)
        assert text_of(reply.result) == 'attempt 1: accept {"confirm": true}'
    (row,) = input_rows(http_server.db, task_id)
    assert row["response"]["action"] == "accept"


async def test_the_get_stream_asks_again_when_it_reopens(http_server: HttpServer) -> None:
    client = LegacyHttpClient(http_server.base_url)
    try:
        await client.open(listen=True, capabilities=LEGACY_ASKABLE)
        task_id = await legacy_start(client, "elicit_once", {"filename": "reopen.txt"})
        first = await client.notifications.wait_for("elicitation/create", within_s=QUESTION_WAIT_S)
        await client.stop_listening()
        # The server has seen the stream close (else the SDK refuses a second GET stream: 409).
        await until(
            lambda: sizes(http_server.base_url),
            lambda s: s["get_streams"] == 0 and s["questions_in_flight"] == 0,
            what="the GET stream closed and its question back to waiting",
        )
        client.notifications.items.clear()
        started = time.monotonic()
        await client.listen()
        again = await client.notifications.wait_for("elicitation/create", within_s=QUESTION_WAIT_S)
        print(f"question asked again {time.monotonic() - started:.3f}s after the GET stream reopened")
        assert_question(again, task_id, "Delete reopen.txt?")
        assert again["id"] != first["id"]
        assert await client.respond(again["id"], elicit_answer(task_id, "accept", {"confirm": True})) == 202
        done = await wait_status(client, task_id, "completed")
        assert done["status"] == "completed"
    finally:
        await client.aclose()
    (row,) = input_rows(http_server.db, task_id)
    assert row["response"]["action"] == "accept"


async def test_an_unanswered_question_times_out_and_is_asked_again(
    server_db: Path | str, tmp_path: Path
) -> None:
    server = ServeProcess(server_db, tmp_path / "serve.log", client_request_timeout_ms=SHORT_TIMEOUT_MS)
    server.start()
    client = LegacyHttpClient(server.base_url)
    try:
        await client.open(listen=True, capabilities=LEGACY_ASKABLE)
        task_id = await legacy_start(client, "elicit_once", {"filename": "slow.txt"})
        first = await client.notifications.wait_for("elicitation/create", within_s=QUESTION_WAIT_S)
        # Not answered: after the timeout the server cancels its request and stops waiting.
        await client.notifications.wait_for(
            "notifications/cancelled", lambda p: p.get("requestId") == first["id"], within_s=QUESTION_WAIT_S
        )
        await until(
            lambda: sizes(server.base_url),
            lambda s: s["questions_in_flight"] == 0,
            what="the timed-out question back to waiting",
        )
        # A late answer to the timed-out request is dropped: the task still waits for one.
        assert await client.respond(first["id"], elicit_answer(task_id, "decline")) == 202
        assert (await get_task(client, task_id))["status"] == "input_required"

        stream = ResultStream(client, task_id)
        again, _ = await stream.question()
        assert again["id"] != first["id"]
        assert await client.respond(again["id"], elicit_answer(task_id, "accept", {"confirm": True})) == 202
        reply = await asyncio.wait_for(stream.reply, QUESTION_WAIT_S)
        assert text_of(reply.result) == 'attempt 1: accept {"confirm": true}'
    finally:
        await client.aclose()
        server.stop()
    (row,) = input_rows(server_db, task_id)
    assert row["response"]["action"] == "accept"
