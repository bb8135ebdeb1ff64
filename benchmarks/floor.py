"""The floor: a bare JSON-RPC endpoint on starlette + uvicorn, the most this HTTP stack gives.

It answers every POST to /mcp with a canned result of the shape the benchmark's client expects on
either wire, so the same client code drives it and mcptasks. It keeps no state and touches no
store: what it costs per request is the price of HTTP, JSON and the event loop on this machine,
which is what mcptasks' figures are divided by.

The wire is told by `params._meta` carrying the 2026-07-28 protocol version (2025-11-25
otherwise). Task ids encode when the task "finishes" (now for `echo`, after `ms` for `sleep`), so
polling a sleeping task sees `working` until then, still without any state.

Run: `python benchmarks/floor.py --port 8123` (uvicorn with the same settings as `mcptasks serve`).
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["app", "main"]

PROTOCOL_2026 = "2026-07-28"
SESSION_ID = "floor-session"
TTL_MS = 60_000
POLL_INTERVAL_MS = 1_000
#: A fixed timestamp: the floor measures transport cost, not clock formatting.
STAMP = "2026-01-01T00:00:00.000Z"

_task_numbers = itertools.count(1)


def _task(task_id: str, status: str, is_2026: bool) -> dict[str, Any]:
    task: dict[str, Any] = {"taskId": task_id, "status": status, "createdAt": STAMP, "lastUpdatedAt": STAMP}
    if is_2026:
        task.update(ttlMs=TTL_MS, pollIntervalMs=POLL_INTERVAL_MS)
    else:
        task.update(ttl=TTL_MS, pollInterval=POLL_INTERVAL_MS)
    return task


def _tool_result() -> dict[str, Any]:
    return {"content": [{"type": "text", "text": "hi"}], "isError": False}


def _status(task_id: str) -> str:
    # "<deadline in ms since the epoch, hex>.<n>": done once the deadline has passed.
    deadline_ms = int(task_id.split(".", 1)[0], 16)
    return "completed" if time.time() * 1000 >= deadline_ms else "working"


def _answer(method: str, params: dict[str, Any]) -> dict[str, Any]:
    """The canned `result` for one request."""
    meta = params.get("_meta") or {}
    is_2026 = meta.get("io.modelcontextprotocol/protocolVersion") == PROTOCOL_2026
    if method == "initialize":
        return {
            "protocolVersion": params.get("protocolVersion", "2025-11-25"),
            "capabilities": {"tasks": {"requests": {"tools": {"call": {}}}}},
            "serverInfo": {"name": "floor", "version": "0"},
        }
    if method == "tools/call":
        arguments = params.get("arguments") or {}
        delay_ms = int(arguments.get("ms", 50)) if params.get("name") == "sleep" else 0
        task_id = f"{int(time.time() * 1000) + delay_ms:x}.{next(_task_numbers)}"
        task = _task(task_id, _status(task_id), is_2026)
        return {"resultType": "task", **task} if is_2026 else {"task": task}
    if method == "tasks/get":
        task_id = str(params.get("taskId", "0.0"))
        task = _task(task_id, _status(task_id), is_2026)
        if not is_2026:
            return task
        task["resultType"] = "complete"
        if task["status"] == "completed":
            task["result"] = _tool_result()
        return task
    if method == "tasks/result":
        result = _tool_result()
        result["_meta"] = {"io.modelcontextprotocol/related-task": {"taskId": params.get("taskId")}}
        return result
    return {}


async def rpc(request: Request) -> Response:
    """Answer one JSON-RPC POST: 202 for a notification, else a JSON response with the result."""
    message = json.loads(await request.body())
    if "id" not in message:
        return Response(status_code=202)
    result = _answer(message.get("method", ""), message.get("params") or {})
    body = json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result}, separators=(",", ":"))
    headers = {"mcp-session-id": SESSION_ID} if message.get("method") == "initialize" else None
    return Response(body, media_type="application/json", headers=headers)


app = Starlette(routes=[Route("/mcp", rpc, methods=["POST"])])


def main() -> None:
    """Serve the floor on `--host`/`--port` until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # Same uvicorn settings as `mcptasks serve`: default loop and HTTP implementation, quiet log.
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
