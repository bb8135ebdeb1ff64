"""The task status machine shared by both task wires.

Spec: MCP 2025-11-25 `basic/utilities/tasks` "Task Status Lifecycle"; SEP-2663 "Task Status State
Diagram". The store's compare-and-set predicates and the tests both read `TRANSITIONS`, so the
table below is the one definition of what may follow what.

    working <-> input_required -> completed | failed | cancelled   (terminal, absorbing)
"""

from __future__ import annotations

from enum import StrEnum


class TaskStatus(StrEnum):
    """Status of a task, spelled as on the wire."""

    #: The tool is running (every task starts here).
    WORKING = "working"
    #: The tool waits for the client to answer an elicitation or sampling request.
    INPUT_REQUIRED = "input_required"
    #: The tool returned a result (a `CallToolResult`, possibly with `isError: true`).
    COMPLETED = "completed"
    #: The tool raised a JSON-RPC error, crashed, was interrupted or its ttl ran out.
    FAILED = "failed"
    #: The client cancelled the task before it finished.
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """True for `completed`, `failed` and `cancelled`: such a status never changes again."""
        return self in TERMINAL


#: Statuses that never change again.
TERMINAL: frozenset[TaskStatus] = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED})

#: Statuses of a task whose tool may still be running.
ACTIVE: frozenset[TaskStatus] = frozenset({TaskStatus.WORKING, TaskStatus.INPUT_REQUIRED})

#: Allowed moves: `TRANSITIONS[from]` is the set of statuses that may follow `from`.
TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.WORKING: frozenset(
        {TaskStatus.INPUT_REQUIRED, TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED}
    ),
    TaskStatus.INPUT_REQUIRED: frozenset(
        {TaskStatus.WORKING, TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED}
    ),
    TaskStatus.COMPLETED: frozenset(),
    TaskStatus.FAILED: frozenset(),
    TaskStatus.CANCELLED: frozenset(),
}


def allowed_sources(target: TaskStatus) -> frozenset[TaskStatus]:
    """The statuses from which `target` may be reached: the compare-and-set predicate of a move."""
    return frozenset(source for source, targets in TRANSITIONS.items() if target in targets)


def can_transition(source: TaskStatus, target: TaskStatus) -> bool:
    """Whether a task in `source` may move to `target`."""
    return target in TRANSITIONS[source]
