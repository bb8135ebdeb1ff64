"""`mcptasks`: the command line.

    mcptasks serve [APP | --demo]    serve a TaskServer's tools over Streamable HTTP or stdio
    mcptasks db upgrade [--sql]      migrate the database to the newest schema (or print the SQL)
    mcptasks db current              print the schema revision of the database
    mcptasks tasks list              the newest tasks of every owner, as a table or JSON
    mcptasks tasks show ID           one task: fields, outcome, history, input requests

Every option takes its default from an environment variable `MCPTASKS_<NAME>`, named in `--help`
(procrastinate's `add_argument(envvar=…)`); this is the only module of mcptasks that reads the
environment, and the only one that installs signal handlers. A failure the user can fix (a bad
option, a database that cannot be opened or is not migrated, an APP that does not import) prints
one line, `mcptasks: error: …`, to stderr and exits 1; `--log-level DEBUG` adds the traceback.

The `tasks` commands read the store directly and unscoped (the `admin_*` verbs). They never
migrate and never start an executor, so running them against a live database changes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import importlib
import importlib.util
import json
import logging
import os
import signal
import sys
import traceback
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from mcptasks import __version__
from mcptasks.auth.config import ACCESS_TOKEN_TYPES, AuthConfig
from mcptasks.core.errors import MCPTasksError
from mcptasks.core.model import TaskEvent, TaskRecord, TaskResult, as_utc
from mcptasks.core.status import TaskStatus
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
from mcptasks.server.inputs import CLIENT_REQUEST_TIMEOUT_S
from mcptasks.store.view import DEFAULT_CAPACITY as VIEW_CAPACITY

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from mcptasks import TaskServer
    from mcptasks.store.store import Store

__all__ = ["build_parser", "load_app", "main"]

logger = logging.getLogger("mcptasks.cli")

T = TypeVar("T")

#: Prefix of every environment variable the CLI reads.
ENV_PREFIX = "MCPTASKS_"
DEFAULT_DB = "mcptasks.db"
DEFAULT_TRANSPORT = "http"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_LOG_LEVEL = "WARNING"
DEFAULT_LIST_LIMIT = 50
#: What `serve --demo` serves.
DEMO_APP = "mcptasks.demo:server"
#: Widest status message in the `tasks list` table, in characters.
LIST_MESSAGE_WIDTH = 40

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
TRANSPORTS = ("http", "stdio")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


class CLIError(Exception):
    """A problem the user can fix, reported as one line and exit status 1."""


# -- options with environment defaults ---------------------------------------------------------


def _parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected 1/0, true/false, yes/no or on/off, got {text!r}")


def _one_of(choices: Sequence[str], *, upper: bool = False) -> Callable[[str], str]:
    def convert(text: str) -> str:
        value = text.strip().upper() if upper else text.strip().lower()
        if value not in choices:
            raise argparse.ArgumentTypeError(f"expected one of {', '.join(choices)}, got {text!r}")
        return value

    return convert


def _int_between(low: int, high: int | None = None) -> Callable[[str], int]:
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bounds = f"at least {low}" if high is None else f"between {low} and {high}"
            raise argparse.ArgumentTypeError(f"expected an integer {bounds}, got {value}")
        return value

    return convert


def _words(text: str) -> list[str]:
    """`a b,c` -> ["a", "b", "c"]: scopes, separated by spaces or commas."""
    return [word for word in text.replace(",", " ").split() if word]


def _statuses(text: str) -> list[str]:
    """`working,failed` -> ["working", "failed"], each checked against `TaskStatus`."""
    known = [status.value for status in TaskStatus]
    values = [part.strip().lower() for part in text.split(",") if part.strip()]
    for value in values:
        if value not in known:
            raise argparse.ArgumentTypeError(f"expected statuses among {', '.join(known)}, got {value!r}")
    return values


class _Flag(argparse.Action):
    """`--flag` sets True; its default may be an environment string, parsed by `_parse_bool`.

    argparse converts a string default with the action's `type` only when the option is absent,
    so a malformed environment value is reported only by the command that reads it.
    """

    def __init__(self, option_strings: Sequence[str], dest: str, default: Any = False, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=default, type=_parse_bool, **kwargs)

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        setattr(namespace, self.dest, True)


class _AppendAll(argparse.Action):
    """A repeatable option whose `type` yields a list (`--status a,b --status c`); the command line
    replaces the environment's value."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        current = getattr(namespace, self.dest, None)
        items = list(current) if isinstance(current, list) else []  # a str is the env default
        items.extend(values)
        setattr(namespace, self.dest, items)


def _add(parser: argparse._ActionsContainer, *flags: str, env: str, help: str, **kwargs: Any) -> None:
    """Add an option whose default is read from the environment variable `MCPTASKS_<env>`."""
    envvar = ENV_PREFIX + env
    if envvar in os.environ:
        kwargs["default"] = os.environ[envvar]
    shown = kwargs.get("default")
    if shown is not None and shown is not False and kwargs.get("action") is None:
        help += "; default: %(default)s"
    parser.add_argument(*flags, help=f"{help} (env: {envvar})", **kwargs)


def build_parser() -> argparse.ArgumentParser:
    """The `mcptasks` argument parser; option defaults are read from the environment now."""
    parser = argparse.ArgumentParser(
        prog="mcptasks",
        description="Durable MCP Tasks stored in SQL: serve tools as tasks, migrate and inspect the store.",
        epilog="Every option can also be set with the environment variable named in its help.",
    )
    parser.add_argument("--version", action="version", version=f"mcptasks {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    common = argparse.ArgumentParser(add_help=False)
    _add(
        common,
        "--db",
        env="DB",
        default=DEFAULT_DB,
        metavar="PATH_OR_URL",
        help="the task database: a SQLite file path, sqlite:///PATH or postgresql://USER:PASSWORD@HOST/NAME",
    )
    _add(
        common,
        "--log-level",
        env="LOG_LEVEL",
        default=DEFAULT_LOG_LEVEL,
        type=_one_of(LOG_LEVELS, upper=True),
        metavar="{" + ",".join(LOG_LEVELS) + "}",
        help="threshold of the log written to stderr; DEBUG also prints tracebacks of errors",
    )

    serve = commands.add_parser(
        "serve",
        parents=[common],
        help="serve a TaskServer's tools as durable tasks over MCP",
        description="Open the database (migrating it unless --no-migrate) and serve the app's tools over "
        "MCP Streamable HTTP at http://HOST:PORT/mcp, or over stdio. Stop with SIGINT or SIGTERM "
        "(or, for stdio, by closing stdin).",
    )
    _add(
        serve,
        "app",
        env="APP",
        nargs="?",
        metavar="APP",
        help="the TaskServer to serve: module:attribute (imported from the current directory) "
        "or path/to/file.py:attribute",
    )
    _add(serve, "--demo", env="DEMO", action=_Flag, help=f"serve the demo tools ({DEMO_APP}) instead of APP")
    _add(
        serve,
        "--transport",
        env="TRANSPORT",
        default=DEFAULT_TRANSPORT,
        type=_one_of(TRANSPORTS),
        metavar="{" + ",".join(TRANSPORTS) + "}",
        help="http: Streamable HTTP at /mcp; stdio: JSON-RPC over stdin and stdout",
    )
    _add(serve, "--host", env="HOST", default=DEFAULT_HOST, help="interface to listen on (http)")
    _add(
        serve,
        "--port",
        env="PORT",
        default=DEFAULT_PORT,
        type=_int_between(1, 65535),
        help="TCP port to listen on (http)",
    )
    _add(
        serve,
        "--no-migrate",
        env="NO_MIGRATE",
        action=_Flag,
        help="do not migrate the database at start-up; refuse to start unless it is at the newest revision",
    )
    _add(
        serve,
        "--default-ttl-ms",
        env="DEFAULT_TTL_MS",
        default=DEFAULT_TTL_MS,
        type=_int_between(1, 2**53 - 1),
        help="ttl of a task whose client asks for none, in ms",
    )
    _add(
        serve,
        "--max-ttl-ms",
        env="MAX_TTL_MS",
        default=MAX_TTL_MS,
        type=_int_between(1, 2**53 - 1),
        help="largest ttl a client may ask for, in ms (larger requests are capped)",
    )
    _add(
        serve,
        "--poll-interval-ms",
        env="POLL_INTERVAL_MS",
        default=DEFAULT_POLL_INTERVAL_MS,
        type=_int_between(1, 86_400_000),
        help="polling interval suggested to clients, in ms",
    )
    _add(
        serve,
        "--client-request-timeout-ms",
        env="CLIENT_REQUEST_TIMEOUT_MS",
        default=int(CLIENT_REQUEST_TIMEOUT_S * 1000),
        type=_int_between(1, 86_400_000),
        help="how long a 2025-11-25 client may take to answer a task's question, in ms; the question "
        "is then asked again on its next stream",
    )
    _add(
        serve,
        "--view-capacity",
        env="VIEW_CAPACITY",
        default=VIEW_CAPACITY,
        type=_int_between(1, 10_000_000),
        help="most tasks kept in memory to answer reads without SQL (about 1-2 KB each)",
    )
    leases = serve.add_argument_group(
        "Leases (how fast a task whose server died is recovered, and how long tools get to stop)"
    )
    _add(
        leases,
        "--lease-ms",
        env="LEASE_MS",
        default=int(LEASE_DURATION_S * 1000),
        type=_int_between(300, 86_400_000),
        help="how long a worker's lease on its task lasts unless renewed, in ms; renewed every "
        "third of it, and a dead server's tasks are recovered within it",
    )
    _add(
        leases,
        "--cancel-grace-ms",
        env="CANCEL_GRACE_MS",
        default=int(CANCEL_GRACE_S * 1000),
        type=_int_between(0, 86_400_000),
        help="how long a cancelled tool may ignore its cancellation before it is cancelled hard, in ms",
    )
    _add(
        leases,
        "--shutdown-grace-ms",
        env="SHUTDOWN_GRACE_MS",
        default=int(SHUTDOWN_GRACE_S * 1000),
        type=_int_between(0, 86_400_000),
        help="how long running tools may take to finish when the server stops, in ms",
    )
    auth = serve.add_argument_group(
        "OAuth (Streamable HTTP only; stdio is never authenticated)",
        "Give --auth-issuer and --auth-resource, and either --auth-jwks-uri (JWT access tokens) or "
        "--auth-introspection-url with --auth-client-id and --auth-client-secret (opaque tokens).",
    )
    _add(
        auth,
        "--auth-issuer",
        env="AUTH_ISSUER",
        metavar="URL",
        help="the authorization server's issuer; a token's iss must equal it exactly",
    )
    _add(
        auth,
        "--auth-resource",
        env="AUTH_RESOURCE",
        metavar="URL",
        help="this server's canonical URL, e.g. https://mcp.example.com/mcp; tokens must name it in aud",
    )
    _add(
        auth,
        "--auth-jwks-uri",
        env="AUTH_JWKS_URI",
        metavar="URL",
        help="the issuer's JWKS, to verify JWT access tokens",
    )
    _add(
        auth,
        "--auth-introspection-url",
        env="AUTH_INTROSPECTION_URL",
        metavar="URL",
        help="the issuer's RFC 7662 introspection endpoint, to verify opaque tokens",
    )
    _add(
        auth,
        "--auth-client-id",
        env="AUTH_CLIENT_ID",
        metavar="ID",
        help="this server's client id at the issuer (introspection)",
    )
    _add(
        auth,
        "--auth-client-secret",
        env="AUTH_CLIENT_SECRET",
        metavar="SECRET",
        help="this server's client secret at the issuer (introspection); prefer the environment variable",
    )
    _add(
        auth,
        "--auth-required-scope",
        env="AUTH_REQUIRED_SCOPE",
        metavar="SCOPE",
        action=_AppendAll,
        type=_words,
        dest="auth_required_scope",
        help="a scope every request must carry (repeatable; the variable takes a space-separated list)",
    )
    _add(
        auth,
        "--auth-token-type",
        env="AUTH_TOKEN_TYPE",
        metavar="TYP",
        action=_AppendAll,
        type=_words,
        dest="auth_token_type",
        help="accepted JWT typ values instead of at+jwt and application/at+jwt (repeatable), for issuers "
        "that send typ JWT",
    )
    _add(
        serve,
        "--owner-scope",
        env="OWNER_SCOPE",
        default="client",
        type=_one_of(("client", "user")),
        metavar="{client,user}",
        help="who owns a task of an authenticated caller: client = (issuer, subject, client id), so another "
        "client app of the same user cannot read it; user = (issuer, subject)",
    )
    serve.set_defaults(handler=_cmd_serve, subparser=serve)

    db = commands.add_parser("db", help="migrate the database schema and check its revision")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    upgrade = db_commands.add_parser(
        "upgrade",
        parents=[common],
        help="migrate the database to the newest schema revision",
        description="Create or migrate the mcptasks tables (safe to run while servers are running, "
        "and on a database that is already current). Prints the revision reached.",
    )
    _add(
        upgrade,
        "--sql",
        env="SQL",
        action=_Flag,
        help="print the SQL of the migration for the database's dialect instead of running it "
        "(nothing connects to the database)",
    )
    upgrade.set_defaults(handler=_cmd_db_upgrade)
    current = db_commands.add_parser(
        "current",
        parents=[common],
        help="print the schema revision of the database and whether it is the newest",
    )
    current.set_defaults(handler=_cmd_db_current)

    tasks = commands.add_parser("tasks", help="inspect the tasks of every owner (read-only)")
    task_commands = tasks.add_subparsers(dest="tasks_command", required=True, metavar="COMMAND")
    listing = task_commands.add_parser(
        "list",
        parents=[common],
        help="list the newest tasks, of every owner",
        description="List tasks, newest first.",
    )
    _add(
        listing,
        "--owner",
        env="OWNER",
        metavar="TEXT",
        help="only tasks whose owner key, OAuth subject or client id contains TEXT",
    )
    _add(
        listing,
        "--status",
        env="STATUS",
        action=_AppendAll,
        type=_statuses,
        metavar="STATUS",
        help="only tasks in this status (repeatable, or comma-separated: working,input_required,"
        "completed,failed,cancelled)",
    )
    _add(
        listing,
        "--limit",
        env="LIMIT",
        default=DEFAULT_LIST_LIMIT,
        type=_int_between(1),
        metavar="N",
        help="show at most N tasks",
    )
    _add(
        listing,
        "--json",
        env="JSON",
        action=_Flag,
        help="print a JSON array of task objects instead of a table",
    )
    listing.set_defaults(handler=_cmd_tasks_list)
    show = task_commands.add_parser(
        "show",
        parents=[common],
        help="show one task: fields, outcome, history and input requests",
    )
    show.add_argument("task_id", metavar="ID", help="the task id")
    _add(show, "--json", env="JSON", action=_Flag, help="print one JSON object instead of text")
    show.set_defaults(handler=_cmd_tasks_show)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `mcptasks` command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "serve" and bool(args.app) == bool(args.demo):
        args.subparser.error("give exactly one of APP and --demo")
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except (CLIError, MCPTasksError) as exc:
        if args.log_level == "DEBUG":
            traceback.print_exception(exc, file=sys.stderr)
        print(f"mcptasks: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C before the serve loop installed its handlers
        return 130
    except BrokenPipeError:  # `mcptasks tasks list | head`: the reader left; say nothing more
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


# -- error text ---------------------------------------------------------------------------------


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0].strip() if lines else ""


def _exception_line(exc: BaseException) -> str:
    text = _first_line(str(exc))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _one_line(exc: BaseException) -> str:
    """The error's message, then each cause's one-line text that the message does not already hold.

    A SQLAlchemy error stands for its driver error (`.orig`), whose text is short and carries no SQL.
    """
    parts = [exc.message if isinstance(exc, MCPTasksError) else _first_line(str(exc))]
    seen = {id(exc)}
    cause = exc.__cause__
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        orig = getattr(cause, "orig", None)
        text = _first_line(str(orig if isinstance(orig, BaseException) else cause))
        if text and not any(text in part for part in parts):
            parts.append(text)
        cause = cause.__cause__
    return ": ".join(part for part in parts if part)


# -- serve --------------------------------------------------------------------------------------


def load_app(spec: str) -> TaskServer:
    """Import the `TaskServer` named by `spec`: `module:attribute` or `path/to/file.py:attribute`.

    A module is imported with the current directory first on `sys.path`; a file is imported with its
    own directory first, so its sibling modules import as they would under `python file.py`.

    Raises: CLIError when the module or file does not import, lacks the attribute, or the attribute
    is not a `TaskServer`.
    """
    from mcptasks import TaskServer

    target, _, attribute = spec.rpartition(":")
    if not target or not attribute:
        raise CLIError(f"APP must be module:attribute or path/to/file.py:attribute, got {spec!r}")
    if target.endswith(".py") or "/" in target or os.sep in target:
        module = _import_file(Path(target))
    else:
        module = _import_module(target)
    found: Any = module
    for name in attribute.split("."):
        try:
            found = getattr(found, name)
        except AttributeError:
            raise CLIError(f"{target} has no attribute {attribute!r}") from None
    if not isinstance(found, TaskServer):
        raise CLIError(f"{spec} is a {type(found).__name__}, not a mcptasks.TaskServer")
    return found


def _import_module(name: str) -> ModuleType:
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            raise CLIError(f"cannot import {name!r}: no such module (looked in {cwd} and sys.path)") from exc
        raise CLIError(f"importing {name!r} failed: {_exception_line(exc)}") from exc
    except Exception as exc:
        raise CLIError(f"importing {name!r} failed: {_exception_line(exc)}") from exc


def _import_file(path: Path) -> ModuleType:
    path = path.expanduser().resolve()
    if not path.is_file():
        raise CLIError(f"cannot import {path}: no such file")
    stem = path.stem
    module_name = stem if stem.isidentifier() and stem not in sys.modules else "_mcptasks_app"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise CLIError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    sys.modules[module_name] = module  # dataclasses and pydantic look the module up while it runs
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise CLIError(f"importing {path} failed: {_exception_line(exc)}") from exc
    return module


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


def _cmd_serve(args: argparse.Namespace) -> int:
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
        client_request_timeout_s=int(args.client_request_timeout_ms) / 1000,
        view_capacity=int(args.view_capacity),
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
        else _words(args.auth_required_scope or "")
    )
    token_types = (
        args.auth_token_type if isinstance(args.auth_token_type, list) else _words(args.auth_token_type or "")
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
            with _unreachable_as_error(_url(args.db)):
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


# -- db -----------------------------------------------------------------------------------------


def _url(db: str) -> URL:
    from mcptasks.store.engine import database_url

    return database_url(db)


@contextlib.contextmanager
def _unreachable_as_error(url: URL) -> Iterator[None]:
    """Report a connection failure the store does not wrap (asyncpg raises `OSError`) as one line."""
    from mcptasks.store.engine import describe_url

    try:
        yield
    except OSError as exc:
        raise CLIError(f"cannot reach the database {describe_url(url)}: {_exception_line(exc)}") from exc


def _require_existing_file(url: URL) -> None:
    """Refuse a SQLite path that does not exist: connecting would create an empty file there."""
    from mcptasks.store.engine import is_memory

    if url.get_backend_name() == "sqlite" and not is_memory(url) and url.database:
        path = Path(url.database)
        if not path.exists():
            raise CLIError(f"no database at {path}: run `mcptasks db upgrade` to create it")


def _cmd_db_upgrade(args: argparse.Namespace) -> int:
    from mcptasks.store import migrate

    url = _url(args.db)
    if args.sql:
        sys.stdout.write(migrate.offline_sql(url))
        return 0
    return asyncio.run(_db_upgrade(url))


async def _db_upgrade(url: URL) -> int:
    from mcptasks.store import migrate
    from mcptasks.store.engine import create_engines, describe_url

    engines = create_engines(url)
    try:
        with _unreachable_as_error(url):
            before = await migrate.current_revision(engines)
            after = await migrate.upgrade(engines)
    finally:
        await engines.dispose()
    if before == after:
        print(f"{describe_url(url)} is already at revision {after} (head)")
    else:
        print(f"upgraded {describe_url(url)} from revision {before or 'none'} to {after} (head)")
    return 0


def _cmd_db_current(args: argparse.Namespace) -> int:
    url = _url(args.db)
    _require_existing_file(url)
    return asyncio.run(_db_current(url))


async def _db_current(url: URL) -> int:
    from mcptasks.store import migrate
    from mcptasks.store.engine import create_engines

    head = migrate.head_revision()
    engines = create_engines(url)
    try:
        with _unreachable_as_error(url):
            current = await migrate.current_revision(engines)
    finally:
        await engines.dispose()
    if current == head:
        print(f"{current} (head)")
    else:
        print(f"{current or 'none'} (not at head {head}: run `mcptasks db upgrade`)")
    return 0


# -- tasks --------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _admin_store(db: str) -> AsyncIterator[Store]:
    """Open the store read-only for the operator commands; the schema must be at the newest revision."""
    from mcptasks.store import migrate
    from mcptasks.store.engine import create_engines, describe_url
    from mcptasks.store.store import Store

    url = _url(db)
    _require_existing_file(url)
    head = migrate.head_revision()
    # The revision is read on alembic's engine, disposed before the store opens (store/engine.py).
    engines = create_engines(url)
    try:
        with _unreachable_as_error(url):
            current = await migrate.current_revision(engines)
    finally:
        await engines.dispose()
    if current != head:
        at = "has no mcptasks schema" if current is None else f"is at revision {current}"
        raise CLIError(
            f"the database {describe_url(url)} {at}, but this mcptasks reads revision {head}: "
            "run `mcptasks db upgrade`"
        )
    store = Store.for_url(url, readonly=True)
    with _unreachable_as_error(url):
        await store.open()
    try:
        yield store
    finally:
        await store.close()


def _cmd_tasks_list(args: argparse.Namespace) -> int:
    records = asyncio.run(_tasks_list(args.db, args.owner, list(args.status or ()), args.limit))
    if args.json:
        print(json.dumps([_record_json(record) for record in records], indent=2, default=_json_default))
    elif records:
        _print_table(records)
    else:
        print("no tasks", file=sys.stderr)
    return 0


async def _tasks_list(db: str, owner: str | None, statuses: list[str], limit: int) -> list[TaskRecord]:
    async with _admin_store(db) as store:
        return await store.admin_list_tasks(owner_like=owner or None, statuses=statuses or None, limit=limit)


@dataclasses.dataclass(frozen=True, slots=True)
class _Shown:
    """Everything `tasks show` prints about one task."""

    record: TaskRecord
    result: TaskResult | None
    events: list[TaskEvent]
    input_requests: list[dict[str, Any]]


def _cmd_tasks_show(args: argparse.Namespace) -> int:
    shown = asyncio.run(_tasks_show(args.db, args.task_id))
    if args.json:
        print(json.dumps(_shown_json(shown), indent=2, default=_json_default))
    else:
        _print_shown(shown)
    return 0


async def _tasks_show(db: str, task_id: str) -> _Shown:
    async with _admin_store(db) as store:
        found = await store.admin_get_task(task_id)
        if found is None:
            raise CLIError(f"no task with id {task_id!r}")
        record, result = found
        events = await store.admin_task_events(task_id)
        requests = await store.admin_input_requests(task_id)
    return _Shown(record, result, events, requests)


# -- rendering ----------------------------------------------------------------------------------


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _record_json(record: TaskRecord) -> dict[str, Any]:
    out = dataclasses.asdict(record)
    out["status"] = record.status.value
    return out


def _shown_json(shown: _Shown) -> dict[str, Any]:
    result = shown.result
    return {
        "task": _record_json(shown.record),
        "result": None if result is None else result.result,
        "error": None if result is None or result.error is None else result.error.to_json(),
        "events": [
            {
                "from_status": None if event.from_status is None else event.from_status.value,
                "to_status": event.to_status.value,
                "at": event.at,
                "message": event.message,
                "attempt": event.attempt,
            }
            for event in shown.events
        ],
        "input_requests": shown.input_requests,
    }


def _when(value: datetime | None) -> str:
    return "-" if value is None else as_utc(value).strftime("%Y-%m-%d %H:%M:%S")


def _truncate(text: str | None, width: int) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def _owner_label(record: TaskRecord) -> str:
    """Subject for a principal, a short key for a session, else the kind."""
    if record.owner_kind == "principal":
        return record.owner_subject or record.owner_key
    if record.owner_kind == "session":
        return record.owner_key[: len("session:") + 8]
    return record.owner_kind


def _print_table(records: Sequence[TaskRecord]) -> None:
    header = ("TASK ID", "STATUS", "TOOL", "OWNER", "CREATED (UTC)", "UPDATED (UTC)", "MESSAGE")
    rows = [
        (
            record.task_id,
            record.status.value,
            record.tool_name,
            _owner_label(record),
            _when(record.created_at),
            _when(record.last_updated_at),
            _truncate(record.status_message, LIST_MESSAGE_WIDTH),
        )
        for record in records
    ]
    widths = [max(len(row[column]) for row in (header, *rows)) for column in range(len(header) - 1)]
    for row in (header, *rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]).rstrip())


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=_json_default)


def _indented(value: Any, prefix: str = "    ") -> str:
    text = json.dumps(value, indent=2, ensure_ascii=False, default=_json_default)
    return "\n".join(prefix + line for line in text.splitlines())


def _print_tool_result(result: dict[str, Any]) -> None:
    """A stored `CallToolResult`: its structured content, else its content blocks (text as is)."""
    print("result (isError: true):" if result.get("isError") else "result:")
    if result.get("structuredContent") is not None:
        print(_indented(result["structuredContent"]))
        return
    for block in result.get("content") or []:
        if isinstance(block, dict) and block.get("type") == "text":
            print("\n".join("    " + line for line in str(block.get("text", "")).splitlines()))
        elif isinstance(block, dict):
            print(f"    [{block.get('type')} content: {block.get('mimeType') or block.get('uri') or '-'}]")


def _print_shown(shown: _Shown) -> None:
    record = shown.record
    if record.owner_kind == "principal":
        owner = (
            f"principal subject={record.owner_subject} client={record.owner_client_id} "
            f"issuer={record.owner_issuer}"
        )
    elif record.owner_kind == "session":
        owner = f"session {record.owner_key}"
    else:
        owner = "capability (anonymous: the task id is the key)"
    if record.ttl_ms is None:
        expires = "never (unlimited ttl)"
    else:
        expires = f"{_when(record.expires_at)} UTC (ttl {record.ttl_ms} ms)"
    lease = (
        "none"
        if record.lease_node is None
        else f"{record.lease_node} until {_when(record.lease_expires_at)} UTC"
    )
    fields = [
        ("task", record.task_id),
        ("tool", record.tool_name),
        ("status", f"{record.status.value} (attempt {record.attempt})"),
        ("message", record.status_message or "-"),
        ("owner", owner),
        ("wire", record.wire),
        ("created", f"{_when(record.created_at)} UTC"),
        ("updated", f"{_when(record.last_updated_at)} UTC"),
        ("expires", expires),
        ("poll every", "-" if record.poll_interval_ms is None else f"{record.poll_interval_ms} ms"),
        ("lease", lease),
        ("progress token", "-" if record.progress_token is None else _compact(record.progress_token)),
        ("arguments", _compact(record.arguments)),
    ]
    width = max(len(label) for label, _ in fields)
    for label, value in fields:
        print(f"{label.ljust(width)}  {value}")

    print()
    result = shown.result
    if result is None:
        print("outcome: none" + ("" if record.is_terminal else " yet (the task is still active)"))
    else:
        if result.result is not None:
            _print_tool_result(result.result)
        if result.error is not None:
            print(f"error: {result.error.code} {result.error.message}")
            if result.error.data is not None:
                print(_indented(result.error.data))

    print()
    print("history:")
    for event in shown.events:
        source = "(created)" if event.from_status is None else event.from_status.value
        line = f"  {_when(event.at)}  {source} -> {event.to_status.value}  attempt {event.attempt}"
        print(line + (f"  {_truncate(event.message, 80)}" if event.message else ""))
    if not shown.events:
        print("  (none)")

    print()
    print("input requests:")
    for request in shown.input_requests:
        answered = request.get("answered_at")
        state = "pending" if answered is None else f"answered {_when(answered)}"
        asked = _when(request.get("created_at"))
        print(f"  {request.get('request_key')}  {request.get('method')}  asked {asked}  {state}")
        print(f"    params:   {_compact(request.get('params'))}")
        if answered is not None:
            print(f"    response: {_compact(request.get('response'))}")
    if not shown.input_requests:
        print("  (none)")


if __name__ == "__main__":
    sys.exit(main())
