"""`mcptasks`: the command line.

    mcptasks serve [APP | --demo]    serve a TaskServer's tools over Streamable HTTP or stdio
    mcptasks db upgrade [--sql]      migrate the database to the newest schema (or print the SQL)
    mcptasks db current [--json]     print the schema revision of the database
    mcptasks tasks list              the newest tasks of every owner, as a table or JSON
    mcptasks tasks show ID           one task: fields, outcome, history, input requests

One module per command group (`serve`, `db`, `tasks`), each with its settings model and `register`;
`settings` turns a model into options whose values come from the command line, else the
environment variable `MCPTASKS_<NAME>` named in `--help`, else the default. This package is the
only part of mcptasks that reads the environment, and the only one that installs signal handlers
(`process`).

A failure the user can fix prints one line, `mcptasks: error: …`, to stderr, naming what is at
fault (the option or variable, file, folder, port) and the fix: an invalid option or variable, or a
command line argparse cannot parse, exits 2 (with a hint, try `mcptasks COMMAND --help`, never
the usage block); a database that cannot be opened or is not migrated, a folder that cannot hold it, a
port in use, an APP that does not import, inconsistent options exit 1, and `--log-level DEBUG`
adds the traceback. `mcptasks` without a command (or `mcptasks db` without one of its commands)
prints that command's help to stdout and exits 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from mcptasks import __version__
from mcptasks.cli import db, serve, tasks
from mcptasks.cli.apps import load_app
from mcptasks.cli.errors import CLIError, one_line
from mcptasks.cli.settings import CommandSettings, SettingsError
from mcptasks.core.errors import MCPTasksError
from mcptasks.observe import logs

__all__ = ["build_parser", "load_app", "main"]

#: Exit status of an invalid option or environment variable (argparse's for a usage error).
USAGE_ERROR = 2


class Parser(argparse.ArgumentParser):
    """argparse's parser, whose syntax errors are one line pointing to `--help` (not the usage
    block), and a missing command prints the help of the command group."""

    #: The `prog` of the (sub)command the command line names, for the hint of `error`.
    hint: str | None = None

    def error(self, message: str) -> NoReturn:
        """Print `mcptasks: error: MESSAGE; try `PROG --help`` (or, for a missing command, the
        help) and exit 2."""
        if message.endswith("required: COMMAND"):
            self.print_help()
            self.exit(USAGE_ERROR)
        self.exit(USAGE_ERROR, f"mcptasks: error: {message}; try `{self.hint or self.prog} --help`\n")


def _named_command(parser: argparse.ArgumentParser, argv: Sequence[str]) -> str:
    """The `prog` of the deepest command `argv` names (`mcptasks tasks list`), else `mcptasks`."""
    current = parser
    for word in argv:
        actions = [a for a in current._actions if isinstance(a, argparse._SubParsersAction)]
        found = actions[0].choices.get(word) if actions else None
        if found is None:
            break
        current = found
    return current.prog


def build_parser() -> argparse.ArgumentParser:
    """The `mcptasks` argument parser: one subcommand per command, each with its settings' options.

    Only what the command line gives is recorded in the parsed namespace; the environment and the
    defaults are applied by the command's settings model (`CommandSettings.load`).
    """
    parser: argparse.ArgumentParser = Parser(
        prog="mcptasks",
        description="Durable MCP Tasks stored in SQL: serve tools as tasks, migrate and inspect the store.",
        epilog="Every option can also be set with the environment variable named in its help.",
    )
    parser.add_argument("--version", action="version", version=f"mcptasks {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve.register(commands)
    db.register(commands)
    tasks.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `mcptasks` command line; returns the exit status (0, 1, 2, or 130 after a signal)."""
    parser = build_parser()
    words = sys.argv[1:] if argv is None else list(argv)
    if not words:  # `mcptasks` alone: what can it do?
        parser.print_help()
        return USAGE_ERROR
    assert isinstance(parser, Parser)
    parser.hint = _named_command(parser, words)
    args = parser.parse_args(words)
    model: type[CommandSettings] = args.settings
    run: Callable[[Any, argparse.Namespace], int] = args.run
    try:
        settings = model.load(args)
    except SettingsError as exc:
        print(f"mcptasks: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    logs.configure(settings.log_level, settings.log_format)
    try:
        if settings.prepare_db_folder:
            settings.prepare_db(write=False)
        return run(settings, args)
    except SettingsError as exc:
        print(f"mcptasks: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except (CLIError, MCPTasksError) as exc:
        if settings.log_level == "DEBUG":
            traceback.print_exception(exc, file=sys.stderr)
        print(f"mcptasks: error: {one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C before the serve loop installed its handlers
        return 130
    except BrokenPipeError:  # `mcptasks tasks list | head`: the reader left; say nothing more
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
