"""`python -m mcptasks.store [sqlite|postgresql]`: print every statement mcptasks runs, as SQL.

For operators and reviewers: the text each engine receives, with its name and description (the
serving path's `queries`, then the operator's `admin`).
"""

from __future__ import annotations

import itertools
import sys

from mcptasks.store import admin, queries
from mcptasks.store.statements import DIALECTS


def main(argv: list[str]) -> int:
    """Print the statements compiled for the engine named in `argv` (default sqlite)."""
    engine = argv[0] if argv else "sqlite"
    if engine not in DIALECTS:
        print(f"usage: python -m mcptasks.store [{'|'.join(DIALECTS)}]", file=sys.stderr)
        return 2
    for statement in itertools.chain(queries.all_statements(), admin.all_statements()):
        print(f"-- {statement.name}: {statement.description}\n{statement.compiled(engine).sql};\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
