"""Metrics of a serving process, for Prometheus and for OpenTelemetry, from one set of calls.

Each event is recorded once, here, into two sets of instruments with the same names:

- Prometheus (`prometheus-client`), in this module's own `REGISTRY`, served by `serve(port)`
  (`mcptasks serve --metrics-port`) in the text exposition format; off unless asked for;
- OpenTelemetry metrics (`opentelemetry-api`), from the meter "mcptasks": no-ops unless the
  application installs a `MeterProvider` (the SDK and an exporter, e.g. OTLP configured with the
  standard `OTEL_*` variables).

| instrument | kind | labels | what |
|---|---|---|---|
| `mcptasks_tasks_created_total` | counter | tool, wire | tasks created here |
| `mcptasks_tasks_finished_total` | counter | tool, status | tasks that ended here |
| `mcptasks_task_duration_seconds` | histogram | tool, status | creation to terminal status |
| `mcptasks_tools_running` | gauge | | tools running in this process now |
| `mcptasks_questions_waiting` | gauge | | questions of tools running here that wait for an answer |
| `mcptasks_input_wait_seconds` | histogram | method | a question asked to its answer |
| `mcptasks_store_batch_size` | histogram | | writes per SQLite commit (group commit) |
| `mcptasks_store_commit_seconds` | histogram | engine | one COMMIT, from the writer's view |
| `mcptasks_store_checkpoint_seconds` | histogram | where | a WAL checkpoint: `background`, `inline` |
| `mcptasks_lease_recoveries_total` | counter | outcome | orphaned tasks taken over: `rerun` or `failed` |
| `mcptasks_expired_tasks_deleted_total` | counter | | tasks the ttl sweeper deleted |
| `mcptasks_auth_refusals_total` | counter | reason | bearer tokens refused, by reason |

Counts are per process: a deployment of several replicas sums them. Tasks by status across the
whole database are a query (`mcptasks tasks stats`), not a gauge of one replica. Labels never carry
a task id, an owner or a token. Recording costs a few microseconds; it never raises.
"""

from __future__ import annotations

from opentelemetry import metrics as otel
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

#: Where mcptasks' Prometheus instruments live (not the library's global default registry).
REGISTRY = CollectorRegistry(auto_describe=True)

#: Bucket bounds of task and question durations, in seconds (10 ms to 1 day).
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400)
#: Bucket bounds of one COMMIT, in seconds.
COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
#: Bucket bounds of a group-commit batch, in writes.
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)

_meter = otel.get_meter("mcptasks")


class _Counter:
    def __init__(self, name: str, description: str, labels: tuple[str, ...]) -> None:
        self.prometheus = Counter(name, description, labels, registry=REGISTRY)
        self.otel = _meter.create_counter(name.removesuffix("_total"), description=description)
        self.labels = labels

    def add(self, *values: str, amount: int = 1) -> None:
        (self.prometheus.labels(*values) if values else self.prometheus).inc(amount)
        self.otel.add(amount, dict(zip(self.labels, values, strict=True)))


class _Histogram:
    def __init__(
        self, name: str, description: str, labels: tuple[str, ...], buckets: tuple[float, ...], unit: str
    ) -> None:
        self.prometheus = Histogram(name, description, labels, registry=REGISTRY, buckets=buckets)
        self.otel = _meter.create_histogram(name, unit=unit, description=description)
        self.labels = labels

    def observe(self, value: float, *values: str) -> None:
        (self.prometheus.labels(*values) if values else self.prometheus).observe(value)
        self.otel.record(value, dict(zip(self.labels, values, strict=True)))


class _Gauge:
    def __init__(self, name: str, description: str) -> None:
        self.prometheus = Gauge(name, description, registry=REGISTRY)
        self.otel = _meter.create_up_down_counter(name, description=description)

    def add(self, amount: int) -> None:
        self.prometheus.inc(amount)
        self.otel.add(amount)


_created = _Counter("mcptasks_tasks_created_total", "Tasks created by this process.", ("tool", "wire"))
_finished = _Counter("mcptasks_tasks_finished_total", "Tasks that ended in this process.", ("tool", "status"))
_duration = _Histogram(
    "mcptasks_task_duration_seconds",
    "From a task's creation to its terminal status.",
    ("tool", "status"),
    DURATION_BUCKETS,
    "s",
)
_running = _Gauge("mcptasks_tools_running", "Tools running in this process.")
_waiting = _Gauge("mcptasks_questions_waiting", "Questions of tools running here that wait for an answer.")
_input_wait = _Histogram(
    "mcptasks_input_wait_seconds", "From a question asked to its answer.", ("method",), DURATION_BUCKETS, "s"
)
_batch = _Histogram("mcptasks_store_batch_size", "Writes per SQLite commit.", (), BATCH_BUCKETS, "{write}")
_commit = _Histogram(
    "mcptasks_store_commit_seconds",
    "One COMMIT, as the writer waits for it.",
    ("engine",),
    COMMIT_BUCKETS,
    "s",
)
_checkpoint = _Histogram(
    "mcptasks_store_checkpoint_seconds",
    "One SQLite WAL checkpoint: by the checkpoint thread (background) or the commit thread (inline).",
    ("where",),
    COMMIT_BUCKETS,
    "s",
)
_recoveries = _Counter(
    "mcptasks_lease_recoveries_total", "Orphaned tasks taken over after their lease ran out.", ("outcome",)
)
_deleted = _Counter("mcptasks_expired_tasks_deleted_total", "Tasks the ttl sweeper deleted.", ())
_refusals = _Counter("mcptasks_auth_refusals_total", "Bearer tokens refused.", ("reason",))


def task_created(tool: str, wire: str) -> None:
    """A task was created (its row committed) by this process."""
    _created.add(tool, wire)


def task_finished(tool: str, status: str, duration_s: float) -> None:
    """A task ended here with `status`, `duration_s` seconds after its creation."""
    _finished.add(tool, status)
    _duration.observe(max(0.0, duration_s), tool, status)


def tool_started() -> None:
    """A tool began to run in this process (paired with `tool_ended`)."""
    _running.add(1)


def tool_ended() -> None:
    """A tool that `tool_started` counted stopped running, however it ended."""
    _running.add(-1)


def question_asked() -> None:
    """A running tool waits for an answer (paired with `question_settled`)."""
    _waiting.add(1)


def question_settled(method: str, waited_s: float | None) -> None:
    """A question stopped waiting: answered after `waited_s` seconds, or given up (None)."""
    _waiting.add(-1)
    if waited_s is not None:
        _input_wait.observe(max(0.0, waited_s), method)


def commit(engine: str, seconds: float, writes: int | None = None) -> None:
    """One COMMIT took `seconds`; on SQLite it carried `writes` queued writes (group commit)."""
    _commit.observe(seconds, engine)
    if writes is not None:
        _batch.observe(writes)


def checkpoint(where: str, seconds: float) -> None:
    """A SQLite WAL checkpoint took `seconds`; `where` is "background" or "inline"."""
    _checkpoint.observe(seconds, where)


def lease_recovered(outcome: str) -> None:
    """An orphaned task was taken over: `outcome` is "rerun" or "failed"."""
    _recoveries.add(outcome)


def expired_deleted(count: int) -> None:
    """The ttl sweeper deleted `count` tasks."""
    if count:
        _deleted.add(amount=count)


def auth_refused(reason: str) -> None:
    """A bearer token was refused; `reason` is a short fixed word (never the token)."""
    _refusals.add(reason)


def serve(port: int, host: str = "127.0.0.1") -> None:
    """Serve `REGISTRY` at `http://host:port/metrics` from a daemon thread (prometheus-client's).

    Raises: OSError when the address cannot be bound.
    """
    start_http_server(port, addr=host, registry=REGISTRY)


__all__ = [
    "REGISTRY",
    "auth_refused",
    "checkpoint",
    "commit",
    "expired_deleted",
    "lease_recovered",
    "question_asked",
    "question_settled",
    "serve",
    "task_created",
    "task_finished",
    "tool_ended",
    "tool_started",
]
