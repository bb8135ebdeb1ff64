"""`server.envelope`: what it lets through, the SDK parses; what it refuses gets a fixed error naming
the field.

Property-based over arbitrary JSON values and over message-shaped objects with each member drawn
from good and bad values (hypothesis, derandomized: the same cases on every run).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp_types import jsonrpc_message_adapter
from pydantic import ValidationError

from mcptasks.server.envelope import check_envelope, check_message

#: Every JSON value: scalars, arrays and objects, nested a few levels.
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
#: Message-shaped objects: the JSON-RPC members, each valid, invalid or absent.
ABSENT = object()
MEMBERS: dict[str, st.SearchStrategy[Any]] = {
    "jsonrpc": st.sampled_from(["2.0", "1.0", 2.0, None, ABSENT]),
    "id": st.one_of(
        st.integers(), st.text(max_size=4), st.sampled_from([None, 1.5, 2.0, True, [1], {}, ABSENT])
    ),
    "method": st.one_of(st.sampled_from(["ping", "tasks/get", "tools/call", ""]), JSON, st.just(ABSENT)),
    "params": st.one_of(st.dictionaries(st.text(max_size=4), JSON, max_size=2), JSON, st.just(ABSENT)),
    "result": st.one_of(st.dictionaries(st.text(max_size=4), JSON, max_size=2), JSON, st.just(ABSENT)),
    "error": st.one_of(
        st.fixed_dictionaries({"code": st.integers(), "message": st.text(max_size=4)}),
        st.fixed_dictionaries({"code": JSON, "message": JSON}),
        JSON,
        st.just(ABSENT),
    ),
}
MESSAGES = st.fixed_dictionaries(MEMBERS).map(lambda m: {k: v for k, v in m.items() if v is not ABSENT})

FIXED_PREFIXES = ("Parse error: ", "Invalid Request: ", "Invalid params: ")
#: A fixed number of cases, the same on every run, no example database.
CASES = settings(
    max_examples=200,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _sdk_accepts(message: Any) -> bool:
    try:
        jsonrpc_message_adapter.validate_python(message, by_name=False)
    except ValidationError:
        return False
    return True


def _check_answer(message: Any) -> None:
    problem = check_envelope(message)
    if problem is None:
        assert _sdk_accepts(message), message
        return
    assert problem.code in (-32600, -32602)
    assert problem.message.startswith(FIXED_PREFIXES)
    body = problem.as_body()
    assert _sdk_accepts(body)  # the answer itself is a well-formed JSON-RPC error
    if problem.field is not None:
        assert f"'{problem.field}'" in problem.message
        assert body["error"]["data"] == {"field": problem.field}
    if problem.request_id is not None:
        assert isinstance(message, dict) and problem.request_id == message["id"]


@CASES
@given(JSON)
def test_any_json_value_is_let_through_only_when_the_sdk_parses_it(value: Any) -> None:
    _check_answer(value)


@CASES
@given(MESSAGES)
def test_message_shaped_objects_are_let_through_only_when_the_sdk_parses_them(
    message: dict[str, Any],
) -> None:
    _check_answer(message)


@pytest.mark.parametrize(
    "message",
    [
        {"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {"taskId": "t"}},
        {"jsonrpc": "2.0", "id": "a", "method": "ping"},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "method": "ping", "params": None},
        {"jsonrpc": "2.0", "id": 3, "result": {}},
        {"jsonrpc": "2.0", "id": 3, "error": {"code": -1, "message": "no"}},
        {"jsonrpc": "2.0", "id": None, "error": {"code": -1, "message": "no", "data": [1]}},
    ],
)
def test_well_formed_messages_pass(message: dict[str, Any]) -> None:
    assert check_envelope(message) is None


@pytest.mark.parametrize(
    ("raw", "code", "field", "request_id"),
    [
        ("{bad", -32700, None, None),
        ("", -32700, None, None),
        (b"\xff\xfe", -32700, None, None),
        ("[" * 10_000 + "]" * 10_000, -32700, None, None),
        ("[]", -32600, None, None),
        ('[{"jsonrpc": "2.0", "id": 1, "method": "ping"}]', -32600, None, None),
        ("null", -32600, None, None),
        ("7", -32600, None, None),
        ("{}", -32600, "jsonrpc", None),
        ('{"jsonrpc": "1.0", "id": 4, "method": "ping"}', -32600, "jsonrpc", 4),
        ('{"jsonrpc": "2.0", "id": 4, "method": 5}', -32600, "method", 4),
        ('{"jsonrpc": "2.0", "id": [4], "method": "ping"}', -32600, "id", None),
        ('{"jsonrpc": "2.0", "id": 4.5, "method": "ping"}', -32600, "id", None),
        ('{"jsonrpc": "2.0", "id": true, "method": "ping"}', -32600, "id", None),
        ('{"jsonrpc": "2.0", "id": null, "method": "ping"}', -32600, "id", None),
        ('{"jsonrpc": "2.0", "id": 4, "method": "ping", "params": [1]}', -32602, "params", 4),
        ('{"jsonrpc": "2.0", "method": "ping", "params": "x"}', -32602, "params", None),
        ('{"jsonrpc": "2.0", "id": 4}', -32600, "method", 4),
        ('{"jsonrpc": "2.0", "id": 4, "result": {}, "error": {}}', -32600, "result", 4),
        ('{"jsonrpc": "2.0", "id": 4, "result": [1]}', -32600, "result", 4),
        ('{"jsonrpc": "2.0", "result": {}}', -32600, "id", None),
        ('{"jsonrpc": "2.0", "id": 4, "error": {"code": "x", "message": "m"}}', -32600, "error", 4),
        ('{"jsonrpc": "2.0", "error": {"code": 1, "message": "m"}}', -32600, "id", None),
    ],
)
def test_malformed_messages_get_a_fixed_error_naming_the_field(
    raw: str | bytes, code: int, field: str | None, request_id: int | None
) -> None:
    problem = check_message(raw)
    assert problem is not None
    assert (problem.code, problem.field, problem.request_id) == (code, field, request_id)
    text = problem.message.lower()
    assert "validation" not in text and "pydantic" not in text and "line 1" not in text
