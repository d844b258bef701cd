"""The connectors' place in the layering: they know the config, the errors and logging, and
nothing above them; each board's module knows no other board's."""

from __future__ import annotations

import ast
from pathlib import Path

import boardsync.connectors

PACKAGE = Path(boardsync.connectors.__file__).parent
BOARDS = {"sorce", "hirempire", "recruitifi"}
ALLOWED = ("boardsync.config", "boardsync.errors", "boardsync.log", "boardsync.connectors")
TOP = {"boardsync", "boardsync.__version__"}


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return {n for n in names if n == "boardsync" or n.startswith("boardsync.")}


def test_connectors_import_nothing_above_them() -> None:
    """No connector module imports reconcile, state, daemon, cli or the sandbox."""
    for path in PACKAGE.glob("*.py"):
        outside = {n for n in imports(path) if n not in TOP and not n.startswith(ALLOWED)}
        assert outside == set(), f"{path.name} imports {sorted(outside)}"


def test_a_board_module_never_imports_another_board() -> None:
    """sorce, hirempire and recruitifi share only base, http and decided."""
    for board in BOARDS:
        others = {f"boardsync.connectors.{b}" for b in BOARDS - {board}}
        found = {n for n in imports(PACKAGE / f"{board}.py") if n.startswith(tuple(others))}
        assert found == set(), f"{board}.py imports {sorted(found)}"
