"""Task execution: the executor (leases, heartbeats, cancellation, recovery, ttl sweeper), the task
manager the wires call, and the `TaskContext` given to tools.

This package is the architecture, not the API: import from `mcptasks`. It knows nothing of MCP's
wire shapes or of the `mcp` SDK; the server layer adapts.
"""
