"""One OpenTelemetry trace per task, through the OpenTelemetry API (no-ops without an SDK).

The `mcp` SDK opens a server span for every request it handles (continuing the caller's W3C trace
context from `params._meta` when there is one). mcptasks carries the `tools/call` span that created
a task through the task's whole life:

- at creation, that span's `traceparent` is stored with the task (`tasks.trace_context`), so it
  outlives the process;
- the tool's run is a span `task.run <tool>`, a child of the creating span, on whichever replica
  and attempt runs it (a run after a restart joins the same trace); each question asked is a child
  span `task.input <method>` from the question to its answer; the outcome write is `task.outcome`;
- every `tasks/*` request about the task (the SDK's span) gets the task's attributes and a link to
  the creating span, since a poll days later cannot be its child.

Attributes use the spec's names: `mcp.task.id`, `mcp.task.status`, `mcp.tool.name`,
`mcp.task.attempt`, `mcp.task.owner_kind` (the kind only, never the owner's id or a token).

Export is the application's: install `opentelemetry-sdk` and an exporter and configure them with
the standard `OTEL_*` variables (e.g. `opentelemetry-instrument` with `OTEL_EXPORTER_OTLP_ENDPOINT`).
"""

from __future__ import annotations

import contextlib
import math
import time
from contextvars import Token

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, StatusCode

from mcptasks.core.model import TaskRecord

tracer = trace.get_tracer("mcptasks")

TRACEPARENT = "traceparent"


#: How long `enabled` trusts its last look while no tracer provider is set, in s.
ENABLED_RECHECK_S = 1.0
_enabled = False
_enabled_checked_at = -math.inf


def enabled() -> bool:
    """Whether an OpenTelemetry SDK is installed (a tracer provider was set), so spans are kept.

    Without one every span is a no-op: callers may skip building spans at all. A provider can be
    set once per process: once True, always True; while False, looked at again at most every
    `ENABLED_RECHECK_S` (the API's lookup reads the environment each time).
    """
    global _enabled, _enabled_checked_at
    if _enabled:
        return True
    now = time.monotonic()
    if now - _enabled_checked_at >= ENABLED_RECHECK_S:
        _enabled_checked_at = now
        provider = trace.get_tracer_provider()
        _enabled = not isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)
    return _enabled


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the span current now, or None when nothing is traced."""
    if not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get(TRACEPARENT)


def _context_of(record: TaskRecord) -> otel_context.Context | None:
    if not record.trace_context:
        return None
    extracted = propagate.extract({TRACEPARENT: record.trace_context})
    return extracted if trace.get_current_span(extracted).get_span_context().is_valid else None


def task_attributes(record: TaskRecord) -> dict[str, str | int]:
    """The span attributes of `record` (never its owner's id)."""
    return {
        "mcp.task.id": record.task_id,
        "mcp.task.status": record.status.value,
        "mcp.tool.name": record.tool_name,
        "mcp.task.attempt": record.attempt,
        "mcp.task.owner_kind": record.owner_kind,
    }


def start_run(record: TaskRecord) -> tuple[Span, Token[otel_context.Context]]:
    """Start the span of a tool's run and make it current; returns it and the token to detach.

    For a coroutine that runs in an asyncio task of its own: `end_run` ends both.
    """
    span = tracer.start_span(
        f"task.run {record.tool_name}",
        context=_context_of(record),
        kind=SpanKind.INTERNAL,
        attributes=task_attributes(record),
    )
    token = otel_context.attach(trace.set_span_in_context(span))
    return span, token


def end_run(span: Span, token: Token[otel_context.Context], record: TaskRecord | None) -> None:
    """End a run's span: the final status of `record` (None: the run stopped without one here)."""
    if record is not None:
        span.set_attribute("mcp.task.status", record.status.value)
        if record.status.value == "failed":
            span.set_status(StatusCode.ERROR, record.status_message or "failed")
    otel_context.detach(token)
    span.end()


def start_input(method: str, key: str) -> Span:
    """Start the child span of a question, from asked (`input_required`) to answered; the caller
    ends it (`span.end()`)."""
    return tracer.start_span(
        f"task.input {method}", attributes={"mcp.input.key": key, "mcp.input.method": method}
    )


def outcome_span() -> contextlib.AbstractContextManager[object]:
    """A child span around the write of a tool's outcome (nothing to build when tracing is off)."""
    if not enabled():
        return contextlib.nullcontext()
    return tracer.start_as_current_span("task.outcome")


def about_request(record: TaskRecord) -> None:
    """Mark the current request's span as being about `record`: attributes, and a link to the
    span that created it (once per span)."""
    span = trace.get_current_span()
    if not span.is_recording():
        return
    span.set_attributes(task_attributes(record))
    created = _context_of(record)
    if created is None:
        return
    target = trace.get_current_span(created).get_span_context()
    key = (span.get_span_context().span_id, target.span_id)
    if key in _linked:
        return  # a request reads its task more than once (a long tasks/result): one link
    _linked[key] = None
    if len(_linked) > _LINKED_CAPACITY:
        del _linked[next(iter(_linked))]
    span.add_link(target, {"mcp.link": "task.created"})


#: (request span id, creating span id) pairs linked already, oldest first; bounded.
_linked: dict[tuple[int, int], None] = {}
_LINKED_CAPACITY = 4096


__all__ = [
    "about_request",
    "current_traceparent",
    "enabled",
    "end_run",
    "start_input",
    "outcome_span",
    "start_run",
    "task_attributes",
    "tracer",
]
