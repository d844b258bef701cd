"""The daemon's link keeper against the RecruitiFi simulator and a real state database."""

from __future__ import annotations

import shutil
import threading
from dataclasses import replace
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from boardsync import config
from boardsync.connectors import build_connectors
from boardsync.connectors.base import Connector
from boardsync.daemon.http import UnknownPosting
from boardsync.daemon.links import REFRESH_AT, LinkKeeper, linked_postings
from boardsync.sandbox.core import Fault
from boardsync.sandbox.server import Sandbox
from boardsync.state.store import Store, open_store
from boardsync.state.tables import SignedLink

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
LINKED = {"backend-engineer", "engineering-manager", "product-designer"}
NOW = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def desired(tmp_path: Path, sandbox: Sandbox) -> config.Desired:
    shutil.copytree(EXAMPLES / "postings", tmp_path / "postings")
    (tmp_path / "boardsync.yaml").write_text(
        "version: 1\nstate: sqlite:///state.db\npostings: postings/\n" + sandbox.providers_yaml()
    )
    return config.load(tmp_path / "boardsync.yaml", env=sandbox.credentials())


@pytest.fixture
def store(desired: config.Desired) -> Iterator[Store]:
    with open_store(desired.state_url) as store:
        yield store


@pytest.fixture
def connectors(desired: config.Desired) -> Iterator[dict[str, Connector]]:
    built = build_connectors(desired.root.providers)
    yield built
    for connector in built.values():
        connector.close()


@pytest.fixture
def keeper(store: Store, sandbox: Sandbox) -> LinkKeeper:
    """A keeper on the board's clock, stopped: time moves only when a test moves it."""
    sandbox.clock.freeze()
    return LinkKeeper(store, clock=sandbox.clock.now)


def _issued(sandbox: Sandbox) -> int:
    return len(sandbox.recruitifi.issued_links())


def test_linked_postings_are_the_open_ones_naming_recruitifi(desired: config.Desired) -> None:
    """Only postings that name RecruitiFi and are not closed get a link."""
    assert set(linked_postings(desired.postings, ["recruitifi"], NOW)) == LINKED


def test_a_posting_naming_two_link_boards_gets_its_link_from_the_first(desired: config.Desired) -> None:
    """The boards are found by capability, so there may be several: the first listed that a
    posting names gives its link."""
    both = {key for key, p in {p.key: p for p in desired.postings}.items()
            if {"hirempire", "recruitifi"} <= set(p.boards.names())} & LINKED
    assert both
    linked = linked_postings(desired.postings, ["hirempire", "recruitifi"], NOW)
    assert {linked[key] for key in both} == {"hirempire"}
    assert set(linked_postings(desired.postings, [], NOW)) == set()


def test_refresh_fetches_missing_links_and_books_the_next_at_most_of_their_life(
    desired: config.Desired, keeper: LinkKeeper, connectors: dict[str, Connector], sandbox: Sandbox
) -> None:
    """Every linked posting gets a stored link; the next refresh falls at 80% of its life."""
    now = sandbox.clock.now()
    due = keeper.refresh(desired, connectors, threading.Event())
    stored = keeper.stored()
    assert set(stored) == LINKED and _issued(sandbox) == 3
    life = min(link.expires_at for link in stored.values()) - now
    assert due == now + life * REFRESH_AT


def test_fresh_links_are_reused_and_aging_ones_fetched_again(
    desired: config.Desired, keeper: LinkKeeper, connectors: dict[str, Connector], sandbox: Sandbox
) -> None:
    """Until 80% of a link's life has passed it is handed out again and the board asked nothing;
    from then on a new one is fetched."""
    keeper.refresh(desired, connectors, threading.Event())
    old = keeper.stored()["backend-engineer"]
    sandbox.clock.set(old.refresh_due - timedelta(seconds=1))
    keeper.refresh(desired, connectors, threading.Event())
    assert keeper.fresh_url(desired, connectors, "backend-engineer") == old.url and _issued(sandbox) == 3
    sandbox.clock.set(old.refresh_due)
    assert keeper.fresh_url(desired, connectors, "backend-engineer") != old.url
    assert _issued(sandbox) == 4


def test_links_of_postings_gone_and_links_expired_are_forgotten(
    desired: config.Desired, store: Store, keeper: LinkKeeper, connectors: dict[str, Connector], sandbox: Sandbox
) -> None:
    """A link is never kept past its expiry, nor for a posting no longer sent to RecruitiFi."""
    keeper.refresh(desired, connectors, threading.Event())
    with store.write() as session:
        session.add(SignedLink(posting_key="old-job", provider="recruitifi", url="https://x/?token=t",
                               expires_at=sandbox.clock.now() + timedelta(minutes=5)))
    remaining = [p for p in desired.postings if p.key != "engineering-manager"]
    keeper.refresh(replace(desired, postings=tuple(remaining)), connectors, threading.Event())
    assert set(keeper.stored()) == LINKED - {"engineering-manager"}
    last = max(link.expires_at for link in keeper.stored().values())
    sandbox.clock.set(last)
    stopped = threading.Event()
    stopped.set()  # nothing fetched anew: what is left is only what was kept
    keeper.refresh(desired, connectors, stopped)
    assert keeper.stored() == {}


def test_a_board_failure_is_retried_later_without_stopping_the_others(
    desired: config.Desired, keeper: LinkKeeper, connectors: dict[str, Connector], sandbox: Sandbox
) -> None:
    """One link the board refuses leaves the rest fetched and books a retry 30 s later."""
    sandbox.recruitifi.faults.add(Fault("status", method="GET", path=r"/v1/links/job", status=403, times=1))
    due = keeper.refresh(desired, connectors, threading.Event())
    assert len(keeper.stored()) == 2
    assert due == sandbox.clock.now() + timedelta(seconds=30)


def test_a_link_is_refused_for_a_posting_not_sent_to_recruitifi(
    desired: config.Desired, keeper: LinkKeeper, connectors: dict[str, Connector], sandbox: Sandbox
) -> None:
    """Unknown, closed or elsewhere-only postings get no link, and the board is not asked."""
    for key in ("nobody", "intern-design-2024", "warehouse-associate"):
        with pytest.raises(UnknownPosting):
            keeper.fresh_url(desired, connectors, key)
    assert _issued(sandbox) == 0
