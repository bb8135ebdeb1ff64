"""The `mcptasks` command line, run as a real subprocess (`python -m mcptasks.cli`).

Every process gets a timeout and is killed in a `finally`; the environment is stripped of
`MCPTASKS_*` variables so a developer's settings cannot leak into a test, and `HOME` and
`XDG_DATA_HOME` point into the test's tmp_path, so the default database never lands in the user's
data folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import os
import queue
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from mcptasks.core.model import Completed, ErrorInfo, Failed, TaskRecord, utcnow
from mcptasks.core.owner import Owner
from mcptasks.store.engine import database_url
from mcptasks.store.migrate import head_revision
from mcptasks.store.store import Store

CLI = [sys.executable, "-m", "mcptasks.cli"]
#: Longest a one-shot command may take, in seconds.
COMMAND_TIMEOUT_S = 60.0
#: Longest to wait for one line from a serving process, in seconds.
LINE_TIMEOUT_S = 30.0
#: Longest a serving process may take to stop once asked, in seconds.
STOP_TIMEOUT_S = 30.0
#: The demo tools and the task support each declares.
DEMO_TOOLS = {
    "hash_files": "optional",
    "find_duplicates": "required",
    "count_primes": "optional",
    "count_to": "optional",
    "quick_add": "optional",
    "always_fails": "optional",
    "clean_up": "optional",
    "guess_number": "optional",
    "server_time": "forbidden",
}
PROTOCOL_VERSION = "2025-11-25"


def cli_env(**extra: str) -> dict[str, str]:
    """The test process's environment without `MCPTASKS_*`, plus `extra`; wide help output."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MCPTASKS_")}
    env["COLUMNS"] = "200"
    env.update(extra)
    return env


@pytest.fixture(autouse=True)
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`XDG_DATA_HOME` (and `HOME`) of every command the test runs: folders in its tmp_path."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data"


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run one `mcptasks` command to completion."""
    return subprocess.run(
        [*CLI, *args],
        cwd=cwd,
        env=cli_env() if env is None else env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LineReader:
    """Reads a pipe in a thread, so a test can wait for the next line with a timeout."""

    def __init__(self, stream: IO[str]) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)

    def next(self, timeout: float = LINE_TIMEOUT_S) -> str:
        """The next line without its newline; EOFError when the pipe closed."""
        item = self._lines.get(timeout=timeout)
        if item is None:
            self._lines.put(None)
            raise EOFError("the process closed the pipe")
        self.seen.append(item.rstrip("\n"))
        return self.seen[-1]

    def rest(self, timeout: float = STOP_TIMEOUT_S) -> list[str]:
        """Every remaining line, once the process closed the pipe."""
        self._thread.join(timeout)
        with contextlib.suppress(EOFError, queue.Empty):
            while True:
                self.next(timeout=0)
        return self.seen


@dataclass
class Served:
    """A running `mcptasks serve` with line readers on its stdout and stderr."""

    process: subprocess.Popen[str]
    stdout: LineReader
    stderr: LineReader

    def send(self, message: dict[str, Any]) -> None:
        """Write one newline-delimited JSON-RPC message to stdin."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def response(self, request_id: int) -> dict[str, Any]:
        """The JSON-RPC response to `request_id` on stdout, skipping notifications."""
        while True:
            message: dict[str, Any] = json.loads(self.stdout.next())
            if message.get("id") == request_id:
                return message


@contextlib.contextmanager
def serving(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Iterator[Served]:
    """Start `mcptasks serve ARGS`; on exit kill it if it still runs and close its pipes."""
    process = subprocess.Popen(
        [*CLI, "serve", *args],
        cwd=cwd,
        env=cli_env() if env is None else env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    assert process.stdout is not None and process.stderr is not None
    served = Served(process, LineReader(process.stdout), LineReader(process.stderr))
    try:
        yield served
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=STOP_TIMEOUT_S)
        served.stdout.rest()
        served.stderr.rest()
        for pipe in (process.stdin, process.stdout, process.stderr):
            if pipe is not None and not pipe.closed:
                pipe.close()


def upgraded_db(tmp_path: Path) -> Path:
    """A database file migrated to head by `mcptasks db upgrade`."""
    db = tmp_path / "tasks.db"
    done = run_cli("db", "upgrade", "--db", str(db), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return db


def garbage_file(path: Path) -> Path:
    """A file that is not a SQLite database (longer than one page, so SQLite reads a header)."""
    path.write_bytes(b"this is not a database, just some bytes\n" * 200)
    return path


# -- help and environment -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "variables"),
    [
        (
            ["serve"],
            [
                *("APP", "DEMO", "DB", "TRANSPORT", "HOST", "PORT", "NO_MIGRATE", "LOG_LEVEL", "OWNER_SCOPE"),
                *("DEFAULT_TTL_MS", "MAX_TTL_MS", "POLL_INTERVAL_MS"),
                *("LEASE_MS", "CANCEL_GRACE_MS", "SHUTDOWN_GRACE_MS", "LOG_FORMAT", "METRICS_PORT"),
                *("CLIENT_REQUEST_TIMEOUT_MS", "VIEW_CAPACITY"),
                *("AUTH_ISSUER", "AUTH_RESOURCE", "AUTH_JWKS_URI", "AUTH_INTROSPECTION_URL"),
                *("AUTH_CLIENT_ID", "AUTH_CLIENT_SECRET", "AUTH_REQUIRED_SCOPE", "AUTH_TOKEN_TYPE"),
            ],
        ),
        (["db", "upgrade"], ["DB", "SQL", "LOG_LEVEL", "LOG_FORMAT"]),
        (["db", "current"], ["DB", "JSON", "LOG_LEVEL", "LOG_FORMAT"]),
        (["tasks", "list"], ["DB", "OWNER", "STATUS", "LIMIT", "JSON", "LOG_LEVEL", "LOG_FORMAT"]),
        (["tasks", "show"], ["DB", "JSON", "LOG_LEVEL", "LOG_FORMAT"]),
    ],
)
def test_help_names_the_environment_variable_of_every_option(
    tmp_path: Path, command: list[str], variables: list[str]
) -> None:
    done = run_cli(*command, "--help", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    shown = " ".join(done.stdout.split())  # argparse wraps long help lines
    for name in variables:
        assert f"(env: MCPTASKS_{name})" in shown


def test_console_script_is_installed(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "mcptasks"
    if not script.exists():
        pytest.skip(f"no console script next to {sys.executable} (not installed in this environment)")

    done = subprocess.run(
        [str(script), "--version"], cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0
    assert done.stdout.startswith("mcptasks ")


def test_environment_variables_give_the_defaults(tmp_path: Path) -> None:
    done = run_cli("db", "upgrade", cwd=tmp_path, env=cli_env(MCPTASKS_DB="from-env.db"))

    assert done.returncode == 0, done.stderr
    assert (tmp_path / "from-env.db").exists()
    assert not (tmp_path / "mcptasks.db").exists()


def test_the_command_line_beats_the_environment(tmp_path: Path) -> None:
    env = cli_env(MCPTASKS_DB="from-env.db", MCPTASKS_LOG_LEVEL="not-a-level")

    done = run_cli("db", "upgrade", "--db", "from-flag.db", "--log-level", "info", cwd=tmp_path, env=env)

    assert done.returncode == 0, done.stderr
    assert (tmp_path / "from-flag.db").exists()
    assert not (tmp_path / "from-env.db").exists()


def test_a_malformed_environment_variable_fails_only_the_command_that_reads_it(tmp_path: Path) -> None:
    env = cli_env(MCPTASKS_PORT="eighty", MCPTASKS_DB=str(tmp_path / "x.db"))

    refused = run_cli("serve", "--demo", cwd=tmp_path, env=env)
    unaffected = run_cli("db", "upgrade", cwd=tmp_path, env=env)

    assert refused.returncode == 2
    assert refused.stderr.splitlines() == [
        "mcptasks: error: MCPTASKS_PORT: input should be a valid integer, unable to parse string as an "
        "integer, got 'eighty'"
    ]
    assert unaffected.returncode == 0, unaffected.stderr
    assert not (tmp_path / "mcptasks.db").exists()


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["serve", "--demo", "--port", "70000"], {}, "--port: input should be less than or equal to 65535"),
        (["serve", "--demo", "--transport", "carrier-pigeon"], {}, "--transport: input should be 'http'"),
        (["serve", "--demo"], {"MCPTASKS_LEASE_MS": "10"}, "MCPTASKS_LEASE_MS: input should be greater"),
        (["serve", "--demo"], {"MCPTASKS_NO_MIGRATE": "maybe"}, "MCPTASKS_NO_MIGRATE: input should be"),
        (["tasks", "list", "--status", "working,done"], {}, "--status: input should be 'working'"),
        (["tasks", "list"], {"MCPTASKS_STATUS": "working done"}, "MCPTASKS_STATUS: input should be"),
        (["tasks", "show", "x"], {"MCPTASKS_JSON": "perhaps"}, "MCPTASKS_JSON: input should be"),
    ],
)
def test_an_invalid_value_is_one_line_naming_its_option_or_variable(
    tmp_path: Path, args: list[str], env: dict[str, str], named: str
) -> None:
    done = run_cli(*args, cwd=tmp_path, env=cli_env(**env))

    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith(f"mcptasks: error: {named}")
    assert not (tmp_path / "mcptasks.db").exists()


def test_serve_needs_exactly_one_of_app_and_demo(tmp_path: Path) -> None:
    neither = run_cli("serve", cwd=tmp_path)
    both = run_cli("serve", "pkg:server", "--demo", cwd=tmp_path)

    for done in (neither, both):
        assert done.returncode == 2
        assert "give exactly one of APP and --demo" in done.stderr


# -- the default database -------------------------------------------------------------------------


def initialize(served: Served, request_id: int = 1) -> dict[str, Any]:
    """Open the 2025-11-25 session of a stdio server; its `initialize` result."""
    served.send(
        {
            "jsonrpc": "2.0",
            "id": request_id,
            "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "test_cli", "version": "0"},
            },
        }
    )
    result: dict[str, Any] = served.response(request_id)["result"]
    served.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    return result


def stop_stdio(served: Served) -> tuple[int, list[str]]:
    """Close the server's stdin (it stops); its exit status and every stderr line."""
    assert served.process.stdin is not None
    served.process.stdin.close()
    status = served.process.wait(timeout=STOP_TIMEOUT_S)
    return status, served.stderr.rest()


def test_help_shows_the_default_database_in_the_data_folder(tmp_path: Path, data_home: Path) -> None:
    done = run_cli("serve", "--help", cwd=tmp_path)

    shown = " ".join(done.stdout.split())
    assert done.returncode == 0, done.stderr
    assert f"default: {data_home / 'mcptasks' / 'mcptasks.db'} (env: MCPTASKS_DB)" in shown
    assert not (data_home / "mcptasks").exists(), "--help creates nothing"


@pytest.mark.slow
def test_serve_without_db_keeps_tasks_in_the_data_folder_from_a_read_only_directory(
    tmp_path: Path, data_home: Path
) -> None:
    cwd = tmp_path / "read-only"
    cwd.mkdir()
    cwd.chmod(0o555)
    db = data_home / "mcptasks" / "mcptasks.db"
    try:
        with serving("--demo", "--transport", "stdio", cwd=cwd) as served:
            initialize(served)
            call = {"name": "quick_add", "arguments": {"a": 1, "b": 2}, "task": {}}
            served.send({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": call})
            task_id = served.response(2)["result"]["task"]["taskId"]
            served.send({"jsonrpc": "2.0", "id": 3, "method": "tasks/result", "params": {"taskId": task_id}})
            result = served.response(3)["result"]
            status, stderr = stop_stdio(served)
    finally:
        cwd.chmod(0o755)

    assert status == 0, stderr
    assert f"database {db}" in stderr
    assert result["structuredContent"] == {"result": 3}
    assert list(cwd.iterdir()) == []
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT task_id, status FROM tasks").fetchall() == [(task_id, "completed")]
    assert (data_home / "mcptasks").stat().st_mode & 0o777 == 0o700
    listed = run_cli("tasks", "list", cwd=tmp_path)  # the same default database, from elsewhere
    assert listed.returncode == 0, listed.stderr
    assert task_id in listed.stdout
    assert f"{getpass.getuser()} (local)" in listed.stdout  # a stdio task belongs to the local user


def test_a_data_folder_that_cannot_be_made_is_one_line_naming_it_and_the_fix(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    env = cli_env(XDG_DATA_HOME=str(blocker / "data"))

    with serving("--demo", "--transport", "stdio", cwd=tmp_path, env=env) as served:
        status = served.process.wait(timeout=STOP_TIMEOUT_S)
        stdout = served.stdout.rest()
        stderr = served.stderr.rest()

    assert status == 1
    assert stdout == []  # a stdio client reads nothing from the protocol pipe
    folder = blocker / "data" / "mcptasks"
    assert stderr == [
        f"mcptasks: error: cannot create the folder {folder} (Not a directory): "
        "give the database another place with --db PATH (or MCPTASKS_DB)"
    ]


def test_a_db_in_a_missing_folder_is_one_line_naming_the_folder(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"

    served = run_cli("serve", "--demo", "--db", str(missing / "t.db"), cwd=tmp_path)
    upgraded = run_cli("db", "upgrade", "--db", str(missing / "t.db"), cwd=tmp_path)

    for done in (served, upgraded):
        assert done.returncode == 1
        assert done.stderr.splitlines() == [
            f"mcptasks: error: the database's folder {missing} does not exist: create it, or give the "
            "database another place with --db PATH (or MCPTASKS_DB)"
        ]
    assert not missing.exists()


def test_the_working_directory_holds_the_database_only_when_asked(tmp_path: Path, data_home: Path) -> None:
    default = run_cli("db", "upgrade", cwd=tmp_path)
    asked = run_cli("db", "upgrade", "--db", "mcptasks.db", cwd=tmp_path)

    assert default.returncode == 0, default.stderr
    assert str(data_home / "mcptasks" / "mcptasks.db") in default.stdout
    assert asked.returncode == 0, asked.stderr
    assert (tmp_path / "mcptasks.db").is_file()


# -- manners ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "title"),
    [([], "usage: mcptasks [-h]"), (["db"], "usage: mcptasks db [-h]"), (["tasks"], "usage: mcptasks tasks")],
)
def test_no_command_prints_the_help(tmp_path: Path, args: list[str], title: str) -> None:
    done = run_cli(*args, cwd=tmp_path)

    assert done.returncode == 2
    assert done.stdout.startswith(title)
    assert "COMMAND" in done.stdout
    assert done.stderr == ""


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["serve", "--bogus"], "unrecognized arguments: --bogus; try `mcptasks serve --help`"),
        (["tasks", "show"], "the following arguments are required: ID; try `mcptasks tasks show --help`"),
        (["db", "nonsense"], "argument COMMAND: invalid choice: 'nonsense'"),
    ],
)
def test_a_syntax_error_is_one_line_pointing_to_help(tmp_path: Path, args: list[str], line: str) -> None:
    done = run_cli(*args, cwd=tmp_path)

    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith("mcptasks: error: ")
    assert line in done.stderr
    assert "usage:" not in done.stderr


def test_a_bad_port_variable_names_the_variable(tmp_path: Path) -> None:
    done = run_cli("serve", "--demo", cwd=tmp_path, env=cli_env(MCPTASKS_PORT="abc"))

    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith("mcptasks: error: MCPTASKS_PORT: ")
    assert "--port" not in line


@pytest.mark.parametrize("explicit_db", [False, True], ids=["default-db", "explicit-db"])
def test_a_port_in_use_is_refused_before_the_database_is_touched(
    tmp_path: Path, data_home: Path, explicit_db: bool
) -> None:
    db = tmp_path / "t.db"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        args = ["--db", str(db)] if explicit_db else []
        done = run_cli("serve", "--demo", "--port", str(busy), *args, cwd=tmp_path)

    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"mcptasks: error: port {busy} on 127.0.0.1 is in use (another server?): stop it, or choose "
        "another port with --port PORT (MCPTASKS_PORT)"
    ]
    assert not db.exists()
    assert not (data_home / "mcptasks").exists()
    assert done.stdout == ""


@pytest.mark.slow
async def test_serve_over_http_says_how_to_connect_and_what_a_stop_waits_for(tmp_path: Path) -> None:
    from mcptasks.client import TaskClient

    port, db = free_port(), tmp_path / "t.db"
    url = f"http://127.0.0.1:{port}/mcp"
    with serving(
        "--demo", "--port", str(port), "--db", str(db), "--shutdown-grace-ms", "1000", cwd=tmp_path
    ) as served:
        banner = [served.stdout.next() for _ in range(5)]
        async with TaskClient(url, wire="2026-07-28") as client:
            handle = await client.call_tool_as_task("count_to", {"n": 600, "delay_ms": 100})
            assert handle.task_id is not None
            served.process.send_signal(signal.SIGINT)
            stopping = await asyncio.to_thread(served.stdout.next)
        assert served.process.wait(timeout=STOP_TIMEOUT_S) == 0

    assert banner == [
        f"listening on {url}",
        f"database {db}",
        f"schema revision {head_revision()}",
        f"try it: npx @modelcontextprotocol/inspector@2.12.0 --cli {url} --method tools/list",
        "Ctrl-C to stop",
    ]
    assert stopping == "stopping: waiting up to 1 s for 1 running tool (Ctrl-C again to stop at once)"


@pytest.mark.slow
def test_serve_over_stdio_prints_a_client_entry_that_starts_it(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    with serving("--demo", "--transport", "stdio", "--db", "t.db", cwd=tmp_path) as served:
        initialize(served)
        status, stderr = stop_stdio(served)
        stdout = served.stdout.rest()

    assert status == 0, stderr
    assert all(json.loads(line)["jsonrpc"] == "2.0" for line in stdout)  # stdout: JSON-RPC only
    assert stderr[:4] == [
        "listening on stdio",
        f"database {db}",
        f"schema revision {head_revision()}",
        f"tasks belong to the local user {getpass.getuser()} (local:{os.getuid()})",
    ]
    prefix = "to have a client start this server, add to its mcpServers: "
    assert stderr[4].startswith(prefix)
    assert stderr[5] == "Ctrl-C (or closing stdin) to stop"
    entry = json.loads(stderr[4].removeprefix(prefix))["mcptasks"]
    assert entry["args"][-5:] == ["--demo", "--transport", "stdio", "--db", str(db)]

    # A client starts the entry from a directory of its own: the same server on the same database.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    started = subprocess.run(
        [entry["command"], *entry["args"]],
        cwd=elsewhere,
        env=cli_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    assert started.returncode == 0, started.stderr
    assert started.stderr.splitlines()[:2] == ["listening on stdio", f"database {db}"]
    assert started.stdout == ""


# -- db -------------------------------------------------------------------------------------------


def test_db_upgrade_then_current(tmp_path: Path) -> None:
    db = tmp_path / "tasks.db"
    head = head_revision()

    missing = run_cli("db", "current", "--db", str(db), cwd=tmp_path)
    created = db.exists()
    first = run_cli("db", "upgrade", "--db", str(db), cwd=tmp_path)
    again = run_cli("db", "upgrade", "--db", str(db), cwd=tmp_path)
    current = run_cli("db", "current", "--db", str(db), cwd=tmp_path)

    assert missing.returncode == 1
    assert missing.stderr == f"mcptasks: error: no database at {db}: run `mcptasks db upgrade` to create it\n"
    assert not created, "db current must not create the file"
    assert first.returncode == 0, first.stderr
    assert first.stdout == f"upgraded {db} from revision none to {head} (head)\n"
    assert again.stdout == f"{db} is already at revision {head} (head)\n"
    assert current.returncode == 0, current.stderr
    assert current.stdout == f"{head} (head)\n"


def test_db_current_on_an_empty_database_says_none(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    sqlite3.connect(db).close()
    db.touch()

    done = run_cli("db", "current", "--db", str(db), cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert done.stdout == f"none (not at head {head_revision()}: run `mcptasks db upgrade`)\n"


def test_db_current_json(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    db = upgraded_db(tmp_path)

    before = run_cli("db", "current", "--json", "--db", str(empty), cwd=tmp_path)
    after = run_cli("db", "current", "--json", "--db", str(db), cwd=tmp_path)
    from_env = run_cli("db", "current", cwd=tmp_path, env=cli_env(MCPTASKS_JSON="1", MCPTASKS_DB=str(db)))
    missing = run_cli("db", "current", "--json", "--db", str(tmp_path / "nope.db"), cwd=tmp_path)

    head = head_revision()
    assert before.returncode == 0, before.stderr
    assert json.loads(before.stdout) == {
        "database": str(empty),
        "revision": None,
        "head": head,
        "at_head": False,
    }
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout) == {"database": str(db), "revision": head, "head": head, "at_head": True}
    assert json.loads(from_env.stdout) == json.loads(after.stdout)
    # A failure is the usual one line on stderr, not JSON on stdout.
    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr.startswith("mcptasks: error: no database at ")


@pytest.mark.postgres
def test_db_current_json_on_postgres_hides_the_password(tmp_path: Path, postgres_url: Any) -> None:
    url = postgres_url.set(password="hunter2-not-needed")
    done = run_cli("db", "current", "--json", "--db", url.render_as_string(hide_password=False), cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["revision"] is None and document["at_head"] is False
    assert "hunter2" not in done.stdout and document["database"].startswith("postgresql")


def test_db_upgrade_sql_prints_the_ddl_without_touching_the_database(tmp_path: Path) -> None:
    db = tmp_path / "never.db"

    done = run_cli("db", "upgrade", "--sql", "--db", str(db), cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert "CREATE TABLE tasks" in done.stdout
    assert "alembic_version" in done.stdout
    assert not db.exists()


def test_db_commands_report_a_file_that_is_not_a_database_in_one_line(tmp_path: Path) -> None:
    db = garbage_file(tmp_path / "garbage.db")

    for command in (["db", "current"], ["db", "upgrade"], ["tasks", "list"]):
        done = run_cli(*command, "--db", str(db), cwd=tmp_path)

        assert done.returncode == 1, command
        assert done.stderr.count("\n") == 1, done.stderr
        assert done.stderr.startswith("mcptasks: error: ")
        assert str(db) in done.stderr
        assert "file is not a database" in done.stderr


# -- serve ----------------------------------------------------------------------------------------


def test_serve_refuses_a_file_that_is_not_a_database_in_one_line(tmp_path: Path) -> None:
    db = garbage_file(tmp_path / "garbage.db")

    done = run_cli("serve", "--demo", "--db", str(db), cwd=tmp_path)

    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("mcptasks: error: ")
    assert str(db) in lines[0]
    assert "file is not a database" in lines[0]


def test_serve_prints_the_traceback_only_at_debug(tmp_path: Path) -> None:
    db = garbage_file(tmp_path / "garbage.db")

    done = run_cli("serve", "--demo", "--db", str(db), "--log-level", "debug", cwd=tmp_path)

    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert done.stderr.splitlines()[-1].startswith("mcptasks: error: ")


def test_serve_no_migrate_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    sqlite3.connect(db).close()

    done = run_cli("serve", "--demo", "--no-migrate", "--db", str(db), cwd=tmp_path)

    assert done.returncode == 1
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert "mcptasks db upgrade" in done.stderr


@pytest.mark.parametrize(
    ("app", "expected"),
    [
        ("no_such_module:server", "cannot import 'no_such_module': no such module"),
        ("app.py:missing", "has no attribute 'missing'"),
        ("app.py:not_a_server", "app.py:not_a_server is a int, not a mcptasks.TaskServer"),
        ("broken.py:server", "ZeroDivisionError: division by zero"),
        ("nowhere.py:server", "no such file"),
        ("app", "APP must be module:attribute or path/to/file.py:attribute"),
    ],
)
def test_serve_reports_an_app_that_does_not_load_in_one_line(tmp_path: Path, app: str, expected: str) -> None:
    (tmp_path / "app.py").write_text("not_a_server = 42\n")
    (tmp_path / "broken.py").write_text("server = 1 / 0\n")

    done = run_cli("serve", app, "--db", str(tmp_path / "t.db"), cwd=tmp_path)

    assert done.returncode == 1
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith("mcptasks: error: ")
    assert expected in done.stderr


@pytest.mark.slow
def test_serve_demo_over_stdio_answers_initialize_and_lists_the_tools(tmp_path: Path) -> None:
    db = tmp_path / "stdio.db"

    with serving("--demo", "--transport", "stdio", "--db", str(db), cwd=tmp_path) as served:
        served.send(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": PROTOCOL_VERSION,
                    "capabilities": {},
                    "clientInfo": {"name": "test_cli", "version": "0"},
                },
            }
        )
        initialized = served.response(1)
        served.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        served.send({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}})
        listed = served.response(2)
        assert served.process.stdin is not None
        served.process.stdin.close()  # end of input: the server stops
        status = served.process.wait(timeout=STOP_TIMEOUT_S)
        stderr = served.stderr.rest()

    assert initialized["result"]["protocolVersion"] == PROTOCOL_VERSION
    assert initialized["result"]["serverInfo"]["name"] == "mcptasks-demo"
    tools = {tool["name"]: tool for tool in listed["result"]["tools"]}
    assert set(DEMO_TOOLS) <= set(tools)
    for name, support in DEMO_TOOLS.items():
        assert tools[name]["execution"]["taskSupport"] == support, name
        assert tools[name]["description"], name
    assert "task" not in tools["count_to"]["inputSchema"]["properties"]
    assert tools["count_primes"]["inputSchema"]["properties"]["below"]["maximum"] == 50_000_000
    assert set(tools["clean_up"]["inputSchema"]["properties"]) == {"directory", "older_than_days"}
    assert set(tools["guess_number"]["inputSchema"]["properties"]) == {"maximum"}
    assert status == 0, stderr
    assert stderr[:3] == ["listening on stdio", f"database {db}", f"schema revision {head_revision()}"]


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_an_app_file_over_http_until_a_signal(tmp_path: Path, signum: signal.Signals) -> None:
    (tmp_path / "myapp.py").write_text(
        "from mcptasks import TaskServer\n"
        "server = TaskServer('from-a-file')\n"
        "@server.tool()\n"
        "async def ping() -> str:\n"
        "    return 'pong'\n"
    )
    port = free_port()
    db = tmp_path / "http.db"

    with serving("myapp.py:server", "--port", str(port), "--db", str(db), cwd=tmp_path) as served:
        banner = [served.stdout.next() for _ in range(3)]
        answer = httpx.post(
            f"http://127.0.0.1:{port}/mcp",
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": PROTOCOL_VERSION,
                    "capabilities": {},
                    "clientInfo": {"name": "test_cli", "version": "0"},
                },
            },
            headers={"Accept": "application/json, text/event-stream"},
            timeout=LINE_TIMEOUT_S,
        )
        served.process.send_signal(signum)
        status = served.process.wait(timeout=STOP_TIMEOUT_S)

    assert banner == [
        f"listening on http://127.0.0.1:{port}/mcp",
        f"database {db}",
        f"schema revision {head_revision()}",
    ]
    assert answer.status_code == 200
    assert "from-a-file" in answer.text
    assert status == 0


# -- tasks ----------------------------------------------------------------------------------------


def test_tasks_list_json_on_an_empty_database_is_an_empty_array(tmp_path: Path) -> None:
    db = upgraded_db(tmp_path)

    as_json = run_cli("tasks", "list", "--json", "--db", str(db), cwd=tmp_path)
    as_table = run_cli("tasks", "list", "--db", str(db), cwd=tmp_path)

    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == []
    assert as_json.stdout.strip() == "[]"
    assert as_table.returncode == 0
    assert as_table.stdout == ""
    assert as_table.stderr == "no tasks\n"


def test_tasks_show_an_unknown_id_exits_1(tmp_path: Path) -> None:
    db = upgraded_db(tmp_path)

    done = run_cli("tasks", "show", "nope", "--db", str(db), cwd=tmp_path)

    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == "mcptasks: error: no task with id 'nope'\n"


def test_tasks_commands_refuse_an_unmigrated_database_and_name_the_fix(tmp_path: Path) -> None:
    db = tmp_path / "plain.db"
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("CREATE TABLE unrelated (x INTEGER)")
    missing = tmp_path / "typo.db"

    unmigrated = run_cli("tasks", "list", "--db", str(db), cwd=tmp_path)
    absent = run_cli("tasks", "show", "x", "--db", str(missing), cwd=tmp_path)

    assert unmigrated.returncode == 1
    assert f"the database {db} has no mcptasks schema" in unmigrated.stderr
    assert "run `mcptasks db upgrade`" in unmigrated.stderr
    assert absent.returncode == 1
    assert f"no database at {missing}" in absent.stderr
    assert not missing.exists(), "a read-only command must not create the file"


async def _store_two_tasks(db: Path) -> tuple[str, str]:
    """Write a completed task (principal alice) and a failed one (a session); return their ids."""
    store = Store.for_url(database_url(str(db)))
    await store.open()
    try:
        now = utcnow()
        ids = []
        for owner, tool, outcome in (
            (
                Owner.principal("https://issuer.example", "alice", "app-1"),
                "count_to",
                Completed(result={"content": [{"type": "text", "text": "counted to 3"}], "isError": False}),
            ),
            (
                Owner.session("session-1"),
                "always_fails",
                Failed(
                    error=ErrorInfo(code=-32603, message="Tool execution failed"), status_message="crashed"
                ),
            ),
        ):
            record = TaskRecord.new(
                owner=owner,
                wire="2025-11-25",
                tool_name=tool,
                arguments={"n": 3},
                ttl_ms=60_000,
                poll_interval_ms=1000,
                now=now,
            ).evolve(attempt=1, lease_node="node-test", lease_expires_at=now + timedelta(minutes=1))
            await store.create_task(record, node="node-test")
            finished = await store.finish_task(record.task_id, 1, "node-test", outcome, now)
            assert finished is not None
            ids.append(record.task_id)
        return ids[0], ids[1]
    finally:
        await store.close()


async def test_tasks_list_and_show_render_stored_tasks(tmp_path: Path) -> None:
    db = upgraded_db(tmp_path)
    completed_id, failed_id = await _store_two_tasks(db)

    table = run_cli("tasks", "list", "--db", str(db), cwd=tmp_path)
    failed_only = run_cli("tasks", "list", "--status", "failed", "--json", "--db", str(db), cwd=tmp_path)
    by_env = run_cli(
        "tasks",
        "list",
        cwd=tmp_path,
        env=cli_env(MCPTASKS_DB=str(db), MCPTASKS_STATUS="Failed, cancelled", MCPTASKS_JSON="yes"),
    )
    by_owner = run_cli("tasks", "list", "--owner", "alice", "--json", "--db", str(db), cwd=tmp_path)
    shown = run_cli("tasks", "show", completed_id, "--db", str(db), cwd=tmp_path)
    shown_json = run_cli("tasks", "show", failed_id, "--json", "--db", str(db), cwd=tmp_path)

    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split()[:3] == ["TASK", "ID", "STATUS"]
    assert len(rows) == 2
    assert any(completed_id in row and "completed" in row and "alice" in row for row in rows)
    assert any(
        failed_id in row and "failed" in row and "session:" in row and "crashed" in row for row in rows
    )

    assert [task["task_id"] for task in json.loads(failed_only.stdout)] == [failed_id]
    assert [task["task_id"] for task in json.loads(by_env.stdout)] == [failed_id]
    assert [task["task_id"] for task in json.loads(by_owner.stdout)] == [completed_id]

    assert shown.returncode == 0, shown.stderr
    assert f"task            {completed_id}" in shown.stdout
    assert "completed (attempt 1)" in shown.stdout
    assert "principal subject=alice client=app-1 issuer=https://issuer.example" in shown.stdout
    assert "counted to 3" in shown.stdout
    assert "(created) -> working" in shown.stdout
    assert "working -> completed" in shown.stdout

    assert shown_json.returncode == 0, shown_json.stderr
    document = json.loads(shown_json.stdout)
    assert document["task"]["status"] == "failed"
    assert document["error"] == {"code": -32603, "message": "Tool execution failed"}
    assert [(e["from_status"], e["to_status"]) for e in document["events"]] == [
        (None, "working"),
        ("working", "failed"),
    ]
    assert document["input_requests"] == []


@pytest.mark.slow
def test_serve_ttl_options_set_the_default_cap_and_poll_interval(tmp_path: Path) -> None:
    db = tmp_path / "ttl.db"
    options = ("--default-ttl-ms", "120000", "--max-ttl-ms", "300000", "--poll-interval-ms", "250")
    with serving("--demo", "--transport", "stdio", "--db", str(db), *options, cwd=tmp_path) as served:
        served.send(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": PROTOCOL_VERSION,
                    "capabilities": {},
                    "clientInfo": {"name": "t"},
                },
            }
        )
        served.response(1)
        served.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        call = {"name": "quick_add", "arguments": {"a": 1, "b": 2}}
        served.send({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {**call, "task": {}}})
        defaulted = served.response(2)["result"]["task"]
        served.send(
            {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {**call, "task": {"ttl": 10**9}}}
        )
        capped = served.response(3)["result"]["task"]
        assert served.process.stdin is not None
        served.process.stdin.close()
        served.process.wait(timeout=STOP_TIMEOUT_S)

    assert (defaulted["ttl"], defaulted["pollInterval"]) == (120000, 250)
    assert capped["ttl"] == 300000


def test_serve_refuses_a_default_ttl_above_the_cap(tmp_path: Path) -> None:
    done = run_cli("serve", "--demo", "--default-ttl-ms", "10", "--max-ttl-ms", "5", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "mcptasks: error: --default-ttl-ms must not exceed --max-ttl-ms"
    ]
    assert not (tmp_path / "mcptasks.db").exists()


# -- logs and metrics -----------------------------------------------------------------------------


@pytest.mark.slow
async def test_serve_json_logs_and_prometheus_metrics(tmp_path: Path) -> None:
    """`--log-format json` writes one JSON object per stderr line, naming tasks; `--metrics-port`
    serves the counters of what the server did."""
    from mcptasks.client import TaskClient

    port, metrics_port = free_port(), free_port()
    args = ("--demo", "--port", str(port), "--db", str(tmp_path / "t.db"), "--log-level", "INFO")
    with serving(*args, "--log-format", "json", "--metrics-port", str(metrics_port), cwd=tmp_path) as served:
        assert served.stdout.next().startswith("listening on")
        async with TaskClient(f"http://127.0.0.1:{port}/mcp", wire="2025-11-25") as client:
            handle = await client.call_tool_as_task("count_to", {"n": 2, "delay_ms": 10})
            await handle.result()
            for n in (1, 3):
                await (await client.call_tool_as_task("count_to", {"n": n, "delay_ms": 1})).wait()
            failing = await client.call_tool_as_task("always_fails", {"reason": "on purpose"})
            assert (await failing.wait()).status == "failed"
        async with httpx.AsyncClient(timeout=LINE_TIMEOUT_S) as http:
            exposed = (await http.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
        served.process.send_signal(signal.SIGINT)
        assert served.process.wait(timeout=STOP_TIMEOUT_S) == 0
    lines = served.stderr.rest()
    records = [json.loads(line) for line in lines if line.strip()]  # every line is JSON
    assert {"time", "level", "logger", "message"} <= set(records[0])
    created = [r for r in records if r.get("action") == "create_task"]
    assert created and created[0]["task_id"] == handle.task_id
    # What the client did, counted: 3 + 1 tasks created, 3 completed and 1 failed.
    assert 'mcptasks_tasks_created_total{tool="count_to",wire="2025-11-25"} 3.0' in exposed
    assert 'mcptasks_tasks_created_total{tool="always_fails",wire="2025-11-25"} 1.0' in exposed
    assert 'mcptasks_tasks_finished_total{status="completed",tool="count_to"} 3.0' in exposed
    assert 'mcptasks_tasks_finished_total{status="failed",tool="always_fails"} 1.0' in exposed
    assert 'mcptasks_task_duration_seconds_count{status="completed",tool="count_to"} 3.0' in exposed
    assert "mcptasks_tools_running 0.0" in exposed


def test_serve_refuses_a_metrics_port_in_use(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        done = run_cli(
            "serve", "--demo", "--db", str(tmp_path / "t.db"), "--metrics-port", str(busy), cwd=tmp_path
        )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"mcptasks: error: could not serve metrics on 127.0.0.1:{busy}: Address already in use; "
        "choose another --metrics-port"
    ]


# -- operator commands that act -------------------------------------------------------------------


@pytest.mark.slow
async def test_tasks_cancel_stops_the_tool_of_a_live_server(tmp_path: Path) -> None:
    from mcptasks.client import TaskClient

    port, db = free_port(), tmp_path / "live.db"
    with serving("--demo", "--port", str(port), "--db", str(db), cwd=tmp_path) as served:
        assert served.stdout.next().startswith("listening on")
        async with TaskClient(f"http://127.0.0.1:{port}/mcp", wire="2026-07-28") as client:
            handle = await client.call_tool_as_task("count_to", {"n": 600, "delay_ms": 100})
            assert handle.task_id is not None
            cancelled = await asyncio.to_thread(
                run_cli,
                "tasks",
                "cancel",
                handle.task_id,
                "--reason",
                "maintenance",
                "--db",
                str(db),
                cwd=tmp_path,
            )
            again = await asyncio.to_thread(
                run_cli, "tasks", "cancel", handle.task_id, "--db", str(db), cwd=tmp_path
            )
            seen = await handle.status()
        served.process.send_signal(signal.SIGINT)
        served.process.wait(timeout=STOP_TIMEOUT_S)
    unknown = run_cli("tasks", "cancel", "no-such-task", "--db", str(db), cwd=tmp_path)

    assert (cancelled.returncode, cancelled.stdout.strip()) == (0, f"cancelled {handle.task_id}")
    assert (again.returncode, again.stdout.strip()) == (
        0,
        f"{handle.task_id} is already cancelled: left as it is",
    )
    assert seen.status == "cancelled"
    assert seen.status_message == "Cancelled by an operator: maintenance"
    assert (unknown.returncode, unknown.stderr.strip()) == (
        1,
        "mcptasks: error: no task with id 'no-such-task'",
    )
    shown = json.loads(
        run_cli("tasks", "show", handle.task_id, "--json", "--db", str(db), cwd=tmp_path).stdout
    )
    assert shown["task"]["status"] == "cancelled"  # the tool's late steps did not move it again
    assert shown["events"][-1]["message"] == "Cancelled by an operator: maintenance"


async def test_tasks_stats_and_purge(tmp_path: Path) -> None:
    db = upgraded_db(tmp_path)
    completed_id, failed_id = await _store_two_tasks(db)

    stats = json.loads(run_cli("tasks", "stats", "--json", "--db", str(db), cwd=tmp_path).stdout)
    table = run_cli("tasks", "stats", "--db", str(db), cwd=tmp_path)
    dry = run_cli(
        "tasks",
        "purge",
        "--status",
        "failed",
        "--older-than",
        "0s",
        "--dry-run",
        "--db",
        str(db),
        cwd=tmp_path,
    )
    purged = run_cli(
        "tasks", "purge", "--status", "failed", "--older-than", "0s", "--db", str(db), cwd=tmp_path
    )
    active = run_cli(
        "tasks", "purge", "--status", "working", "--older-than", "7d", "--db", str(db), cwd=tmp_path
    )
    no_age = run_cli("tasks", "purge", "--db", str(db), cwd=tmp_path)
    bad_age = run_cli("tasks", "purge", "--older-than", "a week", "--db", str(db), cwd=tmp_path)
    left = json.loads(run_cli("tasks", "list", "--json", "--db", str(db), cwd=tmp_path).stdout)

    assert stats["by_status"] == {
        "working": 0,
        "input_required": 0,
        "completed": 1,
        "failed": 1,
        "cancelled": 0,
    }
    assert {(row["tool"], row["status"]) for row in stats["by_tool"]} == {
        ("count_to", "completed"),
        ("always_fails", "failed"),
    }
    assert stats["oldest_active"] is None and stats["pending_questions"] == 0
    assert set(stats["durations_ms"]) == {"count_to", "always_fails"}
    assert table.returncode == 0 and "Tasks by status" in table.stdout and "always_fails" in table.stdout
    assert dry.stdout.startswith("would purge 1 tasks (failed)")
    assert purged.returncode == 0 and purged.stdout.startswith("purged 1 tasks (failed)")
    assert [task["task_id"] for task in left] == [completed_id]
    assert failed_id not in purged.stdout
    assert (active.returncode, active.stderr.strip()) == (
        1,
        "mcptasks: error: --status working: only terminal tasks can be purged",
    )
    assert no_age.returncode == 2 and "--older-than is required" in no_age.stderr
    assert bad_age.returncode == 2 and "--older-than" in bad_age.stderr and "7d" in bad_age.stderr


async def test_db_backup_and_a_read_only_sql_shell(tmp_path: Path) -> None:
    db = upgraded_db(tmp_path)
    completed_id, _ = await _store_two_tasks(db)
    copy = tmp_path / "copy.db"

    backup = run_cli("db", "backup", str(copy), "--db", str(db), cwd=tmp_path)
    twice = run_cli("db", "backup", str(copy), "--db", str(db), cwd=tmp_path)
    postgres = run_cli(
        "db",
        "backup",
        str(tmp_path / "pg.db"),
        "--db",
        "postgresql://u:secret@db.example/tasks",
        cwd=tmp_path,
    )

    assert backup.returncode == 0, backup.stderr
    assert backup.stdout.startswith(f"backed up {db} to {copy}")
    with sqlite3.connect(copy) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("SELECT count(*) FROM tasks").fetchall() == [(2,)]
    assert twice.returncode == 1 and "exists already" in twice.stderr
    assert postgres.returncode == 1 and "pg_dump" in postgres.stderr and "secret" not in postgres.stderr

    def shell(sql: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, "db", "sql", "--db", str(db)],
            input=sql,
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=cli_env(),
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )

    read = shell("SELECT task_id FROM tasks WHERE status = 'completed';\n")
    write = shell("DELETE FROM tasks;\n")
    assert read.stdout.strip() == completed_id
    assert "readonly" in (write.stdout + write.stderr)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM tasks").fetchall() == [(2,)]
