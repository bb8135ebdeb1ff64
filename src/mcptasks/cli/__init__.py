"""`mcptasks`: the command line.

    mcptasks serve [APP | --demo]    serve a TaskServer's tools over Streamable HTTP or stdio
    mcptasks db upgrade [--sql]      migrate the database to the newest schema (or print the SQL)
    mcptasks db current              print the schema revision of the database
    mcptasks tasks list              the newest tasks of every owner, as a table or JSON
    mcptasks tasks show ID           one task: fields, outcome, history, input requests

Every option takes its default from an environment variable `MCPTASKS_<NAME>`, named in `--help`
(procrastinate's `add_argument(envvar=…)`); this package is the only part of mcptasks that reads the
environment, and the only one that installs signal handlers. A failure the user can fix (a bad
option, a database that cannot be opened or is not migrated, an APP that does not import) prints
one line, `mcptasks: error: …`, to stderr and exits 1; `--log-level DEBUG` adds the traceback.

The `tasks` commands read the store directly and unscoped (the `admin_*` verbs). They never
migrate and never start an executor, so running them against a live database changes nothing.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence

from mcptasks import __version__
from mcptasks.cli.apps import DEMO_APP, load_app
from mcptasks.cli.db import cmd_db_current, cmd_db_upgrade
from mcptasks.cli.errors import CLIError, one_line
from mcptasks.cli.options import AppendAll, Flag, add, int_between, one_of, statuses, words
from mcptasks.cli.serve import cmd_serve
from mcptasks.cli.tasks import cmd_tasks_list, cmd_tasks_show
from mcptasks.core.errors import MCPTasksError
from mcptasks.runtime.options import (
    CANCEL_GRACE_S,
    DEFAULT_POLL_INTERVAL_MS,
    DEFAULT_TTL_MS,
    LEASE_DURATION_S,
    MAX_TTL_MS,
    SHUTDOWN_GRACE_S,
)

__all__ = ["build_parser", "load_app", "main"]

DEFAULT_DB = "mcptasks.db"
DEFAULT_TRANSPORT = "http"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_LOG_LEVEL = "WARNING"
DEFAULT_LIST_LIMIT = 50

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
TRANSPORTS = ("http", "stdio")


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
    add(
        common,
        "--db",
        env="DB",
        default=DEFAULT_DB,
        metavar="PATH_OR_URL",
        help="the task database: a SQLite file path, sqlite:///PATH or postgresql://USER:PASSWORD@HOST/NAME",
    )
    add(
        common,
        "--log-level",
        env="LOG_LEVEL",
        default=DEFAULT_LOG_LEVEL,
        type=one_of(LOG_LEVELS, upper=True),
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
    add(
        serve,
        "app",
        env="APP",
        nargs="?",
        metavar="APP",
        help="the TaskServer to serve: module:attribute (imported from the current directory) "
        "or path/to/file.py:attribute",
    )
    add(serve, "--demo", env="DEMO", action=Flag, help=f"serve the demo tools ({DEMO_APP}) instead of APP")
    add(
        serve,
        "--transport",
        env="TRANSPORT",
        default=DEFAULT_TRANSPORT,
        type=one_of(TRANSPORTS),
        metavar="{" + ",".join(TRANSPORTS) + "}",
        help="http: Streamable HTTP at /mcp; stdio: JSON-RPC over stdin and stdout",
    )
    add(serve, "--host", env="HOST", default=DEFAULT_HOST, help="interface to listen on (http)")
    add(
        serve,
        "--port",
        env="PORT",
        default=DEFAULT_PORT,
        type=int_between(1, 65535),
        help="TCP port to listen on (http)",
    )
    add(
        serve,
        "--no-migrate",
        env="NO_MIGRATE",
        action=Flag,
        help="do not migrate the database at start-up; refuse to start unless it is at the newest revision",
    )
    add(
        serve,
        "--default-ttl-ms",
        env="DEFAULT_TTL_MS",
        default=DEFAULT_TTL_MS,
        type=int_between(1, 2**53 - 1),
        help="ttl of a task whose client asks for none, in ms",
    )
    add(
        serve,
        "--max-ttl-ms",
        env="MAX_TTL_MS",
        default=MAX_TTL_MS,
        type=int_between(1, 2**53 - 1),
        help="largest ttl a client may ask for, in ms (larger requests are capped)",
    )
    add(
        serve,
        "--poll-interval-ms",
        env="POLL_INTERVAL_MS",
        default=DEFAULT_POLL_INTERVAL_MS,
        type=int_between(1, 86_400_000),
        help="polling interval suggested to clients, in ms",
    )
    leases = serve.add_argument_group(
        "Leases (how fast a task whose server died is recovered, and how long tools get to stop)"
    )
    add(
        leases,
        "--lease-ms",
        env="LEASE_MS",
        default=int(LEASE_DURATION_S * 1000),
        type=int_between(300, 86_400_000),
        help="how long a worker's lease on its task lasts unless renewed, in ms; renewed every "
        "third of it, and a dead server's tasks are recovered within it",
    )
    add(
        leases,
        "--cancel-grace-ms",
        env="CANCEL_GRACE_MS",
        default=int(CANCEL_GRACE_S * 1000),
        type=int_between(0, 86_400_000),
        help="how long a cancelled tool may ignore its cancellation before it is cancelled hard, in ms",
    )
    add(
        leases,
        "--shutdown-grace-ms",
        env="SHUTDOWN_GRACE_MS",
        default=int(SHUTDOWN_GRACE_S * 1000),
        type=int_between(0, 86_400_000),
        help="how long running tools may take to finish when the server stops, in ms",
    )
    auth = serve.add_argument_group(
        "OAuth (Streamable HTTP only; stdio is never authenticated)",
        "Give --auth-issuer and --auth-resource, and either --auth-jwks-uri (JWT access tokens) or "
        "--auth-introspection-url with --auth-client-id and --auth-client-secret (opaque tokens).",
    )
    add(
        auth,
        "--auth-issuer",
        env="AUTH_ISSUER",
        metavar="URL",
        help="the authorization server's issuer; a token's iss must equal it exactly",
    )
    add(
        auth,
        "--auth-resource",
        env="AUTH_RESOURCE",
        metavar="URL",
        help="this server's canonical URL, e.g. https://mcp.example.com/mcp; tokens must name it in aud",
    )
    add(
        auth,
        "--auth-jwks-uri",
        env="AUTH_JWKS_URI",
        metavar="URL",
        help="the issuer's JWKS, to verify JWT access tokens",
    )
    add(
        auth,
        "--auth-introspection-url",
        env="AUTH_INTROSPECTION_URL",
        metavar="URL",
        help="the issuer's RFC 7662 introspection endpoint, to verify opaque tokens",
    )
    add(
        auth,
        "--auth-client-id",
        env="AUTH_CLIENT_ID",
        metavar="ID",
        help="this server's client id at the issuer (introspection)",
    )
    add(
        auth,
        "--auth-client-secret",
        env="AUTH_CLIENT_SECRET",
        metavar="SECRET",
        help="this server's client secret at the issuer (introspection); prefer the environment variable",
    )
    add(
        auth,
        "--auth-required-scope",
        env="AUTH_REQUIRED_SCOPE",
        metavar="SCOPE",
        action=AppendAll,
        type=words,
        dest="auth_required_scope",
        help="a scope every request must carry (repeatable; the variable takes a space-separated list)",
    )
    add(
        auth,
        "--auth-token-type",
        env="AUTH_TOKEN_TYPE",
        metavar="TYP",
        action=AppendAll,
        type=words,
        dest="auth_token_type",
        help="accepted JWT typ values instead of at+jwt and application/at+jwt (repeatable), for issuers "
        "that send typ JWT",
    )
    add(
        serve,
        "--owner-scope",
        env="OWNER_SCOPE",
        default="client",
        type=one_of(("client", "user")),
        metavar="{client,user}",
        help="who owns a task of an authenticated caller: client = (issuer, subject, client id), so another "
        "client app of the same user cannot read it; user = (issuer, subject)",
    )
    serve.set_defaults(handler=cmd_serve, subparser=serve)

    db = commands.add_parser("db", help="migrate the database schema and check its revision")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    upgrade = db_commands.add_parser(
        "upgrade",
        parents=[common],
        help="migrate the database to the newest schema revision",
        description="Create or migrate the mcptasks tables (safe to run while servers are running, "
        "and on a database that is already current). Prints the revision reached.",
    )
    add(
        upgrade,
        "--sql",
        env="SQL",
        action=Flag,
        help="print the SQL of the migration for the database's dialect instead of running it "
        "(nothing connects to the database)",
    )
    upgrade.set_defaults(handler=cmd_db_upgrade)
    current = db_commands.add_parser(
        "current",
        parents=[common],
        help="print the schema revision of the database and whether it is the newest",
    )
    current.set_defaults(handler=cmd_db_current)

    tasks = commands.add_parser("tasks", help="inspect the tasks of every owner (read-only)")
    task_commands = tasks.add_subparsers(dest="tasks_command", required=True, metavar="COMMAND")
    listing = task_commands.add_parser(
        "list",
        parents=[common],
        help="list the newest tasks, of every owner",
        description="List tasks, newest first.",
    )
    add(
        listing,
        "--owner",
        env="OWNER",
        metavar="TEXT",
        help="only tasks whose owner key, OAuth subject or client id contains TEXT",
    )
    add(
        listing,
        "--status",
        env="STATUS",
        action=AppendAll,
        type=statuses,
        metavar="STATUS",
        help="only tasks in this status (repeatable, or comma-separated: working,input_required,"
        "completed,failed,cancelled)",
    )
    add(
        listing,
        "--limit",
        env="LIMIT",
        default=DEFAULT_LIST_LIMIT,
        type=int_between(1),
        metavar="N",
        help="show at most N tasks",
    )
    add(
        listing,
        "--json",
        env="JSON",
        action=Flag,
        help="print a JSON array of task objects instead of a table",
    )
    listing.set_defaults(handler=cmd_tasks_list)
    show = task_commands.add_parser(
        "show",
        parents=[common],
        help="show one task: fields, outcome, history and input requests",
    )
    show.add_argument("task_id", metavar="ID", help="the task id")
    add(show, "--json", env="JSON", action=Flag, help="print one JSON object instead of text")
    show.set_defaults(handler=cmd_tasks_show)
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
        print(f"mcptasks: error: {one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C before the serve loop installed its handlers
        return 130
    except BrokenPipeError:  # `mcptasks tasks list | head`: the reader left; say nothing more
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
