"""Fixtures of the interop tests: a non-Python MCP client, installed on first use.

`ts_client` is the official TypeScript SDK (`package.json`, pinned by `package-lock.json`),
installed with `npm ci` into `.interop/` at the project root (ignored by git) when it is missing
or its lock file changed, beside a copy of `ts_task_client.mjs` (Node resolves the SDK from the
script's own folder). It needs Node.js 18 or newer and npm on PATH: without them the tests fail
with that reason rather than skip, as CI must run them.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from tests.integration.conftest import engine, server_db

__all__ = ["engine", "server_db", "ts_client"]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
#: Where the TypeScript SDK and the client script are installed (ignored by git).
INSTALL_DIR = ROOT / ".interop"
#: Files copied into INSTALL_DIR; the lock file's content decides whether to reinstall.
FILES = ("package.json", "package-lock.json", "ts_task_client.mjs")
NODE_MIN_MAJOR = 18
#: How long `npm ci` may take, in seconds.
INSTALL_TIMEOUT_S = 600


def _node() -> str:
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        pytest.fail(f"the interop tests need Node.js {NODE_MIN_MAJOR}+ and npm on PATH", pytrace=False)
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout
    if int(version.strip().lstrip("v").split(".")[0]) < NODE_MIN_MAJOR:
        pytest.fail(
            f"the interop tests need Node.js {NODE_MIN_MAJOR}+, found {version.strip()}", pytrace=False
        )
    return node


def _install() -> None:
    INSTALL_DIR.mkdir(exist_ok=True)
    installed_lock = INSTALL_DIR / "installed-lock.json"
    wanted = (HERE / "package-lock.json").read_bytes()
    for name in FILES:
        shutil.copyfile(HERE / name, INSTALL_DIR / name)
    if installed_lock.exists() and installed_lock.read_bytes() == wanted:
        return
    done = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
        cwd=INSTALL_DIR,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
    )
    if done.returncode != 0:
        pytest.fail(f"npm ci in {INSTALL_DIR} failed:\n{done.stdout}\n{done.stderr}", pytrace=False)
    installed_lock.write_bytes(wanted)


@pytest.fixture(scope="session")
def ts_client() -> list[str]:
    """The command that runs the TypeScript task client: `[node, .interop/ts_task_client.mjs]`."""
    node = _node()
    _install()
    return [node, str(INSTALL_DIR / "ts_task_client.mjs")]
