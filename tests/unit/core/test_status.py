"""The status machine: `TRANSITIONS` is the single definition the store's CAS predicates read."""

from __future__ import annotations

import itertools

import pytest

from mcptasks.core.status import (
    ACTIVE,
    TERMINAL,
    TRANSITIONS,
    TaskStatus,
    allowed_sources,
    can_transition,
)

ALL = list(TaskStatus)


def test_wire_spelling() -> None:
    assert [s.value for s in TaskStatus] == ["working", "input_required", "completed", "failed", "cancelled"]


def test_table_covers_every_status() -> None:
    assert set(TRANSITIONS) == set(TaskStatus)


def test_active_and_terminal_partition_the_statuses() -> None:
    assert set(TaskStatus) == ACTIVE | TERMINAL
    assert not ACTIVE & TERMINAL
    assert {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED} == TERMINAL


@pytest.mark.parametrize("status", ALL)
def test_is_terminal_matches_terminal_set(status: TaskStatus) -> None:
    assert status.is_terminal is (status in TERMINAL)


@pytest.mark.parametrize("status", sorted(TERMINAL))
def test_terminal_statuses_are_absorbing(status: TaskStatus) -> None:
    assert TRANSITIONS[status] == frozenset()
    assert not any(can_transition(status, target) for target in TaskStatus)


@pytest.mark.parametrize("status", sorted(ACTIVE))
def test_active_statuses_reach_every_terminal_status(status: TaskStatus) -> None:
    assert TRANSITIONS[status] >= TERMINAL


def test_working_and_input_required_go_both_ways() -> None:
    assert can_transition(TaskStatus.WORKING, TaskStatus.INPUT_REQUIRED)
    assert can_transition(TaskStatus.INPUT_REQUIRED, TaskStatus.WORKING)


@pytest.mark.parametrize("status", ALL)
def test_no_status_follows_itself(status: TaskStatus) -> None:
    assert not can_transition(status, status)


def test_nothing_returns_to_working_except_from_input_required() -> None:
    assert allowed_sources(TaskStatus.WORKING) == {TaskStatus.INPUT_REQUIRED}
    assert allowed_sources(TaskStatus.INPUT_REQUIRED) == {TaskStatus.WORKING}


@pytest.mark.parametrize("target", sorted(TERMINAL))
def test_terminal_statuses_are_reached_only_from_active_ones(target: TaskStatus) -> None:
    assert allowed_sources(target) == ACTIVE


@pytest.mark.parametrize(("source", "target"), list(itertools.product(ALL, ALL)))
def test_allowed_sources_agrees_with_can_transition(source: TaskStatus, target: TaskStatus) -> None:
    assert (source in allowed_sources(target)) is can_transition(source, target)
