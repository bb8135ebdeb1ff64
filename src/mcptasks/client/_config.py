"""Defaults of the task client, each named with its unit.

The task wires speak milliseconds (`ttl`, `pollInterval`, `ttlMs`, `pollIntervalMs`), so every
duration the client takes or reports is in ms too; only values handed to the SDK are in seconds.
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = ["DEFAULT_POLL_INTERVAL_MS", "MIN_POLL_INTERVAL_MS", "Wire", "WireChoice"]

#: A task wire: MCP 2025-11-25 in-core tasks, or the SEP-2663 extension on the 2026-07-28 wire.
Wire = Literal["2025-11-25", "2026-07-28"]

#: What `TaskClient(wire=...)` accepts: one wire, or "auto" (the one the server offers, 2026 first).
WireChoice = Literal["auto", "2025-11-25", "2026-07-28"]

#: How often a task is polled when the server suggests no interval, in ms.
DEFAULT_POLL_INTERVAL_MS: Final = 1000

#: The shortest polling interval used, in ms, whatever the server or the caller says.
MIN_POLL_INTERVAL_MS: Final = 10

#: How many multi-round-trip rounds (questions asked before a task exists, 2026-07-28) to answer.
MAX_INPUT_ROUNDS: Final = 10

#: The `_meta` key tying a message to a task (2025-11-25).
RELATED_TASK_META_KEY: Final = "io.modelcontextprotocol/related-task"
#: `_meta` key of mcptasks' questions: the server's key for the question, the same on every copy.
INPUT_KEY_META_KEY: Final = "mcptasks/inputKey"

#: The SEP-2663 extension identifier, declared under `capabilities.extensions` (2026-07-28).
TASKS_EXTENSION: Final = "io.modelcontextprotocol/tasks"

LEGACY_WIRE: Final[Wire] = "2025-11-25"
MODERN_WIRE: Final[Wire] = "2026-07-28"
