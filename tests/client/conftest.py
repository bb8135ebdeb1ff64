"""Fixtures of the client tests: real servers in subprocesses, one of each per test session.

Tests isolate themselves by their own task ids and connections; a server is started once and
shared, which keeps the whole folder well under two minutes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .servers import APP, Mcp129Server, ServeProcess, mcp129_python


@pytest.fixture(scope="session")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`mcptasks serve --demo` over Streamable HTTP: its URL."""
    folder = tmp_path_factory.mktemp("demo")
    server = ServeProcess(folder / "tasks.db", folder / "server.log")
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`mcptasks serve tests/client/app.py:server` (demo + sampling) over Streamable HTTP."""
    folder = tmp_path_factory.mktemp("app")
    server = ServeProcess(folder / "tasks.db", folder / "server.log", app=APP)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mcp129_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server that is not mcptasks: mcp 1.29's experimental tasks (2025-11-25) over HTTP."""
    python = mcp129_python()
    folder = tmp_path_factory.mktemp("mcp129")
    server = Mcp129Server(python, folder / "server.log")
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def old_files(tmp_path: Path) -> Path:
    """A directory with two files for the demo's `clean_up` (`older_than_days=0` matches both)."""
    folder = tmp_path / "to-clean"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    (folder / "b.txt").write_text("bb")
    return folder
