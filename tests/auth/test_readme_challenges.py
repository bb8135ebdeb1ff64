"""The README's "What a client sees" (OAuth) shows exactly what the server answers to a refused request.

The fenced `http` blocks of that section are read from README.md and compared, status, `Content-Type`,
`WWW-Authenticate` and JSON body, with the real answers of `jwt_server` (no required scope) and
`scope_server` (scopes required), the README's example resource and scope swapped for theirs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from auth.harness import REQUIRED_SCOPES, AuthServer, marker, raw_create
from auth.issuer import LocalIssuer

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[2] / "README.md"
#: The resource metadata URL and the scope the README's examples use.
EXAMPLE_METADATA_URL = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
EXAMPLE_SCOPE = 'scope="mcp-tasks"'


@dataclass
class Answer:
    status: int
    content_type: str
    challenge: str
    body: dict[str, Any]


def readme_answers() -> list[Answer]:
    """The `http` blocks of the OAuth section's "What a client sees", in order."""
    text = README.read_text()
    start = text.index("## OAuth-protected deployments")
    section = text[text.index("### What a client sees", start) :]
    section = section[: section.index("\n### ", 1)]
    answers = []
    for block in re.findall(r"```http\n(.*?)```", section, flags=re.S):
        lines = [line[2:] if line.startswith("  ") else line for line in block.splitlines()]
        blank = lines.index("")
        headers = dict(line.split(": ", 1) for line in lines[1:blank])
        answers.append(
            Answer(
                status=int(lines[0].split()[1]),
                content_type=headers["Content-Type"],
                challenge=headers["WWW-Authenticate"],
                body=json.loads("\n".join(lines[blank + 1 :])),
            )
        )
    return answers


def real(response: httpx.Response) -> Answer:
    return Answer(
        status=response.status_code,
        content_type=response.headers["content-type"],
        challenge=response.headers["www-authenticate"],
        body=response.json(),
    )


def expected(answer: Answer, server: AuthServer, *, scoped: bool) -> Answer:
    """The README's answer with the server's metadata URL (and required scopes, or none)."""
    challenge = answer.challenge.replace(EXAMPLE_METADATA_URL, server.metadata_url)
    scope = f'scope="{" ".join(REQUIRED_SCOPES)}"' if scoped else ""
    challenge = challenge.replace(f"{EXAMPLE_SCOPE}, ", f"{scope}, " if scope else "")
    if scoped and "scope=" not in challenge:
        # "when --auth-required-scope is given, every challenge also names the required scopes"
        challenge = challenge.replace("resource_metadata=", f"{scope}, resource_metadata=")
    return Answer(answer.status, answer.content_type, challenge, answer.body)


async def test_the_readme_shows_the_refusals_the_server_sends(
    issuer: LocalIssuer, jwt_server: AuthServer, scope_server: AuthServer
) -> None:
    no_token, bad_token, missing_scope = readme_answers()
    assert (no_token.status, bad_token.status, missing_scope.status) == (401, 401, 403)

    response = await raw_create(jwt_server, None, marker("readme-no-token"))
    assert real(response) == expected(no_token, jwt_server, scoped=False)

    wrong_audience = issuer.mint("alice", "c1", "https://elsewhere.example/mcp")
    response = await raw_create(jwt_server, f"Bearer {wrong_audience}", marker("readme-bad-token"))
    assert real(response) == expected(bad_token, jwt_server, scoped=False)

    lacking = issuer.mint("alice", "c1", scope_server.resource, scope=REQUIRED_SCOPES[0])
    response = await raw_create(scope_server, f"Bearer {lacking}", marker("readme-scope"))
    assert real(response) == expected(missing_scope, scope_server, scoped=True)

    # On a scoped server the 401s name the scopes too, as the README says.
    response = await raw_create(scope_server, None, marker("readme-no-token-scoped"))
    assert real(response) == expected(no_token, scope_server, scoped=True)
