"""`boardsync links` stores the links it fetches, so it takes the state database's writer lock
the way `plan` and `reconcile` do: it waits `--wait` seconds for the holder, then refuses."""

from __future__ import annotations

import os

import pytest

from boardsync.cli import build_parser
from boardsync.daemon.lock import acquire_writer_lock
from tests.reconcile_helpers import Workspace

pytestmark = pytest.mark.slow


def test_links_beside_a_lock_holder_waits_then_refuses_naming_it_and_fetches_nothing(synced: Workspace) -> None:
    """With a daemon holding the lock, `links --wait` says it waits, exits 1 naming the holder's
    pid and asks RecruitiFi for nothing; once the lock is free, the same command fetches links."""
    with acquire_writer_lock(synced.desired().state_url, command="daemon"):
        refused = synced.run("links", "--wait", "0.2")
    assert refused.code == 1
    assert "waiting for boardsync daemon" in refused.err
    assert f"pid {os.getpid()}" in refused.err
    assert synced.counts()["recruitifi"] == {}

    assert synced.run("links").code == 0
    assert synced.counts()["recruitifi"] != {}


def test_links_waits_ten_seconds_for_the_lock_by_default_like_plan_and_reconcile() -> None:
    """`links`, `plan` and `reconcile` share the default `--wait` of 10 seconds."""
    parser = build_parser()
    assert [parser.parse_args([name]).wait for name in ("links", "plan", "reconcile")] == [10.0, 10.0, 10.0]
