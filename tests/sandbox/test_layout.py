"""The sandbox's modules import each other in one direction, with `state` at the bottom.

Every import counts, including those inside functions and under TYPE_CHECKING, so a cycle
cannot come back hidden in a function body.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import portal.sandbox

PACKAGE = Path(portal.sandbox.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imported_modules(path: Path) -> set[str]:
    """The sandbox modules `path` imports; `from package import module` imports the module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules = {f"{node.module}.{alias.name}" for alias in node.names} & MODULES.keys()
            found.update(modules or {node.module})
    return found & MODULES.keys()


def test_state_imports_neither_the_seed_nor_the_webhooks() -> None:
    assert imported_modules(MODULES["portal.sandbox.state"]) == set()


def test_the_sandbox_modules_import_each_other_without_cycles() -> None:
    graph = {name: imported_modules(path) for name, path in MODULES.items()}

    try:
        TopologicalSorter(graph).prepare()
    except CycleError as error:
        raise AssertionError(f"import cycle: {' -> '.join(error.args[1])}") from None
