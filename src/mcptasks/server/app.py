"""`TaskServer`: an MCP server whose tools run as durable tasks.

```python
from mcptasks import TaskServer, TaskContext

server = TaskServer("my-app")

@server.tool(task_support="optional")
async def count_to(n: int, delay_ms: int, task: TaskContext) -> str: ...
```

`TaskServer` is an async context manager: entering it opens the database (migrating it unless told
not to), recovers tasks a previous process left behind and starts the executor; leaving it gives
running tools the shutdown grace and fails what is still running. The transports (`run_stdio_async`,
`run_http_async`, `streamable_http_app`) enter it themselves when it is not open yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp_types import CLIENT_CAPABILITIES_META_KEY
from starlette.applications import Starlette

from mcptasks.auth.config import AuthConfig
from mcptasks.core.errors import ConfigurationError, StoreError
from mcptasks.core.model import RecoveryPolicy, TaskRecord, TaskSupport
from mcptasks.runtime.bus import TaskBus
from mcptasks.runtime.executor import Executor, Invoke
from mcptasks.runtime.manager import TaskManager
from mcptasks.runtime.options import Leases, Retention
from mcptasks.server.auth import build_auth, protected_resource_metadata
from mcptasks.server.envelope import guard_envelopes
from mcptasks.server.extension import TasksExtension
from mcptasks.server.health import READY_TIMEOUT_S, health_routes
from mcptasks.server.inputs import CLIENT_REQUEST_TIMEOUT_S, LegacyQuestions
from mcptasks.server.logs import install_redaction
from mcptasks.server.middleware import ErrorGuardMiddleware, LegacyTasksMiddleware
from mcptasks.server.notify import LegacyNotifier
from mcptasks.server.owner import OwnerScope, current_local_user, stdio_owner
from mcptasks.server.responses import ResponseModeMiddleware
from mcptasks.server.stopping import StoppingMiddleware
from mcptasks.server.streams import GetStreams, GetStreamTracker
from mcptasks.server.tools import TaskTool, build_tool, task_invoker
from mcptasks.server.workarounds import (
    add_prebuilt_tool,
    answer_with_json_per_request,
    apply_auth,
    has_sdk_tool,
    refine_auth_routes,
    run_stdio_guarded,
)
from mcptasks.store import migrate
from mcptasks.store.engine import create_engines, database_url, describe_url, is_memory
from mcptasks.store.sqlite import sqlite_version_problem
from mcptasks.store.store import Store
from mcptasks.store.view import DEFAULT_CAPACITY as VIEW_CAPACITY
from mcptasks.wire import sep2663

logger = logging.getLogger("mcptasks.server")

F = TypeVar("F", bound=Callable[..., Any])

#: How often `run_http_async` checks whether uvicorn accepts connections yet, in seconds.
HTTP_STARTED_POLL_S = 0.02
#: How long open HTTP connections may take to close once the server stops, in seconds.
HTTP_CLOSE_GRACE_S = 3

#: How long a stop waits for the stdio transport to wind down, in seconds.
STDIO_STOP_WAIT_S = 1.0

#: Where tasks live when no database is configured: `mcptasks.db` in the working directory.
DEFAULT_DB = "mcptasks.db"


class ServerState(enum.Enum):
    """Lifecycle of a `TaskServer`."""

    #: Configured, database not opened yet.
    UNOPENED = 1
    #: Database open, executor running.
    OPENED = 2
    #: Stopped; a closed server cannot be opened again.
    CLOSED = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """How a `TaskServer` stores and runs tasks."""

    #: A SQLite file path or a database URL (`sqlite:///…`, `postgresql://…`).
    db: str = DEFAULT_DB
    #: Migrate the schema at start-up; when False, refuse to start unless it is at head.
    migrate: bool = True
    #: ttl default and cap, polling hint, sweeper cadence.
    retention: Retention = field(default_factory=Retention)
    #: Lease length, heartbeat, grace periods.
    leases: Leases = field(default_factory=Leases)
    #: Who owns a task of an authenticated caller: `client` = (iss, sub, client_id), `user` = (iss, sub).
    owner_scope: OwnerScope = "client"
    #: OAuth resource-server settings for Streamable HTTP; None serves without authentication.
    auth: AuthConfig | None = None
    #: How long a 2025-11-25 client may take to answer a question (a server-to-client request), in
    #: seconds; after it the question goes back to waiting and is asked again on the next stream.
    client_request_timeout_s: float = CLIENT_REQUEST_TIMEOUT_S
    #: Most tasks the in-process view remembers (`store.view.TaskView`; about 1-2 KB each): reads
    #: of other tasks go to the database.
    view_capacity: int = VIEW_CAPACITY


class Runtime:
    """What the server adapter reaches at request time: tools, task manager, notifier."""

    def __init__(self, mcp: MCPServer[Any], settings: Settings) -> None:
        self.mcp = mcp
        self.tools: dict[str, TaskTool] = {}
        self.get_streams = GetStreams()
        self.notifier = LegacyNotifier(self.get_streams)
        self.questions = LegacyQuestions(self, self.get_streams)
        self.owner_scope: OwnerScope = settings.owner_scope
        self._manager: TaskManager | None = None
        #: A stop was requested or the server is closing: new requests are refused (ServerStopping).
        self.stopping = False

    @property
    def manager(self) -> TaskManager:
        """The task manager; only while the server is open.

        Raises: RuntimeError before the server is opened.
        """
        if self._manager is None:
            raise RuntimeError("the TaskServer is not open: enter `async with server:` or start a transport")
        return self._manager

    def recovery_policy(self, tool_name: str) -> RecoveryPolicy | None:
        """The `on_restart` policy of a registered tool; None if no such tool is served."""
        entry = self.tools.get(tool_name)
        return None if entry is None else entry.on_restart

    def invoker(self, record: TaskRecord) -> Invoke:
        """Run `record`'s tool again with its stored arguments (a "rerun" after a stop)."""
        return task_invoker(self.tools[record.tool_name], dict(record.arguments))

    def answers_at_once(self, request: dict[str, Any], modern: bool) -> bool:
        """Whether a `tools/call` or `tasks/result` `request` is answered with nothing before it.

        A `tasks/result` of a task this process knows is finished (its questions are all asked).
        A `tools/call` that creates a task: on 2025-11-25 a task was asked for (`params.task`) of a
        tool of ours without `Resolve(...)` parameters (those ask on the request's own stream
        first); on 2026-07-28 the client declared the tasks extension and the tool may run as a task.
        """
        params = request.get("params")
        if not isinstance(params, dict):
            return False
        if request.get("method") == "tasks/result":
            task_id = params.get("taskId")
            if self._manager is None or not isinstance(task_id, str):
                return False
            known = self._manager.store.view.peek(task_id)
            return known is not None and known.record.is_terminal
        name = params.get("name")
        tool = self.tools.get(name) if isinstance(name, str) else None
        if tool is None or tool.task_support == "forbidden":
            return False
        if not modern:
            return params.get("task") is not None and not tool.tool.resolved_params
        meta = params.get("_meta")
        capabilities = meta.get(CLIENT_CAPABILITIES_META_KEY) if isinstance(meta, dict) else None
        extensions = capabilities.get("extensions") if isinstance(capabilities, dict) else None
        return isinstance(extensions, dict) and sep2663.EXTENSION_ID in extensions

    def has_plain_tool(self, name: str) -> bool:
        """Whether `name` is a tool registered directly on the SDK server (never a task)."""
        return name not in self.tools and has_sdk_tool(self.mcp, name)


class TaskServer:
    """An MCP server (stdio and Streamable HTTP, both task wires) whose tools run as durable tasks.

    Parameters: `name`, `version`, `instructions` as in MCP's `serverInfo`; `db` (a SQLite path or
    a database URL, default `mcptasks.db`), `migrate`, `retention`, `leases`, `owner_scope`,
    `auth`, `client_request_timeout_s`, `view_capacity` (see `Settings`). The SDK server is `server.mcp`, for
    resources, prompts and plain tools.
    """

    def __init__(
        self,
        name: str,
        *,
        version: str = "",
        instructions: str | None = None,
        db: str = DEFAULT_DB,
        migrate: bool = True,
        retention: Retention | None = None,
        leases: Leases | None = None,
        owner_scope: OwnerScope = "client",
        auth: AuthConfig | None = None,
        client_request_timeout_s: float = CLIENT_REQUEST_TIMEOUT_S,
        view_capacity: int = VIEW_CAPACITY,
    ) -> None:
        self.settings = Settings(
            db=db,
            migrate=migrate,
            retention=retention or Retention(),
            leases=leases or Leases(),
            owner_scope=owner_scope,
            auth=auth,
            client_request_timeout_s=client_request_timeout_s,
            view_capacity=view_capacity,
        )
        self.state = ServerState.UNOPENED
        install_redaction()  # the SDK logs session ids, the credential of a session without OAuth
        # log_level: MCPServer calls logging.basicConfig; the CLI configures logging before this,
        # and a library user keeps their own configuration, so ask for no more than warnings.
        self.mcp: MCPServer[Any] = MCPServer(
            name, version=version, instructions=instructions, lifespan=self._sdk_lifespan, log_level="WARNING"
        )
        self._runtime = Runtime(self.mcp, self.settings)
        self._runtime.questions.timeout_s = self.settings.client_request_timeout_s
        # Inside the SDK's own middleware; the guard is outermost of ours.
        self.mcp.middleware.extend(
            [ErrorGuardMiddleware(self._runtime), LegacyTasksMiddleware(self._runtime)]
        )
        self._extension = TasksExtension(self._runtime)
        self.mcp._apply_extension(self._extension)
        self.mcp._install_extension_interceptor()
        self._store: Store | None = None
        self._executor: Executor | None = None
        self.schema_revision: str | None = None
        self._stop_requested = asyncio.Event()
        self._resources = contextlib.AsyncExitStack()

    # -- configuration ---------------------------------------------------------------------------

    def configure(self, **changes: Any) -> None:
        """Change `Settings` fields (`db`, `migrate`, `retention`, `leases`, `owner_scope`) before start.

        Raises: RuntimeError once the server was opened; TypeError for an unknown field.
        """
        if self.state is not ServerState.UNOPENED:
            raise RuntimeError("configure() must be called before the TaskServer is opened")
        self.settings = replace(self.settings, **changes)
        self._runtime.owner_scope = self.settings.owner_scope
        self._runtime.questions.timeout_s = self.settings.client_request_timeout_s

    def tool(
        self,
        name: str | None = None,
        *,
        task_support: TaskSupport = "optional",
        on_restart: RecoveryPolicy = "fail",
        title: str | None = None,
        description: str | None = None,
        structured_output: bool | None = None,
    ) -> Callable[[F], F]:
        """Register a tool that may run as a task.

        A parameter annotated `TaskContext` receives the task context and is not part of the input
        schema; the schema comes from the other typed parameters. The return value becomes the
        `CallToolResult` the way the SDK makes one. `task_support` is "optional" (default),
        "required" or "forbidden" (2025-11-25 `execution.taskSupport`). `on_restart` decides what
        happens to a task whose server stopped (or crashed) while it ran or waited for input:
        "fail" (default) fails it at the next start; "rerun" runs the tool again from its start as
        the next attempt, where questions answered before return their answers without asking.
        Raises: ValueError for a bad `task_support` or `on_restart`, or a duplicate name.
        """

        def decorator(fn: F) -> F:
            entry = build_tool(
                fn,
                name=name,
                title=title,
                description=description,
                task_support=task_support,
                structured_output=structured_output,
                on_restart=on_restart,
            )
            add_prebuilt_tool(self.mcp, entry.tool)
            self._runtime.tools[entry.name] = entry
            return fn

        return decorator

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        """The task store (operator access); only while open.

        Raises: RuntimeError before the server is opened.
        """
        if self._store is None:
            raise RuntimeError("the TaskServer is not open")
        return self._store

    @property
    def manager(self) -> TaskManager:
        """The task manager both wires use; only while open."""
        return self._runtime.manager

    def state_sizes(self) -> dict[str, int]:
        """How many entries each per-task and per-connection map of this process holds now.

        Keys: `bus_tasks` (tasks someone waits on), `bus_waiters` (their waiters), `held_polls`
        (active tasks whose last poll is remembered), `view` (tasks in the in-process view, bounded
        by its capacity), `get_streams` (sessions with a GET stream open), `result_streams`,
        `questions_in_flight` (`inputs.LegacyQuestions`), and the notifier's `notify_*`
        (`notify.LegacyNotifier.sizes`). With no task active and no stream open, all are 0 but
        `view` and `notify_connections_watched`
        (one per open connection that created a task). For tests and operators.
        """
        runtime = self._runtime
        sizes = {"get_streams": len(runtime.get_streams)}
        sizes.update(runtime.questions.sizes())
        sizes.update(runtime.notifier.sizes())
        manager = runtime._manager
        if manager is not None:
            sizes.update(
                bus_tasks=manager.bus.watched,
                bus_waiters=manager.bus.waiting,
                held_polls=manager.tracked_polls,
            )
            sizes["view"] = len(manager.store.view)
        return sizes

    @property
    def database_description(self) -> str:
        """The database file path, or its URL with the password masked."""
        return describe_url(database_url(self.settings.db))

    async def __aenter__(self) -> TaskServer:
        if self.state is not ServerState.UNOPENED:
            raise RuntimeError(f"cannot open a TaskServer that is {self.state.name.lower()}")
        url = database_url(self.settings.db)
        if url.get_backend_name() == "sqlite":
            problem = sqlite_version_problem()
            if problem is not None:
                logger.warning(problem, extra={"action": "sqlite_version"})
        if not is_memory(url):
            # Migrations run on alembic's engines, disposed before the store opens (engine.py).
            engines = create_engines(url)
            try:
                if self.settings.migrate:
                    self.schema_revision = await migrate.upgrade(engines)
                else:
                    await migrate.check_at_head(engines)
                    self.schema_revision = migrate.head_revision()
            finally:
                await engines.dispose()
        else:
            self.schema_revision = migrate.head_revision()
        store = Store.for_url(url, view_capacity=self.settings.view_capacity)
        await store.open()
        try:
            # A database it can only read would start a server that refuses every create.
            await store.check_writable()
        except BaseException:
            await store.close()
            raise
        bus = TaskBus()
        bus.on_status(self._runtime.notifier.on_status)
        bus.add_interest(self._runtime.notifier.has_channel)
        bus.on_progress(self._runtime.notifier.on_progress)
        bus.on_input(self._runtime.questions.on_input)
        executor = Executor(
            store, bus, leases=self.settings.leases, retention=self.settings.retention, resolver=self._runtime
        )
        try:
            await executor.start()
        except BaseException:
            await store.close()
            raise
        self._store, self._executor = store, executor
        self._runtime._manager = TaskManager(store, executor, bus, self.settings.retention)
        self.state = ServerState.OPENED
        if self.settings.auth is not None:
            try:
                apply_auth(self.mcp, *await build_auth(self.settings.auth, self._resources))
            except BaseException:
                await self.__aexit__(None, None, None)
                raise
        logger.info(
            "task store open",
            extra={"action": "open", "database": describe_url(url), "revision": self.schema_revision},
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self.state is not ServerState.OPENED:
            return
        self.state = ServerState.CLOSED
        self._runtime.stopping = True
        assert self._executor is not None and self._store is not None
        try:
            await self._executor.stop()
        finally:
            self._runtime._manager = None
            try:
                await self._resources.aclose()
            finally:
                await self._store.close()

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[TaskServer]:
        """Open the server for the duration of the block, unless it is open already."""
        if self.state is ServerState.OPENED:
            yield self
            return
        async with self:
            yield self

    @asynccontextmanager
    async def _sdk_lifespan(self, _mcp: MCPServer[Any]) -> AsyncIterator[dict[str, Any]]:
        async with self.lifespan():
            yield {}

    async def readiness(self) -> dict[str, bool]:
        """The checks of `/readyz` (`server/health.py`), each True when it passed.

        `database`: a read answered within `READY_TIMEOUT_S`; `schema`: the database is at the
        revision this version needs; `executor`: the executor runs; `accepting`: no stop requested.
        Never raises: a failed check is False.
        """
        checks = {
            "database": False,
            "schema": False,
            "executor": False,
            "accepting": not self._runtime.stopping,
        }
        store, executor = self._store, self._executor
        if self.state is not ServerState.OPENED or store is None or executor is None:
            return checks
        checks["executor"] = not executor.stopping
        if is_memory(database_url(self.settings.db)):
            checks["database"] = checks["schema"] = True  # created at head in this process
            return checks
        try:
            revision = await asyncio.wait_for(store.schema_revision(), READY_TIMEOUT_S)
        except (StoreError, TimeoutError):
            return checks
        checks["database"] = True
        checks["schema"] = revision == migrate.head_revision()
        return checks

    # -- transports ------------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Ask a running transport to stop (signal handlers call this); tasks then get the grace.

        From now on, new requests are refused (HTTP 503 with `Retry-After`; `ServerStopping` on
        stdio) while requests in flight are answered.
        """
        self._runtime.stopping = True
        self._stop_requested.set()

    @property
    def running_tools(self) -> int:
        """How many tools run in this process now (0 while the server is not open)."""
        return 0 if self._executor is None else len(self._executor.running_task_ids)

    @property
    def stop_requested(self) -> bool:
        """Whether `request_stop()` was called."""
        return self._stop_requested.is_set()

    async def run_stdio_async(self) -> None:
        """Serve one client over stdin/stdout until stdin closes or `request_stop()` is called.

        Its tasks belong to the local user the process runs as (`Owner.local_user`, `local:<uid>`),
        on both wires: a later stdio server of the same user on the same database lists and reads
        them (`server/owner.py`).

        A stop request first stops the executor while the connection is still served: requests in
        flight are answered (a create admitted before the stop gets its `CreateTaskResult`), new
        ones get `ServerStopping` (-32011), and running tools get the shutdown grace. After that
        the SDK's stdin reader may stay blocked in a thread until the client writes or closes
        stdin (a blocking read cannot be interrupted); this returns regardless, and a process that
        wants to exit at once should leave with `os._exit` after cleanup.
        """
        async with self.lifespan():
            owner = current_local_user()
            logger.info(
                "stdio tasks belong to the local user %s (%s)",
                owner.subject,
                owner.key,
                extra={"action": "stdio_owner"},
            )
            # The task serving the pipe, and every task it starts, inherits the owner.
            with stdio_owner(owner):
                serving = asyncio.ensure_future(run_stdio_guarded(self.mcp))
            stopping = asyncio.ensure_future(self._stop_requested.wait())
            try:
                await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if stopping.done() and self._executor is not None:
                    await self._executor.stop()
            finally:
                stopping.cancel()
                serving.cancel()
                await asyncio.wait({serving, stopping}, timeout=STDIO_STOP_WAIT_S)

    def streamable_http_app(self, *, host: str = "127.0.0.1", path: str = "/mcp") -> Starlette:
        """The Streamable HTTP ASGI app (stateful 2025-11-25 sessions and 2026-07-28 requests on `path`).

        DNS-rebinding protection is on for loopback hosts (the SDK's default). With `auth`
        configured, every request needs a bearer token (401/403 with `WWW-Authenticate` otherwise)
        and `/.well-known/oauth-protected-resource{path}` serves the RFC 9728 metadata.
        Raises: RuntimeError when auth is configured and the server is not open yet.
        """
        if self.settings.auth is not None and self.state is not ServerState.OPENED:
            raise RuntimeError("open the TaskServer before building its authenticated HTTP app")
        app = self.mcp.streamable_http_app(host=host, streamable_http_path=path)
        if self.settings.auth is not None:
            refine_auth_routes(app, path, protected_resource_metadata(self.settings.auth))
        guard_envelopes(app, path, self.mcp.session_manager)
        app.add_middleware(GetStreamTracker, streams=self._runtime.get_streams, path=path)
        app.add_middleware(ResponseModeMiddleware, path=path, answers_at_once=self._runtime.answers_at_once)
        app.router.routes.extend(health_routes(self.readiness))
        # Outermost: during a stop, nothing new reaches the MCP layer (in-flight requests finish).
        app.add_middleware(StoppingMiddleware, stopping=lambda: self._runtime.stopping)
        answer_with_json_per_request(self.mcp)
        return app

    async def run_http_async(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 8000,
        path: str = "/mcp",
        on_listening: Callable[[], None] | None = None,
    ) -> None:
        """Serve Streamable HTTP on `http://host:port/path` until `request_stop()` is called.

        A stop first stops the executor (running tools get the shutdown grace, then are failed as
        interrupted, which also answers every pending `tasks/result`), then asks uvicorn to exit,
        closing open streams and giving other connections `HTTP_CLOSE_GRACE_S`. Signals are the
        caller's (the CLI maps SIGINT/SIGTERM to `request_stop()`): uvicorn's own handlers would
        re-raise the signal before running tasks get their grace.
        `on_listening()` is called once the socket accepts connections.
        Raises: ConfigurationError when the address cannot be bound.
        """
        async with self.lifespan():
            config = uvicorn.Config(
                self.streamable_http_app(host=host, path=path),
                host=host,
                port=port,
                log_level="warning",
                timeout_graceful_shutdown=HTTP_CLOSE_GRACE_S,
                # No access log (log_level hides it anyway); httptools, a C HTTP parser, is used
                # when installed (a dependency): uvicorn's "auto".
                access_log=False,
            )
            server = uvicorn.Server(config)
            server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign, assignment]

            async def stop_when_requested() -> None:
                await self._stop_requested.wait()
                if self._executor is not None:
                    await self._executor.stop()
                # handle_exit (not just should_exit) also ends SSE streams, which watch for it.
                server.handle_exit(signal.SIGTERM, None)

            async def announce_when_listening() -> None:
                # uvicorn offers only its `started` flag, no event to wait on.
                while not server.started:  # noqa: ASYNC110
                    await asyncio.sleep(HTTP_STARTED_POLL_S)
                if on_listening is not None:
                    on_listening()

            watcher = asyncio.ensure_future(stop_when_requested())
            announcer = asyncio.ensure_future(announce_when_listening())
            try:
                try:
                    await server.serve()
                except SystemExit:  # uvicorn exits when it cannot bind
                    server.started = False
                if not server.started:
                    raise ConfigurationError(f"could not listen on http://{host}:{port}{path}")
            finally:
                for side in (watcher, announcer):
                    side.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await side


__all__ = ["ConfigurationError", "ServerState", "Settings", "TaskServer"]
