"""Start a task in one process, resume it by id in another: answer its question, print its result.

Run the demo server first (`mcptasks serve --demo`), then:

    python examples/resume_task.py                   # starts the demo's clean_up task, prints its id
    python examples/resume_task.py --resume ID       # resumes it: asks you its question, prints the result

The task is the demo's `clean_up`: it lists the files of a directory (the current one unless
`--directory` says otherwise) and asks whether to delete them. It only reports what it would
delete; nothing is ever deleted. The first run exits as soon as the task exists, so the question
waits on the server, durably, until the second run answers it (`--answer yes|no` answers without
asking you).

The example speaks the 2026-07-28 wire (the SEP-2663 tasks extension): without authentication a
task there is readable by its id from any process. On 2025-11-25 a task belongs to the session
that made it, unless the server authenticates its clients (then to the user).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from mcp_types import ElicitRequestParams, ElicitResult, TextContent

from mcptasks.client import QuestionUpdate, StatusUpdate, TaskClient, TaskClientError

DEFAULT_URL = "http://127.0.0.1:8000/mcp"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--url", default=DEFAULT_URL, help=f"the server's MCP endpoint (default {DEFAULT_URL})"
    )
    parser.add_argument("--resume", metavar="ID", help="resume the task with this id instead of starting one")
    parser.add_argument("--directory", default=".", help="the directory clean_up looks at (default: .)")
    parser.add_argument("--answer", choices=["yes", "no"], help="answer the question without asking")
    return parser.parse_args(argv)


async def start(url: str, directory: str) -> None:
    # `elicitation=True`: the task may ask questions (the capability is stored with the task),
    # though this process does not stay to answer them.
    async with TaskClient(url, wire="2026-07-28", elicitation=True) as client:
        handle = await client.call_tool_as_task("clean_up", {"directory": directory, "older_than_days": 0})
        status = await handle.status()
    print(f"task id: {handle.task_id}")
    print(f"status: {status.status.value}; resume it with: {sys.argv[0]} --resume {handle.task_id}")


async def resume(url: str, task_id: str, answer: str | None) -> None:
    async def on_elicitation(_task_id: str | None, params: ElicitRequestParams) -> ElicitResult:
        print(params.message)
        reply = answer if answer is not None else await asyncio.to_thread(input, "Delete these files? [y/N] ")
        confirmed = reply.strip().lower() in {"y", "yes"}
        return ElicitResult(action="accept", content={"confirm": confirmed})

    async with TaskClient(url, wire="2026-07-28", on_elicitation=on_elicitation) as client:
        handle = client.task(task_id)
        async for update in handle:
            if isinstance(update, StatusUpdate):
                print(f"status: {update.task.status.value}")
            elif isinstance(update, QuestionUpdate) and update.answer is not None:
                print(f"answered {update.question.key}")
        result = await handle.result()
    if result.structured_content is not None:
        print(json.dumps(result.structured_content, indent=2))
    else:
        print("\n".join(block.text for block in result.content if isinstance(block, TextContent)))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.resume:
            asyncio.run(resume(args.url, args.resume, args.answer))
        else:
            asyncio.run(start(args.url, str(Path(args.directory).resolve())))
    except TaskClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
