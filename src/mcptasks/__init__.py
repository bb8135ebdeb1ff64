"""mcptasks: durable MCP Tasks stored in SQL, owned by a session or an OAuth principal.

The public surface is this module: `TaskServer`, `TaskContext`, the option value objects and the
errors. Everything else (`core`, `store`, `runtime`, `wire`, `server`) is the architecture and may
change.
"""

from mcptasks._public import publish as _publish
from mcptasks.core.errors import (
    ConfigurationError,
    InputUnavailable,
    InvalidParams,
    InvalidTaskState,
    MCPTasksError,
    ServerStopping,
    StoreError,
    StoreUnavailable,
    TaskCancelled,
    TaskError,
    TaskNotFound,
)
from mcptasks.core.model import TaskSupport
from mcptasks.core.status import TaskStatus
from mcptasks.runtime.context import TaskContext
from mcptasks.runtime.options import Leases, Retention
from mcptasks.server.app import TaskServer

__version__ = "0.1.0"

__all__ = [
    "ConfigurationError",
    "InputUnavailable",
    "InvalidParams",
    "InvalidTaskState",
    "Leases",
    "MCPTasksError",
    "Retention",
    "ServerStopping",
    "StoreError",
    "StoreUnavailable",
    "TaskCancelled",
    "TaskContext",
    "TaskError",
    "TaskNotFound",
    "TaskServer",
    "TaskStatus",
    "TaskSupport",
    "__version__",
]

_publish(globals(), __all__)
