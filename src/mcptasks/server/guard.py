"""`ErrorGuardMiddleware`, the outermost of mcptasks' server middleware, on both wires.

It resolves the request's owner once, turns `TaskError`s into their JSON-RPC code and fixed
message, a store that cannot be used for a storage reason into `StoreUnavailable` (-32010),
anything that fails because the server is stopping into `ServerStopping` (-32011), and answers
anything else unexpected with `-32603 Internal error` (the detail goes to the log, never to the
wire: workaround 5).
"""

from __future__ import annotations

import logging

from mcp.server.context import CallNext, HandlerResult
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

from mcptasks.core.errors import (
    ErrorCode,
    MCPTasksError,
    ServerStopping,
    StoreError,
    StoreUnavailable,
    TaskError,
)
from mcptasks.server.owner import resolve_owner, set_request_owner
from mcptasks.server.state import Ctx, ServerState

logger = logging.getLogger("mcptasks.server")


class ErrorGuardMiddleware:
    """Owner resolution and error mapping for every request (see module docstring)."""

    def __init__(self, state: ServerState) -> None:
        self._state = state

    async def __call__(self, ctx: Ctx, call_next: CallNext) -> HandlerResult:
        if ctx.request_id is None:
            return await call_next(ctx)
        try:
            set_request_owner(resolve_owner(ctx, self._state.owner_scope))
            return await call_next(ctx)
        except TaskError as exc:
            raise _wire_error(exc) from None
        except (MCPError, ValidationError):
            raise
        except StoreError as exc:
            if self._state.stopping:
                raise _wire_error(ServerStopping()) from None  # the store closes as the server stops
            if exc.unavailable:
                # An outage: `StoreHealth` logs it once per episode, not once per request.
                raise _wire_error(StoreUnavailable()) from None
            # Never the cause's traceback: a driver's text may quote the statement's values.
            logger.error(
                "store failure in %s: %s (%s)",
                ctx.method,
                exc.message,
                type(exc.__cause__).__name__,
                extra={"action": ctx.method},
            )
            raise MCPError(code=int(ErrorCode.INTERNAL_ERROR), message="Internal error") from None
        except (MCPTasksError, Exception):
            if self._state.stopping:
                # The task manager went away under a request (the server closed): not a bug.
                raise _wire_error(ServerStopping()) from None
            logger.exception("unexpected failure in %s", ctx.method, extra={"action": ctx.method})
            raise MCPError(code=int(ErrorCode.INTERNAL_ERROR), message="Internal error") from None


def _wire_error(exc: TaskError) -> MCPError:
    return MCPError(code=int(exc.code), message=exc.message, data=exc.data)
