"""The adapter onto the official `mcp` SDK (pinned `mcp>=2.3,<2.4`).

This package is the architecture, not the API: import `TaskServer` from `mcptasks`. It is the only
package that imports `mcp`. It binds the `tasks/*` methods, intercepts `tools/call`, resolves the
owner of each request, pushes status and progress notifications, and keeps every SDK workaround
in `workarounds.py`.
"""
