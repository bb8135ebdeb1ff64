"""mcptasks.client: call MCP tools as tasks and follow them, on both task wires.

    from mcptasks.client import TaskClient

    async with TaskClient("http://127.0.0.1:8000/mcp") as client:
        handle = await client.call_tool_as_task("count_to", {"n": 5, "delay_ms": 200})
        async for update in handle:
            print(update)
        print((await handle.result()).content)

Built on the `mcp` SDK's client (its transports, `Client`/`ClientSession` and client-extension
hook), it speaks MCP 2025-11-25 in-core tasks and the SEP-2663 extension
`io.modelcontextprotocol/tasks` on the 2026-07-28 wire, and picks the one the server offers.
It works with any server of either wire, not only mcptasks.

The public surface is this module's `__all__`; the typed shapes of each wire are in
`mcptasks.client.v2025_11_25` and `mcptasks.client.sep2663`. The `_`-prefixed modules are the
implementation: one concept each (`_client`, `_handle`, `_models`, `_errors`, `_questions`, the
two wire drivers `_legacy` and `_modern`, `_events` for what a 2025-11-25 server pushes,
`_extension` for the SDK hook, and `_sdk_workarounds`, the one place that uses a private name of
the SDK). Unlike the server side of mcptasks, this package imports `mcp` throughout: it is a
client of the SDK by design.
"""

from mcptasks.client._client import TaskClient
from mcptasks.client._config import DEFAULT_POLL_INTERVAL_MS, Wire, WireChoice
from mcptasks.client._errors import (
    MissingHandler,
    NoTaskWire,
    ProtocolError,
    RequestError,
    TaskCancelledError,
    TaskClientError,
    TaskFailedError,
    TaskNotFoundError,
    TaskOutcomeError,
    TransportError,
    UnsupportedOnWire,
)
from mcptasks.client._handle import TaskHandle
from mcptasks.client._models import (
    Answer,
    ProgressUpdate,
    Question,
    QuestionRequest,
    QuestionUpdate,
    StatusUpdate,
    TaskPage,
    TaskSnapshot,
    TaskUpdate,
)
from mcptasks.client._questions import ElicitationHandler, SamplingHandler

__all__ = [
    "DEFAULT_POLL_INTERVAL_MS",
    "Answer",
    "ElicitationHandler",
    "MissingHandler",
    "NoTaskWire",
    "ProgressUpdate",
    "ProtocolError",
    "Question",
    "QuestionRequest",
    "QuestionUpdate",
    "RequestError",
    "SamplingHandler",
    "StatusUpdate",
    "TaskCancelledError",
    "TaskClient",
    "TaskClientError",
    "TaskFailedError",
    "TaskHandle",
    "TaskNotFoundError",
    "TaskOutcomeError",
    "TaskPage",
    "TaskSnapshot",
    "TaskUpdate",
    "TransportError",
    "UnsupportedOnWire",
    "Wire",
    "WireChoice",
]

# Reprs and tracebacks show the public path (httpx does the same).
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type):
        _value.__module__ = __name__
del _name, _value
