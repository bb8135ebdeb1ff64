"""`/healthz` and `/readyz`: probes for load balancers and orchestrators, off the MCP path.

- `GET /healthz`: the process serves HTTP. 200 `{"status": "ok"}`.
- `GET /readyz`: this replica can take tasks now: the database answers a read within
  `READY_TIMEOUT_S`, its schema is at the revision this version needs, the executor runs and no
  stop was requested. 200 `{"status": "ready", "checks": {...}}`, else 503 `{"status": "not
  ready", "checks": {...}}`; each check is true or false.

Neither needs a token, and neither says anything about tasks, owners or the database's address:
a probe learns only which check failed. During a stop every HTTP request, these included, gets
503 (`stopping.py`), so a load balancer drains the replica.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

#: How long `/readyz` waits for the database's answer, in s.
READY_TIMEOUT_S = 2.0

#: Runs the readiness checks: check name -> passed.
Readiness = Callable[[], Awaitable[Mapping[str, bool]]]


def health_routes(readiness: Readiness) -> list[Route]:
    """The `/healthz` and `/readyz` routes; `readiness()` runs the checks of `/readyz`."""

    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> JSONResponse:
        checks = dict(await readiness())
        ready = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503
        )

    return [Route("/healthz", healthz, methods=["GET"]), Route("/readyz", readyz, methods=["GET"])]


__all__ = ["READY_TIMEOUT_S", "Readiness", "health_routes"]
