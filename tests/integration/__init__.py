"""Integration tests: real server subprocesses (stdio, Streamable HTTP) on real SQLite files.

Helpers live in `tests/support` (imported as `support`: this package's base directory, `tests/`,
is on `sys.path` under pytest's default import mode).
"""
