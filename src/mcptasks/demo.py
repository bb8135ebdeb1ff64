"""The demo app: a few tools worth watching as durable tasks (`mcptasks serve --demo`).

Each tool shows one thing a task can do: report progress per unit of real work (`hash_files`,
`count_primes`), stop promptly when cancelled (the long ones check their token between units), fail
(`always_fails`), ask the user mid-task and wait durably for the answer (`clean_up` asks once and
runs again after a restart; `guess_number` asks repeatedly), or declare how it may be called:
`quick_add` is optional, `find_duplicates` is required (only as a task), `server_time` is forbidden
(never as a task).

Demo tools are harmless: `clean_up` only lists what it would delete and never deletes anything.

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
from random import SystemRandom
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
#: Largest `older_than_days` that `clean_up` accepts (about 100 years).
CLEAN_UP_MAX_DAYS = 36_500
#: Files named in `clean_up`'s question at most; the result lists them all.
CLEAN_UP_SHOWN_FILES = 10
#: Largest `maximum` that `guess_number` accepts.
GUESS_MAX = 1_000_000
#: Most questions one `guess_number` game asks.
GUESS_MAX_TRIES = 20

INSTRUCTIONS = """\
Demo tools of mcptasks. Long-running tools (hash_files, find_duplicates, count_primes, count_to)
are best called as tasks: they report progress and can be cancelled. clean_up and guess_number ask
the user questions (elicitation) while they run. quick_add and server_time answer at once."""

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


def _old_files(root: Path, older_than_days: int) -> tuple[list[dict[str, Any]], bool]:
    """Regular files under `root` last modified more than `older_than_days` days ago.

    Returns `([{path, bytes, modified}], truncated)`, oldest first, paths relative to `root`;
    files that vanish or cannot be read while they are listed are left out.
    """
    paths, truncated = _list_files(root, HASH_FILES_MAX_FILES)
    cutoff = datetime.now(UTC).timestamp() - older_than_days * 86_400
    found: list[tuple[float, dict[str, Any]]] = []
    for path in paths:
        try:
            info = path.stat()
        except OSError:
            continue
        if info.st_mtime < cutoff:
            modified = datetime.fromtimestamp(info.st_mtime, UTC).isoformat(timespec="seconds")
            entry = {"path": path.relative_to(root).as_posix(), "bytes": info.st_size, "modified": modified}
            found.append((info.st_mtime, entry))
    found.sort(key=lambda pair: (pair[0], pair[1]["path"]))
    return [entry for _, entry in found], truncated


def _clean_up_question(root: Path, older_than_days: int, files: list[dict[str, Any]]) -> str:
    total = sum(entry["bytes"] for entry in files)
    shown = "\n".join(
        f"- {entry['path']} ({entry['bytes']:,} bytes)" for entry in files[:CLEAN_UP_SHOWN_FILES]
    )
    more = len(files) - CLEAN_UP_SHOWN_FILES
    if more > 0:
        shown += f"\n- ... and {more} more"
    return (
        f"Delete {len(files)} files ({total:,} bytes) under {root} not modified for {older_than_days} "
        f"days?\n{shown}\n(This is a demo: nothing will actually be deleted.)"
    )


#: The form `clean_up` shows: one required yes/no field.
CLEAN_UP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "confirm": {
            "type": "boolean",
            "title": "Delete these files",
            "description": "Check to delete the files listed (the demo only reports them).",
        }
    },
    "required": ["confirm"],
}


@server.tool(task_support="optional", on_restart="rerun")
async def clean_up(
    directory: str,
    older_than_days: Annotated[int, Field(ge=0, le=CLEAN_UP_MAX_DAYS)],
    task: TaskContext,
) -> dict[str, Any]:
    """Find the files under a directory not modified for `older_than_days` days, and ask the user
    whether to delete them. A harmless demo: it never deletes anything, it reports what it would
    have deleted.

    Lists regular files recursively (symbolic links are not followed; at most 10,000 files are
    looked at), then asks one yes/no question (elicitation) and waits for the answer, durably: if
    the server restarts meanwhile, the tool runs again and an answer already given is not asked
    for again. No question is asked when nothing matches.

    Returns `{directory, older_than_days, decision, would_delete: [{path, bytes, modified}],
    would_free_bytes, deleted: [], truncated}` where `decision` is "confirmed" (the user said
    yes), "kept" (said no), "declined" (refused to answer), "cancelled" (dismissed the question)
    or "nothing to do"; `would_delete` is empty unless confirmed. `{error}` when `directory` does
    not exist or is not a directory.
    """
    try:
        root = await asyncio.to_thread(_existing_directory, directory)
    except _UserError as exc:
        return {"error": str(exc)}
    files, truncated = await asyncio.to_thread(_old_files, root, older_than_days)
    decision = "nothing to do"
    if files:
        await task.set_status_message(f"found {len(files)} files older than {older_than_days} days; asking")
        answer = await task.elicit(_clean_up_question(root, older_than_days, files), CLEAN_UP_SCHEMA)
        if answer.action == "accept":
            decision = "confirmed" if (answer.content or {}).get("confirm") is True else "kept"
        else:
            decision = "declined" if answer.action == "decline" else "cancelled"
    chosen = files if decision == "confirmed" else []
    return {
        "directory": str(root),
        "older_than_days": older_than_days,
        "decision": decision,
        "would_delete": chosen,
        "would_free_bytes": sum(entry["bytes"] for entry in chosen),
        "deleted": [],
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


#: The form `guess_number` shows: one required integer field.
GUESS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"guess": {"type": "integer", "title": "Your guess"}},
    "required": ["guess"],
}


@server.tool(task_support="optional")
async def guess_number(
    maximum: Annotated[int, Field(ge=2, le=GUESS_MAX)], task: TaskContext
) -> dict[str, Any]:
    """Play a guessing game with the user: think of a number from 1 to `maximum` and ask the user
    to guess it (elicitation), answering "higher" or "lower", until found or 20 guesses.

    Every guess is a separate question, so the task turns `input_required` once per guess. The
    number is picked at random and kept only in memory: if the server restarts mid-game, the task
    fails rather than asking again (its `on_restart` is "fail").

    Returns `{maximum, number, guesses: [int], outcome}` where `outcome` is "found", "gave up"
    (the user declined or dismissed a question, or sent no number) or "out of guesses".
    """
    number = SystemRandom().randint(1, maximum)
    guesses: list[int] = []
    hint = f"I am thinking of a number from 1 to {maximum}. Your guess?"
    outcome = "out of guesses"
    while len(guesses) < GUESS_MAX_TRIES:
        answer = await task.elicit(hint, GUESS_SCHEMA)
        guess = (answer.content or {}).get("guess")
        if answer.action != "accept" or not isinstance(guess, int) or isinstance(guess, bool):
            outcome = "gave up"
            break
        guesses.append(guess)
        if guess == number:
            outcome = "found"
            break
        direction = "higher" if guess < number else "lower"
        await task.set_status_message(f"{len(guesses)} guesses so far")
        hint = f"{guess} is wrong: the number is {direction}. Guess {len(guesses) + 1} of {GUESS_MAX_TRIES}?"
    return {"maximum": maximum, "number": number, "guesses": guesses, "outcome": outcome}


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
