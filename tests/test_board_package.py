"""A board from another package: the example Corkboard (examples/board-package), installed
with pip into a folder of its own, found through its ``boardsync.boards`` entry point and
used end to end against its fake board on loopback. Nothing is fetched: no index, no
dependencies, no build isolation."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from boardsync.sandbox.core import serve

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "board-package"
TOKEN = "corkboard-e2e-token"
POSTING = """\
key: platform-engineer
title: Platform Engineer
description: Keep the platform up.
workplace: remote
remote_country: Germany
employment_type: full_time
level: senior
boards:
  corkboard: {color: pink}
"""


def pip_install(source: Path, target: Path) -> None:
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
           "--no-deps", "--no-build-isolation", "--no-index", "--target", str(target), str(source)]
    done = subprocess.run(pip, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example package pip-installed into a target folder (from a copy, so the build
    leaves nothing in the repository)."""
    work = tmp_path_factory.mktemp("corkboard")
    source = work / "source"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    pip_install(source, work / "target")
    assert (work / "target" / "boardsync_corkboard").is_dir()
    return work / "target"


def run(target: Path, *argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A command in a fresh process that sees the installed package (and this boardsync)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(ROOT)]), "CORKBOARD_TOKEN": TOKEN}
    return subprocess.run([sys.executable, *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def fake_board_module() -> ModuleType:
    """The fake board's module alone (it needs only Starlette), without importing the
    package into this process, whose boards are already loaded."""
    spec = importlib.util.spec_from_file_location("corkboard_fake", EXAMPLE / "boardsync_corkboard" / "fake.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def board() -> Any:
    fake = fake_board_module().FakeCorkboard(TOKEN)
    server = serve(fake.app())
    fake.url = server.url
    yield fake
    server.stop()


def repository(tmp_path: Path, url: str, posting: str = POSTING) -> Path:
    (tmp_path / "postings").mkdir()
    (tmp_path / "postings" / "platform-engineer.yaml").write_text(posting)
    root = tmp_path / "boardsync.yaml"
    root.write_text(
        "version: 1\nstate: sqlite:///state.db\npostings: postings/\n"
        f'providers:\n  corkboard:\n    token: "${{CORKBOARD_TOKEN}}"\n    base_url: {url}\n'
    )
    return root


def test_the_example_board_passes_the_connector_contract(installed: Path) -> None:
    """The example package's own tests, boardsync.testing's contract among them, pass
    against the installed package."""
    done = run(installed, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests"),
               cwd=installed.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "passed" in done.stdout and "failed" not in done.stdout


def test_a_posting_reaches_a_board_from_another_package(installed: Path, board: Any, tmp_path: Path) -> None:
    """validate passes, reconcile pins the note on the fake board (exit 0), and a second
    run finds the board matching the postings (exit 0, nothing to do)."""
    root = repository(tmp_path, board.url)
    validated = run(installed, "-m", "boardsync", "validate", "-c", str(root), cwd=tmp_path)
    assert validated.returncode == 0, validated.stderr
    assert "1 board (corkboard)" in validated.stdout
    reconciled = run(installed, "-m", "boardsync", "reconcile", "-c", str(root), cwd=tmp_path)
    assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
    (note,) = board.notes.values()
    assert (note["ref"], note["title"], note["color"], note["status"]) == (
        "platform-engineer", "Platform Engineer", "pink", "pinned"
    )
    again = run(installed, "-m", "boardsync", "reconcile", "--dry-run", "-c", str(root), cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(board.notes) == 1


def test_the_boards_own_check_and_schema_come_from_its_package(installed: Path, board: Any, tmp_path: Path) -> None:
    """validate reports the board's check with its name and the line, exit 1; the schema
    of the root file describes ``providers.corkboard``."""
    root = repository(tmp_path, board.url, POSTING.replace("Platform Engineer", "P" * 81))
    validated = run(installed, "-m", "boardsync", "validate", "-c", str(root), cwd=tmp_path)
    assert validated.returncode == 1
    assert "postings/platform-engineer.yaml:2:1: title: corkboard: Corkboard titles are at most 80 characters" in (
        validated.stdout + validated.stderr
    )
    schema = run(installed, "-m", "boardsync", "schema", "root", cwd=tmp_path)
    assert schema.returncode == 0 and '"CorkboardSettings"' in schema.stdout
    assert board.notes == {}


def test_a_literal_token_of_the_boards_shape_is_refused(installed: Path, board: Any, tmp_path: Path) -> None:
    """The board's KEY_SHAPES join ours: its token written into the root file is an error
    that shows only the prefix."""
    root = repository(tmp_path, board.url)
    root.write_text(root.read_text().replace('"${CORKBOARD_TOKEN}"', "cork_0123456789abcdefXYZ"))
    validated = run(installed, "-m", "boardsync", "validate", "-c", str(root), cwd=tmp_path)
    said = validated.stdout + validated.stderr
    assert validated.returncode == 1
    assert "providers.corkboard.token: a literal key ('cork_…') is written in the file" in said
    assert "0123456789abcdef" not in said


def test_a_second_package_claiming_the_name_stops_every_command(
    installed: Path, board: Any, tmp_path: Path
) -> None:
    """Two installed packages that both declare a board named corkboard: validate says so,
    naming both, and exits 1 instead of picking one."""
    clash = tmp_path / "clash"
    (clash / "corkboard_clash").mkdir(parents=True)
    (clash / "corkboard_clash" / "__init__.py").write_text("from boardsync_corkboard import CorkboardConnector\n")
    (clash / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "corkboard-clash"\nversion = "1.0"\n'
        '[project.entry-points."boardsync.boards"]\ncorkboard = "corkboard_clash:CorkboardConnector"\n'
        '[tool.setuptools]\npackages = ["corkboard_clash"]\n'
    )
    both = tmp_path / "both"
    shutil.copytree(installed, both)
    pip_install(clash, both)
    root = repository(tmp_path, board.url)
    validated = run(both, "-m", "boardsync", "validate", "-c", str(root), cwd=tmp_path)
    assert validated.returncode == 1
    said = validated.stdout + validated.stderr
    assert "two boards are named 'corkboard'" in said
    assert "boardsync_corkboard:CorkboardConnector from boardsync-corkboard 0.1.0" in said
    assert "corkboard_clash:CorkboardConnector from corkboard-clash 1.0" in said
