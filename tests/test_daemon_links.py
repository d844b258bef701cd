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


def _issued(sandbox: Sandbox) -> int:
    return len(sandbox.recruitifi.issued_links())


def test_linked_postings_are_the_open_ones_naming_recruitifi(desired: config.Desired) -> None:
    """Only postings that name RecruitiFi and are not closed get a link."""
    assert set(linked_postings(desired.postings)) == LINKED


def test_refresh_fetches_missing_links_and_books_the_next_at_most_of_their_life(
    desired: config.Desired, store: Store, connectors: dict[str, Connector], sandbox: Sandbox
) -> None:
    """Every linked posting gets a stored link; the next refresh falls at 80% of its life."""
    before = datetime.now(UTC)
    due = LinkKeeper(store).refresh(desired, connectors, threading.Event())
    stored = LinkKeeper(store).stored()
    assert set(stored) == LINKED and _issued(sandbox) == 3
    life = min(link.expires_at for link in stored.values()) - before
    assert due is not None and before + life * (REFRESH_AT - 0.05) < due < before + life * (REFRESH_AT + 0.05)


def test_fresh_links_are_reused_and_aging_ones_fetched_again(
    desired: config.Desired, store: Store, connectors: dict[str, Connector], sandbox: Sandbox
) -> None:
    """A second refresh asks the board nothing; once a link is past 80% of its life it is replaced."""
    keeper = LinkKeeper(store)
    keeper.refresh(desired, connectors, threading.Event())
    keeper.refresh(desired, connectors, threading.Event())
    assert _issued(sandbox) == 3
    with store.write() as session:  # age one link: fetched long ago, expiring soon
        row = session.get(SignedLink, 1)
        assert row is not None
        row.fetched_at = datetime.now(UTC) - timedelta(minutes=13)
        row.expires_at = datetime.now(UTC) + timedelta(minutes=2)
        aged = row.posting_key
        old_url = row.url
    assert keeper.fresh_url(desired, connectors, aged) != old_url
    assert _issued(sandbox) == 4


def test_links_of_postings_gone_and_links_expired_are_forgotten(
    desired: config.Desired, store: Store, connectors: dict[str, Connector]
) -> None:
    """A link is never kept past its expiry, nor for a posting no longer sent to RecruitiFi."""
    keeper = LinkKeeper(store)
    keeper.refresh(desired, connectors, threading.Event())
    with store.write() as session:
        session.add(SignedLink(posting_key="old-job", provider="recruitifi", url="https://x/?token=t",
                               expires_at=datetime.now(UTC) + timedelta(minutes=5)))
    remaining = [p for p in desired.postings if p.key != "engineering-manager"]
    keeper.refresh(replace(desired, postings=tuple(remaining)), connectors, threading.Event())
    assert set(keeper.stored()) == LINKED - {"engineering-manager"}


def test_a_board_failure_is_retried_later_without_stopping_the_others(
    desired: config.Desired, store: Store, connectors: dict[str, Connector], sandbox: Sandbox
) -> None:
    """One link the board refuses leaves the rest fetched and books a retry within a minute."""
    sandbox.recruitifi.faults.add(Fault("status", method="GET", path=r"/v1/links/job", status=403, times=1))
    due = LinkKeeper(store).refresh(desired, connectors, threading.Event())
    assert len(LinkKeeper(store).stored()) == 2
    assert due is not None and due < datetime.now(UTC) + timedelta(minutes=1)


def test_a_link_is_refused_for_a_posting_not_sent_to_recruitifi(
    desired: config.Desired, store: Store, connectors: dict[str, Connector], sandbox: Sandbox
) -> None:
    """Unknown, closed or elsewhere-only postings get no link, and the board is not asked."""
    keeper = LinkKeeper(store)
    for key in ("nobody", "intern-design-2024", "warehouse-associate"):
        with pytest.raises(UnknownPosting):
            keeper.fresh_url(desired, connectors, key)
    assert _issued(sandbox) == 0
