"""Signed links when asked for (``boardsync links``, the daemon's ``/links/KEY``): a link
still valid for more than `LINK_REFRESH_MARGIN` is handed out again from the state database;
otherwise a new one is fetched, stored in place of the old one, and handed out. No link is
kept warm ahead of an ask: a run fetches only a pair's first (`planner`).

A pair is linked once a run fetched its first link, or one that stood for it; from then on
runs leave it to the asks. So an ask the board refuses (the posting's job id, or what these
credentials may do) unlinks the pair and blocks it with the board's words: it is not shown
live, and the next run asks the board for its link on its own, and is not converged while
the board refuses it. A failure that may pass (a timeout, the board down) is only kept as the
pair's last error, told once, and the next ask tries again."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import col, select

from boardsync.config.loader import Desired
from boardsync.config.model import Posting
from boardsync.connectors.registry import none_configured
from boardsync.connectors.base import Connector
from boardsync.errors import Blocked, ProviderError, Rejected, WaitAsked
from boardsync.log import get_logger
from boardsync.reconcile import events, record
from boardsync.reconcile.planner import LINK_REFRESH_MARGIN
from boardsync.reconcile.waits import BoardWaits
from boardsync.state import SignedLink, Store
from boardsync.state.outbox import add_event

log = get_logger(__name__)


@dataclass(frozen=True)
class LinkResult:
    posting: str
    provider: str
    url: str | None
    expires_at: datetime | None
    error: str | None = None


def fresh_links(
    desired: Desired,
    store: Store,
    connectors: Mapping[str, Connector],
    *,
    keys: Collection[str] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[LinkResult]:
    """A signed link with time left for each posting (of `keys`, or all) on every board
    reached by links: the stored one while it is valid for more than the margin, else a new
    one; none fetched from a board that asked to be left alone (a kept 429 wait)."""
    boards = {n: c for n, c in connectors.items() if c.SUPPORTS_LINKS and n in desired.root.providers.names()}
    if not boards:
        raise none_configured("SUPPORTS_LINKS", "hands out signed links")
    wanted = desired.chosen(keys)
    results = []
    waits = BoardWaits(store, clock)
    stored = stored_links(store, list(boards), keys)
    for name, connector in boards.items():
        for posting in wanted:
            if not posting.boards.named(name):
                if keys is not None:
                    results.append(LinkResult(posting.key, name, None, None, f"the posting does not name {name}"))
                continue
            if posting.suspend:  # nothing is written for a suspended posting, a link included
                results.append(LinkResult(posting.key, name, None, None, "the posting is suspended (suspend: true)"))
                continue
            kept = stored.get((posting.key, name))
            if kept is not None and kept.expires_at is not None and kept.expires_at - clock() > LINK_REFRESH_MARGIN:
                results.append(LinkResult(posting.key, name, kept.url, kept.expires_at))
                continue
            results.append(_fetch(store, name, connector, posting.on_board(name), clock(), waits))
    return results


def stored_links(
    store: Store, providers: Collection[str], keys: Collection[str] | None = None
) -> dict[tuple[str, str], SignedLink]:
    """(posting, board) → the stored link on `providers`, of the postings `keys` at least
    (None: all)."""
    query = select(SignedLink).where(col(SignedLink.provider).in_(list(providers)))
    if keys is not None and len(keys) <= record.CHUNK:  # more keys than that: read them all
        query = query.where(col(SignedLink.posting_key).in_(list(keys)))
    with store.session() as session:
        rows = session.exec(query).all()
    return {(row.posting_key, row.provider): row for row in rows}


def _fetch(
    store: Store, provider: str, connector: Connector, posting: Posting, now: datetime, waits: BoardWaits
) -> LinkResult:
    key = posting.key
    held = waits.holding(provider)
    if held is not None:
        return LinkResult(key, provider, None, None, f"{provider}: {held}")
    try:
        link = connector.link(posting)
    except WaitAsked as exc:
        return LinkResult(key, provider, None, None, f"{provider}: {waits.asked(provider, exc)}")
    except ProviderError as exc:
        log.warning("link_failed", provider=provider, posting=key, error=str(exc))
        _failing(store, (key, provider), exc, now)
        return LinkResult(key, provider, None, None, str(exc))
    with store.write() as session:
        row = record.binding(session, (key, provider), now)
        record.linked(session, row, link, now)
        record.converged(row, None, now)  # renewed: a block lifts, and a failure after this one is told again
    log.info("link_fetched", provider=provider, posting=key, expires_at=str(link.expires_at))
    return LinkResult(key, provider, link.url, link.expires_at)


def _failing(store: Store, pair: tuple[str, str], exc: ProviderError, now: datetime) -> None:
    """A link that could not be renewed, kept as the pair's last error; the first failure
    after a renewal is told (link_failing), not each retry. One the board refused unlinks the
    pair and blocks it, as a run's refused fetch does (`apply`)."""
    with store.write() as session:
        row = record.binding(session, pair, now)
        if row.last_error is None:
            add_event(session, events.link_failing(pair[0], pair[1], str(exc)), now)
        record.failed(row, str(exc), now)
        if isinstance(exc, (Rejected, Blocked)):
            gate, fields = (exc.gate, {}) if isinstance(exc, Blocked) else ("rejected", exc.fields)
            record.blocked(session, row, exc.reason, gate, fields, now)
            row.observed_status, row.in_sync = None, False
