"""The conformance fixture served in a subprocess, as `scripts/conformance` serves it.

`fixture_url`: `mcptasks serve tests/conformance/fixture_app.py:server` on a free loopback port with a
fresh SQLite file, started once per module and stopped with SIGTERM (its graceful stop).
`wire`: a raw client of it (see `wire.py`).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conformance.wire import Wire

#: How long the server may take to start listening, in seconds.
START_TIMEOUT_S = 30.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serving(url: str) -> bool:
    try:
        httpx.get(url, timeout=1.0)
    except httpx.HTTPError:
        return False
    return True


@pytest.fixture(scope="module")
def fixture_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir: Path = tmp_path_factory.mktemp("conformance-fixture")
    port = _free_port()
    url = f"http://localhost:{port}/mcp"
    command = [
        sys.executable,
        "-c",
        "import sys; from mcptasks.cli import main; sys.exit(main())",
        "serve",
        str(Path(__file__).with_name("fixture_app.py")) + ":server",
        "--db",
        str(workdir / "conformance.db"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    log_path = workdir / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _serving(url):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the fixture server did not start:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def wire(fixture_url: str) -> Iterator[Wire]:
    client = Wire(fixture_url)
    try:
        yield client
    finally:
        client.close()
