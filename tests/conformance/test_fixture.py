"""The conformance fixture over raw HTTP, without Node: what the official suite checks, in brief.

Each test names the suite's scenario (and check ids) it stands in for, so a break shows up here
before `scripts/conformance` runs. Everything is on the 2026-07-28 stateless wire unless it says
2025-11-25.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from conformance.wire import DEFAULT_CAPS, LEGACY, MODERN, OMIT, TASK_CAPS, TASKS, Wire

pytestmark = pytest.mark.slow

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")
#: Keys a CreateTaskResult must not carry (SEP-2663: flat, no v1 names, no inlined outcome).
NOT_ON_CREATE = ("task", "ttl", "pollInterval", "result", "error", "inputRequests", "requestState")
#: Keys an acknowledgement (`tasks/update`, `tasks/cancel`) must not carry.
NOT_ON_ACK = ("taskId", "status", "result", "error", "inputRequests")


def _create(wire: Wire, tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    """Call `tool` declaring the tasks extension; assert it answered a CreateTaskResult."""
    result = wire.call(tool, arguments if arguments is not None else {}, caps=TASK_CAPS).result
    assert result["resultType"] == "task", result
    return result


def _assert_ack(result: dict[str, Any]) -> None:
    assert result["resultType"] == "complete"
    assert set(result) <= {"resultType", "_meta"}, result
    for key in NOT_ON_ACK:
        assert key not in result


def _assert_missing_extension(answer: Any) -> None:
    """-32021 naming the tasks extension (tasks-required-task-error, tasks-capability-negotiation)."""
    assert answer.status == 400
    assert answer.error["code"] == -32021
    assert answer.error["data"]["requiredCapabilities"]["extensions"][TASKS] == {}


# -- discovery and lists (tasks-capability-negotiation, server-stateless, caching) ----------------


def test_discover_advertises_the_tasks_extension_and_caching_hints(wire: Wire) -> None:
    result = wire.post("server/discover", caps=TASK_CAPS).result
    assert MODERN in result["supportedVersions"]
    capabilities = result["capabilities"]
    assert capabilities["extensions"][TASKS] == {}
    assert "tasks" not in capabilities  # no v1 slot
    assert capabilities["tools"]["listChanged"] is True
    assert capabilities["prompts"]["listChanged"] is True
    assert result["resultType"] == "complete"
    assert isinstance(result["ttlMs"], int) and result["ttlMs"] >= 0
    assert result["cacheScope"] in ("public", "private")
    assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "mcptasks-conformance"


@pytest.mark.parametrize(
    "method", ["tools/list", "prompts/list", "resources/list", "resources/templates/list"]
)
def test_list_results_carry_caching_hints(wire: Wire, method: str) -> None:
    result = wire.post(method).result
    assert result["resultType"] == "complete"
    assert isinstance(result["ttlMs"], int) and result["ttlMs"] >= 0
    assert result["cacheScope"] in ("public", "private")


def test_tools_list_starts_with_a_tool_callable_without_arguments(wire: Wire) -> None:
    tools = wire.post("tools/list").result["tools"]
    names = [tool["name"] for tool in tools]
    assert names[0] == "test_simple_text"
    expected = {"greet", "slow_compute", "failing_job", "protocol_error_job", "confirm_delete", "multi_input"}
    assert expected | {"test_tool_with_task"} <= set(names)
    assert all(tool.get("description") for tool in tools)
    assert all(tool["inputSchema"]["type"] == "object" for tool in tools)
    # test_tool_with_task's name is asked before the task starts: it is no argument.
    with_task = next(tool for tool in tools if tool["name"] == "test_tool_with_task")
    assert "task" not in with_task["inputSchema"].get("properties", {})
    assert "user" not in with_task["inputSchema"].get("properties", {})


def test_resource_read_and_unknown_resource(wire: Wire) -> None:
    result = wire.post("resources/read", {"uri": "test://static-text"}).result
    assert result["contents"][0]["text"] == "This is the content of the static text resource."
    assert isinstance(result["ttlMs"], int)
    missing = wire.post("resources/read", {"uri": "test://nonexistent"})
    assert missing.error["code"] == -32602
    assert missing.error["data"]["uri"] == "test://nonexistent"


# -- the task lifecycle (tasks-lifecycle, tasks-wire-fields, tasks-request-state-removal) ---------


def test_sync_tool_never_creates_a_task_even_with_a_legacy_task_param(wire: Wire) -> None:
    result = wire.call(
        "greet", {"name": "World"}, caps=TASK_CAPS, extra={"task": {"ttl": 60000, "pollInterval": 100}}
    ).result
    assert result["resultType"] == "complete"
    assert "taskId" not in result
    assert result["content"][0] == {"type": "text", "text": "Hello, World!"}


def test_create_task_result_is_flat_and_committed_before_the_answer(wire: Wire) -> None:
    created = _create(wire, "slow_compute", {"seconds": 1, "label": "lifecycle"})
    for key in NOT_ON_CREATE:
        assert key not in created, key
    assert created["status"] == "working"
    assert TIMESTAMP.match(created["createdAt"]) and TIMESTAMP.match(created["lastUpdatedAt"])
    assert created["ttlMs"] is None or (isinstance(created["ttlMs"], int) and created["ttlMs"] > 0)
    assert isinstance(created["pollIntervalMs"], int) and created["pollIntervalMs"] > 0

    # sep-2663-durable-create-strong-consistency: an immediate tasks/get finds it.
    task = wire.get_task(created["taskId"])
    assert task["taskId"] == created["taskId"]
    assert task["resultType"] == "complete"
    assert "requestState" not in task

    done = wire.wait_for(created["taskId"], "completed")
    assert done["status"] == "completed"
    assert done["resultType"] == "complete"
    assert done["result"]["content"][0]["type"] == "text"
    assert "io.modelcontextprotocol/related-task" not in done["result"].get("_meta", {})
    assert "error" not in done and "requestState" not in done


def test_tool_error_completes_and_protocol_error_fails(wire: Wire) -> None:
    failing = _create(wire, "failing_job")
    done = wire.wait_for(failing["taskId"], "completed")
    assert done["status"] == "completed"
    assert done["result"]["isError"] is True

    broken = _create(wire, "protocol_error_job")
    failed = wire.wait_for(broken["taskId"], "failed")
    assert failed["status"] == "failed"
    assert isinstance(failed["error"]["code"], int) and isinstance(failed["error"]["message"], str)
    assert "result" not in failed


def test_cancel_acks_empty_and_is_idempotent(wire: Wire) -> None:
    created = _create(wire, "slow_compute", {"seconds": 60})
    cancel = wire.post("tasks/cancel", {"taskId": created["taskId"]}, caps=TASK_CAPS)
    _assert_ack(cancel.result)
    assert wire.wait_for(created["taskId"], "cancelled", timeout=3.0)["status"] == "cancelled"
    # tasks-cancel-terminal-idempotent-ack: a terminal task acks again, never -32602.
    _assert_ack(wire.post("tasks/cancel", {"taskId": created["taskId"]}, caps=TASK_CAPS).result)


def test_unknown_task_is_invalid_params(wire: Wire) -> None:
    answer = wire.post("tasks/get", {"taskId": "tasks-conformance-nonexistent-12345"}, caps=TASK_CAPS)
    assert answer.error["code"] == -32602


# -- capability gate (tasks-capability-negotiation, tasks-required-task-error) --------------------


def test_undeclared_client_gets_sync_results_and_the_32021_gate(wire: Wire) -> None:
    sync = wire.call("slow_compute", {"seconds": 0}, caps={}).result
    assert sync["resultType"] == "complete"
    assert "taskId" not in sync and sync["content"]

    _assert_missing_extension(wire.call("failing_job", {}, caps={}))
    # The gate runs before the task lookup: an unknown id still answers -32021.
    _assert_missing_extension(wire.post("tasks/get", {"taskId": "gate-test"}, caps={}))
    _assert_missing_extension(wire.post("tasks/cancel", {"taskId": "gate-test"}, caps={}))
    update = wire.post("tasks/update", {"taskId": "gate-test", "inputResponses": {}}, caps={})
    _assert_missing_extension(update)


def test_per_request_opt_in_creates_a_task(wire: Wire) -> None:
    """tasks-per-request-meta-opt-in: the request's own `_meta` capabilities decide."""
    created = wire.call(
        "slow_compute",
        {"seconds": 1},
        caps={},
        meta={"io.modelcontextprotocol/clientCapabilities": {"extensions": {TASKS: {}}}},
    ).result
    assert created["resultType"] == "task"
    _assert_ack(wire.post("tasks/cancel", {"taskId": created["taskId"]}, caps=TASK_CAPS).result)


def test_missing_sampling_capability_is_32021_with_http_400(wire: Wire) -> None:
    answer = wire.call("test_missing_capability", {}, caps={})
    assert answer.status == 400
    assert answer.error["code"] == -32021
    assert answer.error["data"] == {"requiredCapabilities": {"sampling": {}}}
    assert wire.call("test_missing_capability", {}, caps=DEFAULT_CAPS).result["content"]


# -- removed methods and headers (tasks-dispatch-and-envelope, tasks-request-headers) -------------


@pytest.mark.parametrize("method", ["tasks/result", "tasks/list"])
def test_removed_v1_methods_are_method_not_found(wire: Wire, method: str) -> None:
    params = {"taskId": "tasks-conformance-isolation-probe"} if method == "tasks/result" else {}
    answer = wire.post(method, params, caps=TASK_CAPS, headers={"Mcp-Name": OMIT})
    assert answer.status == 404
    assert answer.error["code"] == -32601


def test_header_mismatches_are_32020_with_http_400(wire: Wire) -> None:
    wrong_method = wire.call("greet", {"name": "x"}, caps=TASK_CAPS, headers={"Mcp-Method": "tasks/get"})
    assert (wrong_method.status, wrong_method.error["code"]) == (400, -32020)

    wrong_name = wire.call("greet", {"name": "x"}, caps=TASK_CAPS, headers={"Mcp-Name": "wrong_tool_name"})
    assert (wrong_name.status, wrong_name.error["code"]) == (400, -32020)

    created = _create(wire, "slow_compute", {"seconds": 60})
    task_id = created["taskId"]
    matched = wire.post("tasks/get", {"taskId": task_id}, caps=TASK_CAPS)
    assert matched.result["taskId"] == task_id
    for method in ("tasks/get", "tasks/cancel"):
        mismatched = wire.post(
            method, {"taskId": task_id}, caps=TASK_CAPS, headers={"Mcp-Name": "other-task"}
        )
        assert (mismatched.status, mismatched.error["code"]) == (400, -32020)
        missing = wire.post(method, {"taskId": task_id}, caps=TASK_CAPS, headers={"Mcp-Name": OMIT})
        assert (missing.status, missing.error["code"]) == (400, -32020)
    _assert_ack(wire.post("tasks/cancel", {"taskId": task_id}, caps=TASK_CAPS).result)


def test_header_names_are_case_insensitive(wire: Wire) -> None:
    headers = {
        "Mcp-Method": OMIT,
        "MCP-METHOD": "tools/call",
        "Mcp-Name": OMIT,
        "mcp-name": "test_simple_text",
    }
    answer = wire.call("test_simple_text", {}, headers=headers)
    assert answer.result["content"][0]["text"] == "This is a simple text response for testing."


# -- input required (tasks-mrtr-input) ------------------------------------------------------------


def test_parked_task_resumes_on_tasks_update(wire: Wire) -> None:
    created = _create(wire, "confirm_delete", {"filename": "mrtr-input.txt"})
    parked = wire.wait_for(created["taskId"], "input_required", timeout=5.0)
    assert parked["status"] == "input_required"
    [(key, request)] = parked["inputRequests"].items()
    assert request["method"] == "elicitation/create"
    assert request["params"]["requestedSchema"]["properties"]["confirm"]["type"] == "boolean"

    responses = {key: {"action": "accept", "content": {"confirm": True}}, "unknown-key": {"ignored": True}}
    update = wire.post(
        "tasks/update", {"taskId": created["taskId"], "inputResponses": responses}, caps=TASK_CAPS
    )
    _assert_ack(update.result)
    done = wire.wait_for(created["taskId"], "completed")
    assert done["status"] == "completed"
    assert "Deleted mrtr-input.txt" in done["result"]["content"][0]["text"]


def test_partial_answers_keep_the_task_waiting(wire: Wire) -> None:
    created = _create(wire, "multi_input")
    parked = wire.wait_for(created["taskId"], "input_required", timeout=5.0)
    first, second = list(parked["inputRequests"])
    answer = {"action": "accept", "content": {"name": "partial-1", "confirm": True}}
    params = {"taskId": created["taskId"], "inputResponses": {first: answer}}
    _assert_ack(wire.post("tasks/update", params, caps=TASK_CAPS).result)

    still = wire.get_task(created["taskId"])  # the answer is durable before the ack
    assert still["status"] == "input_required"
    assert list(still["inputRequests"]) == [second]

    params = {"taskId": created["taskId"], "inputResponses": {second: answer}}
    _assert_ack(wire.post("tasks/update", params, caps=TASK_CAPS).result)
    assert wire.wait_for(created["taskId"], "completed")["status"] == "completed"


# -- ask first, then the task (tasks-mrtr-composition) --------------------------------------------


def test_multi_round_trip_before_the_task_is_created(wire: Wire) -> None:
    first = wire.call("test_tool_with_task", {}, caps=TASK_CAPS).result
    assert first["resultType"] == "input_required"
    assert "taskId" not in first
    [(key, request)] = first["inputRequests"].items()
    assert request["method"] == "elicitation/create"
    assert request["params"]["requestedSchema"]["properties"]["name"]["type"] == "string"

    retry: dict[str, Any] = {"inputResponses": {key: {"action": "accept", "content": {"name": "Alice"}}}}
    if "requestState" in first:
        retry["requestState"] = first["requestState"]
    created = wire.call("test_tool_with_task", {}, caps=TASK_CAPS, extra=retry).result
    assert created["resultType"] == "task"
    assert "requestState" not in created and "inputRequests" not in created

    done = wire.wait_for(created["taskId"], "completed")
    assert done["status"] == "completed"
    assert "Alice" in done["result"]["content"][0]["text"]


def test_multi_round_trip_tool_still_requires_the_extension(wire: Wire) -> None:
    _assert_missing_extension(wire.call("test_tool_with_task", {}, caps={"elicitation": {}}))


def test_plain_multi_round_trip_tool(wire: Wire) -> None:
    """input-required-result-basic-elicitation: the SDK's own flow, served next to the tasks."""
    first = wire.call("test_input_required_result_elicitation", {}).result
    assert first["resultType"] == "input_required"
    assert list(first["inputRequests"]) == ["user_name"]
    retry = {"inputResponses": {"user_name": {"action": "accept", "content": {"name": "Alice"}}}}
    done = wire.call("test_input_required_result_elicitation", {}, extra=retry).result
    assert done["content"][0]["text"] == "Hello, Alice!"


# -- the 2025-11-25 wire on the same endpoint -----------------------------------------------------


def test_legacy_session_on_the_same_endpoint(fixture_url: str) -> None:
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    with httpx.Client(timeout=20.0) as http:
        initialize = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": LEGACY,
                "capabilities": {},
                "clientInfo": {"name": "mcptasks-conformance-tests", "version": "1.0.0"},
            },
        }
        response = http.post(fixture_url, json=initialize, headers=headers)
        assert response.status_code == 200
        session = response.headers["mcp-session-id"]
        assert all(0x21 <= ord(char) <= 0x7E for char in session)
        assert "capabilities" in response.text and '"tasks"' in response.text
        headers = {**headers, "Mcp-Session-Id": session, "MCP-Protocol-Version": LEGACY}
        initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        assert http.post(fixture_url, json=initialized, headers=headers).status_code == 202
        ping = http.post(fixture_url, json={"jsonrpc": "2.0", "id": 2, "method": "ping"}, headers=headers)
        assert '"result":{}' in ping.text.replace(" ", "")
        assert http.delete(fixture_url, headers=headers).status_code == 200
        gone = http.post(
            fixture_url, json={"jsonrpc": "2.0", "id": 3, "method": "tools/list"}, headers=headers
        )
        assert gone.status_code == 404


def test_dns_rebinding_is_refused(fixture_url: str) -> None:
    response = httpx.post(
        fixture_url,
        json={"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {}},
        headers={"Host": "evil.example.com", "Origin": "http://evil.example.com"},
    )
    assert 400 <= response.status_code < 500


async def test_legacy_task_call_asks_first_on_its_own_stream(fixture_url: str) -> None:
    """2025-11-25: `Resolve(...)` questions go out on the tools/call stream before the task exists."""
    base = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    async with httpx.AsyncClient(timeout=20.0) as http:
        initialize = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": LEGACY,
                "capabilities": {"elicitation": {}},
                "clientInfo": {"name": "mcptasks-conformance-tests", "version": "1.0.0"},
            },
        }
        response = await http.post(fixture_url, json=initialize, headers=base)
        headers = {
            **base,
            "Mcp-Session-Id": response.headers["mcp-session-id"],
            "MCP-Protocol-Version": LEGACY,
        }
        await http.post(
            fixture_url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers
        )

        call = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "test_tool_with_task", "arguments": {}, "task": {"ttl": 60000}},
        }
        created: dict[str, Any] | None = None
        asked = []
        async with http.stream("POST", fixture_url, json=call, headers=headers) as stream:
            async for line in stream.aiter_lines():
                if not line.startswith("data:") or not line[5:].strip():
                    continue
                message = json.loads(line[5:])
                if message.get("method") == "elicitation/create":
                    asked.append(message)
                    reply = {
                        "jsonrpc": "2.0",
                        "id": message["id"],
                        "result": {"action": "accept", "content": {"name": "Carol"}},
                    }
                    assert (await http.post(fixture_url, json=reply, headers=headers)).status_code == 202
                elif message.get("id") == 2:
                    created = message["result"]
                    break
        assert len(asked) == 1
        assert created is not None and "task" in created, created
        task_id = created["task"]["taskId"]

        result_request = {"jsonrpc": "2.0", "id": 3, "method": "tasks/result", "params": {"taskId": task_id}}
        response = await http.post(fixture_url, json=result_request, headers=headers)
        data = [
            line[5:] for line in response.text.splitlines() if line.startswith("data:") and line[5:].strip()
        ]
        answer = next(m for m in map(json.loads, data) if m.get("id") == 3)
        assert "Carol" in answer["result"]["content"][0]["text"]
