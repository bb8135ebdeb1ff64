"""`mcptasks.client` connected to the integration tests' servers: the happy paths of a real client.

The raw JSON-RPC clients of `clients` stay for what checks the exact wire (shapes, error objects,
headers, streams); a test that only needs a task done, followed, answered or cancelled goes through
`TaskClient`, the way a user of mcptasks would.

- `http_endpoint(server)`: the MCP endpoint URL of an `HttpServer`.
- `stdio_params(config)`: how a `TaskClient` starts `runner.py` over stdio (it owns the process).
- `task_client(server, wire, ...)`: a `TaskClient` of either, to open with `async with`.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from mcp.client.stdio import StdioServerParameters

from mcptasks.client import TaskClient, Wire

from .process import RUNNER, HttpServer

#: Both task wires, for `pytest.mark.parametrize("wire", WIRES)`.
WIRES: tuple[Wire, ...] = ("2025-11-25", "2026-07-28")


def http_endpoint(server: HttpServer) -> str:
    """The Streamable HTTP endpoint of `server`."""
    return f"{server.base_url}/mcp"


def stdio_params(config: dict[str, Any]) -> StdioServerParameters:
    """`runner.py` over stdio with `config` (`process.server_config`), started by the client."""
    return StdioServerParameters(
        command=sys.executable, args=[str(RUNNER), json.dumps({**config, "transport": "stdio"})]
    )


def task_client(server: str | StdioServerParameters, wire: Wire, **options: Any) -> TaskClient:
    """A `TaskClient` of `server` on `wire` (`options`: its keyword arguments), not yet open.

    Open it in the test itself, `async with task_client(...) as client:`: the client runs task
    groups, which must be entered and left in one task (a fixture's setup and teardown are not).
    """
    return TaskClient(server, wire=wire, **options)
