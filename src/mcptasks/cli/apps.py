"""Finding the `TaskServer` that `mcptasks serve APP` serves: `module:attribute` or `file.py:attribute`."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from mcptasks.cli.errors import CLIError, exception_line

if TYPE_CHECKING:
    from mcptasks import TaskServer

#: What `serve --demo` serves.
DEMO_APP = "mcptasks.demo:server"


def load_app(spec: str) -> TaskServer:
    """Import the `TaskServer` named by `spec`: `module:attribute` or `path/to/file.py:attribute`.

    A module is imported with the current directory first on `sys.path`; a file is imported with its
    own directory first, so its sibling modules import as they would under `python file.py`.

    Raises: CLIError when the module or file does not import, lacks the attribute, or the attribute
    is not a `TaskServer`.
    """
    from mcptasks import TaskServer

    target, _, attribute = spec.rpartition(":")
    if not target or not attribute:
        raise CLIError(f"APP must be module:attribute or path/to/file.py:attribute, got {spec!r}")
    if target.endswith(".py") or "/" in target or os.sep in target:
        module = _import_file(Path(target))
    else:
        module = _import_module(target)
    found: Any = module
    for name in attribute.split("."):
        try:
            found = getattr(found, name)
        except AttributeError:
            raise CLIError(f"{target} has no attribute {attribute!r}") from None
    if not isinstance(found, TaskServer):
        raise CLIError(f"{spec} is a {type(found).__name__}, not a mcptasks.TaskServer")
    return found


def _import_module(name: str) -> ModuleType:
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            raise CLIError(f"cannot import {name!r}: no such module (looked in {cwd} and sys.path)") from exc
        raise CLIError(f"importing {name!r} failed: {exception_line(exc)}") from exc
    except Exception as exc:
        raise CLIError(f"importing {name!r} failed: {exception_line(exc)}") from exc


def _import_file(path: Path) -> ModuleType:
    path = path.expanduser().resolve()
    if not path.is_file():
        raise CLIError(f"cannot import {path}: no such file")
    stem = path.stem
    module_name = stem if stem.isidentifier() and stem not in sys.modules else "_mcptasks_app"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise CLIError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    sys.modules[module_name] = module  # dataclasses and pydantic look the module up while it runs
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise CLIError(f"importing {path} failed: {exception_line(exc)}") from exc
    return module
