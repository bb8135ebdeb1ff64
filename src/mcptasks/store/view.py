"""`TaskView`: a bounded, in-process view of tasks that answers reads without SQL.

The database is the truth; the view only remembers what was committed (DESIGN §8). Entries are
written by the `Store` right after the COMMIT of its own changes (never before) and after reads; an
entry can be dropped at any time, and a miss simply reads the database.

What may be answered from it:

- a terminal task: it never changes again (until the ttl sweeper deletes it, which drops it here
  too, and an entry past its `expires_at` is not answered);
- an active task, only when the store knows that no other process changed the database since the
  entry was written (`Store` asks its connector, and drops every active entry when another process
  did: `drop_active`). Otherwise active tasks are read from the database.

Entries are kept in insertion order and the oldest are evicted beyond `capacity`, so memory stays
bounded however many tasks are stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mcptasks.core.model import InputRequest, TaskRecord, TaskResult

#: Entries kept by default: enough for the recent tasks clients poll; about 1-2 KB each.
DEFAULT_CAPACITY = 4096


@dataclass(slots=True)
class Entry:
    """One task as last committed."""

    record: TaskRecord
    #: The outcome of a terminal task (None for a cancelled one); unused while active.
    result: TaskResult | None
    #: Unanswered input requests in the order asked, or None when not known here.
    inputs: tuple[InputRequest, ...] | None


class TaskView:
    """Committed tasks by id (see module docstring)."""

    def __init__(self, *, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._entries: dict[str, Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, task_id: str, now: datetime) -> Entry | None:
        """The entry of `task_id`, unless it is a terminal task past its `expires_at` at `now`."""
        entry = self._entries.get(task_id)
        if entry is None:
            return None
        record = entry.record
        if record.is_terminal and record.expires_at is not None and record.expires_at <= now:
            del self._entries[task_id]
            return None
        return entry

    def peek(self, task_id: str) -> Entry | None:
        """The entry of `task_id` whatever its state (for updates that keep what they do not change)."""
        return self._entries.get(task_id)

    def put(
        self,
        record: TaskRecord,
        *,
        result: TaskResult | None = None,
        inputs: tuple[InputRequest, ...] | None = None,
    ) -> None:
        """Remember `record` as committed, with its outcome or its unanswered questions when known."""
        entries = self._entries
        entries.pop(record.task_id, None)  # re-insert: the newest change is the last evicted
        entries[record.task_id] = Entry(record, result, None if record.is_terminal else inputs)
        if len(entries) > self.capacity:
            del entries[next(iter(entries))]

    def update(self, record: TaskRecord, *, inputs: tuple[InputRequest, ...] | None = None) -> None:
        """Replace the record of an active entry, keeping what is known of its questions."""
        previous = self._entries.get(record.task_id)
        known = inputs if inputs is not None else (previous.inputs if previous is not None else None)
        self.put(record, inputs=known)

    def drop(self, task_id: str) -> None:
        """Forget `task_id` (deleted, or changed in a way the view cannot follow)."""
        self._entries.pop(task_id, None)

    def drop_active(self) -> int:
        """Forget every active task (another process changed the database); returns how many."""
        active = [task_id for task_id, entry in self._entries.items() if not entry.record.is_terminal]
        for task_id in active:
            del self._entries[task_id]
        return len(active)

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()


__all__ = ["DEFAULT_CAPACITY", "Entry", "TaskView"]
