"""Fixtures of the fault suite: the integration suite's servers and databases, on both engines.

The fault tests start real server processes (`support.process`) and break something under them: a
`kill -9` or a SIGTERM under load, a full disk, a read-only database, malformed requests, a client
that walks away mid-question, a long session of many tasks, two servers on one SQLite file. Each
module runs once per engine where the fault exists on both (`engine`); faults only SQLite has (a
full disk, a read-only file, a shared file) use `tmp_path` directly. Every test is bounded: short
leases and grace periods come from the servers' configuration (`support.process.TEST_LEASES`, or
the `mcptasks serve` flags of `support.process.ServeProcess`), never from test-only code paths.
"""

from __future__ import annotations

from tests.integration.conftest import engine, http_server, legacy_session, modern, module_db, server_db

__all__ = ["engine", "http_server", "legacy_session", "modern", "module_db", "server_db"]
