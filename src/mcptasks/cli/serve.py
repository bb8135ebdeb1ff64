"""`mcptasks serve`: load an app, configure it from the options, serve it until a signal.

This is the only module of mcptasks that installs signal handlers, picks the event loop and tunes
the garbage collector: process-wide choices an application embedding `TaskServer` makes itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from mcptasks.auth.config import ACCESS_TOKEN_TYPES, AuthConfig
from mcptasks.cli.apps import DEMO_APP, load_app
from mcptasks.cli.db import url_of
from mcptasks.cli.errors import CLIError, unreachable_as_error
from mcptasks.cli.options import words
from mcptasks.runtime.options import RECOVER_INTERVAL_S, Leases, Retention

if TYPE_CHECKING:
    from mcptasks import TaskServer

logger = logging.getLogger("mcptasks.cli")

T = TypeVar("T")


def run_event_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` on uvloop where it is installed (Linux, macOS), else on asyncio's own loop.

    uvloop (libuv, in C) serves the same requests with about a third less CPU than the default loop
    (measured in `benchmarks/`); nothing in mcptasks depends on which loop runs it.
    """
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows, or not installed
        return asyncio.run(main)
    return uvloop.run(main)


#: Allocations between two young-generation collections (CPython's default is 700).
GC_YOUNG_THRESHOLD = 10_000


def tune_garbage_collector() -> None:
    """Keep the cyclic garbage collector out of the way of a long-running server.

    Everything loaded until now (the SDK, the tools, their schemas) lives as long as the process:
    `gc.freeze()` moves it out of the collector's sight, so a full collection no longer walks it
    (it took 100-130 ms, the worst latency of a request under load); young collections run every
    `GC_YOUNG_THRESHOLD` allocations instead of 700. Measured with `benchmarks/` (sleep-50 ms at
    C=32: lifecycle p99 190 -> 77 ms, 441 -> 539 lifecycles/s). A process-wide choice, so the
    command line makes it; an application embedding `TaskServer` keeps its own.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def _http_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}/mcp"


def cmd_serve(args: argparse.Namespace) -> int:
    server = load_app(DEMO_APP if args.demo else args.app)
    if int(args.default_ttl_ms) > int(args.max_ttl_ms):
        raise CLIError("--default-ttl-ms must not exceed --max-ttl-ms")
    retention = Retention(
        default_ttl_ms=int(args.default_ttl_ms),
        max_ttl_ms=int(args.max_ttl_ms),
        poll_interval_ms=int(args.poll_interval_ms),
    )
    lease_s = int(args.lease_ms) / 1000
    if int(args.cancel_grace_ms) / 1000 >= lease_s / 2:
        raise CLIError("--cancel-grace-ms must be less than half of --lease-ms")
    leases = Leases(
        duration_s=lease_s,
        heartbeat_s=lease_s / 3,
        recover_interval_s=min(RECOVER_INTERVAL_S, lease_s / 6),
        cancel_grace_s=int(args.cancel_grace_ms) / 1000,
        shutdown_grace_s=int(args.shutdown_grace_ms) / 1000,
    )
    server.configure(
        db=args.db,
        migrate=not args.no_migrate,
        retention=retention,
        leases=leases,
        auth=_auth_config(args),
        owner_scope=args.owner_scope,
    )
    try:
        return run_event_loop(_serve(server, args))
    except asyncio.CancelledError:  # a second SIGINT/SIGTERM: stopped without the shutdown grace
        return 130


def _auth_config(args: argparse.Namespace) -> AuthConfig | None:
    """The OAuth settings the `--auth-*` options give, or None when none is given."""
    given = [args.auth_issuer, args.auth_resource, args.auth_jwks_uri, args.auth_introspection_url]
    if not any(given):
        if args.auth_client_id or args.auth_client_secret or args.auth_required_scope:
            raise CLIError("the --auth-* options need --auth-issuer and --auth-resource")
        return None
    if not (args.auth_issuer and args.auth_resource):
        raise CLIError("OAuth needs both --auth-issuer and --auth-resource")
    if args.transport == "stdio":
        raise CLIError("--auth-* options apply to --transport http; stdio is never authenticated")
    scopes = (
        args.auth_required_scope
        if isinstance(args.auth_required_scope, list)
        else words(args.auth_required_scope or "")
    )
    token_types = (
        args.auth_token_type if isinstance(args.auth_token_type, list) else words(args.auth_token_type or "")
    )
    try:
        return AuthConfig(
            issuer=args.auth_issuer,
            resource=args.auth_resource,
            jwks_uri=args.auth_jwks_uri or None,
            introspection_url=args.auth_introspection_url or None,
            client_id=args.auth_client_id or None,
            client_secret=args.auth_client_secret or None,
            required_scopes=tuple(scopes),
            token_types=tuple(t.lower() for t in token_types) or ACCESS_TOKEN_TYPES,
        )
    except ValueError as exc:
        raise CLIError(str(exc)) from None


async def _serve(server: TaskServer, args: argparse.Namespace) -> int:
    stdio = args.transport == "stdio"
    # On stdio, stdout carries the protocol: everything else goes to stderr.
    out: TextIO = sys.stderr if stdio else sys.stdout
    main_task = asyncio.current_task()
    assert main_task is not None
    # Installed before the server opens and removed after it closed, so a signal during start-up
    # or during the shutdown grace is handled too.
    with _on_stop_signals(first=server.request_stop, again=main_task.cancel):
        async with contextlib.AsyncExitStack() as stack:
            with unreachable_as_error(url_of(args.db)):
                await stack.enter_async_context(server)
            tune_garbage_collector()

            def announce() -> None:
                # Printed once the server accepts connections, so a client may connect on seeing it.
                print(f"listening on {'stdio' if stdio else _http_url(args.host, args.port)}", file=out)
                print(f"database {server.database_description}", file=out)
                print(f"schema revision {server.schema_revision}", file=out, flush=True)

            if stdio:
                announce()
                await server.run_stdio_async()
            else:
                await server.run_http_async(host=args.host, port=args.port, on_listening=announce)
    if stdio and server.stop_requested:
        # The SDK's stdin reader thread blocks until the client writes or closes stdin and cannot
        # be interrupted; everything durable is committed by now, so leave without waiting for it.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


@contextlib.contextmanager
def _on_stop_signals(*, first: Callable[[], None], again: Callable[[], Any]) -> Iterator[None]:
    """Call `first()` on the first SIGINT or SIGTERM, `again()` on any later one (procrastinate's rule).

    `TaskServer.request_stop()` stops the transport; leaving `async with server:` then gives running
    tools their shutdown grace. A second signal does not wait for it. Without a handler, SIGTERM
    would end the process at once, skipping the shutdown (leases stay held until they expire).
    """
    loop = asyncio.get_running_loop()
    received = 0

    def on_signal(signum: signal.Signals) -> None:
        nonlocal received
        received += 1
        if received == 1:
            logger.warning("%s received: stopping (send it again to stop at once)", signum.name)
            first()
        else:
            logger.warning("%s received again: stopping without the shutdown grace", signum.name)
            again()

    installed: list[signal.Signals] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows; not the main thread
            loop.add_signal_handler(signum, on_signal, signum)
            installed.append(signum)
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
