"""Show the public classes under the name users import them by (`mcptasks.TaskServer`).

httpx and starlette do the same: a class's `__module__` is what reprs, tracebacks, `help()` and
pickle print, and `mcptasks.server.app.TaskServer` names a path that may move (the package's
layout is not public). Only classes defined inside the package are renamed.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Iterable
from typing import Any


def publish(namespace: dict[str, Any], names: Iterable[str]) -> None:
    """Set `__module__` of each class `namespace[name]` to the package `namespace["__name__"]`.

    String annotations (`from __future__ import annotations`) are resolved first against the
    defining module, because `typing.get_type_hints` looks names up in `sys.modules[__module__]`;
    a class whose annotations cannot be resolved keeps its module.
    """
    package = namespace["__name__"]
    for name in names:
        value = namespace[name]
        if not isinstance(value, type) or not value.__module__.startswith(package + "."):
            continue
        own = inspect.get_annotations(value)
        if any(isinstance(annotation, str) for annotation in own.values()):
            try:
                hints = typing.get_type_hints(value, include_extras=True)
            except Exception:  # an annotation only a type checker can resolve
                continue
            value.__annotations__ = {key: hints.get(key, own[key]) for key in own}
        value.__module__ = package
