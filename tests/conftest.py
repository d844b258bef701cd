"""Fixtures the whole suite shares: the three sandbox boards as real servers on loopback, and
a config repository of the examples pointed at them (a test file may define its own `ws`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

# The connector contract lives in the package; its asserts get pytest's messages too.
pytest.register_assert_rewrite("boardsync.testing")

from boardsync.sandbox.server import Sandbox  # noqa: E402
from tests.reconcile_helpers import Workspace  # noqa: E402


@pytest.fixture(scope="session")
def sandbox_servers() -> Iterator[Sandbox]:
    """The Sorce, Hirempire and RecruitiFi simulators, started once for the whole session."""
    with Sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(sandbox_servers: Sandbox) -> Sandbox:
    """The running sandbox, reset for this test: real time on the clock, every board empty,
    no faults armed, no requests counted, default plans and limits."""
    sandbox_servers.reset()
    return sandbox_servers


@pytest.fixture
def ws(tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """The examples as a config repository on the sandbox boards, nothing synced yet."""
    workspace = Workspace(tmp_path, sandbox, monkeypatch).copy_examples()
    workspace.write_config()
    return workspace


@pytest.fixture
def synced(ws: Workspace) -> Workspace:
    """The examples reconciled once, request counts cleared."""
    assert ws.run("reconcile").code == 0
    ws.clear_counts()
    return ws
