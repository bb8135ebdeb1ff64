"""The README's "Failures: what a client sees" table, to check against what servers really answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "### Failures: what a client sees"


def failure_rows() -> list[str]:
    """The table rows (after the header) of the README's failures section."""
    text = README.read_text()
    start = text.index(SECTION)
    end = text.index("\n#", start + len(SECTION))
    return [line for line in text[start:end].splitlines() if line.startswith("| ") and "---" not in line][1:]


def row_for(code: int) -> str:
    """The README's row that documents the JSON-RPC error `code`."""
    found = [row for row in failure_rows() if f"`{code}`" in row]
    assert len(found) == 1, f"the README documents error {code} in {len(found)} rows"
    return found[0]


def check_documented(error: dict[str, Any]) -> None:
    """A real JSON-RPC error object must read as the README says: code, message, data."""
    row = row_for(int(error["code"]))
    assert f"`{error['code']}` `{error['message']}`" in row, (error, row)
    if "data" in error:
        assert f"`{json.dumps(error['data'], separators=(', ', ': '))}`" in row, (error, row)


def check_documented_503(status: int, retry_after: str | None, body: dict[str, Any]) -> None:
    """A real 503 refusal must read as the README says: status, Retry-After, body."""
    row = row_for(int(body["error"]["code"]))
    assert f"HTTP {status}, `Retry-After: {retry_after}`" in row, row
    assert body["id"] is None and '`"id": null`' in row, (body, row)
    check_documented(body["error"])
