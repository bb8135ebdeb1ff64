"""Integration tests: real server subprocesses (stdio, Streamable HTTP) on real databases, each test
on a SQLite file and on a PostgreSQL database (`conftest.py`).

Helpers live in `tests/support` (imported as `support`: this package's base directory, `tests/`,
is on `sys.path` under pytest's default import mode).
"""
