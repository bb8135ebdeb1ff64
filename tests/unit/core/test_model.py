"""Task ids, records and outcomes."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta, timezone

from mcptasks.core.model import ErrorInfo, TaskRecord, as_utc, new_task_id, utcnow
from mcptasks.core.owner import Owner
from mcptasks.core.status import TaskStatus

URL_SAFE_22 = re.compile(r"[A-Za-z0-9_-]{22}")


class TestNewTaskId:
    def test_shape(self) -> None:
        for _ in range(100):
            assert URL_SAFE_22.fullmatch(new_task_id())

    def test_never_starts_like_a_command_line_option(self) -> None:
        # One token in 64 starts with "-"; among 5000 ids the old draw had one (1 - e^-78).
        ids = [new_task_id() for _ in range(5000)]
        assert not [task_id for task_id in ids if task_id.startswith("-")]
        assert any(task_id.startswith("_") for task_id in ids)

    def test_a_thousand_ids_are_distinct(self) -> None:
        assert len({new_task_id() for _ in range(1000)}) == 1000

    def test_carries_128_random_bits(self) -> None:
        ids = [new_task_id() for _ in range(1000)]
        raw = [base64.urlsafe_b64decode(task_id + "==") for task_id in ids]
        assert {len(r) for r in raw} == {16}
        # About half of the 128 000 bits are set; 5 standard deviations (~0.7%) of slack.
        ones = sum(bin(int.from_bytes(r, "big")).count("1") for r in raw)
        assert abs(ones / (1000 * 128) - 0.5) < 0.007
        # Every one of the 64 symbols appears somewhere in 21 000 leading characters.
        assert len({c for task_id in ids for c in task_id[:21]}) == 64


def test_utcnow_is_aware_utc() -> None:
    assert utcnow().tzinfo is UTC


def test_as_utc() -> None:
    naive = datetime(2025, 1, 1, 12, 0)
    assert as_utc(naive) == datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    plus_two = datetime(2025, 1, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert as_utc(plus_two) == datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    assert as_utc(plus_two).utcoffset() == timedelta(0)


class TestErrorInfo:
    def test_round_trip(self) -> None:
        info = ErrorInfo(code=-32602, message="bad", data={"field": "x"})
        assert info.to_json() == {"code": -32602, "message": "bad", "data": {"field": "x"}}
        assert ErrorInfo.from_json(info.to_json()) == info

    def test_data_omitted_when_none(self) -> None:
        assert ErrorInfo(-32603, "Tool execution failed").to_json() == {
            "code": -32603,
            "message": "Tool execution failed",
        }


class TestTaskRecordNew:
    def test_fresh_working_task(self) -> None:
        now = datetime(2025, 6, 1, tzinfo=UTC)
        owner = Owner.principal("iss", "alice", "app")
        record = TaskRecord.new(
            owner=owner,
            wire="sep-2663",
            tool_name="echo",
            arguments={"a": 1},
            ttl_ms=1500,
            poll_interval_ms=1000,
            progress_token="p-1",
            now=now,
        )
        assert URL_SAFE_22.fullmatch(record.task_id)
        assert record.status is TaskStatus.WORKING and not record.is_terminal
        assert (record.owner_key, record.owner_kind) == (owner.key, "principal")
        assert (record.owner_issuer, record.owner_subject, record.owner_client_id) == ("iss", "alice", "app")
        assert record.created_at == record.last_updated_at == now
        assert record.expires_at == now + timedelta(milliseconds=1500)
        assert record.attempt == 0 and record.lease_node is None

    def test_unlimited_ttl_has_no_expiry(self) -> None:
        record = TaskRecord.new(
            owner=Owner.capability(),
            wire="2025-11-25",
            tool_name="t",
            arguments={},
            ttl_ms=None,
            poll_interval_ms=None,
        )
        assert record.ttl_ms is None and record.expires_at is None

    def test_evolve_copies(self) -> None:
        record = TaskRecord.new(
            owner=Owner.capability(),
            wire="2025-11-25",
            tool_name="t",
            arguments={},
            ttl_ms=None,
            poll_interval_ms=None,
        )
        done = record.evolve(status=TaskStatus.COMPLETED)
        assert done.is_terminal and record.status is TaskStatus.WORKING
