"""What a short command loads: only what it uses, so that it starts quickly.

Asserted on the modules a real process imports (`python -X importtime`), never on a time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
SECRETS = {"SORCE_API_KEY": "sk_ext_example", "HIREMPIRE_TOKEN": "sk-example", "RECRUITIFI_CLIENT_SECRET": "rf-example"}

THE_RUN = {"boardsync.reconcile.engine", "boardsync.reconcile.apply", "boardsync.reconcile.observe",
           "boardsync.reconcile.planner", "boardsync.reconcile.render", "boardsync.reconcile.snapshot"}
"""What a run (or a plan, or its report) needs and a reading command does not."""
THE_DATABASE = {"sqlalchemy", "sqlmodel", "boardsync.state"}
THE_ORM = {"sqlalchemy", "sqlmodel", "boardsync.state.store", "boardsync.state.tables"}
"""What reading the state through SQLAlchemy loads; `status` reads it through the driver alone."""
LOGGING = {"structlog", "structlog.dev", "rich.traceback", "pygments"}
"""What writing a log line loads: a command that writes none (below the level) loads none of it."""
CALLING_THE_BOARDS = {"httpx", "tenacity", "boardsync.connectors.transport", "rich.progress"}
"""What a command that sends requests needs (the clients, the retries, the progress bar), and
reading the boards' declarations does not."""

pytestmark = pytest.mark.slow


def imported(*argv: str, cwd: Path, env: dict[str, str] | None = None) -> set[str]:
    """Every module `boardsync ARGV` imports, run as a process of its own."""
    env = {**os.environ, **SECRETS, "PYTHONPATH": str(REPO), **(env or {})}
    ran = subprocess.run([sys.executable, "-X", "importtime", "-m", "boardsync", *argv],
                         env=env, cwd=cwd, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    lines = [line for line in ran.stderr.splitlines() if line.startswith("import time:") and "self [us]" not in line]
    return {line.rsplit("|", 1)[1].strip() for line in lines}


def test_validate_loads_neither_the_database_nor_the_run() -> None:
    """`validate` reads the config and runs the boards' checks: no SQLAlchemy, no state, no
    engine, no HTTP client, no logging machinery."""
    modules = imported("validate", "-c", str(EXAMPLES / "boardsync.yaml"), cwd=REPO)
    assert "boardsync.config.validate" in modules
    assert modules & (THE_DATABASE | THE_RUN | LOGGING | CALLING_THE_BOARDS) == set()


def test_status_reads_the_database_through_its_driver_alone(tmp_path: Path) -> None:
    """`status` reads the state database through sqlite3, without SQLAlchemy or SQLModel,
    and loads nothing of the run, of HTTP or of logging."""
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLES, repo)
    imported("migrate", cwd=repo)
    modules = imported("status", cwd=repo)
    assert {"boardsync.state.direct", "sqlite3"} <= modules
    assert modules & (THE_ORM | THE_RUN | LOGGING | CALLING_THE_BOARDS) == set()


@pytest.mark.parametrize("workspace", ["default", "acme"])
def test_status_reads_any_state_through_its_driver_alone(tmp_path: Path, state_url: str, workspace: str) -> None:
    """On PostgreSQL and in a workspace of its own too, `status` neither loads SQLAlchemy to
    read the state's URL nor to read the state."""
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLES, repo)
    root = repo / "boardsync.yaml"
    root.write_text("".join(
        f"state: {state_url}\n" if line.startswith("state:") else line
        for line in root.read_text().splitlines(keepends=True)
    ))
    env = {"BOARDSYNC_WORKSPACE": workspace}
    imported("migrate", cwd=repo, env=env)
    modules = imported("status", cwd=repo, env=env)
    driver = "sqlite3" if state_url.startswith("sqlite") else "psycopg"
    assert {"boardsync.state.direct", driver} <= modules
    assert modules & (THE_ORM | THE_RUN | LOGGING | CALLING_THE_BOARDS) == set()
