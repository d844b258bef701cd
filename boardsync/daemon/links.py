"""Signed links (a board with ``SUPPORTS_LINKS``: RecruitiFi) handed out by the daemon.

A signed link is a credential that dies after a few minutes. The daemon keeps none warm:
``/links/KEY`` and ``/embed/KEY`` hand out the posting's stored link while it is valid for
more than the refresh margin, and otherwise fetch a new one, store it and hand it out
(`reconcile.fresh_links`, as ``boardsync links`` does). Only links asked for cost a request,
however many postings there are. A posting that names several boards reached through links
gets its link from the first, in the order boards are listed. Expired links, and links of
postings gone, are dropped by each reconcile run.

A link's time left is judged on this machine's clock. RecruitiFi's `expiresAt` is on its own
clock, so a link's life is counted from when it arrived, by the answer's ``Date``, when that
ends sooner (`connectors.recruitifi.on_our_clock`): a machine whose clock runs behind
RecruitiFi's does not hand out links that died already.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime

from boardsync.config import Desired
from boardsync.config.model import Posting
from boardsync.connectors.base import Connector
from boardsync.daemon.http import UnknownPosting
from boardsync.errors import Transient
from boardsync.log import get_logger
from boardsync.reconcile import fresh_links
from boardsync.state.store import Store

log = get_logger(__name__)


def link_boards(connectors: Mapping[str, Connector]) -> list[str]:
    """The configured boards reached through signed links, in the order boards are listed."""
    return [name for name, connector in connectors.items() if connector.SUPPORTS_LINKS]


def linked_postings(postings: Iterable[Posting], boards: Sequence[str], now: datetime) -> dict[str, str]:
    """posting key → the board of `boards` its link comes from, for each posting that is not
    closed at `now` (a closed job has nothing left to manage there; a close_at passed closes
    it) and names one of them."""
    linked = {}
    for posting in postings:
        board = _link_board(posting, boards, now)
        if board is not None:
            linked[posting.key] = board
    return linked


def _link_board(posting: Posting, boards: Sequence[str], now: datetime) -> str | None:
    named = [board for board in boards if posting.boards.named(board)]
    if named and posting.status_at(now).value != "closed":
        return named[0]
    return None


class LinkKeeper:
    """Hands out a posting's link when asked: the stored one, or a fresh one. Asks for the
    same posting wait for each other, so two at once fetch one link, not two."""

    def __init__(self, store: Store, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.clock = clock
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def fresh_url(self, desired: Desired, connectors: Mapping[str, Connector], key: str) -> str:
        """A URL with life left in it for posting `key`: the stored one, or a new one."""
        posting = next((p for p in desired.postings if p.key == key), None)
        board = _link_board(posting, link_boards(connectors), self.clock()) if posting is not None else None
        if board is None:
            raise UnknownPosting(f"no open posting {key!r} is sent to a board that hands out links")
        with self._lock(key):
            (result,) = fresh_links(desired, self.store, {board: connectors[board]}, keys=[key], clock=self.clock)
        if result.url is None:
            raise Transient(result.error or "no link", provider=board, call="link")
        return result.url

    def _lock(self, key: str) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault(key, threading.Lock())
