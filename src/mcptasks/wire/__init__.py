"""The two task wires: pydantic models of their request params and the rendering of a `TaskRecord`.

This package is the architecture, not the API. `v2025_11_25` is MCP 2025-11-25 in-core tasks;
`sep2663` is the SEP-2663 extension `io.modelcontextprotocol/tasks` on the 2026-07-28 wire. Both
render the same stored record; neither imports `mcp`.
"""
