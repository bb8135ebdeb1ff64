"""The demo app: a few tools worth watching as durable tasks (`mcptasks serve --demo`).

Each tool shows one thing a task can do: report progress per unit of real work (`hash_files`,
`count_primes`), stop promptly when cancelled (the long ones check their token between units), fail
(`always_fails`), or declare how it may be called: `quick_add` is optional, `find_duplicates` is
required (only as a task), `server_time` is forbidden (never as a task).

Tool docstrings are the descriptions a client shows its model, so they say what the tool returns.
Errors a user can fix (a directory that does not exist) come back as an `error` field of the
result; an exception is reserved for bugs and demonstrations, because its text never reaches the
client. This module does not import `mcp`: only `mcptasks.server` does.
"""

# No `from __future__ import annotations`: the tools' annotations are read when they are registered.

import asyncio
import hashlib
import math
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from time import monotonic
from typing import Annotated, Any

from pydantic import Field

from mcptasks import TaskContext, TaskServer, __version__

__all__ = ["server"]

#: Files hashed by one `hash_files` or `find_duplicates` call at most; the result says when it stopped.
HASH_FILES_MAX_FILES = 10_000
#: Bytes read from a file at a time while hashing; cancellation is checked between reads.
HASH_CHUNK_BYTES = 1 << 20
#: Shortest time between two status-message updates of a hashing tool, in seconds (each is a write).
STATUS_INTERVAL_S = 0.5
#: Largest `below` that `count_primes` accepts.
COUNT_PRIMES_MAX = 50_000_000
#: Numbers sieved per block by `count_primes`: one progress report and one yield per block.
SIEVE_BLOCK = 1_000_000

INSTRUCTIONS = """\
Demo tools of mcptasks. Long-running tools (hash_files, find_duplicates, count_primes, count_to)
are best called as tasks: they report progress and can be cancelled. quick_add and server_time
answer at once."""

server = TaskServer("mcptasks-demo", version=__version__, instructions=INSTRUCTIONS)


# -- files --------------------------------------------------------------------------------------


class _UserError(Exception):
    """A problem with the caller's input, answered as an `error` field (not a failed task)."""


def _existing_directory(directory: str) -> Path:
    root = Path(directory).expanduser().resolve()
    if not root.exists():
        raise _UserError(f"no such directory: {root}")
    if not root.is_dir():
        raise _UserError(f"not a directory: {root}")
    return root


def _list_files(root: Path, limit: int) -> tuple[list[Path], bool]:
    """Regular files under `root` in a stable order, at most `limit`; True when more were left out.

    Symbolic links are skipped, to files and to directories alike, so a link cannot lead outside
    `root` or into a cycle.
    """
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath, name)
            if path.is_symlink() or not path.is_file():
                continue
            if len(found) == limit:
                return found, True
            found.append(path)
    return found, False


def _sha256(path: Path, check_cancelled: Callable[[], None]) -> tuple[str, int]:
    """The SHA-256 hex digest and size in bytes of `path`, calling `check_cancelled()` between reads."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        while chunk := file.read(HASH_CHUNK_BYTES):
            check_cancelled()
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


async def _hash_tree(
    root: Path, task: TaskContext
) -> tuple[list[dict[str, Any]], list[dict[str, str]], bool]:
    """Hash every regular file under `root`: `(files, skipped, truncated)`.

    `files` holds `{path, sha256, bytes}` with paths relative to `root`; `skipped` holds
    `{path, reason}` for files that could not be read. File system work runs in threads, so the
    event loop stays free; progress is reported after each file.
    """
    paths, truncated = await asyncio.to_thread(_list_files, root, HASH_FILES_MAX_FILES)
    files: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    last_status = 0.0
    for index, path in enumerate(paths, start=1):
        task.check_cancelled()
        relative = path.relative_to(root).as_posix()
        try:
            # TaskCancelled raised in the thread (a large file) propagates here.
            digest, size = await asyncio.to_thread(_sha256, path, task.check_cancelled)
        except OSError as exc:  # unreadable, or removed since it was listed
            skipped.append({"path": relative, "reason": exc.strerror or type(exc).__name__})
        else:
            files.append({"path": relative, "sha256": digest, "bytes": size})
        await task.report_progress(index, total=len(paths), message=relative)
        if monotonic() - last_status >= STATUS_INTERVAL_S or index == len(paths):
            last_status = monotonic()
            await task.set_status_message(f"hashed {index} of {len(paths)} files")
    return files, skipped, truncated


@server.tool(task_support="optional")
async def hash_files(directory: str, task: TaskContext) -> dict[str, Any]:
    """Compute the SHA-256 digest of every regular file under a directory, recursively.

    Symbolic links are not followed. At most 10,000 files are hashed; `truncated` is true when the
    directory holds more. Progress is reported after each file, and the task can be cancelled.

    Returns `{directory, files: [{path, sha256, bytes}], total_bytes, skipped: [{path, reason}],
    truncated}` with paths relative to `directory`, or `{error}` when `directory` does not exist or
    is not a directory.
    """
    try:
        root = await asyncio.to_thread(_existing_directory, directory)
    except _UserError as exc:
        return {"error": str(exc)}
    files, skipped, truncated = await _hash_tree(root, task)
    return {
        "directory": str(root),
        "files": files,
        "total_bytes": sum(entry["bytes"] for entry in files),
        "skipped": skipped,
        "truncated": truncated,
    }


@server.tool(task_support="required")
async def find_duplicates(directory: str, task: TaskContext) -> dict[str, Any]:
    """Find files with identical content under a directory, by SHA-256 digest. Runs only as a task.

    Hashes every regular file (symbolic links are not followed; at most 10,000 files), reporting
    progress after each, then groups non-empty files whose digests match. Groups are sorted by the
    bytes a clean-up would free, largest first.

    Returns `{directory, files_scanned, groups: [{sha256, bytes, paths}], wasted_bytes, skipped,
    truncated}`, or `{error}` when `directory` does not exist or is not a directory.
    """
    try:
        root = await asyncio.to_thread(_existing_directory, directory)
    except _UserError as exc:
        return {"error": str(exc)}
    files, skipped, truncated = await _hash_tree(root, task)
    by_digest: dict[str, list[dict[str, Any]]] = {}
    for entry in files:
        if entry["bytes"] > 0:
            by_digest.setdefault(entry["sha256"], []).append(entry)
    groups = [
        {"sha256": digest, "bytes": same[0]["bytes"], "paths": [entry["path"] for entry in same]}
        for digest, same in by_digest.items()
        if len(same) > 1
    ]
    groups.sort(key=lambda group: group["bytes"] * (len(group["paths"]) - 1), reverse=True)
    return {
        "directory": str(root),
        "files_scanned": len(files),
        "groups": groups,
        "wasted_bytes": sum(group["bytes"] * (len(group["paths"]) - 1) for group in groups),
        "skipped": skipped,
        "truncated": truncated,
    }


# -- numbers ------------------------------------------------------------------------------------


def _primes_up_to(limit: int) -> list[int]:
    """Every prime `p <= limit` (a plain sieve of Eratosthenes)."""
    if limit < 2:
        return []
    flags = bytearray(b"\x01") * (limit + 1)
    flags[0:2] = b"\x00\x00"
    for p in range(2, math.isqrt(limit) + 1):
        if flags[p]:
            flags[p * p :: p] = bytes(len(range(p * p, limit + 1, p)))
    return [n for n, is_prime in enumerate(flags) if is_prime]


def _count_block(lo: int, hi: int, base: Sequence[int]) -> int:
    """How many primes `p` satisfy `lo <= p < hi`, given every prime up to `isqrt(hi - 1)` in `base`."""
    flags = bytearray(b"\x01") * (hi - lo)
    for p in base:
        if p * p >= hi:
            break
        start = max(p * p, -(-lo // p) * p)
        flags[start - lo :: p] = bytes(len(range(start - lo, hi - lo, p)))
    for n in (0, 1):
        if lo <= n < hi:
            flags[n - lo] = 0
    return flags.count(1)


@server.tool(task_support="optional")
async def count_primes(below: Annotated[int, Field(ge=0, le=COUNT_PRIMES_MAX)], task: TaskContext) -> int:
    """Count the prime numbers smaller than `below` (0 to 50,000,000) with a segmented sieve.

    Works through blocks of one million numbers, reporting progress and the count so far after
    each; the task can be cancelled between blocks. The largest count takes about a second.

    Returns the number of primes `p < below` (e.g. 25 for `below=100`).
    """
    if not 0 <= below <= COUNT_PRIMES_MAX:  # the input schema already refuses this
        raise ValueError(f"below must be between 0 and {COUNT_PRIMES_MAX}, got {below}")
    base = _primes_up_to(math.isqrt(max(below - 1, 0)))
    count = 0
    for lo in range(0, below, SIEVE_BLOCK):
        task.check_cancelled()
        hi = min(lo + SIEVE_BLOCK, below)
        count += _count_block(lo, hi, base)
        await task.report_progress(hi, total=below, message=f"{count:,} primes below {hi:,}")
        await task.set_status_message(f"{count:,} primes below {hi:,}")
        await asyncio.sleep(0)  # let the server answer requests between blocks
    return count


@server.tool(task_support="optional")
async def count_to(n: int, delay_ms: int, task: TaskContext) -> str:
    """Count from 1 to `n`, waiting `delay_ms` milliseconds after each step.

    Reports progress and a status message at every step and stops when cancelled: a simple,
    predictable way to watch a task's life. Returns `"counted to <n>"`.
    """
    for i in range(1, n + 1):
        task.check_cancelled()
        await task.report_progress(i, total=n, message=f"step {i}")
        await task.set_status_message(f"step {i} of {n}")
        await asyncio.sleep(delay_ms / 1000)
    return f"counted to {n}"


@server.tool(task_support="optional")
async def quick_add(a: int, b: int) -> int:
    """Add two integers and return the sum. Fast enough to call directly; a task works too."""
    return a + b


# -- outcomes and task support ------------------------------------------------------------------


@server.tool(task_support="optional")
async def always_fails(reason: str, task: TaskContext) -> str:
    """Fail on purpose, to show what a crashed tool looks like to a client.

    The task ends `failed` with a generic internal error: `reason` is written to the server's log
    but, like the text of any unexpected exception, never sent to the client.
    """
    await task.set_status_message("about to fail")
    raise RuntimeError(reason)


@server.tool(task_support="forbidden")
async def server_time() -> str:
    """Return the server's current time in UTC, ISO 8601 (e.g. `2026-01-02T03:04:05+00:00`).

    Answers at once and never runs as a task (its task support is "forbidden").
    """
    return datetime.now(UTC).isoformat(timespec="seconds")
