"""Fixtures the whole suite shares: the three sandbox boards as real servers on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from boardsync.sandbox.server import Sandbox


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
