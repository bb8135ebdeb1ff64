"""The package's architecture, checked on its source (DESIGN.md, Layout; ARCHITECTURE.md).

- no import cycle among `mcptasks` modules (imports under `TYPE_CHECKING` count: a cycle of
  types is a cycle of design);
- the `mcp` SDK is imported only by the server adapter (`mcptasks.server`) and the client
  (`mcptasks.client`);
- database drivers and SQL construction (SQLAlchemy, asyncpg, apsw, alembic) only in `mcptasks.store`;
- private SDK names (`_x` imported from `mcp`, or, in a module that imports the SDK, an attribute
  `_x` that mcptasks itself never defines) only in the two workaround modules, where each waits on
  a named upstream change.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SOURCE / "mcptasks"

SDK_PACKAGES = frozenset({"mcp", "mcp_types"})
SDK_USERS = ("mcptasks.server", "mcptasks.client")
DATABASE_PACKAGES = frozenset({"sqlalchemy", "asyncpg", "apsw", "aiosqlite", "alembic"})
DATABASE_USERS = ("mcptasks.store",)
WORKAROUND_MODULES = frozenset({"mcptasks.server.workarounds", "mcptasks.client._sdk_workarounds"})


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the imported module (or `module.name` for `from module import name`)
    names: tuple[str, ...]
    line: int


def _module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(module: str, path: Path) -> Iterator[Import]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, (), node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield Import(module, target, tuple(alias.name for alias in node.names), node.lineno)


def _top(name: str) -> str:
    return name.split(".")[0]


def _all_imports() -> list[Import]:
    return [found for module, path in _modules().items() for found in _imports(module, path)]


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {module: set() for module in modules}
    for found in _all_imports():
        if _top(found.target) != "mcptasks":
            continue
        targets = [f"{found.target}.{name}" for name in found.names if f"{found.target}.{name}" in modules]
        for target in targets or [found.target]:
            if target in modules and target != found.module:
                graph[found.module].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == package or module.startswith(package + ".") for package in packages)


def test_the_package_is_found() -> None:
    modules = _modules()
    assert "mcptasks.store.store" in modules and "mcptasks.server.app" in modules
    assert len(modules) > 50


def test_no_import_cycle_among_modules() -> None:
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_sdk_is_imported_only_by_the_server_and_the_client() -> None:
    offending = [
        f"{found.module}:{found.line} imports {found.target}"
        for found in _all_imports()
        if _top(found.target) in SDK_PACKAGES and not _within(found.module, SDK_USERS)
    ]
    assert offending == []


def test_database_libraries_are_imported_only_by_the_store() -> None:
    offending = [
        f"{found.module}:{found.line} imports {found.target}"
        for found in _all_imports()
        if _top(found.target) in DATABASE_PACKAGES and not _within(found.module, DATABASE_USERS)
    ]
    assert offending == []


def _own_private_names() -> set[str]:
    """Every `_name` mcptasks defines: functions, classes, attributes it assigns, fields."""
    names: set[str] = set()
    for path in _modules().values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
    return {name for name in names if name.startswith("_")}


def _stdlib_aliases(tree: ast.Module) -> set[str]:
    aliases = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _top(alias.name) in sys.stdlib_module_names:
                    aliases.add(alias.asname or _top(alias.name))
    return aliases


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_private_sdk_names_are_used_only_in_the_workaround_modules() -> None:
    own = _own_private_names()
    offending = []
    for module, path in _modules().items():
        if module in WORKAROUND_MODULES:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        stdlib = _stdlib_aliases(tree)
        uses_sdk = any(_top(found.target) in SDK_PACKAGES for found in _imports(module, path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and _top(node.module or "") in SDK_PACKAGES:
                private = [a.name for a in node.names if a.name.startswith("_")]
                if private or any(part.startswith("_") for part in (node.module or "").split(".")):
                    offending.append(f"{module}:{node.lineno} imports {node.module} {private}")
            elif (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                value = node.value
                if isinstance(value, ast.Name) and (value.id in ("self", "cls") or value.id in stdlib):
                    continue
                if uses_sdk and node.attr not in own:
                    offending.append(f"{module}:{node.lineno} reads {ast.unparse(node)}")
    assert offending == []
