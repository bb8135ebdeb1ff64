"""The OAuth tests' server process and clients.

- `AuthServer`: `mcptasks serve tests/auth/app.py:server --auth-...` as a subprocess on a loopback
  port chosen once (so a restart keeps the same URL, hence the same resource and `aud`), stdout and
  stderr captured to files, stopped with SIGINT.
- `BearerLegacy` / `BearerModern`: the raw 2025-11-25 stateful and 2026-07-28 stateless clients of
  `tests/support` with an `Authorization: Bearer` header on every request (`token` can change:
  a refreshed token on the same client).
- `raw_post`: one JSON-RPC POST with any headers, for the refusals (no client state involved).
- DB helpers reading the SQLite file read-only while the server runs.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Protocol

import httpx

from auth.issuer import LocalIssuer
from support.clients import (
    ACCEPT_BOTH,
    MODERN_VERSION,
    LegacyHttpClient,
    ModernHttpClient,
    envelope,
)
from support.process import free_port

APP = str(Path(__file__).resolve().parent / "app.py") + ":server"
#: How long a server may take to listen, in seconds.
START_TIMEOUT_S = 30.0
#: The `mcptasks` command line, run with this interpreter.
CLI = [sys.executable, "-c", "import sys; from mcptasks.cli import main; sys.exit(main())"]
#: A challenge's `key="value"` parameters.
_CHALLENGE_PARAM = re.compile(r'([A-Za-z_]+)="([^"]*)"')


class AuthServer:
    """`mcptasks serve` of the test app with `--auth-*` options, on a fixed loopback port."""

    def __init__(
        self,
        directory: Path,
        auth_args: list[str],  # "{resource}" in an argument becomes `resource`
        *,
        env: dict[str, str] | None = None,
        name: str = "server",
        db: Path | None = None,
    ) -> None:
        self.directory = directory
        self.auth_args = list(auth_args)
        self.env = dict(env or {})
        self.name = name
        self.db = db or directory / f"{name}.db"
        self.port = free_port()
        self.stdout_path = directory / f"{name}.stdout"
        self.stderr_path = directory / f"{name}.stderr"
        self.process: subprocess.Popen[bytes] | None = None
        self._interrupted = False

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The MCP endpoint, which is also the resource (`aud`) the tokens must name."""
        return f"{self.base_url}/mcp"

    resource = url

    @property
    def metadata_url(self) -> str:
        """Where RFC 9728 puts the protected-resource metadata of `url`."""
        return f"{self.base_url}/.well-known/oauth-protected-resource/mcp"

    def command(self) -> list[str]:
        return [
            *CLI,
            "serve",
            APP,
            "--port",
            str(self.port),
            "--db",
            str(self.db),
            "--log-level",
            "DEBUG",
            *(arg.replace("{resource}", self.resource) for arg in self.auth_args),
        ]

    def start(self) -> AuthServer:
        """Start the server and wait until its port accepts connections."""
        with self.stdout_path.open("ab") as out, self.stderr_path.open("ab") as err:
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
            )
        self._interrupted = False
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.stderr()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the server did not listen within {START_TIMEOUT_S}s:\n{self.stderr()}")

    def interrupt(self) -> None:
        """Send SIGINT (the graceful stop) once, without waiting (a second one would skip the grace)."""
        if self.process is not None and self.process.poll() is None and not self._interrupted:
            self._interrupted = True
            self.process.send_signal(signal.SIGINT)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGINT, wait up to `timeout`, then SIGKILL; returns the exit code."""
        process = self.process
        if process is None:
            return 0
        if process.poll() is None:
            self.interrupt()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.process = None
        return process.returncode

    def restart(self) -> AuthServer:
        """Stop, then start again on the same port and database."""
        self.stop()
        return self.start()

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def captured_bytes(self) -> bytes:
        """Everything the process wrote (stdout and stderr)."""
        return b"".join(p.read_bytes() for p in (self.stdout_path, self.stderr_path) if p.exists())

    # -- the database, read-only -----------------------------------------------------------------

    def rows(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        """Run `sql` on the server's SQLite file (read-only, WAL readers do not block the server)."""
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
        try:
            conn.row_factory = sqlite3.Row
            return [dict(row) for row in conn.execute(sql, params).fetchall()]
        finally:
            conn.close()

    def task_row(self, task_id: str) -> dict[str, Any] | None:
        found = self.rows("SELECT * FROM tasks WHERE task_id = ?", (task_id,))
        return found[0] if found else None

    def task_count(self) -> int:
        return int(self.rows("SELECT count(*) AS n FROM tasks")[0]["n"])

    def tasks_mentioning(self, text: str) -> int:
        """How many task rows have `text` in their arguments (each refusal test uses its own text)."""
        return int(
            self.rows("SELECT count(*) AS n FROM tasks WHERE arguments LIKE ?", (f"%{text}%",))[0]["n"]
        )


def _set_token(http: httpx.AsyncClient, token: str | None) -> None:
    if token is None:
        http.headers.pop("Authorization", None)
    else:
        http.headers["Authorization"] = f"Bearer {token}"


class BearerLegacy(LegacyHttpClient):
    """A 2025-11-25 stateful session whose every request (initialize, POST, GET, DELETE) is authorized."""

    def __init__(self, base_url: str, token: str | None) -> None:
        super().__init__(base_url)
        self.token = token

    @property
    def token(self) -> str | None:
        return self._token

    @token.setter
    def token(self, value: str | None) -> None:
        self._token = value
        _set_token(self.http, value)


class BearerModern(ModernHttpClient):
    """A stateless 2026-07-28 client whose every request is authorized."""

    def __init__(self, base_url: str, token: str | None) -> None:
        super().__init__(base_url)
        self.token = token

    @property
    def token(self) -> str | None:
        return self._token

    @token.setter
    def token(self, value: str | None) -> None:
        self._token = value
        _set_token(self.http, value)


def modern_body(method: str, params: dict[str, Any], request_id: int = 1) -> dict[str, Any]:
    """A declaring 2026-07-28 request body."""
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": method,
        "params": {**params, "_meta": envelope()},
    }


def modern_headers(method: str, name: str | None, authorization: str | None) -> dict[str, str]:
    headers = {
        "Accept": ACCEPT_BOTH,
        "Content-Type": "application/json",
        "MCP-Protocol-Version": MODERN_VERSION,
        "Mcp-Method": method,
    }
    if name is not None:
        headers["Mcp-Name"] = name
    if authorization is not None:
        headers["Authorization"] = authorization
    return headers


async def raw_create(server: AuthServer, authorization: str | None, marker: str) -> httpx.Response:
    """A declaring 2026-07-28 `tools/call` of `echo` (which would create a task) with `authorization`."""
    async with httpx.AsyncClient(timeout=20) as http:
        return await http.post(
            server.url,
            json=modern_body("tools/call", {"name": "echo", "arguments": {"text": marker}}),
            headers=modern_headers("tools/call", "echo", authorization),
        )


def challenge(response: httpx.Response) -> tuple[str, dict[str, str]]:
    """The `WWW-Authenticate` scheme and its parameters."""
    value = response.headers.get("www-authenticate", "")
    scheme, _, rest = value.partition(" ")
    return scheme, dict(_CHALLENGE_PARAM.findall(rest))


def assert_refused(response: httpx.Response, server: AuthServer, error: str | None = "invalid_token") -> None:
    """401 (403 for `insufficient_scope`) with a Bearer challenge naming `error` and the metadata URL.

    `error=None`: no credentials were sent, so the challenge names no error (RFC 6750 §3.1).
    """
    status = 403 if error == "insufficient_scope" else 401
    assert response.status_code == status, (response.status_code, response.text)
    scheme, params = challenge(response)
    assert scheme == "Bearer", response.headers
    assert params.get("error") == error, response.headers
    assert params.get("resource_metadata") == server.metadata_url, response.headers
    # The body is an OAuth error object, not a JSON-RPC message: nothing was processed.
    body = response.json()
    assert body.get("error") == error and "jsonrpc" not in body, body


def marker(case: str) -> str:
    return f"refused-{case}-{secrets.token_hex(4)}"


async def create_with(server: AuthServer, token: str, text: str) -> dict[str, Any]:
    """A declaring 2026-07-28 `tools/call` of `echo` that must create a task; returns the result."""
    response = await raw_create(server, f"Bearer {token}", text)
    assert response.status_code == 200, (response.status_code, response.text)
    result: dict[str, Any] = response.json()["result"]
    assert result["resultType"] == "task", result
    return result


# -- server options and client bookkeeping shared by the fixtures and the tests ---------------------------

#: Scopes `scope_server` requires on every request.
REQUIRED_SCOPES = ("tasks:read", "tasks:write")


def jwt_args(issuer: LocalIssuer, label: str, *extra: str) -> list[str]:
    """`--auth-*` options for JWT access tokens (own JWKS URL `label`); `{resource}` is the server's URL."""
    return [
        "--auth-issuer",
        issuer.issuer,
        "--auth-resource",
        "{resource}",
        "--auth-jwks-uri",
        issuer.jwks_uri_for(label),
        *extra,
    ]


def introspection_args(issuer: LocalIssuer, *extra: str) -> list[str]:
    """`--auth-*` options for opaque tokens (client credentials given separately)."""
    return [
        "--auth-issuer",
        issuer.issuer,
        "--auth-resource",
        "{resource}",
        "--auth-introspection-url",
        issuer.introspection_url,
        *extra,
    ]


def prime(server: AuthServer, token: str) -> None:
    """One authorized request, so the server has fetched the JWKS: its refetch window starts now."""
    response = httpx.post(
        server.url,
        json=modern_body("tools/call", {"name": "echo", "arguments": {"text": "prime"}}),
        headers=modern_headers("tools/call", "echo", f"Bearer {token}"),
        timeout=20,
    )
    assert response.status_code == 200, response.text


class StartServer(Protocol):
    """The `start_server` fixture: `start_server(name, auth_args, env=None) -> AuthServer` (started)."""

    def __call__(
        self, name: str, auth_args: list[str], *, env: dict[str, str] | None = None
    ) -> AuthServer: ...


class Clients:
    """Bearer clients opened by one test (the `clients` fixture); all closed after it."""

    def __init__(self) -> None:
        self._open: list[BearerLegacy | BearerModern] = []

    async def legacy(self, server: AuthServer, token: str, **open_kwargs: Any) -> BearerLegacy:
        """A new, initialized 2025-11-25 session on `server` authorized with `token`."""
        client = BearerLegacy(server.base_url, token)
        self._open.append(client)
        await client.open(**open_kwargs)
        return client

    def modern(self, server: AuthServer, token: str) -> BearerModern:
        """A stateless 2026-07-28 client of `server` authorized with `token`."""
        client = BearerModern(server.base_url, token)
        self._open.append(client)
        return client

    async def close(self, client: BearerLegacy | BearerModern) -> None:
        """Close one client now (a 2025-11-25 session ends with DELETE)."""
        self._open.remove(client)
        await client.aclose()

    async def aclose(self) -> None:
        for client in self._open:
            await client.aclose()
        self._open.clear()
