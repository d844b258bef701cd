"""The import rules of the package, as the contracts in pyproject.toml ([tool.importlinter])
state them: `lint-imports` checks them on the whole import graph, indirect imports included.
This runs the same check, so a broken rule fails the tests as well as CI, and shows on a
copy of the package that each kind of rule does fail when broken."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` on the package and the contracts found in `root`, as CI runs it."""
    check = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    return subprocess.run(
        [sys.executable, "-c", check, "--no-cache", "--no-logo"],
        cwd=root, env={**os.environ, "PYTHONPATH": str(root), "NO_COLOR": "1"},
        capture_output=True, text=True, timeout=120,
    )


def test_the_package_keeps_every_import_contract() -> None:
    """Every contract holds: the layers, the boards apart, the planner pure, the sandbox alone."""
    ran = lint_imports(ROOT)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "0 broken" in ran.stdout


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package and its pyproject.toml, copied, for a test to break a rule in."""
    root = tmp_path_factory.mktemp("contracts")
    shutil.copytree(ROOT / "boardsync", root / "boardsync", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


BREAKS = {
    "a reconcile module reaching a board's connector": (
        "boardsync/reconcile/shortcut.py", "from boardsync.connectors import sorce\n",
        "reconcile knows the boards only through the connector contract"),
    "a board importing another board": (
        "boardsync/connectors/sorce.py", "from boardsync.connectors import hirempire\n",
        "each board's connector knows no other board's"),
    "a connector writing to the state database": (
        "boardsync/connectors/hirempire.py", "from boardsync.state import Store\n",
        "the connectors and the state database know nothing of each other"),
    "the state importing the run above it": (
        "boardsync/state/db.py", "from boardsync.reconcile import model\n",
        "boardsync is layered"),
    "the demo importing the command line": (
        "boardsync/demo.py", "from boardsync import cli\n", "boardsync is layered"),
    "a module of the package that no layer names": (
        "boardsync/stray.py", "from boardsync import errors\n", "boardsync is layered"),
    "the planner calling a board over HTTP": (
        "boardsync/reconcile/planner.py", "import httpx\n", "the planner is pure"),
    "the sandbox using boardsync's errors": (
        "boardsync/sandbox/core.py", "from boardsync import errors\n",
        "the sandbox imports nothing of boardsync"),
    "a module importing structlog itself": (
        "boardsync/config/parsed.py", "import structlog\n",
        "only boardsync.log imports structlog"),
    "the daemon starting the simulators": (
        "boardsync/daemon/service.py", "from boardsync.sandbox import server\n",
        "only the demo and the sandbox command reach the simulators"),
}


@pytest.mark.parametrize("case", sorted(BREAKS))
def test_a_broken_rule_fails_the_check(package_copy: Path, case: str) -> None:
    """One import that breaks a rule makes `lint-imports` fail, naming the contract broken."""
    path, line, contract = BREAKS[case]
    target = package_copy / path
    before = target.read_text() if target.exists() else None
    target.write_text((before or "") + line)
    try:
        ran = lint_imports(package_copy)
    finally:
        if before is None:
            target.unlink()
        else:
            target.write_text(before)
    assert ran.returncode == 1, ran.stdout + ran.stderr
    broken = ran.stdout.split("Broken contracts", 1)[-1]
    assert contract in " ".join(broken.split()), ran.stdout
