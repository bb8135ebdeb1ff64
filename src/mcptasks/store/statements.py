"""Named SQL statements, compiled once per dialect from the `Table`s in `schema`.

A `Statement` holds a SQLAlchemy Core construct whose variable parts are named `bindparam`s. The
first time a connector runs it on a dialect, it is compiled to SQL text (`:name` for SQLite,
`$n` for asyncpg) together with the conversions its parameters and result columns need; every later
run reuses that. The drivers (`sqlite3`, `asyncpg`) then cache the prepared statement itself.

Conversions are decided by the column types of `schema`, so `tasks.arguments` (JSON) and
`tasks.created_at` (timezone-aware DateTime) read and write the same on both engines:

- JSON: written as compact JSON text, read back as Python values; None is SQL NULL.
- DateTime on SQLite: UTC text `YYYY-MM-DD HH:MM:SS.ffffff`, the format SQLAlchemy itself stores
  (rows written by earlier versions read the same, and text comparison orders times); read back as
  aware UTC. On PostgreSQL, `timestamptz` goes to and from the driver as an aware `datetime`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import JSON, DateTime
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import asyncpg as postgresql_asyncpg
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.types import TypeEngine

Codec = Callable[[Any], Any]

#: The dialects statements are compiled for, by engine name.
DIALECTS: dict[str, Dialect] = {
    "sqlite": sqlite.dialect(paramstyle="named"),
    "postgresql": postgresql_asyncpg.dialect(),  # type: ignore[no-untyped-call]
}


_JSON_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _json_dumps(value: Any) -> Any:
    return None if value is None else _JSON_ENCODER.encode(value)


def _json_loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _sqlite_datetime_out(value: Any) -> Any:
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
    # "YYYY-MM-DD HH:MM:SS.ffffff+00:00" without its offset.
    return value.isoformat(sep=" ", timespec="microseconds")[:26]


def _sqlite_datetime_in(value: Any) -> Any:
    if value is None:
        return None
    return datetime.fromisoformat(value + "+00:00")


def _aware(value: Any) -> Any:
    # asyncpg refuses naive datetimes for timestamptz; mcptasks only ever holds UTC.
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _encoder(type_: TypeEngine[Any], engine: str) -> Codec | None:
    if isinstance(type_, JSON):
        return _json_dumps
    if isinstance(type_, DateTime):
        return _sqlite_datetime_out if engine == "sqlite" else _aware
    return None


def _decoder(type_: TypeEngine[Any], engine: str) -> Codec | None:
    if isinstance(type_, JSON):
        return _json_loads
    if isinstance(type_, DateTime) and engine == "sqlite":
        return _sqlite_datetime_in
    return None


@dataclass(frozen=True, slots=True)
class Compiled:
    """A statement compiled for one engine: SQL text and the conversions of its values."""

    #: The SQL text, with `:name` (SQLite) or `$n` (PostgreSQL) placeholders.
    sql: str
    #: Parameter names in placeholder order (PostgreSQL), or None (named placeholders, SQLite).
    order: tuple[str, ...] | None
    #: Values of the parameters the construct fixed itself (e.g. a LIMIT of a subquery).
    fixed: Mapping[str, Any]
    #: Parameters every call must give (the statement's own `bindparam`s).
    required: frozenset[str]
    #: Parameter name -> conversion to the driver's value, for those that need one.
    encoders: Mapping[str, Codec]
    #: Result column names, in order (empty for a statement that returns no rows).
    columns: tuple[str, ...]
    #: Per result column: conversion from the driver's value, or None.
    decoders: tuple[Codec | None, ...]

    def parameters(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The driver's parameters for `values` (converted), as a name -> value mapping.

        Raises: KeyError naming a required parameter that `values` lacks.
        """
        missing = self.required - values.keys()
        if missing:
            raise KeyError(f"missing SQL parameters: {', '.join(sorted(missing))}")
        out = {**self.fixed, **values} if self.fixed else dict(values)
        for name, encode in self.encoders.items():
            if name in out:
                out[name] = encode(out[name])
        return out

    def positional(self, values: Mapping[str, Any]) -> list[Any]:
        """The driver's parameters for `values` in placeholder order (PostgreSQL)."""
        named = self.parameters(values)
        assert self.order is not None
        return [named[name] for name in self.order]

    def row(self, raw: tuple[Any, ...] | Any) -> dict[str, Any]:
        """One result row as a column name -> value dict, converted."""
        return {
            name: (value if decode is None else decode(value))
            for name, value, decode in zip(self.columns, raw, self.decoders, strict=True)
        }


@dataclass(eq=False)
class Statement:
    """One named statement (see module docstring); `compiled(engine)` gives its SQL text."""

    #: The statement's name, as it appears in logs ("insert_task", "finish_task", ...).
    name: str
    #: What it does, for operators reading `queries.py`.
    description: str
    #: The SQLAlchemy Core construct.
    construct: ClauseElement
    _compiled: dict[str, Compiled] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def compiled(self, engine: str) -> Compiled:
        """The statement compiled for `engine` ("sqlite" or "postgresql"), cached."""
        found = self._compiled.get(engine)
        if found is None:
            with self._lock:
                found = self._compiled.get(engine) or _compile(self.construct, engine)
                self._compiled[engine] = found
        return found

    def __repr__(self) -> str:
        return f"Statement({self.name!r})"


def _compile(construct: ClauseElement, engine: str) -> Compiled:
    dialect = DIALECTS[engine]
    compiled = cast(SQLCompiler, construct.compile(dialect=dialect))
    # Rendered name of each bound parameter (anonymous ones, such as a constant `+ 1`, get one).
    names: dict[str, BindParameter[Any]] = {name: bind for bind, name in compiled.bind_names.items()}
    required = frozenset(name for name, bind in names.items() if bind.required)
    fixed = {name: bind.effective_value for name, bind in names.items() if not bind.required}
    encoders: dict[str, Codec] = {}
    for name, bind in names.items():
        encoder = _encoder(bind.type, engine)
        if encoder is not None:
            encoders[name] = encoder
    columns: tuple[str, ...] = ()
    decoders: tuple[Codec | None, ...] = ()
    exported = getattr(construct, "exported_columns", None)
    if exported:  # a SELECT, or a change with RETURNING
        columns = tuple(column.key for column in exported)
        decoders = tuple(_decoder(column.type, engine) for column in exported)
    order = tuple(compiled.positiontup) if compiled.positiontup is not None else None
    return Compiled(
        sql=str(compiled),
        order=order,
        fixed=fixed,
        required=required,
        encoders=encoders,
        columns=columns,
        decoders=decoders,
    )


__all__ = ["DIALECTS", "Compiled", "Statement"]
