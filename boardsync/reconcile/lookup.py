"""Bound jobs missing from a board's list: read by id before anything is decided.

A job absent from a list is not proof it is gone: the list may hide some statuses, or a page
may have been lost. Only a read by id that answers 404 is. So, between observe and plan, each
bound job the list did not show is read by id (`Connector.read`): found, it joins the board's
objects; 404, it is `Board.gone` and the planner may create the posting again; a failed read
leaves the pair in `Board.unread`, where nothing is decided for it this run. A 404 is final
(ids are not given again): the binding remembers it (`GONE`), and the job is not read again.
Where a board lists by status (`Connector.STATUS_PAGE`) and more jobs of one status are missing
than a list of that status takes requests, they are found there instead (`_listed_by_status`):
a list that hides closed jobs would otherwise cost a read for every closed job, every run.

When many of a board's bound live jobs are missing at once, or the list is empty while jobs
are bound, a bad read is far likelier than deletions: no request is spent per job, the board
is marked `Board.suspect`, and the safety check refuses the run (``--force`` reads them all).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import cast, get_args

from boardsync.config.model import Policy
from boardsync.connectors.base import Remote, RemoteStatus
from boardsync.errors import ProviderError
from boardsync.log import get_logger
from boardsync.reconcile.identity import ENDED
from boardsync.reconcile.model import Board
from boardsync.reconcile.safety import LIVE, SAFETY_FLOOR
from boardsync.state.health import GONE

log = get_logger(__name__)

REMOTE_STATUSES = frozenset(get_args(RemoteStatus))
"""The statuses a job can be seen in (a binding also says GONE or LINKED, which no list shows)."""


@dataclass(frozen=True)
class BoundJob:
    """A binding as the look-up needs it."""

    posting: str
    remote_id: str
    observed_status: str | None
    """What the board last showed of it (None: never observed)."""


def look_up_unlisted(
    boards: Mapping[str, Board],
    bound: Mapping[str, Sequence[BoundJob]],
    policy: Policy,
    *,
    scope: Collection[str] | None = None,
    force: bool = False,
    stop: threading.Event | None = None,
) -> dict[str, Board]:
    """`boards` with each bound job their list left out read by id. `bound`: provider → its
    bindings. `scope` limits the reads to those postings (None: all). With `force`, the
    jobs are read even when the list is not believed."""
    return {
        name: _look_up_board(board, bound.get(name, ()), policy, scope, force, stop)
        for name, board in boards.items()
    }


def _look_up_board(
    board: Board, bound: Sequence[BoundJob], policy: Policy, scope: Collection[str] | None, force: bool,
    stop: threading.Event | None,
) -> Board:
    if board.error is not None or not board.connector.SUPPORTS_JOBS:
        return board
    unlisted = [b for b in bound if b.remote_id not in board.remotes]
    known_gone = frozenset(b.remote_id for b in unlisted if b.observed_status == GONE)
    unlisted = [b for b in unlisted if b.observed_status != GONE]
    board = replace(board, gone=board.gone | known_gone)
    if not unlisted:
        return board
    suspect = _suspect(board, bound, unlisted, policy)
    wanted = [b for b in unlisted if scope is None or b.posting in scope]
    if suspect is not None and not force:
        log.warning("list_not_believed", provider=board.name, missing=len(unlisted), reason=suspect)
        why = "the list is not believed, so it was not read by id (rerun with --force to read each one)"
        return replace(board, suspect=suspect, unread={b.remote_id: why for b in wanted})
    return _read_each(board, wanted, bound, stop)


def _suspect(board: Board, bound: Sequence[BoundJob], unlisted: Sequence[BoundJob], policy: Policy) -> str | None:
    """Why the list is not believed, or None."""
    live = [b for b in bound if b.observed_status in LIVE]
    missing = [b for b in unlisted if b.observed_status in LIVE]
    still_there = [b for b in bound if b.observed_status not in ENDED | {GONE}]
    if not board.remotes and still_there:
        return (
            f"{board.name}: the list of jobs came back empty while {len(still_there)} are bound; "
            "likelier a bad read than deletions"
        )
    if not missing:
        return None
    share = 100 * len(missing) / len(live)
    too_many = len(live) >= SAFETY_FLOOR and share > policy.max_close_percent
    every = len(missing) == len(live) and len(live) >= 2
    if not (too_many or every):
        return None
    return (
        f"{board.name}: {len(missing)} of {len(live)} bound live jobs ({share:.0f}%) are missing from the list, "
        f"more than max_close_percent {policy.max_close_percent:g} allows; likelier a bad read than deletions"
    )


def _read_each(
    board: Board, unlisted: Sequence[BoundJob], bound: Sequence[BoundJob], stop: threading.Event | None
) -> Board:
    found = dict(board.remotes)
    gone: set[str] = set()
    unread: dict[str, str] = {}
    listed = _listed_by_status(board, unlisted, bound, stop)
    for job in unlisted:
        if job.remote_id in listed:
            found[job.remote_id] = listed[job.remote_id]
            continue
        if stop is not None and stop.is_set():
            unread[job.remote_id] = "the run was stopped before it was read by id"
            continue
        try:
            remote = board.connector.read(job.remote_id)
        except ProviderError as exc:
            log.warning("read_by_id_failed", provider=board.name, posting=job.posting, remote_id=job.remote_id,
                        error=str(exc))
            unread[job.remote_id] = f"reading it by id failed: {exc.detail}"
            continue
        if remote is None:
            gone.add(job.remote_id)
        else:
            found[remote.remote_id] = remote
        log.info("read_by_id", provider=board.name, posting=job.posting, remote_id=job.remote_id,
                 found=remote is not None)
    return replace(board, remotes=found, gone=board.gone | gone, unread=unread)


def _listed_by_status(
    board: Board, unlisted: Sequence[BoundJob], bound: Sequence[BoundJob], stop: threading.Event | None
) -> dict[str, Remote]:
    """The unlisted jobs found in the lists of their last status, by id: a status is listed on
    its own when that costs fewer requests than reading its missing jobs one by one (a list
    that hides a status by default — closed jobs, say — would otherwise cost a read per job
    every run, and closed jobs stay bound). How many requests a status takes is judged from the
    jobs bound in it; a list that fails leaves its jobs to be read by id."""
    page = board.connector.STATUS_PAGE
    if not page:
        return {}
    missing = Counter(job.observed_status for job in unlisted if job.observed_status in REMOTE_STATUSES)
    held = Counter(job.observed_status for job in bound)
    listed: dict[str, Remote] = {}
    for status, count in sorted(missing.items()):
        if -(-held[status] // page) >= count or (stop is not None and stop.is_set()):
            continue  # reading each costs no more than listing the status
        try:
            jobs = board.connector.in_status(cast(RemoteStatus, status))
        except ProviderError as exc:
            log.warning("status_list_failed", provider=board.name, status=status, error=str(exc))
            continue
        log.info("read_in_status", provider=board.name, status=status, missing=count, listed=len(jobs))
        listed.update((remote.remote_id, remote) for remote in jobs)
    return listed
