"""The daemon's link keeper against the RecruitiFi simulator and a real state database."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from boardsync import config
from boardsync.connectors import build_connectors
from boardsync.connectors.base import Connector
from boardsync.daemon.http import UnknownPosting
from boardsync.daemon.links import LinkKeeper, linked_postings
from boardsync.errors import ProviderError
from boardsync.reconcile.planner import LINK_REFRESH_MARGIN
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


def _stored(store: Store) -> dict[str, SignedLink]:
    with store.session() as session:
        return {row.posting_key: row for row in session.exec(select(SignedLink)).all()}


def test_nothing_is_fetched_until_asked_then_one_link_for_the_posting_asked(
    desired: config.Desired, store: Store, keeper: LinkKeeper, connectors: dict[str, Connector], sandbox: Sandbox
) -> None:
    """No link is kept warm: asking for one posting's link fetches that one and stores it."""
    assert _issued(sandbox) == 0
    url = keeper.fresh_url(desired, connectors, "backend-engineer")
    assert _issued(sandbox) == 1
    assert set(_stored(store)) == {"backend-engineer"} and _stored(store)["backend-engineer"].url == url


def test_a_link_valid_beyond_the_margin_is_served_again_and_one_inside_it_fetched_anew(
    desired: config.Desired, store: Store, keeper: LinkKeeper, connectors: dict[str, Connector], sandbox: Sandbox
) -> None:
    """While the stored link has more than the margin left it is handed out again and the
    board asked nothing; from then on a new one is fetched and stored in its place."""
    old = keeper.fresh_url(desired, connectors, "backend-engineer")
    expires = _stored(store)["backend-engineer"].expires_at
    assert expires is not None
    sandbox.clock.set(expires - LINK_REFRESH_MARGIN - timedelta(seconds=1))
    assert keeper.fresh_url(desired, connectors, "backend-engineer") == old and _issued(sandbox) == 1
    sandbox.clock.set(expires - LINK_REFRESH_MARGIN)
    new = keeper.fresh_url(desired, connectors, "backend-engineer")
    assert new != old and _issued(sandbox) == 2
    assert _stored(store)["backend-engineer"].url == new


def test_an_expired_link_is_fetched_when_asked_and_a_second_ask_is_served_from_the_database(
    desired: config.Desired, store: Store, keeper: LinkKeeper, connectors: dict[str, Connector], sandbox: Sandbox
) -> None:
    """A link past its expiry costs one request at the next ask, and none at the ask after."""
    keeper.fresh_url(desired, connectors, "product-designer")
    expires = _stored(store)["product-designer"].expires_at
    assert expires is not None
    sandbox.clock.set(expires + timedelta(minutes=1))
    first = keeper.fresh_url(desired, connectors, "product-designer")
    second = keeper.fresh_url(desired, connectors, "product-designer")
    assert first == second and _issued(sandbox) == 2


def test_two_asks_at_once_for_one_posting_fetch_one_link(
    desired: config.Desired, keeper: LinkKeeper, connectors: dict[str, Connector], sandbox: Sandbox
) -> None:
    """Asks for the same posting wait for each other: the second is served what the first fetched."""
    sandbox.recruitifi.faults.add(Fault("latency", path=r"/v1/links/job", latency_ms=200, times=1))
    urls: list[str] = []
    threads = [threading.Thread(target=lambda: urls.append(keeper.fresh_url(desired, connectors, "backend-engineer")))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(urls) == 2 and urls[0] == urls[1] and _issued(sandbox) == 1


def test_a_board_failure_is_an_error_for_that_ask_and_the_next_ask_fetches_again(
    desired: config.Desired, keeper: LinkKeeper, connectors: dict[str, Connector], sandbox: Sandbox
) -> None:
    """A link the board refuses fails that ask (naming the board); nothing is stored, so the
    next ask tries again and gets one."""
    sandbox.recruitifi.faults.add(Fault("status", method="GET", path=r"/v1/links/job", status=403, times=1))
    with pytest.raises(ProviderError) as failed:
        keeper.fresh_url(desired, connectors, "backend-engineer")
    assert failed.value.provider == "recruitifi"
    assert keeper.fresh_url(desired, connectors, "backend-engineer") and _issued(sandbox) == 1


def test_a_link_is_refused_for_a_posting_not_sent_to_recruitifi(
    desired: config.Desired, keeper: LinkKeeper, connectors: dict[str, Connector], sandbox: Sandbox
) -> None:
    """Unknown, closed or elsewhere-only postings get no link, and the board is not asked."""
    for key in ("nobody", "intern-design-2024", "warehouse-associate"):
        with pytest.raises(UnknownPosting):
            keeper.fresh_url(desired, connectors, key)
    assert _issued(sandbox) == 0
