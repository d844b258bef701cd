"""Signed RecruitiFi links, kept fresh.

A signed link is a credential that dies after a few minutes. The daemon keeps one per posting
that names RecruitiFi, fetches a new one once most of its life has passed (so whoever is handed
one gets a URL with time left), and forgets links of postings that are gone and links that
have expired. ``/links/KEY`` hands out the stored link, or a new one when it is about to go.

A link's life is measured on our clock, from when we received it to its `expires_at`; the
board's clock only decides how long that is.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from sqlmodel import col, delete, select

from boardsync.config.model import Posting
from boardsync.connectors.base import Connector
from boardsync.errors import BoardsyncError
from boardsync.state.store import Store
from boardsync.state.tables import SignedLink

log = structlog.get_logger(__name__)

PROVIDER = "recruitifi"
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


def linked_postings(postings: Iterable[Posting]) -> dict[str, Posting]:
    """The postings that get a signed RecruitiFi link, by key: those naming RecruitiFi that
    are not closed (a closed job has nothing left to manage there)."""
    return {p.key: p for p in postings if p.boards.recruitifi is not None and p.status.value != "closed"}


class LinkKeeper:
    """Reads and writes the `signed_link` rows, fetching from the board when one is due."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def refresh(
        self, postings: Iterable[Posting], connector: Connector, stop: threading.Event
    ) -> datetime | None:
        """Fetch a new link for every linked posting whose link is missing or due, drop the
        rest, and say when the next one falls due (None: no posting has a link)."""
        wanted = linked_postings(postings)
        self._forget(keep=set(wanted))
        stored = self.stored()
        next_due: datetime | None = None
        for key, posting in wanted.items():
            if stop.is_set():
                break
            link = stored.get(key)
            if link is None or not link.fresh(_now()):
                link = self._fetch_or_none(posting, connector)
            due = link.refresh_due if link is not None else _now() + RETRY_AFTER_FAILURE
            next_due = due if next_due is None else min(next_due, due)
        return next_due

    def fresh_url(self, posting: Posting, connector: Connector) -> str:
        """A URL with life left in it: the stored one, or a new one from the board."""
        link = self.stored().get(posting.key)
        if link is None or not link.fresh(_now()):
            link = self._fetch(posting, connector)
        return link.url

    def stored(self) -> dict[str, StoredLink]:
        with self.store.session() as session:
            rows = session.exec(select(SignedLink).where(SignedLink.provider == PROVIDER)).all()
        return {
            row.posting_key: StoredLink(
                row.posting_key, row.url, row.fetched_at or row.expires_at, row.expires_at  # type: ignore[arg-type]
            )
            for row in rows
            if row.expires_at is not None
        }

    def _fetch_or_none(self, posting: Posting, connector: Connector) -> StoredLink | None:
        try:
            return self._fetch(posting, connector)
        except BoardsyncError as exc:
            log.warning("link_refresh_failed", posting=posting.key, error=str(exc))
            return None

    def _fetch(self, posting: Posting, connector: Connector) -> StoredLink:
        fetched_at = _now()
        signed = connector.link(posting)
        link = StoredLink(posting.key, signed.url, fetched_at, signed.expires_at.astimezone(UTC))
        self._save(link)
        log.info("link_refreshed", posting=posting.key, expires_at=link.expires_at.isoformat())
        return link

    def _save(self, link: StoredLink) -> None:
        with self.store.write() as session:
            row = session.exec(
                select(SignedLink).where(SignedLink.posting_key == link.posting, SignedLink.provider == PROVIDER)
            ).first()
            if row is None:
                row = SignedLink(posting_key=link.posting, provider=PROVIDER, url=link.url)
            row.url = link.url
            row.fetched_at = link.fetched_at
            row.expires_at = link.expires_at
            session.add(row)

    def _forget(self, keep: set[str]) -> None:
        """Drop expired links, and links of postings no longer sent to RecruitiFi."""
        with self.store.write() as session:
            session.exec(  # type: ignore[call-overload]
                delete(SignedLink).where(
                    col(SignedLink.provider) == PROVIDER,
                    (col(SignedLink.expires_at) <= _now()) | col(SignedLink.posting_key).not_in(keep),
                )
            )


def _now() -> datetime:
    return datetime.now(UTC)
