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

Long on purpose: `TaskServer` is both the public class and the composition root (configuration,
lifecycle, transports); the request-time parts live in their own modules.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import uvicorn
from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette

from mcptasks.auth.config import AuthConfig
from mcptasks.core.errors import ConfigurationError, StoreError
from mcptasks.core.model import RecoveryPolicy, TaskSupport
from mcptasks.runtime.bus import TaskBus
from mcptasks.runtime.executor import Executor
from mcptasks.runtime.manager import TaskManager
from mcptasks.runtime.options import Leases, Retention
from mcptasks.server.auth import build_auth, protected_resource_metadata
from mcptasks.server.calls import answers_at_once
from mcptasks.server.envelope import guard_envelopes
from mcptasks.server.guard import ErrorGuardMiddleware
from mcptasks.server.health import READY_TIMEOUT_S, health_routes
from mcptasks.server.logs import install_redaction
from mcptasks.server.owner import OwnerScope, current_local_user, stdio_owner
from mcptasks.server.plain import PlainToolMiddleware
from mcptasks.server.registry import ToolRegistry
from mcptasks.server.responses import ResponseModeMiddleware
from mcptasks.server.sep2663 import TasksExtension
from mcptasks.server.state import ServerState
from mcptasks.server.stopping import StoppingMiddleware
from mcptasks.server.tools import build_tool
from mcptasks.server.v2025_11_25.middleware import TasksMiddleware
from mcptasks.server.v2025_11_25.questions import CLIENT_REQUEST_TIMEOUT_S
from mcptasks.server.v2025_11_25.streams import GetStreamTracker
from mcptasks.server.workarounds import (
    answer_with_json_per_request,
    apply_auth,
    refine_auth_routes,
    run_stdio_guarded,
    spans_only_when_traced,
)
from mcptasks.store import migrate
from mcptasks.store.engine import create_engines, database_url, describe_url, is_memory
from mcptasks.store.sqlite import sqlite_version_problem
from mcptasks.store.store import Store
from mcptasks.store.view import DEFAULT_CAPACITY as VIEW_CAPACITY

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


class Lifecycle(enum.Enum):
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
    #: Also how long a 2026-07-28 inline call waits, suspended, for the retry carrying its answers.
    client_request_timeout_s: float = CLIENT_REQUEST_TIMEOUT_S
    #: Most tasks the in-process view remembers (`store.view.TaskView`; about 1-2 KB each): reads
    #: of other tasks go to the database.
    view_capacity: int = VIEW_CAPACITY


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
        self.lifecycle = Lifecycle.UNOPENED
        install_redaction()  # the SDK logs session ids, the credential of a session without OAuth
        # log_level: MCPServer calls logging.basicConfig; the CLI configures logging before this,
        # and a library user keeps their own configuration, so ask for no more than warnings.
        extension = TasksExtension()
        self.mcp: MCPServer[Any] = MCPServer(
            name,
            version=version,
            instructions=instructions,
            lifespan=self._sdk_lifespan,
            log_level="WARNING",
            extensions=[extension],
        )
        self._state = ServerState(self.mcp, ToolRegistry(self.mcp), self.settings.owner_scope)
        self._state.questions.timeout_s = self.settings.client_request_timeout_s
        self._state.rounds.keep_s = self.settings.client_request_timeout_s
        extension.bind(self._state)
        # Inside the SDK's own middleware; the guard is outermost of ours.
        self.mcp.middleware.extend(
            [
                ErrorGuardMiddleware(self._state),
                TasksMiddleware(self._state),
                PlainToolMiddleware(self._state),
            ]
        )
        spans_only_when_traced(self.mcp)
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
        if self.lifecycle is not Lifecycle.UNOPENED:
            raise RuntimeError("configure() must be called before the TaskServer is opened")
        self.settings = replace(self.settings, **changes)
        self._state.owner_scope = self.settings.owner_scope
        self._state.questions.timeout_s = self.settings.client_request_timeout_s
        self._state.rounds.keep_s = self.settings.client_request_timeout_s

    def tool(
        self,
        name: str | None = None,
        *,
        task_support: TaskSupport = "optional",
        on_restart: RecoveryPolicy = "fail",
        title: str | None = None,
        description: str | None = None,
        structured_output: bool | None = None,
        inline_grace_ms: int | None = None,
    ) -> Callable[[F], F]:
        """Register a tool that may run as a task.

        A parameter annotated `TaskContext` receives the task context and is not part of the input
        schema; the schema comes from the other typed parameters. The return value becomes the
        `CallToolResult` the way the SDK makes one. `task_support` is "optional" (default),
        "required" or "forbidden" (2025-11-25 `execution.taskSupport`). `on_restart` decides what
        happens to a task whose server stopped (or crashed) while it ran or waited for input:
        "fail" (default) fails it at the next start; "rerun" runs the tool again from its start as
        the next attempt, where questions answered before return their answers without asking.
        `inline_grace_ms` (off by default): a call that would create a task (2026-07-28, the client
        declared the tasks extension) first runs inline for up to that many ms; if the tool
        finishes in time the plain result is answered and nothing is stored (no task, no record
        of the call), else (or at its first question) the running tool goes on as a new task.
        Raises: ValueError for a bad `task_support`, `on_restart` or `inline_grace_ms`, or a
        duplicate name.
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
                inline_grace_ms=inline_grace_ms,
            )
            self._state.tools.add(entry)
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
    def tools(self) -> ToolRegistry:
        """The task tools this server serves (`server.tools.get(name)`)."""
        return self._state.tools

    @property
    def manager(self) -> TaskManager:
        """The task manager both wires use; only while open."""
        return self._state.manager

    def state_sizes(self) -> dict[str, int]:
        """How many entries each per-task and per-connection map of this process holds now.

        Keys: `bus_tasks` (tasks someone waits on), `bus_waiters` (their waiters), `held_polls`
        (active tasks whose last poll is remembered), `view` (tasks in the in-process view, bounded
        by its capacity), `get_streams` (sessions with a GET stream open), `result_streams`,
        `questions_in_flight` (`questions.TaskQuestions`), `inline_calls_waiting` (2026-07-28 inline
        calls suspended between question rounds, `inline.InlineRounds`), and the notifier's `notify_*`
        (`notify.TaskNotifier.sizes`). With no task active and no stream open, all are 0 but
        `view` and `notify_connections_watched`
        (one per open connection that created a task). For tests and operators.
        """
        state = self._state
        sizes = {"get_streams": len(state.get_streams), "inline_calls_waiting": len(state.rounds)}
        sizes.update(state.questions.sizes())
        sizes.update(state.notifier.sizes())
        manager = state.opened_manager
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
        if self.lifecycle is not Lifecycle.UNOPENED:
            raise RuntimeError(f"cannot open a TaskServer that is {self.lifecycle.name.lower()}")
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
        bus.on_status(self._state.notifier.on_status)
        bus.add_interest(self._state.notifier.has_channel)
        bus.on_progress(self._state.notifier.on_progress)
        bus.on_input(self._state.questions.on_input)
        executor = Executor(
            store,
            bus,
            leases=self.settings.leases,
            retention=self.settings.retention,
            resolver=self._state.tools,
        )
        try:
            await executor.start()
        except BaseException:
            await store.close()
            raise
        self._store, self._executor = store, executor
        self._state.opened_manager = TaskManager(store, executor, bus, self.settings.retention)
        self.lifecycle = Lifecycle.OPENED
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
        if self.lifecycle is not Lifecycle.OPENED:
            return
        self.lifecycle = Lifecycle.CLOSED
        self._state.stopping = True
        self._state.rounds.close()
        assert self._executor is not None and self._store is not None
        try:
            await self._executor.stop()
        finally:
            self._state.opened_manager = None
            try:
                await self._resources.aclose()
            finally:
                await self._store.close()

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[TaskServer]:
        """Open the server for the duration of the block, unless it is open already."""
        if self.lifecycle is Lifecycle.OPENED:
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
            "accepting": not self._state.stopping,
        }
        store, executor = self._store, self._executor
        if self.lifecycle is not Lifecycle.OPENED or store is None or executor is None:
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
        self._state.stopping = True
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
        if self.settings.auth is not None and self.lifecycle is not Lifecycle.OPENED:
            raise RuntimeError("open the TaskServer before building its authenticated HTTP app")
        app = self.mcp.streamable_http_app(host=host, streamable_http_path=path)
        if self.settings.auth is not None:
            refine_auth_routes(app, path, protected_resource_metadata(self.settings.auth))
        guard_envelopes(app, path, self.mcp.session_manager)
        app.add_middleware(GetStreamTracker, streams=self._state.get_streams, path=path)
        app.add_middleware(
            ResponseModeMiddleware, path=path, answers_at_once=functools.partial(answers_at_once, self._state)
        )
        app.router.routes.extend(health_routes(self.readiness))
        # Outermost: during a stop, nothing new reaches the MCP layer (in-flight requests finish).
        app.add_middleware(StoppingMiddleware, stopping=lambda: self._state.stopping)
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


__all__ = ["ConfigurationError", "Lifecycle", "Settings", "TaskServer"]
