"""Run the `mcptasks` command line with the OpenTelemetry SDK installed: every span, as one JSON
object per line, goes to the file named by the first argument.

mcptasks exports nothing itself (README "Traces"): an application installs the SDK. This is such an
application for tests: `python traced_serve.py SPANS.jsonl serve APP --port ...`.
"""

from __future__ import annotations

import sys

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor


def _one_line(span: ReadableSpan) -> str:
    return span.to_json(indent=None) + "\n"


def main() -> int:
    """Install a tracer provider exporting to `argv[1]`, then run `mcptasks argv[2:]`."""
    spans = open(sys.argv[1], "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - open for the process's life
    provider = TracerProvider(resource=Resource.create({"service.name": "mcptasks"}))
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=spans, formatter=_one_line)))
    trace.set_tracer_provider(provider)
    from mcptasks.cli import main as mcptasks

    try:
        return mcptasks(sys.argv[2:])
    finally:
        provider.shutdown()
        spans.close()


if __name__ == "__main__":
    sys.exit(main())
