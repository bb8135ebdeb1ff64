"""Resume a task by its id in a process of its own: answer its question, print its outcome.

Run by the resume tests (`test_resume.py`, `test_oauth.py`) as a separate Python process, so the
task is resumed by a client that shares nothing with the one that made it but the task id:

    python resume_child.py --task-id ID --wire W (--url URL [--token T] | --stdio-db PATH)

Prints one JSON line: `{"status": ..., "text": ..., "answered": [...]}` once the task ended, or
`{"error": "not found"}` (exit code 3) when the server does not let this client see the task.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import httpx2
from mcp.client.streamable_http import streamable_http_client
from mcp_types import ElicitRequestParams, ElicitResult, TextContent

from mcptasks.client import QuestionUpdate, TaskClient, TaskNotFoundError

# Run as a script: the test helpers are imported as pytest imports them (tests/ on the path).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from client.servers import stdio_params

#: How long the resumed task may take to end, in seconds.
LIMIT_S = 30


async def resume(args: argparse.Namespace) -> dict[str, Any]:
    async def confirm(task_id: str | None, params: ElicitRequestParams) -> ElicitResult:
        return ElicitResult(action="accept", content={"confirm": True})

    http: httpx2.AsyncClient | None = None
    server: Any
    if args.stdio_db:
        server = stdio_params(Path(args.stdio_db))
    elif args.token:
        headers = {"Authorization": f"Bearer {args.token}"}
        http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=300.0))
        server = streamable_http_client(args.url, http_client=http)
    else:
        server = args.url
    try:
        async with TaskClient(server, wire=args.wire, on_elicitation=confirm) as client:
            handle = client.task(args.task_id)
            answered: list[str] = []
            async with asyncio.timeout(LIMIT_S):
                async for update in handle:
                    if isinstance(update, QuestionUpdate) and update.answer is not None:
                        answered.append(update.question.method)
                result = await handle.result()
            final = handle.last_snapshot
            assert final is not None
    finally:
        if http is not None:
            await http.aclose()
    text = " ".join(block.text for block in result.content if isinstance(block, TextContent))
    return {"status": final.status.value, "text": text, "answered": answered}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task-id", required=True)
    parser.add_argument("--wire", required=True, choices=["2025-11-25", "2026-07-28"])
    parser.add_argument("--url")
    parser.add_argument("--token")
    parser.add_argument("--stdio-db")
    args = parser.parse_args()
    try:
        outcome = asyncio.run(resume(args))
    except TaskNotFoundError:
        print(json.dumps({"error": "not found"}))
        return 3
    print(json.dumps(outcome))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
