"""Where the task database lives when no `--db` is given, and the checks on its folder.

Without `--db` (or `MCPTASKS_DB`) every command uses `mcptasks.db` in the user's data folder, as
platformdirs names it (`user_data_dir("mcptasks")`): `$XDG_DATA_HOME/mcptasks` (else
`~/.local/share/mcptasks`) on Linux, `~/Library/Application Support/mcptasks` on macOS,
`%LOCALAPPDATA%\\mcptasks` on Windows. So a server started from any directory (a desktop client
starts stdio servers in `/`, or wherever it likes) finds the same tasks, and nothing is written
into the working directory unless asked (`--db mcptasks.db`).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from mcptasks.cli.errors import CLIError

#: The database's file name in the user's data folder.
DEFAULT_DB_NAME = "mcptasks.db"
#: How the fix of a folder problem is spelled in error lines.
_FIX = "give the database another place with --db PATH (or MCPTASKS_DB)"


def data_folder() -> Path:
    """The user's data folder of mcptasks (platformdirs' `user_data_dir`); it may not exist yet."""
    return Path(platformdirs.user_data_dir("mcptasks", appauthor=False))


def default_db() -> str:
    """The database of a command given no `--db`: `mcptasks.db` in `data_folder()`, as a path."""
    return str(data_folder() / DEFAULT_DB_NAME)


def sqlite_folder(db: str) -> Path | None:
    """The folder of the SQLite file `db` names (a path or `sqlite:///PATH`), absolute; None for
    PostgreSQL, an in-memory database, or a value that is no database URL (reported elsewhere)."""
    from mcptasks.core.errors import ConfigurationError
    from mcptasks.store.engine import database_url, is_memory

    try:
        url = database_url(db)
    except (ConfigurationError, ValueError):
        return None
    if url.get_backend_name() != "sqlite" or is_memory(url) or not url.database:
        return None
    return Path(url.database).parent


def prepare_folder(db: str, *, default: bool, write: bool) -> None:
    """Make sure the folder of the SQLite database `db` can hold it, before anything opens it.

    `default`: `db` is `default_db()`, whose folder is created (mode 0700) on first use. `write`:
    the command creates or writes the database, so the folder must be writable too (SQLite keeps
    its `-wal` and `-shm` files beside the database). Nothing to do for PostgreSQL.

    Raises: CLIError naming the folder and the fix (`--db PATH`) when it cannot be created, does
    not exist, is not a folder, or (`write`) cannot be written.
    """
    folder = sqlite_folder(db)
    if folder is None:
        return
    if default and not folder.exists():
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise CLIError(f"cannot create the folder {folder} ({exc.strerror or exc}): {_FIX}") from None
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise CLIError(f"the database's folder {folder} {what}: create it, or {_FIX}")
    if write and not os.access(folder, os.W_OK | os.X_OK):
        raise CLIError(f"the database's folder {folder} is not writable: {_FIX}")
