"""What is coming within a horizon: the postings' own moments (``publish_at``, ``close_at``),
the jobs a board will end on its own (Sorce's 30-day expiry) and the signed links that will be
renewed, each with what will happen then.

Pure, like the planner: the postings as written, each board as observed, what the state
knows, and ``now`` come in; nothing is read or written. An upcoming item is news, not a
difference: it never makes a plan "not in sync".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from boardsync.config.model import Policy, Posting, Status
from boardsync.reconcile.model import DEFAULT_HORIZON, Board, Known, UpcomingItem, UpcomingKind

LIVE_ON_BOARD = ("active", "paused")


@dataclass(frozen=True)
class Moment:
    """A posting's ``publish_at`` or ``close_at``: when its status changes with no edit."""

    at: datetime
    kind: UpcomingKind
    posting: str


def moments(postings: Iterable[Posting], now: datetime) -> list[Moment]:
    """Each posting's publish_at and close_at still ahead of `now`, earliest first; a
    publish_at that changes nothing (a draft, a closed posting) is left out."""
    found = []
    for posting in postings:
        if posting.publish_at is not None and posting.publish_at > now and _publishes(posting):
            found.append(Moment(posting.publish_at, "publish", posting.key))
        if posting.close_at is not None and posting.close_at > now and posting.status is not Status.CLOSED:
            found.append(Moment(posting.close_at, "close", posting.key))
    return sorted(found, key=lambda m: (m.at, m.posting, m.kind))


def upcoming(
    postings: Sequence[Posting],
    boards: Mapping[str, Board],
    known: Known,
    policy: Policy,
    now: datetime,
    horizon: timedelta = DEFAULT_HORIZON,
) -> tuple[UpcomingItem, ...]:
    """What happens after `now` and up to `now + horizon` on the boards that were read,
    for `postings` as written (their own status, publish_at and close_at)."""
    until = now + horizon
    readable = {name: b for name, b in boards.items() if b.error is None}
    items = [
        *_timed(postings, readable, now, until),
        *_expiries(postings, readable, known, policy, now, until),
        *_renewals(postings, readable, known, now, until),
    ]
    return tuple(sorted(items, key=lambda i: (i.at, i.provider, i.posting, i.kind)))


def _timed(
    postings: Sequence[Posting], boards: Mapping[str, Board], now: datetime, until: datetime
) -> Iterator[UpcomingItem]:
    by_key = {p.key: p for p in postings}
    for moment in moments(postings, now):
        if moment.at > until:
            break
        posting = by_key[moment.posting]
        for name in _named(posting, boards):
            what = _timed_effect(moment.kind, posting, boards[name])
            if what is not None:
                yield UpcomingItem(moment.kind, name, posting.key, moment.at, _held(posting, what))


def _timed_effect(kind: UpcomingKind, posting: Posting, board: Board) -> str | None:
    jobs = board.connector.SUPPORTS_JOBS
    if kind == "publish":  # a board reached through links keeps its link before and after
        return f"publish_at: the draft goes live ({posting.status.value})" if jobs else None
    if jobs:
        return "close_at: the job is closed"
    return "close_at: the posting closes; its signed link is no longer kept"


def _expiries(
    postings: Sequence[Posting], boards: Mapping[str, Board], known: Known, policy: Policy, now: datetime,
    until: datetime,
) -> Iterator[UpcomingItem]:
    """Live jobs the board ends on its own within the horizon (Sorce: 30 days after
    publishing), unless the posting closes first."""
    for name, board in boards.items():
        if not board.connector.SUPPORTS_EXPIRY:
            continue
        for posting in postings:
            state = known.bindings.get((posting.key, name))
            remote = board.remotes.get(state.remote_id) if state and state.remote_id else None
            if remote is None or remote.expires_at is None or remote.status not in LIVE_ON_BOARD:
                continue
            if not now < remote.expires_at <= until or posting.status_at(remote.expires_at) is Status.CLOSED:
                continue
            what = _held(posting, _expiry_effect(policy))
            yield UpcomingItem("expire", name, posting.key, remote.expires_at, what, remote.remote_id)


def _expiry_effect(policy: Policy) -> str:
    if policy.repost_expired:
        return "expires on the board; reposted as a new job (repost_expired is on)"
    return "expires on the board; not reposted (repost_expired is off): reported as drift until it is"


def _renewals(
    postings: Sequence[Posting], boards: Mapping[str, Board], known: Known, now: datetime, until: datetime
) -> Iterator[UpcomingItem]:
    """Signed links that expire within the horizon while their posting stays open: a new one
    is fetched when one is asked for (``/links/KEY``, ``boardsync links``)."""
    for posting in postings:
        for name in _named(posting, boards):
            expires = known.links.get((posting.key, name))
            if not boards[name].connector.SUPPORTS_LINKS or expires is None or not now < expires <= until:
                continue
            if posting.status_at(expires) is Status.CLOSED:
                continue
            what = "the signed link expires; a new one is fetched when one is asked for"
            yield UpcomingItem("renew_link", name, posting.key, expires, _held(posting, what))


def _named(posting: Posting, boards: Mapping[str, Board]) -> list[str]:
    return [name for name in posting.boards.names() if name in boards]


def _publishes(posting: Posting) -> bool:
    return posting.status in (Status.ACTIVE, Status.PAUSED)


def _held(posting: Posting, what: str) -> str:
    return f"{what} (suspended: nothing is written)" if posting.suspend else what
