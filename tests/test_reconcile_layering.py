"""The import rules of DESIGN §2, checked on the source: state and reconcile stay in their layer,
and the planner stays pure (no database, no network, no other step of the run)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "boardsync"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def _modules(package: str) -> list[Path]:
    return sorted((PACKAGE / package).glob("*.py"))


def _offending(paths: list[Path], forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    found = {}
    for path in paths:
        bad = sorted(m for m in _imports(path) if m.startswith(forbidden))
        if bad:
            found[path.name] = bad
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("state", ("boardsync.reconcile", "boardsync.connectors", "boardsync.config", "boardsync.daemon",
                   "boardsync.cli", "boardsync.sandbox")),
        ("reconcile", ("boardsync.daemon", "boardsync.cli", "boardsync.sandbox")),
        ("config", ("boardsync.connectors", "boardsync.reconcile", "boardsync.state", "boardsync.daemon",
                    "boardsync.cli", "boardsync.sandbox")),
        ("ci", ("boardsync.config", "boardsync.connectors", "boardsync.reconcile", "boardsync.state",
                "boardsync.daemon", "boardsync.cli", "boardsync.sandbox")),
        ("sandbox", ("boardsync.config", "boardsync.connectors", "boardsync.reconcile", "boardsync.state",
                     "boardsync.daemon", "boardsync.cli", "boardsync.errors", "boardsync.log", "boardsync.demo")),
    ],
)
def test_package_imports_only_the_layers_below_it(package: str, forbidden: tuple[str, ...]) -> None:
    """state and config import nothing of the packages above them; reconcile never imports the
    daemon, the command line or the simulators; the simulators import nothing of boardsync but
    themselves (they play the boards' side); the pull-request comment stands alone."""
    assert _offending(_modules(package), forbidden) == {}


def test_reconcile_knows_boards_only_through_the_contract() -> None:
    """No reconcile module imports a particular board's connector."""
    boards = ("boardsync.connectors.sorce", "boardsync.connectors.hirempire", "boardsync.connectors.recruitifi")
    assert _offending(_modules("reconcile"), boards) == {}


def test_planner_is_pure() -> None:
    """The planner imports no database, no HTTP client and no other step of the run."""
    impure = ("boardsync.state", "sqlmodel", "sqlalchemy", "httpx", "boardsync.reconcile.observe",
              "boardsync.reconcile.apply", "boardsync.reconcile.record", "boardsync.reconcile.engine")
    assert _offending([PACKAGE / "reconcile" / "planner.py", PACKAGE / "reconcile" / "model.py"], impure) == {}
