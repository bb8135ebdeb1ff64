"""The one kind of error the command line reports itself, and how any error becomes one line.

`CLIError` is a problem the user can fix; `main` prints it (and any `MCPTasksError`) as
`mcptasks: error: …` and exits 1. Nothing here prints.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from mcptasks.core.errors import MCPTasksError

if TYPE_CHECKING:
    from mcptasks.store.engine import URL


class CLIError(Exception):
    """A problem the user can fix, reported as one line and exit status 1."""


def first_line(text: str) -> str:
    """The first non-blank line of `text`, stripped ("" when there is none)."""
    lines = text.strip().splitlines()
    return lines[0].strip() if lines else ""


def exception_line(exc: BaseException) -> str:
    """`TypeName: first line of the message`, or the type name alone."""
    text = first_line(str(exc))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def one_line(exc: BaseException) -> str:
    """The error's message, then each cause's one-line text that the message does not already hold.

    A SQLAlchemy error stands for its driver error (`.orig`), whose text is short and carries no SQL.
    """
    parts = [exc.message if isinstance(exc, MCPTasksError) else first_line(str(exc))]
    seen = {id(exc)}
    cause = exc.__cause__
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        orig = getattr(cause, "orig", None)
        text = first_line(str(orig if isinstance(orig, BaseException) else cause))
        if text and not any(text in part for part in parts):
            parts.append(text)
        cause = cause.__cause__
    return ": ".join(part for part in parts if part)


@contextlib.contextmanager
def unreachable_as_error(url: URL) -> Iterator[None]:
    """Report a connection failure the store does not wrap (asyncpg raises `OSError`) as one line.

    Raises: CLIError naming the database (password masked) and the reason.
    """
    from mcptasks.store.engine import describe_url

    try:
        yield
    except OSError as exc:
        raise CLIError(f"cannot reach the database {describe_url(url)}: {exception_line(exc)}") from exc
