"""`mcptasks serve`: load an app, configure it from `ServeSettings`, serve it until a signal.

An option of `serve` is a field of `ServeSettings` (its flag, variable and help follow from it,
cli/settings.py), used in `run` where the `TaskServer` is configured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

from pydantic import BeforeValidator, Field

from mcptasks.cli.announce import check_port_free, client_entry, http_url, startup_lines, stop_line
from mcptasks.cli.apps import DEMO_APP, load_app
from mcptasks.cli.auth import AUTH_GROUP, AuthOptions
from mcptasks.cli.database import url_of
from mcptasks.cli.errors import CLIError, unreachable_as_error
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
from mcptasks.server.v2025_11_25.questions import CLIENT_REQUEST_TIMEOUT_S
from mcptasks.store.view import DEFAULT_CAPACITY as VIEW_CAPACITY

if TYPE_CHECKING:
    from typing import TextIO

    from mcptasks import TaskServer

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


async def _serve(server: TaskServer, settings: ServeSettings) -> int:
    stdio = settings.transport == "stdio"
    # On stdio, stdout carries the protocol: everything else goes to stderr.
    out: TextIO = sys.stderr if stdio else sys.stdout
    main_task = asyncio.current_task()
    assert main_task is not None

    def stop() -> None:
        print(stop_line(server.running_tools, settings.shutdown_grace_ms / 1000), file=out, flush=True)
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
                where = "stdio" if stdio else http_url(settings.host, settings.port)
                entry = client_entry(
                    demo=settings.demo, app=settings.app, db=settings.db, db_is_default=settings.db_is_default
                )
                for line in startup_lines(where, server.database_description, server.schema_revision, entry):
                    print(line, file=out)
                out.flush()

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
