"""`TaskClient`: an MCP client that runs tools as tasks, on whichever task wire the server offers."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any, Self, get_args

import anyio
import anyio.abc
from mcp.client import Client, Transport
from mcp.client.stdio import StdioServerParameters
from mcp_types import CallToolResult, Implementation
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from mcptasks.client import sep2663
from mcptasks.client._config import LEGACY_WIRE, MODERN_WIRE, TASKS_EXTENSION, Wire, WireChoice
from mcptasks.client._driver import Driver
from mcptasks.client._errors import NoTaskWire
from mcptasks.client._events import LegacyEvents
from mcptasks.client._extension import TasksExtension
from mcptasks.client._handle import TaskHandle
from mcptasks.client._legacy import LegacyDriver
from mcptasks.client._models import TaskPage
from mcptasks.client._modern import ModernDriver
from mcptasks.client._questions import ElicitationHandler, Handlers, SamplingHandler

__all__ = ["TaskClient"]

#: Where the server is: a Streamable HTTP URL, a command to run over stdio, or an SDK transport.
Server = str | StdioServerParameters | Transport


class _State(enum.Enum):
    #: Made, not yet opened with `async with`.
    UNOPENED = 1
    #: Connected: tools can be called and tasks read.
    OPENED = 2
    #: Closed: a client is opened once.
    CLOSED = 3


class TaskClient:
    """An MCP client that calls tools as tasks and follows them, on either task wire.

    Built on the `mcp` SDK's `Client` (its transports, session and extension hook). On entering,
    it connects and picks the task wire the server offers: with `wire="auto"` (default), the
    SEP-2663 extension on 2026-07-28 when the server offers it, else MCP 2025-11-25 tasks.

        async with TaskClient("http://127.0.0.1:8000/mcp", on_elicitation=ask_user) as client:
            handle = await client.call_tool_as_task("count_to", {"n": 5, "delay_ms": 200})
            print(handle.task_id)
            result = await handle.result()

    Parameters:
        server: a Streamable HTTP URL (`"http://host:port/mcp"`), a `StdioServerParameters`
            (the server is started as a subprocess and spoken to over stdio), or any SDK
            `Transport` (e.g. `streamable_http_client(url, http_client=...)` to send a bearer
            token). With a `Transport`, `wire="auto"` cannot fall back to 2025-11-25 after a
            2026-07-28 server that lacks the extension (a transport connects once).
        wire: `"auto"`, `"2025-11-25"` or `"2026-07-28"`.
        on_elicitation: answers elicitation questions of tasks (both wires), see
            `ElicitationHandler`.
        on_sampling: answers sampling questions of tasks (both wires), see `SamplingHandler`.
        elicitation: declare the `elicitation` capability, so tools may ask such questions;
            default: when `on_elicitation` is given. Declared without a handler, questions wait
            for `TaskHandle.answer()`. Not declared, a tool that asks fails (-32021).
        sampling: the same for `sampling` and `on_sampling`.
        client_info: the name and version the client announces.
        read_timeout_s: how long any single request may wait for its answer, in seconds
            (default: no limit; `tasks/result` blocks until the task ends).

    A handler's exception on 2026-07-28 propagates out of `wait()`/`result()`/the update
    iteration that called it (the question stays unanswered). On 2025-11-25 the handler runs when
    the server's request arrives: its exception is logged (logger `mcptasks.client`) and the
    server is answered `-32603` without the exception's text (the question stays outstanding).

    Raises on entering: NoTaskWire (the server offers no task wire, or not the one asked for);
    TransportError / RequestError (the connection or the handshake failed).
    Spec: MCP 2025-11-25 tasks (part A1 of the protocol reference); SEP-2663 (part A2).
    """

    def __init__(
        self,
        server: Server,
        *,
        wire: WireChoice = "auto",
        on_elicitation: ElicitationHandler | None = None,
        on_sampling: SamplingHandler | None = None,
        elicitation: bool | None = None,
        sampling: bool | None = None,
        client_info: Implementation | None = None,
        read_timeout_s: float | None = None,
    ) -> None:
        if wire not in get_args(WireChoice):
            raise ValueError(f"wire must be one of {list(get_args(WireChoice))}; got {wire!r}")
        self._server = server
        self._wire_choice: WireChoice = wire
        self._handlers = Handlers(
            on_elicitation=on_elicitation,
            on_sampling=on_sampling,
            elicitation=on_elicitation is not None if elicitation is None else elicitation,
            sampling=on_sampling is not None if sampling is None else sampling,
        )
        self._client_info = client_info
        self._read_timeout_s = read_timeout_s
        self._events = LegacyEvents(self._handlers)
        self._state = _State.UNOPENED
        self._stack: AsyncExitStack | None = None
        self._mcp: Client | None = None
        self._driver: Driver | None = None
        self._task_group: anyio.abc.TaskGroup | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._state is _State.OPENED:
            raise RuntimeError("this TaskClient is already open")
        if self._state is _State.CLOSED:
            raise RuntimeError("this TaskClient was closed; make a new TaskClient to connect again")
        stack = AsyncExitStack()
        try:
            client, wire = await self._connect(stack)
            task_group = await stack.enter_async_context(anyio.create_task_group())
            # Runs first on exit: background requests stop before the connection closes.
            stack.callback(task_group.cancel_scope.cancel)
        except BaseException:
            await stack.aclose()
            raise
        self._stack, self._mcp, self._task_group = stack, client, task_group
        if wire == LEGACY_WIRE:
            capabilities = client.server_capabilities.tasks
            self._driver = LegacyDriver(
                client.session,
                self._events,
                self._spawn,
                can_list=capabilities is not None and capabilities.list is not None,
            )
        else:
            self._driver = ModernDriver(client.session, self._handlers)
        self._state = _State.OPENED
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        self._state = _State.CLOSED
        self._driver = self._mcp = self._task_group = None
        if stack is not None:
            # The body's exception is not handed down: the task group would wrap it in an
            # ExceptionGroup. It propagates unchanged once the connection is closed.
            await stack.aclose()

    async def _connect(self, stack: AsyncExitStack) -> tuple[Client, Wire]:
        """Connect and pick the wire (see the class docstring); the connection joins `stack`."""
        choice = self._wire_choice
        client = await self._open(stack, "legacy" if choice == LEGACY_WIRE else "auto")
        wire = _offered_wire(client)
        if (
            wire is None
            and choice == "auto"
            and client.protocol_version in MODERN_PROTOCOL_VERSIONS
            and isinstance(self._server, str | StdioServerParameters)
        ):
            # A 2026-07-28 server without the extension may still serve 2025-11-25 tasks.
            await stack.aclose()
            client = await self._open(stack, "legacy")
            wire = _offered_wire(client)
        if wire is None or (choice != "auto" and wire != choice):
            wanted = "a task wire" if choice == "auto" else f"tasks on {choice}"
            raise NoTaskWire(
                f"the server does not offer {wanted}: it declares neither the extension "
                f"{TASKS_EXTENSION} on 2026-07-28 nor capabilities.tasks.requests.tools.call on "
                f"2025-11-25 (negotiated protocol version {client.protocol_version})"
            )
        return client, wire

    async def _open(self, stack: AsyncExitStack, mode: str) -> Client:
        client = Client(
            self._server,
            mode=mode,
            read_timeout_seconds=self._read_timeout_s,
            client_info=self._client_info,
            elicitation_callback=self._events.on_elicitation if self._handlers.elicitation else None,
            sampling_callback=self._events.on_sampling if self._handlers.sampling else None,
            message_handler=self._events.on_message,
            extensions=[TasksExtension(resolve=self._finish_claimed_task, on_status=self._events.on_status)],
        )
        return await stack.enter_async_context(client)

    def _spawn(self, work: Callable[[], Awaitable[None]]) -> anyio.CancelScope:
        """Run `work()` in the client's task group; cancelling the returned scope stops it."""
        if self._task_group is None:
            raise RuntimeError("this TaskClient is closed; a handle is used while its client is open")
        scope = anyio.CancelScope()

        async def run() -> None:
            with scope:
                await work()

        self._task_group.start_soon(run)
        return scope

    def _require_open(self) -> Driver:
        if self._state is _State.UNOPENED:
            raise RuntimeError("open the TaskClient first: `async with TaskClient(...) as client:`")
        if self._driver is None:
            raise RuntimeError("this TaskClient is closed")
        return self._driver

    async def _finish_claimed_task(self, created: sep2663.CreateTaskResult) -> CallToolResult:
        """A task met by a plain `mcp.Client.call_tool` of `self.mcp`: wait for its result."""
        handle = TaskHandle(self._require_open(), created.task_id, snapshot=sep2663.snapshot(created))
        return await handle.result()

    # -- the API --------------------------------------------------------------------------------

    @property
    def wire(self) -> Wire:
        """The task wire in use: `"2025-11-25"` or `"2026-07-28"`."""
        return self._require_open().wire

    @property
    def mcp(self) -> Client:
        """The SDK's `Client` underneath, for everything that is not a task (`list_tools`, ...)."""
        self._require_open()
        assert self._mcp is not None
        return self._mcp

    async def call_tool_as_task(
        self, name: str, arguments: Mapping[str, Any] | None = None, *, ttl_ms: int | None = None
    ) -> TaskHandle:
        """Call the tool `name` as a task; return its handle as soon as the server answers.

        `ttl_ms` asks the server to keep the task that long after its creation, in ms (2025-11-25
        `params.task.ttl`; the server may cap it; None: the server's default). SEP-2663 has no
        such request: on 2026-07-28 the server decides and `ttl_ms` is not sent.

        2026-07-28: the server may answer the result at once instead of a task; the handle is
        then terminal already (`task_id` None). Questions the server asks before it creates the
        task are answered by the handlers.
        Raises: RequestError (e.g. -32602 bad arguments, -32601 a tool that never runs as a task
        on 2025-11-25); MissingHandler (a question before the task, no handler for it).
        Spec: 2025-11-25 "Creating Tasks"; SEP-2663 "Task Creation".
        """
        driver = self._require_open()
        created = await driver.create(name, dict(arguments or {}), ttl_ms)
        return TaskHandle(
            driver, created.snapshot.task_id, snapshot=created.snapshot, immediate=created.result
        )

    async def call_tool(
        self, name: str, arguments: Mapping[str, Any] | None = None, *, ttl_ms: int | None = None
    ) -> CallToolResult:
        """`call_tool_as_task()`, then `result()`: the tool's result, run as a task.

        Raises: as `call_tool_as_task()` and `TaskHandle.result()`.
        """
        handle = await self.call_tool_as_task(name, arguments, ttl_ms=ttl_ms)
        return await handle.result()

    def task(self, task_id: str) -> TaskHandle:
        """The handle of an existing task, by id: resume a task made earlier or elsewhere.

        Sends nothing; the first request of the handle finds out whether the server lets this
        client read the task (`TaskNotFoundError` otherwise). Who may: on 2026-07-28 without
        authentication, anyone with the id; on 2025-11-25 without authentication, only the session
        that made it; with OAuth, the same principal from any session.
        """
        return TaskHandle(self._require_open(), task_id)

    async def list_tasks(self, *, cursor: str | None = None) -> TaskPage:
        """One page of this client's tasks (`tasks/list`, 2025-11-25 only).

        `cursor`: the `next_cursor` of the previous page, or None for the first.
        Raises: UnsupportedOnWire (2026-07-28 has no `tasks/list`; or the server does not offer it).
        """
        return await self._require_open().list_tasks(cursor)

    def __repr__(self) -> str:
        wire = self._driver.wire if self._driver is not None else self._wire_choice
        return f"<TaskClient {self._state.name.lower()} wire={wire}>"


def _offered_wire(client: Client) -> Wire | None:
    """The task wire the connected server offers, or None."""
    capabilities = client.server_capabilities
    if client.protocol_version in MODERN_PROTOCOL_VERSIONS:
        return MODERN_WIRE if TASKS_EXTENSION in (capabilities.extensions or {}) else None
    tasks = capabilities.tasks
    requests = tasks.requests if tasks is not None else None
    tools = requests.tools if requests is not None else None
    return LEGACY_WIRE if tools is not None and tools.call is not None else None
