"""`boardsync links` stores the links it fetches, so it takes the state database's writer lock
the way `plan` and `reconcile` do: it waits `--wait` seconds for the holder, then refuses."""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest
from sqlmodel import select

from boardsync.cli import build_parser
from boardsync.daemon.lock import acquire_writer_lock
from boardsync.reconcile.planner import LINK_REFRESH_MARGIN
from boardsync.state import SignedLink, open_store
from tests.reconcile_helpers import Workspace

pytestmark = pytest.mark.slow


def test_links_beside_a_lock_holder_waits_then_refuses_naming_it_and_fetches_nothing(synced: Workspace) -> None:
    """With a daemon holding the lock, `links --wait` says it waits, exits 1 naming the holder's
    pid and asks RecruitiFi for nothing; once the lock is free, the same command hands out the
    links, fetching those with little time left."""
    with acquire_writer_lock(synced.desired().state_url, command="daemon"):
        refused = synced.run("links", "--wait", "0.2")
    assert refused.code == 1
    assert "waiting for boardsync daemon" in refused.err
    assert f"pid {os.getpid()}" in refused.err
    assert synced.counts()["recruitifi"] == {}

    synced.age_links(timedelta(minutes=1))
    assert synced.run("links").code == 0
    assert synced.counts()["recruitifi"] != {}


def test_links_hands_out_stored_links_with_time_left_and_fetches_only_the_rest(synced: Workspace) -> None:
    """After a sync one link is stored, the one its first run fetched: `links` prints it as
    it is and fetches the other postings' (a token, then a link each), which it stores; a
    second `links` asks RecruitiFi for nothing; a link inside its margin is fetched again, once."""
    (first,) = _stored_urls(synced).items()
    synced.clear_counts()
    listed = synced.run("links", "--json")
    assert listed.code == 0
    stored = _stored_urls(synced)
    assert {(r["posting"], r["url"]) for r in json.loads(listed.out)} == set(stored.items())
    assert len(stored) == 3 and first in stored.items()
    assert synced.counts()["recruitifi"] == {"POST /v1/auth/token": 1, "GET /v1/links/job": 2}
    synced.clear_counts()
    assert synced.run("links").code == 0 and synced.counts()["recruitifi"] == {}

    key = sorted(stored)[0]
    synced.age_links(LINK_REFRESH_MARGIN - timedelta(seconds=5), key=key)
    assert synced.run("links", key).code == 0
    assert sum(synced.counts()["recruitifi"].values()) == 2  # the token, then the one link
    fetched = _stored_urls(synced)
    assert fetched[key] != stored[key] and {k: v for k, v in fetched.items() if k != key} == {
        k: v for k, v in stored.items() if k != key}
    assert synced.run("links", key).code == 0 and sum(synced.counts()["recruitifi"].values()) == 2


def _stored_urls(ws: Workspace) -> dict[str, str]:
    with open_store(ws.desired().state_url) as store, store.session() as session:
        return {link.posting_key: link.url for link in session.exec(select(SignedLink)).all()}


def test_links_waits_ten_seconds_for_the_lock_by_default_like_plan_and_reconcile() -> None:
    """`links`, `plan` and `reconcile` share the default `--wait` of 10 seconds."""
    parser = build_parser()
    assert [parser.parse_args([name]).wait for name in ("links", "plan", "reconcile")] == [10.0, 10.0, 10.0]
