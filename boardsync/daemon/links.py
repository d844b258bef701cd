"""Signed links (a board with ``SUPPORTS_LINKS``: RecruitiFi), kept fresh.

A signed link is a credential that dies after a few minutes. The daemon keeps one per posting
that names a board reached through links (the first such board, in the order boards are
listed, when it names several), fetches a new one once most of its life has passed (so
whoever is handed one gets a URL with time left), and forgets links of postings that are gone
and links that have expired. ``/links/KEY`` hands out the stored link, or a new one when it
is about to go.

A link's life is measured on our clock, from when we received it to its `expires_at`; the
board's clock only decides how long that is.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from sqlmodel import col, delete, select

from boardsync.config import Desired
from boardsync.config.model import Posting
from boardsync.connectors.base import Connector
from boardsync.daemon.http import UnknownPosting
from boardsync.errors import Transient
from boardsync.reconcile import fresh_links
from boardsync.reconcile.links import LinkResult
from boardsync.state.store import Store
from boardsync.state.tables import SignedLink

log = structlog.get_logger(__name__)

REFRESH_AT = 0.8
"""Share of a link's life after which a new one is fetched."""
RETRY_AFTER_FAILURE = timedelta(seconds=30)


@dataclass(frozen=True)
class StoredLink:
    posting: str
    url: str
    fetched_at: datetime
    expires_at: datetime

    @property
    def refresh_due(self) -> datetime:
        return self.fetched_at + (self.expires_at - self.fetched_at) * REFRESH_AT

    def fresh(self, now: datetime) -> bool:
        return now < self.refresh_due


def link_boards(connectors: Mapping[str, Connector]) -> list[str]:
    """The configured boards reached through signed links, in the order boards are listed."""
    return [name for name, connector in connectors.items() if connector.SUPPORTS_LINKS]


def linked_postings(postings: Iterable[Posting], boards: Sequence[str], now: datetime) -> dict[str, str]:
    """posting key → the board of `boards` its link comes from, for each posting that is not
    closed at `now` (a closed job has nothing left to manage there; a close_at passed closes
    it) and names one of them."""
    linked = {}
    for posting in postings:
        named = [board for board in boards if board in posting.boards.names()]
        if named and posting.status_at(now).value != "closed":
            linked[posting.key] = named[0]
    return linked


class LinkKeeper:
    """Decides which links are due and when to look again; fetching and storing a link is
    `reconcile.fresh_links`, the same as ``boardsync links`` does."""

    def __init__(self, store: Store, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.clock = clock

    def refresh(
        self, desired: Desired, connectors: Mapping[str, Connector], stop: threading.Event
    ) -> datetime | None:
        """Fetch a new link for every linked posting whose link is missing or due, drop the
        rest, and say when the next one falls due (None: no posting has a link)."""
        boards = link_boards(connectors)
        wanted = linked_postings(desired.postings, boards, self.clock())
        self._forget(boards, keep=wanted)
        stored = self.stored()
        for key, board in wanted.items():
            if stop.is_set():
                break
            link = stored.get(key)
            if link is None or not link.fresh(self.clock()):
                self._fetch(desired, connectors, key, board)
        stored = self.stored()
        retry = self.clock() + RETRY_AFTER_FAILURE
        dues = [stored[key].refresh_due if key in stored else retry for key in wanted]
        return min(dues, default=None)

    def fresh_url(self, desired: Desired, connectors: Mapping[str, Connector], key: str) -> str:
        """A URL with life left in it for posting `key`: the stored one, or a new one."""
        board = linked_postings(desired.postings, link_boards(connectors), self.clock()).get(key)
        if board is None:
            raise UnknownPosting(f"no open posting {key!r} is sent to a board that hands out links")
        link = self.stored().get(key)
        if link is not None and link.fresh(self.clock()):
            return link.url
        result = self._fetch(desired, connectors, key, board)
        if result.url is None:
            raise Transient(result.error or "no link", provider=board, call="link")
        return result.url

    def stored(self) -> dict[str, StoredLink]:
        """The stored link of each posting (only boards reached by links store any, and
        `refresh` keeps one board's per posting)."""
        with self.store.session() as session:
            rows = session.exec(select(SignedLink)).all()
        return {
            row.posting_key: StoredLink(
                row.posting_key, row.url, row.fetched_at or row.expires_at, row.expires_at
            )
            for row in rows
            if row.expires_at is not None
        }

    def _fetch(self, desired: Desired, connectors: Mapping[str, Connector], key: str, board: str) -> LinkResult:
        results = fresh_links(desired, self.store, {board: connectors[board]}, keys=[key], clock=self.clock)
        (result,) = results
        if result.url is not None:
            log.info("link_refreshed", posting=key, expires_at=str(result.expires_at))
        return result

    def _forget(self, boards: Sequence[str], keep: Mapping[str, str]) -> None:
        """Drop expired links, and links of postings no longer sent to the board that gives
        them theirs."""
        with self.store.write() as session:
            for board in boards:
                kept = [key for key, linked in keep.items() if linked == board]
                session.exec(
                    delete(SignedLink).where(
                        col(SignedLink.provider) == board,
                        (col(SignedLink.expires_at) <= self.clock()) | col(SignedLink.posting_key).not_in(kept),
                    )
                )
