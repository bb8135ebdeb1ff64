"""One trace per task, recorded by the real runtime and store and read back from OpenTelemetry's SDK.

The creating request's span stands in for the `mcp` SDK's `tools/call` span (the SDK opens one per
request through the same global tracer provider).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy.engine import URL

from mcptasks.core.model import Completed, Outcome, TaskRecord
from mcptasks.core.owner import Owner
from mcptasks.core.status import TaskStatus
from mcptasks.observe import tracing
from mcptasks.runtime.context import TaskContext
from mcptasks.runtime.executor import Executor
from mcptasks.runtime.manager import TaskManager
from mcptasks.store.store import Store

SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
ASKABLE: dict[str, Any] = {"elicitation": {}}

#: OpenTelemetry's global tracer provider can be set once per process: one exporter for the module.
_EXPORTER = InMemorySpanExporter()
_PROVIDER = TracerProvider()
_PROVIDER.add_span_processor(SimpleSpanProcessor(_EXPORTER))
trace.set_tracer_provider(_PROVIDER)
_client_side = trace.get_tracer("tests.client-request")


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    # `enabled` looks for a provider again at most every ENABLED_RECHECK_S: one set by this
    # module's import is seen by then.
    deadline = time.monotonic() + tracing.ENABLED_RECHECK_S + 1
    while not tracing.enabled():
        assert time.monotonic() < deadline, "the tracer provider set at import was never seen"
        time.sleep(0.05)
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


def named(exporter: InMemorySpanExporter, prefix: str) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name.startswith(prefix)]


async def create(manager: TaskManager, owner: Owner, tool: str, invoke: Any) -> TaskRecord:
    return await manager.create(
        owner,
        wire="sep-2663",
        tool_name=tool,
        arguments={},
        requested_ttl_ms=None,
        progress_token=None,
        invoke=invoke,
        client_capabilities=ASKABLE,
    )


async def test_the_run_questions_and_outcome_join_the_creating_trace(
    manager: TaskManager, spans: InMemorySpanExporter
) -> None:
    owner = Owner.session("tracing")
    asked = asyncio.Event()

    async def asks(ctx: TaskContext) -> Outcome:
        asked.set()
        await ctx.elicit("ok?", SCHEMA)
        return Completed({"content": []})

    with _client_side.start_as_current_span("tools/call asks") as request:
        record = await create(manager, owner, "asks", asks)
    creating = request.get_span_context()
    assert (record.trace_context or "").startswith(f"00-{creating.trace_id:032x}-{creating.span_id:016x}-")

    await asyncio.wait_for(asked.wait(), 5)
    for _ in range(250):  # the question is stored just after the tool asks it
        if await manager.outstanding_inputs(owner, record.task_id):
            break
        await asyncio.sleep(0.02)
    with _client_side.start_as_current_span("tasks/update"):
        await manager.answer(
            owner, record.task_id, {"input-1": {"action": "accept", "content": {"ok": True}}}
        )
    await asyncio.wait_for(manager.wait_terminal(owner, record.task_id), 5)
    await asyncio.sleep(0.05)  # the run's span ends right after the outcome is stored

    (run,) = named(spans, "task.run asks")
    assert run.context.trace_id == creating.trace_id
    assert run.parent is not None and run.parent.span_id == creating.span_id
    assert run.attributes is not None
    assert run.attributes["mcp.task.id"] == record.task_id
    assert run.attributes["mcp.tool.name"] == "asks"
    assert run.attributes["mcp.task.status"] == "completed"
    assert run.attributes["mcp.task.owner_kind"] == "session"
    assert "tracing" not in str(dict(run.attributes))  # never the owner's id

    (question,) = named(spans, "task.input elicitation/create")
    assert question.parent is not None and question.parent.span_id == run.context.span_id
    (outcome,) = named(spans, "task.outcome")
    assert outcome.parent is not None and outcome.parent.span_id == run.context.span_id

    (update,) = named(spans, "tasks/update")
    assert update.attributes is not None and update.attributes["mcp.task.id"] == record.task_id
    assert [link.context.span_id for link in update.links] == [creating.span_id]


async def test_a_poll_later_links_to_the_creating_span(
    manager: TaskManager, spans: InMemorySpanExporter
) -> None:
    owner = Owner.session("tracing-poll")

    async def done(ctx: TaskContext) -> Outcome:
        return Completed({"content": []})

    with _client_side.start_as_current_span("tools/call done") as request:
        record = await create(manager, owner, "done", done)
    await asyncio.wait_for(manager.wait_terminal(owner, record.task_id), 5)
    with _client_side.start_as_current_span("tasks/get") as poll:
        found, _ = await manager.poll(owner, record.task_id)
    assert found.status is TaskStatus.COMPLETED
    poll_span = next(
        span for span in spans.get_finished_spans() if span.context.span_id == poll.get_span_context().span_id
    )
    assert poll_span.attributes is not None and poll_span.attributes["mcp.task.status"] == "completed"
    assert [link.context.span_id for link in poll_span.links] == [request.get_span_context().span_id]
    assert poll_span.context.trace_id != request.get_span_context().trace_id  # its own trace, linked


async def test_a_run_after_a_restart_joins_the_same_trace(
    manager: TaskManager, executor_factory: Any, db_url: URL, spans: InMemorySpanExporter
) -> None:
    """The trace context is stored: another process's executor runs the task in the same trace."""
    owner = Owner.session("tracing-restart")
    release = asyncio.Event()

    async def gated(ctx: TaskContext) -> Outcome:
        await release.wait()
        return Completed({"content": []})

    with _client_side.start_as_current_span("tools/call gated") as request:
        record = await create(manager, owner, "gated", gated)
    other_store = Store.for_url(db_url)
    await other_store.open()
    try:
        stored = await other_store.read_task(record.task_id)
        assert stored is not None and stored[0].trace_context == record.trace_context
        other: Executor = await executor_factory(node="other-node:2:ffffff")
        second = stored[0].evolve(attempt=2, lease_node=other.node)
        other.run(second, lambda ctx: asyncio.sleep(0, Completed({"content": []})))
        for _ in range(100):
            if named(spans, "task.run gated"):
                break
            await asyncio.sleep(0.02)
    finally:
        release.set()
        await other_store.close()
    runs = named(spans, "task.run gated")
    assert runs and runs[0].context.trace_id == request.get_span_context().trace_id
    assert runs[0].attributes is not None and runs[0].attributes["mcp.task.attempt"] == 2


async def test_untraced_creates_store_no_context(manager: TaskManager, spans: InMemorySpanExporter) -> None:
    async def done(ctx: TaskContext) -> Outcome:
        return Completed({"content": []})

    record = await create(manager, Owner.session("untraced"), "quiet", done)
    assert record.trace_context is None
    await asyncio.wait_for(manager.wait_terminal(Owner.session("untraced"), record.task_id), 5)
    await asyncio.sleep(0.05)
    (run,) = named(spans, "task.run quiet")
    assert run.parent is None  # a trace of its own


def test_spans_are_built_only_once_a_tracer_provider_is_set() -> None:
    # This module set one; a process that did not (a server without an OpenTelemetry SDK) skips
    # building spans: the SDK's per-message span middleware and the outcome span.
    assert tracing.enabled()
    code = (
        "import time\n"
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from mcptasks.observe import tracing\n"
        "from mcptasks.server.app import TaskServer\n"
        "server = TaskServer('t')\n"
        "kinds = [type(m).__name__ for m in server.mcp.middleware]\n"
        "print(tracing.enabled(), kinds[0], type(tracing.outcome_span()).__name__)\n"
        "trace.set_tracer_provider(TracerProvider())\n"
        "print(tracing.enabled())\n"
        "time.sleep(tracing.ENABLED_RECHECK_S)\n"
        "print(tracing.enabled(), type(tracing.outcome_span()).__name__ != 'nullcontext')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    # A provider set later is seen within ENABLED_RECHECK_S (at once if the last look is older).
    lines = out.stdout.split("\n")
    assert lines[0] == "False _WhenTraced nullcontext" and lines[2] == "True True"
