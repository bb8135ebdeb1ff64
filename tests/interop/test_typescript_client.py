"""The official TypeScript SDK's task client drives `mcptasks serve --demo` (2025-11-25 wire).

`ts_task_client.mjs` runs, over Streamable HTTP and over stdio, on SQLite and PostgreSQL:
create (`tools/call` with `params.task`), poll (`tasks/get`) and result (`tasks/result`); cancel
(`tasks/cancel`); a task that asks questions (`guess_number`: its `elicitation/create` requests
come on the `tasks/result` stream and the SDK's elicitation handler answers each); and
`tasks/list`. Each scenario prints one JSON line; the test checks them, then reads the same tasks
back with `mcptasks tasks list --json` to see what the database holds.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.client.servers import MCPTASKS, ServeProcess, serve_args

pytestmark = pytest.mark.slow

#: How long one run of the TypeScript client may take, in seconds.
CLIENT_TIMEOUT_S = 120


def _run_client(command: list[str]) -> dict[str, dict[str, Any]]:
    done = subprocess.run(command, capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S)
    assert done.returncode == 0, f"the TypeScript client failed:\n{done.stdout}\n{done.stderr}"
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return {line["scenario"]: line for line in lines}


def _stored(db: Path | str) -> dict[str, dict[str, Any]]:
    listed = subprocess.run(
        [MCPTASKS, "tasks", "list", "--db", str(db), "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return {task["task_id"]: task for task in json.loads(listed.stdout)}


def _check(scenarios: dict[str, dict[str, Any]], db: Path | str) -> None:
    assert "done" in scenarios, scenarios

    created = scenarios["create_poll_result"]
    assert created["created_status"] == "working"
    assert created["statuses"][-1] == "completed"
    assert created["text"] == "counted to 3"

    cancel = scenarios["cancel"]
    assert cancel["answer_status"] == "cancelled"
    assert cancel["status"] == "cancelled"

    question = scenarios["question"]
    game = question["structured"]
    assert question["status"] == "completed"
    assert game["outcome"] == "found"
    assert game["guesses"][-1] == game["number"]
    assert question["questions"] == len(game["guesses"])

    listing = scenarios["list"]
    assert set(listing["created"]) <= set(listing["task_ids"])

    stored = _stored(db)
    count_id, long_id, game_id = listing["created"]
    assert stored[count_id]["status"] == "completed"
    assert stored[long_id]["status"] == "cancelled"
    assert stored[game_id]["status"] == "completed"
    assert {stored[task_id]["wire"] for task_id in listing["created"]} == {"2025-11-25"}


def test_over_http(ts_client: list[str], server_db: Path | str, tmp_path: Path) -> None:
    server = ServeProcess(server_db, tmp_path / "server.log")
    server.start()
    try:
        scenarios = _run_client([*ts_client, "--url", server.url])
    finally:
        server.stop()
    _check(scenarios, server_db)


def test_over_stdio(ts_client: list[str], server_db: Path | str) -> None:
    command = [MCPTASKS, *serve_args(server_db), "--transport", "stdio"]
    scenarios = _run_client([*ts_client, "--stdio", *command])
    _check(scenarios, server_db)
