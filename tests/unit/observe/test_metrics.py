"""Metrics recorded by the real runtime and store, read back from Prometheus and OpenTelemetry."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from opentelemetry import metrics as otel
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from mcptasks.core.model import Completed, Outcome, utcnow
from mcptasks.core.owner import Owner
from mcptasks.core.status import TaskStatus
from mcptasks.observe import metrics
from mcptasks.runtime.context import TaskContext
from mcptasks.runtime.executor import Executor
from mcptasks.runtime.manager import TaskManager
from mcptasks.store.store import Store
from support.process import free_port

ASKABLE: dict[str, Any] = {"elicitation": {}}
SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}

#: One reader for the whole test session: OpenTelemetry's global provider can be set only once.
_READER = InMemoryMetricReader()
otel.set_meter_provider(MeterProvider(metric_readers=[_READER]))


def sample(name: str, **labels: str) -> float:
    """The current value of a Prometheus sample of mcptasks' registry (0 when absent)."""
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


@contextlib.contextmanager
def delta(name: str, **labels: str) -> Iterator[list[float]]:
    """How much sample `name` grows within the block: `found[0]` after it."""
    before = sample(name, **labels)
    found: list[float] = []
    yield found
    found.append(sample(name, **labels) - before)


def otel_points(name: str) -> list[Any]:
    """The data points OpenTelemetry collected for instrument `name`."""
    data = _READER.get_metrics_data()
    points: list[Any] = []
    for resource in data.resource_metrics if data is not None else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    points.extend(metric.data.data_points)
    return points


async def create(manager: TaskManager, tool: str, invoke: Any, owner: Owner) -> str:
    record = await manager.create(
        owner,
        wire="sep-2663",
        tool_name=tool,
        arguments={},
        requested_ttl_ms=None,
        progress_token=None,
        invoke=invoke,
        client_capabilities=ASKABLE,
    )
    return record.task_id


async def test_a_task_is_counted_from_creation_to_its_end(manager: TaskManager, engine: str) -> None:
    owner = Owner.session("metrics")

    async def done(ctx: TaskContext) -> Outcome:
        return Completed({"content": []})

    running_before = sample("mcptasks_tools_running")
    with (
        delta("mcptasks_tasks_created_total", tool="m-done", wire="sep-2663") as created,
        delta("mcptasks_tasks_finished_total", tool="m-done", status="completed") as finished,
        delta("mcptasks_task_duration_seconds_count", tool="m-done", status="completed") as timed,
        delta(
            "mcptasks_store_commit_seconds_count", engine="sqlite" if engine == "sqlite" else "postgresql"
        ) as commits,
    ):
        task_id = await create(manager, "m-done", done, owner)
        await asyncio.wait_for(manager.wait_terminal(owner, task_id), 5)
    assert (created, finished, timed) == ([1.0], [1.0], [1.0])
    assert commits[0] >= 2  # the create and the outcome, at least
    assert sample("mcptasks_tools_running") == running_before
    if engine == "sqlite":
        assert sample("mcptasks_store_batch_size_count") > 0
    created_points = [
        p for p in otel_points("mcptasks_tasks_created") if p.attributes.get("tool") == "m-done"
    ]
    assert sum(p.value for p in created_points) >= 1


async def test_questions_and_cancels_are_counted(manager: TaskManager) -> None:
    owner = Owner.session("metrics-q")
    asked = asyncio.Event()

    async def asks(ctx: TaskContext) -> Outcome:
        asked.set()
        await ctx.elicit("ok?", SCHEMA)
        return Completed({"content": []})

    async def waits(ctx: TaskContext) -> Outcome:
        await ctx.wait_cancelled()
        return Completed({"content": []})

    waiting_before = sample("mcptasks_questions_waiting")
    with delta("mcptasks_input_wait_seconds_count", method="elicitation/create") as answered:
        task_id = await create(manager, "m-ask", asks, owner)
        await asyncio.wait_for(asked.wait(), 5)
        for _ in range(100):
            if sample("mcptasks_questions_waiting") == waiting_before + 1:
                break
            await asyncio.sleep(0.02)
        assert sample("mcptasks_questions_waiting") == waiting_before + 1
        await manager.answer(owner, task_id, {"input-1": {"action": "accept", "content": {"ok": True}}})
        await asyncio.wait_for(manager.wait_terminal(owner, task_id), 5)
    assert answered == [1.0]
    assert sample("mcptasks_questions_waiting") == waiting_before

    with delta("mcptasks_tasks_finished_total", tool="m-cancel", status="cancelled") as cancelled:
        task_id = await create(manager, "m-cancel", waits, owner)
        await manager.cancel(owner, task_id, reject_terminal=False)
    assert cancelled == [1.0]


async def test_recovery_and_the_sweeper_are_counted(
    executor: Executor, store: Store, task_factory: Any, owner_factory: Any
) -> None:
    orphan = await task_factory(tool_name="m-orphan", lease_expires_at=utcnow() - timedelta(seconds=5))
    with delta("mcptasks_lease_recoveries_total", outcome="failed") as recovered:
        await executor.recover(orphan)
    assert recovered == [1.0]

    await task_factory(status=TaskStatus.COMPLETED, ttl_ms=1)
    await asyncio.sleep(0.01)
    with delta("mcptasks_expired_tasks_deleted_total") as deleted:
        await executor.sweep()
    assert deleted[0] >= 1


def test_serve_exposes_the_registry_over_http() -> None:
    port = free_port()
    metrics.serve(port)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    assert "# TYPE mcptasks_tasks_created_total counter" in text
    assert "# TYPE mcptasks_task_duration_seconds histogram" in text


def test_labels_never_carry_ids() -> None:
    for family in metrics.REGISTRY.collect():
        for metric_sample in family.samples:
            assert set(metric_sample.labels) <= {
                "tool",
                "wire",
                "status",
                "method",
                "engine",
                "outcome",
                "reason",
                "le",
            }
