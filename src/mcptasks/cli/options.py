"""Options with environment defaults on top of argparse: each option's `MCPTASKS_*` variable."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from typing import Any

from mcptasks.core.status import TaskStatus

#: Prefix of every environment variable the CLI reads.
ENV_PREFIX = "MCPTASKS_"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


def _parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected 1/0, true/false, yes/no or on/off, got {text!r}")


def one_of(choices: Sequence[str], *, upper: bool = False) -> Callable[[str], str]:
    def convert(text: str) -> str:
        value = text.strip().upper() if upper else text.strip().lower()
        if value not in choices:
            raise argparse.ArgumentTypeError(f"expected one of {', '.join(choices)}, got {text!r}")
        return value

    return convert


def int_between(low: int, high: int | None = None) -> Callable[[str], int]:
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


def words(text: str) -> list[str]:
    """`a b,c` -> ["a", "b", "c"]: scopes, separated by spaces or commas."""
    return [word for word in text.replace(",", " ").split() if word]


def statuses(text: str) -> list[str]:
    """`working,failed` -> ["working", "failed"], each checked against `TaskStatus`."""
    known = [status.value for status in TaskStatus]
    values = [part.strip().lower() for part in text.split(",") if part.strip()]
    for value in values:
        if value not in known:
            raise argparse.ArgumentTypeError(f"expected statuses among {', '.join(known)}, got {value!r}")
    return values


class Flag(argparse.Action):
    """`--flag` sets True; its default may be an environment string, parsed by `_parse_bool`.

    argparse converts a string default with the action's `type` only when the option is absent,
    so a malformed environment value is reported only by the command that reads it.
    """

    def __init__(self, option_strings: Sequence[str], dest: str, default: Any = False, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=default, type=_parse_bool, **kwargs)

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        setattr(namespace, self.dest, True)


class AppendAll(argparse.Action):
    """A repeatable option whose `type` yields a list (`--status a,b --status c`); the command line
    replaces the environment's value."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        current = getattr(namespace, self.dest, None)
        items = list(current) if isinstance(current, list) else []  # a str is the env default
        items.extend(values)
        setattr(namespace, self.dest, items)


def add(parser: argparse._ActionsContainer, *flags: str, env: str, help: str, **kwargs: Any) -> None:
    """Add an option whose default is read from the environment variable `MCPTASKS_<env>`."""
    envvar = ENV_PREFIX + env
    if envvar in os.environ:
        kwargs["default"] = os.environ[envvar]
    shown = kwargs.get("default")
    if shown is not None and shown is not False and kwargs.get("action") is None:
        help += "; default: %(default)s"
    parser.add_argument(*flags, help=f"{help} (env: {envvar})", **kwargs)
