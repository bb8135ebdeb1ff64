"""The MCP conformance fixture: `mcptasks serve tests/conformance/fixture_app.py:server --port P`.

It serves what the official conformance suite (`@modelcontextprotocol/conformance`, server side)
calls, on one Streamable HTTP endpoint for both wires (2025-11-25 sessions, 2026-07-28 stateless
requests): the fixture tools, resources and prompts of the suite's scenarios, and the SEP-2663
tasks tools, which run as real durable mcptasks tasks. `scripts/conformance` runs the suite
against it; `tests/conformance` checks the same surface without Node.

- Plain tools, resources and prompts are the SDK's own, registered on `server.mcp` (they use the
  SDK's `Context` for progress, logging, elicitation, sampling and the 2026-07-28
  multi-round-trip `InputRequiredResult`).
- `slow_compute`, `failing_job`, `protocol_error_job`, `confirm_delete`, `multi_input` and
  `test_tool_with_task` are mcptasks tools (`@server.tool`): a task when the client declares
  `io.modelcontextprotocol/tasks` on a 2026-07-28 request, inline otherwise (or -32021 for the
  `required` ones). `greet` is a plain SDK tool, never a task.

`test_simple_text` is registered first: some scenarios call `tools[0]` with no arguments.
"""

# No `from __future__ import annotations`: the tools' annotations are read when they are registered.

import asyncio
import base64
import contextlib
import io
import json
import struct
import warnings
import wave
import zlib
from collections.abc import Iterator
from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.prompts.base import Message, UserMessage
from mcp.server.mcpserver.resolve import Elicit, Resolve
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp_types import (
    INTERNAL_ERROR,
    MISSING_REQUIRED_CLIENT_CAPABILITY,
    AudioContent,
    CallToolResult,
    CompleteRequestParams,
    CompleteResult,
    Completion,
    CreateMessageRequest,
    CreateMessageRequestParams,
    CreateMessageResult,
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitResult,
    EmbeddedResource,
    EmptyResult,
    ImageContent,
    InputRequest,
    InputRequiredResult,
    ListRootsRequest,
    ListRootsResult,
    SamplingMessage,
    SetLevelRequestParams,
    SubscribeRequestParams,
    TextContent,
    TextResourceContents,
    UnsubscribeRequestParams,
)
from pydantic import BaseModel, Field

from mcptasks import TaskContext, TaskServer, __version__

__all__ = ["server"]

server = TaskServer(
    "mcptasks-conformance",
    version=__version__,
    instructions="The MCP conformance fixture of mcptasks: not a useful server.",
)
mcp = server.mcp


# -- media ---------------------------------------------------------------------------------------


def _png_1x1() -> str:
    """A 1x1 red PNG, base64."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8-bit RGB
    pixels = zlib.compress(b"\x00\xff\x00\x00")  # filter byte, then one red pixel
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    return base64.b64encode(png).decode()


def _wav_silence() -> str:
    """A tenth of a second of 8 kHz mono silence, base64."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(1)
        out.setframerate(8000)
        out.writeframes(b"\x80" * 800)
    return base64.b64encode(buffer.getvalue()).decode()


PNG_BASE64 = _png_1x1()
WAV_BASE64 = _wav_silence()


@contextlib.contextmanager
def _deprecated_ok() -> Iterator[None]:
    """Logging, sampling and roots are deprecated at 2026-07-28; the 2025-11-25 scenarios use them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        yield


# -- content tools (both wires) ------------------------------------------------------------------


@mcp.tool(structured_output=False)
def test_simple_text() -> str:
    """Return a simple text response."""
    return "This is a simple text response for testing."


@mcp.tool(structured_output=False)
def test_image_content() -> ImageContent:
    """Return a 1x1 PNG image."""
    return ImageContent(type="image", data=PNG_BASE64, mime_type="image/png")


@mcp.tool(structured_output=False)
def test_audio_content() -> AudioContent:
    """Return a short WAV clip."""
    return AudioContent(type="audio", data=WAV_BASE64, mime_type="audio/wav")


@mcp.tool(structured_output=False)
def test_embedded_resource() -> EmbeddedResource:
    """Return an embedded text resource."""
    return EmbeddedResource(
        type="resource",
        resource=TextResourceContents(
            uri="test://embedded-resource",
            mime_type="text/plain",
            text="This is an embedded resource content.",
        ),
    )


@mcp.tool(structured_output=False)
def test_multiple_content_types() -> list[TextContent | ImageContent | EmbeddedResource]:
    """Return text, an image and an embedded resource."""
    return [
        TextContent(type="text", text="Multiple content types test:"),
        ImageContent(type="image", data=PNG_BASE64, mime_type="image/png"),
        EmbeddedResource(
            type="resource",
            resource=TextResourceContents(
                uri="test://mixed-content-resource",
                mime_type="application/json",
                text=json.dumps({"test": "data", "value": 123}),
            ),
        ),
    ]


@mcp.tool(structured_output=False)
async def test_tool_with_logging(ctx: Context) -> str:
    """Send three info log messages, 50 ms apart (2025-11-25; on 2026-07-28 only when opted in)."""
    with _deprecated_ok():
        await ctx.info("Tool execution started")
        await asyncio.sleep(0.05)
        await ctx.info("Tool processing data")
        await asyncio.sleep(0.05)
        await ctx.info("Tool execution completed")
    return "Logging test completed"


@mcp.tool(structured_output=False)
async def test_tool_with_progress(ctx: Context) -> str:
    """Report progress 0, 50 and 100 of 100, 50 ms apart, and return the progress token."""
    await ctx.report_progress(0, 100, "Starting")
    await asyncio.sleep(0.05)
    await ctx.report_progress(50, 100, "Halfway")
    await asyncio.sleep(0.05)
    await ctx.report_progress(100, 100, "Done")
    meta = ctx.request_context.meta or {}
    return str(meta.get("progress_token", meta.get("progressToken", "no progress token")))


@mcp.tool(structured_output=False)
def test_error_handling() -> CallToolResult:
    """Always answer a tool execution error (`isError: true`)."""
    text = TextContent(type="text", text="This tool intentionally returns an error for testing")
    return CallToolResult(content=[text], is_error=True)


# -- server-to-client requests (2025-11-25) ------------------------------------------------------


@mcp.tool(structured_output=False)
async def test_sampling(prompt: str, ctx: Context) -> str:
    """Ask the client's model (`sampling/createMessage`) and return its answer."""
    try:
        with _deprecated_ok():
            result = await ctx.session.create_message(
                [SamplingMessage(role="user", content=TextContent(type="text", text=prompt))],
                max_tokens=100,
                related_request_id=ctx.request_id,
            )
    except Exception as exc:  # the scenario wants text, not an error, when sampling fails
        return f"Sampling failed: {exc}"
    content = result.content
    text = content.text if isinstance(content, TextContent) else str(content)
    return f"LLM response: {text}"


@mcp.tool(structured_output=False)
async def test_elicitation(message: str, ctx: Context) -> str:
    """Ask the user for a username and an email (`elicitation/create`)."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "username": {"type": "string", "description": "User's response"},
            "email": {"type": "string", "description": "User's email address"},
        },
        "required": ["username", "email"],
    }
    result = await ctx.session.elicit_form(message, schema, related_request_id=ctx.request_id)
    return f"User response: action={result.action}, content={json.dumps(result.content)}"


@mcp.tool(structured_output=False)
async def test_elicitation_sep1034_defaults(ctx: Context) -> str:
    """Elicit a form whose fields all have defaults (SEP-1034)."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "User name", "default": "John Doe"},
            "age": {"type": "integer", "description": "User age", "default": 30},
            "score": {"type": "number", "description": "User score", "default": 95.5},
            "status": {
                "type": "string",
                "description": "User status",
                "enum": ["active", "inactive", "pending"],
                "default": "active",
            },
            "verified": {"type": "boolean", "description": "Verified user", "default": True},
        },
        "required": [],
    }
    result = await ctx.session.elicit_form(
        "Please review and update the form fields with defaults", schema, related_request_id=ctx.request_id
    )
    return f"Elicitation completed: action={result.action}, content={json.dumps(result.content)}"


@mcp.tool(structured_output=False)
async def test_elicitation_sep1330_enums(ctx: Context) -> str:
    """Elicit a form with the five enum shapes of SEP-1330."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
            "titledSingle": {
                "type": "string",
                "oneOf": [
                    {"const": "value1", "title": "First Option"},
                    {"const": "value2", "title": "Second Option"},
                    {"const": "value3", "title": "Third Option"},
                ],
            },
            "legacyEnum": {
                "type": "string",
                "enum": ["opt1", "opt2", "opt3"],
                "enumNames": ["Option One", "Option Two", "Option Three"],
            },
            "untitledMulti": {
                "type": "array",
                "items": {"type": "string", "enum": ["option1", "option2", "option3"]},
            },
            "titledMulti": {
                "type": "array",
                "items": {
                    "anyOf": [
                        {"const": "value1", "title": "First Choice"},
                        {"const": "value2", "title": "Second Choice"},
                        {"const": "value3", "title": "Third Choice"},
                    ]
                },
            },
        },
        "required": [],
    }
    result = await ctx.session.elicit_form(
        "Please choose among the enum options", schema, related_request_id=ctx.request_id
    )
    return f"Elicitation completed: action={result.action}, content={json.dumps(result.content)}"


# -- JSON Schema 2020-12 (both wires) -------------------------------------------------------------

JSON_SCHEMA_2020_12: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "$anchor": "addressDef",
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}


class _Address(BaseModel):
    street: str | None = None
    city: str | None = None


@mcp.tool(structured_output=False)
def json_schema_2020_12_tool(
    name: str | None = None,
    address: _Address | None = None,
    contactMethod: str | None = None,  # the schema's property name
    phone: str | None = None,
    email: str | None = None,
) -> str:
    """Echo arguments validated by a JSON Schema 2020-12 input schema (published verbatim)."""
    arguments = {
        "name": name,
        "address": address.model_dump(exclude_none=True) if address else None,
        "contactMethod": contactMethod,
        "phone": phone,
        "email": email,
    }
    return json.dumps({k: v for k, v in arguments.items() if v is not None})


# The SDK derives a tool's inputSchema from its signature; this one publishes the fixture's schema
# exactly (the arguments are still validated by the signature's model).
_json_schema_tool = mcp._tool_manager.get_tool("json_schema_2020_12_tool")
assert _json_schema_tool is not None
_json_schema_tool.parameters = JSON_SCHEMA_2020_12


# -- transport hooks -------------------------------------------------------------------------------


@mcp.tool(structured_output=False)
async def test_reconnection(ctx: Context) -> str:
    """Close this request's SSE stream mid-call, for resumption by `Last-Event-ID` (SEP-1699).

    mcptasks configures no SSE event store, so the SDK makes this a no-op and the result arrives
    on the same stream (the suite's `server-sse-polling` only warns about that).
    """
    await asyncio.sleep(0.05)
    await ctx.close_sse_stream()
    await asyncio.sleep(0.1)
    return "Reconnection test completed"


@mcp.tool(structured_output=False)
def test_x_mcp_header(
    region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})] = "<none>",
) -> str:
    """Echo `region`, mirrored in the `Mcp-Param-Region` header (SEP-2243)."""
    return f"region={region}"


@mcp.tool(structured_output=False)
def test_missing_capability(ctx: Context) -> str:
    """Refuse with -32021 unless the request declares the sampling capability (SEP-2575)."""
    capabilities = ctx.client_capabilities
    if capabilities is None or capabilities.sampling is None:
        raise MCPError(
            code=MISSING_REQUIRED_CLIENT_CAPABILITY,
            message="This tool needs the sampling capability",
            data={"requiredCapabilities": {"sampling": {}}},
        )
    return "The client declared sampling"


@mcp.tool(structured_output=False)
async def test_streaming_elicitation(ctx: Context) -> str:
    """Answer without any server-to-client request on the response stream (2026-07-28)."""
    await ctx.report_progress(1, 1, "No server-to-client request is sent on this wire")
    return "No elicitation was sent on the response stream"


@mcp.tool(structured_output=False)
async def test_logging_tool(ctx: Context) -> str:
    """Log at info; on 2026-07-28 it reaches the client only when the request set a log level."""
    with _deprecated_ok():
        await ctx.info("test_logging_tool ran")
    return "Logged (if the request opted in)"


@mcp.tool(structured_output=False)
async def test_trigger_tool_change(ctx: Context) -> str:
    """Announce `notifications/tools/list_changed` to the open `subscriptions/listen` streams."""
    await ctx.notify_tools_changed()
    return "Tools list change announced"


@mcp.tool(structured_output=False)
async def test_trigger_prompt_change(ctx: Context) -> str:
    """Announce `notifications/prompts/list_changed` to the open `subscriptions/listen` streams."""
    await ctx.notify_prompts_changed()
    return "Prompts list change announced"


# -- multi-round-trip input (SEP-2322, 2026-07-28) -------------------------------------------------


def _elicit(message: str, properties: dict[str, Any]) -> ElicitRequest:
    schema = {"type": "object", "properties": properties, "required": list(properties)}
    return ElicitRequest(params=ElicitRequestFormParams(message=message, requested_schema=schema))


def _sample(text: str, max_tokens: int) -> CreateMessageRequest:
    message = SamplingMessage(role="user", content=TextContent(type="text", text=text))
    return CreateMessageRequest(params=CreateMessageRequestParams(messages=[message], max_tokens=max_tokens))


def _accepted(ctx: Context, key: str) -> dict[str, Any] | None:
    """The content of an accepted elicitation answer under `key`, else None."""
    answer = (ctx.input_responses or {}).get(key)
    if isinstance(answer, ElicitResult) and answer.action == "accept" and isinstance(answer.content, dict):
        return answer.content
    return None


def _sampled(ctx: Context, key: str) -> str | None:
    answer = (ctx.input_responses or {}).get(key)
    if isinstance(answer, CreateMessageResult):
        content = answer.content
        return content.text if isinstance(content, TextContent) else str(content)
    return None


def _roots(ctx: Context, key: str) -> ListRootsResult | None:
    answer = (ctx.input_responses or {}).get(key)
    return answer if isinstance(answer, ListRootsResult) else None


NAME_QUESTION = {"name": {"type": "string"}}


@mcp.tool(structured_output=False)
def test_input_required_result_elicitation(ctx: Context) -> str | InputRequiredResult:
    """Ask for the user's name (`user_name`), then greet them."""
    content = _accepted(ctx, "user_name")
    if content is None or not isinstance(content.get("name"), str):
        return InputRequiredResult(input_requests={"user_name": _elicit("What is your name?", NAME_QUESTION)})
    return f"Hello, {content['name']}!"


@mcp.tool(structured_output=False)
def test_input_required_result_sampling(ctx: Context) -> str | InputRequiredResult:
    """Ask the client's model a question (`capital_question`), then report its answer."""
    text = _sampled(ctx, "capital_question")
    if text is None:
        request = _sample("What is the capital of France?", 100)
        return InputRequiredResult(input_requests={"capital_question": request})
    return f"Model said: {text}"


@mcp.tool(structured_output=False)
def test_input_required_result_list_roots(ctx: Context) -> str | InputRequiredResult:
    """Ask for the client's roots (`client_roots`), then count them."""
    roots = _roots(ctx, "client_roots")
    if roots is None:
        return InputRequiredResult(input_requests={"client_roots": ListRootsRequest()})
    return f"Found {len(roots.roots)} root(s): " + ", ".join(str(root.uri) for root in roots.roots)


@mcp.tool(structured_output=False)
def test_input_required_result_request_state(ctx: Context) -> str | InputRequiredResult:
    """Ask for a confirmation with an opaque `requestState`; answer `state-ok` once it comes back."""
    content = _accepted(ctx, "confirm")
    if content is None or ctx.request_state != "confirm-round-1":
        request = _elicit("Please confirm", {"ok": {"type": "boolean"}})
        return InputRequiredResult(input_requests={"confirm": request}, request_state="confirm-round-1")
    return f"state-ok: ok={content.get('ok')}"


@mcp.tool(structured_output=False)
def test_input_required_result_multiple_inputs(ctx: Context) -> str | InputRequiredResult:
    """Ask for a name, a sampled greeting and the roots at once; complete when all are answered."""
    name = _accepted(ctx, "user_name")
    greeting = _sampled(ctx, "greeting")
    roots = _roots(ctx, "client_roots")
    if name is None or greeting is None or roots is None or ctx.request_state != "multiple-inputs":
        requests: dict[str, InputRequest] = {
            "user_name": _elicit("What is your name?", NAME_QUESTION),
            "greeting": _sample("Generate a greeting", 50),
            "client_roots": ListRootsRequest(),
        }
        return InputRequiredResult(input_requests=requests, request_state="multiple-inputs")
    return f"name={name.get('name')}, greeting={greeting}, roots={len(roots.roots)}"


@mcp.tool(structured_output=False)
def test_input_required_result_multi_round(ctx: Context) -> str | InputRequiredResult:
    """Three rounds: a name, then a colour (with a new `requestState`), then the answer."""
    state = ctx.request_state or ""
    if state.startswith("round-2:"):
        color = _accepted(ctx, "step2")
        if color is not None:
            return f"Hello {state.removeprefix('round-2:')}, you like {color.get('color')}"
        request = _elicit("Step 2: What is your favorite color?", {"color": {"type": "string"}})
        return InputRequiredResult(input_requests={"step2": request}, request_state=state)
    name = _accepted(ctx, "step1")
    if state == "round-1" and name is not None:
        request = _elicit("Step 2: What is your favorite color?", {"color": {"type": "string"}})
        return InputRequiredResult(
            input_requests={"step2": request}, request_state=f"round-2:{name.get('name')}"
        )
    request = _elicit("Step 1: What is your name?", NAME_QUESTION)
    return InputRequiredResult(input_requests={"step1": request}, request_state="round-1")


@mcp.tool(structured_output=False)
def test_input_required_result_tampered_state(ctx: Context) -> str | InputRequiredResult:
    """Carry an integrity-protected `requestState`; a tampered one is refused with -32602.

    The SDK seals every outgoing `requestState` and rejects an echo it did not mint unmodified.
    """
    content = _accepted(ctx, "user_name")
    if content is None or ctx.request_state != "untampered":
        request = _elicit("What is your name?", NAME_QUESTION)
        return InputRequiredResult(input_requests={"user_name": request}, request_state="untampered")
    return f"state verified for {content.get('name')}"


@mcp.tool(structured_output=False)
def test_input_required_result_capabilities(ctx: Context) -> str | InputRequiredResult:
    """Ask only what the request's declared capabilities allow (elicitation, sampling, roots)."""
    capabilities = ctx.client_capabilities
    requests: dict[str, InputRequest] = {}
    if (
        capabilities is not None
        and capabilities.elicitation is not None
        and _accepted(ctx, "user_name") is None
    ):
        requests["user_name"] = _elicit("What is your name?", NAME_QUESTION)
    if capabilities is not None and capabilities.sampling is not None and _sampled(ctx, "greeting") is None:
        requests["greeting"] = _sample("Generate a greeting", 50)
    if capabilities is not None and capabilities.roots is not None and _roots(ctx, "client_roots") is None:
        requests["client_roots"] = ListRootsRequest()
    if requests:
        return InputRequiredResult(input_requests=requests)
    return "Every input the client can give was answered"


# -- tasks (SEP-2663 on 2026-07-28) ----------------------------------------------------------------


@mcp.tool(structured_output=False)
def greet(name: str) -> str:
    """Greet `name` (never a task)."""
    return f"Hello, {name}!"


@server.tool(task_support="optional", structured_output=False)
async def slow_compute(seconds: float, task: TaskContext, label: str | None = None) -> str:
    """Sleep `seconds` (stopping at once when the task is cancelled), then report it."""
    if seconds > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(task.wait_cancelled(), timeout=seconds)
    task.check_cancelled()
    return f"Computed {label or 'result'} after {seconds:g}s"


@server.tool(task_support="required", structured_output=False)
async def failing_job(task: TaskContext) -> str:
    """Fail with a tool execution error after about a second (the task still ends `completed`)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(task.wait_cancelled(), timeout=1.0)
    task.check_cancelled()
    raise ToolError("failing_job failed on purpose")


@server.tool(task_support="optional", structured_output=False)
async def protocol_error_job() -> str:
    """Fail at the protocol level: the task ends `failed` with a JSON-RPC error."""
    await asyncio.sleep(0.1)
    raise MCPError(code=INTERNAL_ERROR, message="protocol_error_job failed at the protocol level")


@server.tool(task_support="optional", structured_output=False)
async def confirm_delete(filename: str, task: TaskContext) -> str:
    """Ask the user to confirm deleting `filename` (the task waits in `input_required`)."""
    answer = await task.elicit(
        f"Delete {filename}?",
        {"type": "object", "properties": {"confirm": {"type": "boolean"}}, "required": ["confirm"]},
    )
    if answer.action == "accept" and (answer.content or {}).get("confirm") is True:
        return f"Deleted {filename}"
    return f"Kept {filename} ({answer.action})"


@server.tool(task_support="optional", structured_output=False)
async def multi_input(task: TaskContext) -> str:
    """Ask two questions at once; complete when both are answered (in any order)."""
    name, confirm = await asyncio.gather(
        task.elicit(
            "What is your name?", {"type": "object", "properties": NAME_QUESTION, "required": ["name"]}
        ),
        task.elicit(
            "Please confirm",
            {"type": "object", "properties": {"confirm": {"type": "boolean"}}, "required": ["confirm"]},
        ),
    )
    return f"name={(name.content or {}).get('name')} ({name.action}), confirm={confirm.action}"


class UserName(BaseModel):
    """The answer to "What is your name?"."""

    name: str


def user_name() -> Elicit[UserName]:
    """Ask for the user's name before the task starts (a 2026-07-28 multi-round-trip round)."""
    return Elicit("What is your name?", UserName)


@server.tool(task_support="required", structured_output=False)
async def test_tool_with_task(user: Annotated[UserName, Resolve(user_name)], task: TaskContext) -> str:
    """Ask for a name first (multi-round-trip), then greet it from a durable task."""
    await asyncio.sleep(0.2)
    return f"Hello, {user.name}! (from task {task.task_id})"


# -- resources -------------------------------------------------------------------------------------


@mcp.resource(
    "test://static-text", name="static-text", description="A static text resource", mime_type="text/plain"
)
def static_text() -> str:
    return "This is the content of the static text resource."


@mcp.resource(
    "test://static-binary",
    name="static-binary",
    description="A static binary resource (PNG)",
    mime_type="image/png",
)
def static_binary() -> bytes:
    return base64.b64decode(PNG_BASE64)


@mcp.resource(
    "test://watched-resource",
    name="watched-resource",
    description="A resource clients may subscribe to",
    mime_type="text/plain",
)
def watched_resource() -> str:
    return "This resource may change."


@mcp.resource(
    "test://template/{id}/data",
    name="template-data",
    description="A resource template with an id parameter",
    mime_type="application/json",
)
def template_data(id: str) -> str:
    return json.dumps({"id": id, "templateTest": True, "data": f"Data for ID: {id}"})


# -- prompts ---------------------------------------------------------------------------------------


@mcp.prompt(description="A simple prompt without arguments")
def test_simple_prompt() -> list[Message]:
    return [UserMessage("This is a simple prompt for testing.")]


@mcp.prompt(description="A prompt with two required arguments")
def test_prompt_with_arguments(arg1: str, arg2: str) -> list[Message]:
    return [UserMessage(f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'")]


@mcp.prompt(description="A prompt embedding a resource")
def test_prompt_with_embedded_resource(resourceUri: str) -> list[Message]:  # the argument's wire name
    resource = EmbeddedResource(
        type="resource",
        resource=TextResourceContents(
            uri=resourceUri, mime_type="text/plain", text="Embedded resource content for testing."
        ),
    )
    return [UserMessage(resource), UserMessage("Please process the embedded resource above.")]


@mcp.prompt(description="A prompt with an image")
def test_prompt_with_image() -> list[Message]:
    image = ImageContent(type="image", data=PNG_BASE64, mime_type="image/png")
    return [UserMessage(image), UserMessage("Please analyze the image above.")]


@mcp.prompt(description="A prompt that asks the client for context first (2026-07-28)")
def test_input_required_result_prompt(ctx: Context) -> list[Message] | InputRequiredResult:
    content = _accepted(ctx, "user_context")
    if content is None or not isinstance(content.get("context"), str):
        request = _elicit("What context should the prompt use?", {"context": {"type": "string"}})
        return InputRequiredResult(input_requests={"user_context": request})
    return [UserMessage(f"Use this context: {content['context']}")]


# -- completion, logging level, resource subscriptions (2025-11-25) --------------------------------


# Plain request handlers on the SDK's low-level server: `MCPServer` has no decorator for the
# 2025-11-25 methods (and its `completion()` decorator is untyped). Registering them also makes the
# server advertise `completions`, `logging` and `resources.subscribe`.
_subscribed: set[str] = set()


async def _complete(ctx: Any, params: CompleteRequestParams) -> CompleteResult:
    return CompleteResult(completion=Completion(values=[], total=0, has_more=False))


async def _set_level(ctx: Any, params: SetLevelRequestParams) -> EmptyResult:
    return EmptyResult()


async def _subscribe(ctx: Any, params: SubscribeRequestParams) -> EmptyResult:
    _subscribed.add(str(params.uri))
    return EmptyResult()


async def _unsubscribe(ctx: Any, params: UnsubscribeRequestParams) -> EmptyResult:
    _subscribed.discard(str(params.uri))
    return EmptyResult()


mcp._lowlevel_server.add_request_handler("completion/complete", CompleteRequestParams, _complete)
mcp._lowlevel_server.add_request_handler("logging/setLevel", SetLevelRequestParams, _set_level)
mcp._lowlevel_server.add_request_handler("resources/subscribe", SubscribeRequestParams, _subscribe)
mcp._lowlevel_server.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, _unsubscribe)
