"""`mcptasks serve`: load an app, configure it from `ServeSettings`, serve it until a signal.

An option of `serve` is a field of `ServeSettings` (its flag, variable and help follow from it,
cli/settings.py), used in `run` where the `TaskServer` is configured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import json
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field

from mcptasks.cli.apps import DEMO_APP, load_app
from mcptasks.cli.auth import AUTH_GROUP, AuthOptions
from mcptasks.cli.db import url_of
from mcptasks.cli.errors import CLIError, unreachable_as_error
from mcptasks.cli.location import sqlite_folder
from mcptasks.cli.process import on_stop_signals, run_event_loop, tune_garbage_collector
from mcptasks.cli.settings import Option, SettingsError, lower
from mcptasks.observe import metrics
from mcptasks.runtime.options import (
    CANCEL_GRACE_S,
    DEFAULT_POLL_INTERVAL_MS,
    DEFAULT_TTL_MS,
    LEASE_DURATION_S,
    MAX_TTL_MS,
    RECOVER_INTERVAL_S,
    SHUTDOWN_GRACE_S,
    Leases,
    Retention,
)
from mcptasks.server.owner import current_local_user
from mcptasks.server.v2025_11_25.questions import CLIENT_REQUEST_TIMEOUT_S
from mcptasks.store.view import DEFAULT_CAPACITY as VIEW_CAPACITY

if TYPE_CHECKING:
    from typing import TextIO

    from mcptasks import TaskServer

#: The MCP Inspector whose CLI the start-up lines suggest (the version the README was checked with).
INSPECTOR = "@modelcontextprotocol/inspector@2.12.0"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
#: Largest ttl a JSON number carries exactly (2**53 - 1), in ms.
MAX_SAFE_MS = 2**53 - 1
#: One day, in ms: the bound of the polling, lease and grace options.
DAY_MS = 86_400_000

_Ms = Annotated[int, Field(ge=0, le=DAY_MS)]


class ServeSettings(AuthOptions):
    """The settings of `mcptasks serve`: what to serve, where, and the task and lease timings (ms)."""

    #: `run` checks the database's folder itself, after the port.
    prepare_db_folder: ClassVar[bool] = False
    groups: ClassVar[dict[str, tuple[str, str | None]]] = {
        "leases": (
            "Leases (how fast a task whose server died is recovered, and how long tools get to stop)",
            None,
        ),
        "auth": AUTH_GROUP,
    }

    app: Annotated[
        str | None,
        Option(
            "the TaskServer to serve: module:attribute (imported from the current directory) "
            "or path/to/file.py:attribute",
            metavar="APP",
            positional=True,
        ),
    ] = None
    demo: Annotated[bool, Option(f"serve the demo tools ({DEMO_APP}) instead of APP")] = False
    transport: Annotated[
        Literal["http", "stdio"],
        BeforeValidator(lower),
        Option("http: Streamable HTTP at /mcp; stdio: JSON-RPC over stdin and stdout"),
    ] = "http"
    host: Annotated[str, Option("interface to listen on (http)")] = DEFAULT_HOST
    port: Annotated[int, Field(ge=1, le=65535), Option("TCP port to listen on (http)")] = DEFAULT_PORT
    no_migrate: Annotated[
        bool,
        Option(
            "do not migrate the database at start-up; refuse to start unless it is at the newest revision"
        ),
    ] = False
    default_ttl_ms: Annotated[
        int, Field(ge=1, le=MAX_SAFE_MS), Option("ttl of a task whose client asks for none, in ms")
    ] = DEFAULT_TTL_MS
    max_ttl_ms: Annotated[
        int,
        Field(ge=1, le=MAX_SAFE_MS),
        Option("largest ttl a client may ask for, in ms (larger requests are capped)"),
    ] = MAX_TTL_MS
    poll_interval_ms: Annotated[
        int, Field(ge=1, le=DAY_MS), Option("polling interval suggested to clients, in ms")
    ] = DEFAULT_POLL_INTERVAL_MS
    client_request_timeout_ms: Annotated[
        int,
        Field(ge=1, le=DAY_MS),
        Option(
            "how long a 2025-11-25 client may take to answer a task's question, in ms; the question "
            "is then asked again on its next stream",
            metavar="MS",
        ),
    ] = int(CLIENT_REQUEST_TIMEOUT_S * 1000)
    view_capacity: Annotated[
        int,
        Field(ge=1, le=10_000_000),
        Option("most tasks kept in memory to answer reads without SQL (about 1-2 KB each)", metavar="N"),
    ] = VIEW_CAPACITY
    metrics_port: Annotated[
        int | None,
        Field(ge=1, le=65535),
        Option("serve Prometheus metrics at http://HOST:PORT/metrics (off unless given)", metavar="PORT"),
    ] = None
    lease_ms: Annotated[
        int,
        Field(ge=300, le=DAY_MS),
        Option(
            "how long a worker's lease on its task lasts unless renewed, in ms; renewed every "
            "third of it, and a dead server's tasks are recovered within it",
            group="leases",
        ),
    ] = int(LEASE_DURATION_S * 1000)
    cancel_grace_ms: Annotated[
        _Ms,
        Option(
            "how long a cancelled tool may ignore its cancellation before it is cancelled hard, in ms",
            group="leases",
        ),
    ] = int(CANCEL_GRACE_S * 1000)
    shutdown_grace_ms: Annotated[
        _Ms,
        Option("how long running tools may take to finish when the server stops, in ms", group="leases"),
    ] = int(SHUTDOWN_GRACE_S * 1000)
    owner_scope: Annotated[
        Literal["client", "user"],
        BeforeValidator(lower),
        Option(
            "who owns a task of an authenticated caller: client = (issuer, subject, client id), so "
            "another client app of the same user cannot read it; user = (issuer, subject)"
        ),
    ] = "client"

    def retention(self) -> Retention:
        """Task ttl default and cap and the polling hint. Raises: CLIError if the default exceeds the cap."""
        if self.default_ttl_ms > self.max_ttl_ms:
            raise CLIError("--default-ttl-ms must not exceed --max-ttl-ms")
        return Retention(
            default_ttl_ms=self.default_ttl_ms,
            max_ttl_ms=self.max_ttl_ms,
            poll_interval_ms=self.poll_interval_ms,
        )

    def leases(self) -> Leases:
        """Lease length, heartbeat (a third of it), recovery period and grace periods, in seconds.

        Raises: CLIError if the cancel grace is not below half the lease.
        """
        lease_s = self.lease_ms / 1000
        if self.cancel_grace_ms / 1000 >= lease_s / 2:
            raise CLIError("--cancel-grace-ms must be less than half of --lease-ms")
        return Leases(
            duration_s=lease_s,
            heartbeat_s=lease_s / 3,
            recover_interval_s=min(RECOVER_INTERVAL_S, lease_s / 6),
            cancel_grace_s=self.cancel_grace_ms / 1000,
            shutdown_grace_s=self.shutdown_grace_ms / 1000,
        )


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `serve` to the `mcptasks` subcommands."""
    parser = commands.add_parser(
        "serve",
        help="serve a TaskServer's tools as durable tasks over MCP",
        description="Open the database (migrating it unless --no-migrate) and serve the app's tools over "
        "MCP Streamable HTTP at http://HOST:PORT/mcp, or over stdio. Stop with SIGINT or SIGTERM "
        "(or, for stdio, by closing stdin).",
    )
    ServeSettings.add_options(parser)
    parser.set_defaults(settings=ServeSettings, run=run)


def run(settings: ServeSettings, args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM (or, on stdio, the end of stdin); 0, or 130 after a second signal.

    Checked in this order, so a mistake costs nothing: the options, the HTTP port (bound and
    released: nothing is created in the database's folder while the port is taken), the database's
    folder, the app; then the database is opened.

    Raises: SettingsError unless exactly one of APP and --demo is given; CLIError for inconsistent
    options, a port in use, a database folder that cannot hold the database, an app that does not
    load, or a database that cannot be opened.
    """
    if bool(settings.app) == settings.demo:
        raise SettingsError("give exactly one of APP and --demo (try `mcptasks serve --demo`)")
    stdio = settings.transport == "stdio"
    retention, leases = settings.retention(), settings.leases()
    auth = settings.auth_config(stdio=stdio)
    if not stdio:
        check_port_free(settings.host, settings.port)
    settings.prepare_db(write=True)
    server = load_app(settings.app or DEMO_APP)
    server.configure(
        db=settings.db,
        migrate=not settings.no_migrate,
        retention=retention,
        leases=leases,
        auth=auth,
        owner_scope=settings.owner_scope,
        client_request_timeout_s=settings.client_request_timeout_ms / 1000,
        view_capacity=settings.view_capacity,
    )
    if settings.metrics_port is not None:
        try:
            metrics.serve(settings.metrics_port, settings.host)
        except OSError as exc:
            raise CLIError(
                f"could not serve metrics on {settings.host}:{settings.metrics_port}: "
                f"{exc.strerror or exc}; choose another --metrics-port"
            ) from None
    try:
        return run_event_loop(_serve(server, settings))
    except asyncio.CancelledError:  # a second SIGINT/SIGTERM: stopped without the shutdown grace
        return 130


def check_port_free(host: str, port: int) -> None:
    """Bind `host:port` and let it go at once: whether `serve` can listen there.

    SO_REUSEADDR as uvicorn sets it, so a port whose last connections linger in TIME_WAIT counts
    as free (as it is for uvicorn), and one another process listens on does not.
    Raises: CLIError naming the port (and --port) or the host (and --host).
    """
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CLIError(
            f"cannot listen on --host {host}: {exc.strerror}; give an address of this machine, e.g. 127.0.0.1"
        ) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CLIError(
                    f"port {port} on {host} is in use (another server?): stop it, or choose another "
                    "port with --port PORT (MCPTASKS_PORT)"
                ) from None
            raise CLIError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --host or --port"
            ) from None


def _http_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}/mcp"


def client_entry(settings: ServeSettings) -> dict[str, Any]:
    """The `mcpServers` entry (Claude Desktop's format, which other clients share) that starts this
    server over stdio: this `mcptasks` by its absolute path, the app, and `--db` when one was given."""
    launcher = Path(sys.argv[0])
    if launcher.name in ("mcptasks", "mcptasks.exe"):
        command, args = str(launcher.absolute()), []
    else:  # `python -m mcptasks.cli`
        command, args = sys.executable, ["-m", "mcptasks.cli"]
    args.append("serve")
    if settings.demo:
        args.append("--demo")
    elif settings.app is not None:
        target, _, attribute = settings.app.rpartition(":")
        if target.endswith(".py") or "/" in target or os.sep in target:
            target = str(Path(target).expanduser().absolute())  # a client starts it from elsewhere
        args.append(f"{target}:{attribute}")
    args += ["--transport", "stdio"]
    if not settings.db_is_default:
        folder = sqlite_folder(settings.db)
        args += ["--db", str(folder / Path(settings.db).name) if folder is not None else settings.db]
    return {"mcptasks": {"command": command, "args": args}}


def _stop_line(server: TaskServer, grace_s: float) -> str:
    running = server.running_tools
    if running == 0:
        return "stopping: no tool is running (Ctrl-C again to stop at once)"
    tools = "tool" if running == 1 else "tools"
    return (
        f"stopping: waiting up to {grace_s:g} s for {running} running {tools} (Ctrl-C again to stop at once)"
    )


async def _serve(server: TaskServer, settings: ServeSettings) -> int:
    stdio = settings.transport == "stdio"
    # On stdio, stdout carries the protocol: everything else goes to stderr.
    out: TextIO = sys.stderr if stdio else sys.stdout
    main_task = asyncio.current_task()
    assert main_task is not None

    def stop() -> None:
        print(_stop_line(server, settings.shutdown_grace_ms / 1000), file=out, flush=True)
        server.request_stop()

    # Installed before the server opens and removed after it closed, so a signal during start-up
    # or during the shutdown grace is handled too.
    with on_stop_signals(first=stop, again=main_task.cancel):
        async with contextlib.AsyncExitStack() as stack:
            with unreachable_as_error(url_of(settings.db)):
                await stack.enter_async_context(server)
            tune_garbage_collector()

            def announce() -> None:
                # Printed once the server accepts connections, so a client may connect on seeing it.
                where = "stdio" if stdio else _http_url(settings.host, settings.port)
                print(f"listening on {where}", file=out)
                print(f"database {server.database_description}", file=out)
                print(f"schema revision {server.schema_revision}", file=out)
                if stdio:
                    owner = current_local_user()
                    print(f"tasks belong to the local user {owner.subject} ({owner.key})", file=out)
                    entry = json.dumps(client_entry(settings))
                    print(f"to have a client start this server, add to its mcpServers: {entry}", file=out)
                    print("Ctrl-C (or closing stdin) to stop", file=out, flush=True)
                else:
                    print(f"try it: npx {INSPECTOR} --cli {where} --method tools/list", file=out)
                    print("Ctrl-C to stop", file=out, flush=True)

            if stdio:
                announce()
                await server.run_stdio_async()
            else:
                await server.run_http_async(host=settings.host, port=settings.port, on_listening=announce)
    if stdio and server.stop_requested:
        # The SDK's stdin reader thread blocks until the client writes or closes stdin and cannot
        # be interrupted; everything durable is committed by now, so leave without waiting for it.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0
