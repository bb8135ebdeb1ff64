"""Helpers of the integration tests: a test app, a server runner, process control and raw clients.

- `apps`: the `TaskServer` the integration tests serve (tools for every behaviour under test).
- `runner`: the script a server subprocess runs (`python runner.py CONFIG_JSON`).
- `process`: start, wait for and stop server subprocesses (HTTP and stdio).
- `clients`: raw JSON-RPC clients (2025-11-25 stateful HTTP, 2026-07-28 stateless HTTP, stdio).
"""
