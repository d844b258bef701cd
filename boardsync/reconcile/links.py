"""Fresh signed links on demand (``boardsync links``): one new link per posting asked for,
stored in place of the old one."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from boardsync.config.loader import Desired
from boardsync.config.model import Posting
from boardsync.connectors.registry import none_configured
from boardsync.connectors.base import Connector
from boardsync.errors import ProviderError, WaitAsked
from boardsync.reconcile import events, record
from boardsync.reconcile.waits import BoardWaits
from boardsync.state import Store
from boardsync.state.outbox import add_event

log = structlog.get_logger(__name__)


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
    """A new signed link for each posting (of `keys`, or all) on every board reached by links;
    none from a board that asked to be left alone (a kept 429 wait)."""
    boards = {n: c for n, c in connectors.items() if c.SUPPORTS_LINKS and n in desired.root.providers.names()}
    if not boards:
        raise none_configured("SUPPORTS_LINKS", "hands out signed links")
    wanted = desired.chosen(keys)
    results = []
    waits = BoardWaits(store, clock)
    for name, connector in boards.items():
        for posting in wanted:
            if name not in posting.boards.names():
                if keys is not None:
                    results.append(LinkResult(posting.key, name, None, None, f"the posting does not name {name}"))
                continue
            if posting.suspend:  # nothing is written for a suspended posting, a link included
                results.append(LinkResult(posting.key, name, None, None, "the posting is suspended (suspend: true)"))
                continue
            results.append(_fetch(store, name, connector, posting.on_board(name), clock(), waits))
    return results


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
        _failing(store, (key, provider), str(exc), now)
        return LinkResult(key, provider, None, None, str(exc))
    with store.write() as session:
        row = record.binding(session, (key, provider), now)
        record.linked(session, row, link, now)
        record.in_sync(row, now)
        row.last_error = None  # the link is renewed: a failure after this one is told again
    return LinkResult(key, provider, link.url, link.expires_at)


def _failing(store: Store, pair: tuple[str, str], error: str, now: datetime) -> None:
    """A link that could not be renewed, kept as the pair's last error; the first failure
    after a renewal is told (link_failing), not each retry."""
    with store.write() as session:
        row = record.binding(session, pair, now)
        if row.last_error is None:
            add_event(session, events.link_failing(pair[0], pair[1], error), now)
        record.failed(row, error, now)
