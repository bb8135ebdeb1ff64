"""Sans-I/O transaction programs: one definition of each verb's SQL, run by either engine.

A program is a generator that yields `Execute(statement, params)` and is sent back the `Result`;
its return value is the verb's answer. It does no I/O itself, so the SQLite connector runs it
synchronously inside a group-commit batch, and the PostgreSQL connector runs it with `await`s on a
pooled connection, from the same code (as httpx drives one `Auth.auth_flow` generator from both of
its clients). `transactions.py` holds the programs.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from mcptasks.store.statements import Statement

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Execute:
    """Run `statement` with `params` (name -> value, before conversion)."""

    statement: Statement
    params: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Result:
    """What a statement gave back: its rows (converted, by column name) and how many rows it changed."""

    rows: list[dict[str, Any]]
    #: Rows inserted, changed or deleted (for a change), else the number of rows returned.
    rowcount: int

    def first(self) -> dict[str, Any] | None:
        """The first row, or None."""
        return self.rows[0] if self.rows else None


#: A transaction program returning T.
Program = Generator[Execute, Result, T]
#: Something that makes a fresh program (a connector may run it again after a conflict).
ProgramFactory = Callable[[], Program[T]]


def run_sync(program: Program[T], execute: Callable[[Execute], Result]) -> T:
    """Drive `program` to its end, answering each `Execute` with `execute`; return its value.

    An exception raised by `execute` is thrown into the program (which normally lets it through).
    """
    try:
        step = next(program)
        while True:
            try:
                result = execute(step)
            except Exception as exc:
                step = program.throw(exc)
            else:
                step = program.send(result)
    except StopIteration as stop:
        value: T = stop.value
        return value


__all__ = ["Execute", "Program", "ProgramFactory", "Result", "run_sync"]
