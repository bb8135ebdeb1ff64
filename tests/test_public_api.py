"""The public surface is `mcptasks.__all__` (httpx's `test_exported_members`)."""

from __future__ import annotations

import pickle
import traceback
import typing
from types import ModuleType

import mcptasks

#: Dunder names that are part of the public surface.
INCLUDED_PRIVATE_MEMBERS = {"__version__"}


def test_all_is_every_public_name() -> None:
    # Subpackages (`core`, `store`, `runtime`, `wire`, `server`) are attributes once imported, but
    # they are the architecture, not the API (see the package docstring).
    public = sorted(
        name
        for name, value in vars(mcptasks).items()
        if (not name.startswith("_") or name in INCLUDED_PRIVATE_MEMBERS)
        and not isinstance(value, ModuleType)
    )
    assert mcptasks.__all__ == public


def test_all_is_sorted_and_unique() -> None:
    assert mcptasks.__all__ == sorted(set(mcptasks.__all__))


def test_the_entry_points_are_exported() -> None:
    assert {"TaskServer", "TaskContext"} <= set(mcptasks.__all__)


def test_public_classes_print_the_name_users_import() -> None:
    for name in mcptasks.__all__:
        value = getattr(mcptasks, name)
        if isinstance(value, type):
            assert value.__module__ == "mcptasks", name
    assert repr(mcptasks.TaskStatus.WORKING).startswith("<TaskStatus.")
    assert "mcptasks.TaskNotFound" in "".join(traceback.format_exception_only(mcptasks.TaskNotFound()))


def test_published_classes_keep_their_type_hints_and_pickle() -> None:
    for name in mcptasks.__all__:
        value = getattr(mcptasks, name)
        if isinstance(value, type):
            typing.get_type_hints(value)  # names resolve although __module__ changed
    assert typing.get_type_hints(mcptasks.Leases)["duration_s"] is float
    for value in (mcptasks.TaskStatus.COMPLETED, mcptasks.Leases()):
        copy = pickle.loads(pickle.dumps(value))
        assert type(copy) is type(value) and str(copy) == str(value)


def test_every_exported_name_resolves() -> None:
    for name in mcptasks.__all__:
        assert getattr(mcptasks, name) is not None, name


def test_version() -> None:
    assert isinstance(mcptasks.__version__, str) and mcptasks.__version__.count(".") == 2
