"""Jobs already on the boards, brought under management or let go of by hand.

- `unmanaged` (``boardsync status --unmanaged``): each board's jobs that no binding points
  at, read with the board's own list (its `observe`). It writes nothing, not even a wait a
  board asks for (as a plan), so it runs beside the daemon.
- `adopt` (``boardsync adopt``): one job, read by its id, bound to a posting as it is; the
  next run sends what differs from the posting, as for any change of the source.
- `forget` (``boardsync forget``): a posting's bindings dropped without a call to any board:
  its jobs stay as they are, and no run closes them. Only for a posting no longer sent to
  that board (removed from the source, or the board taken out of its ``boards:``): were it
  still sent, the next run would look for its job again (Hirempire's slug, Sorce's title and
  place) and adopt it, or create a second one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from boardsync.config.loader import Desired
from boardsync.connectors.base import Connector, Remote
from boardsync.connectors.registry import none_configured
from boardsync.errors import ProviderError, Refused, no_such_posting
from boardsync.log import get_logger
from boardsync.reconcile import record
from boardsync.reconcile.model import BoardError, Pair
from boardsync.reconcile.waits import BoardWaits, read_jobs
from boardsync.state import Store

log = get_logger(__name__)

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------------------ unmanaged


@dataclass(frozen=True)
class UnmanagedJob:
    """A job on a board that no posting owns."""

    provider: str
    remote_id: str
    title: str | None
    status: str
    place: str | None


@dataclass(frozen=True)
class Unmanaged:
    """The jobs no posting owns, by board, and the boards that could not be read."""

    jobs: tuple[UnmanagedJob, ...]
    errors: tuple[BoardError, ...]


def unmanaged(
    desired: Desired, store: Store, connectors: Mapping[str, Connector], *, clock: Clock = _utcnow,
) -> Unmanaged:
    """Every job of every configured board that holds jobs, less those a binding points at."""
    boards = _job_boards(desired, connectors)
    waits = BoardWaits(store, clock, keep=False)
    bound = {
        provider: {job.remote_id for job in jobs}
        for provider, jobs in record.bound_jobs(store, list(boards)).items()
    }
    jobs: list[UnmanagedJob] = []
    errors: list[BoardError] = []
    for name, connector in boards.items():
        try:
            remotes = read_jobs(name, connector, waits)
        except ProviderError as exc:
            errors.append(BoardError(name, str(exc)))
            continue
        taken = bound.get(name, set())
        jobs += [_unmanaged_job(name, connector, r) for r in remotes if r.remote_id not in taken]
    jobs.sort(key=lambda j: (j.provider, j.title or "", j.remote_id))
    return Unmanaged(tuple(jobs), tuple(errors))


def _job_boards(desired: Desired, connectors: Mapping[str, Connector]) -> dict[str, Connector]:
    configured = desired.root.providers.names()
    boards = {n: c for n, c in connectors.items() if c.SUPPORTS_JOBS and n in configured}
    if not boards:
        raise none_configured("SUPPORTS_JOBS", "holds jobs")
    return boards


def _unmanaged_job(provider: str, connector: Connector, remote: Remote) -> UnmanagedJob:
    title, place = connector.label(remote.spec)
    return UnmanagedJob(provider, remote.remote_id, title, remote.status, place)


# ------------------------------------------------------------------------------ adopt


@dataclass(frozen=True)
class Adopted:
    """A job bound to a posting by hand (or found bound to it already)."""

    posting: str
    provider: str
    remote_id: str
    status: str
    already: bool = False
    """The posting was bound to this job before: nothing was written."""


def adopt(
    desired: Desired, store: Store, connectors: Mapping[str, Connector], key: str, provider: str, remote_id: str,
    *, clock: Clock = _utcnow,
) -> Adopted:
    """Bind job `remote_id` of board `provider` to posting `key`, as the job is: refused (and
    nothing written) unless the posting is in the config and sent to that board, the job is
    on the board, and neither is bound to another."""
    connector = _board_of_posting(desired, connectors, key, provider)
    bindings = _bindings(store, provider)
    held = bindings.get(key)
    if held == remote_id:
        return Adopted(key, provider, remote_id, "bound", already=True)
    if held is not None:
        raise Refused(f"{key} is already bound to job {held} on {provider}; "
                      f"`boardsync forget {key} --board {provider}` first to bind another")
    owner = next((k for k, rid in bindings.items() if rid == remote_id), None)
    if owner is not None:
        raise Refused(f"job {remote_id} on {provider} is already bound to posting {owner}")
    if _open_create(store, (key, provider)):
        raise Refused(f"an earlier create of {key} on {provider} lost its answer and is not settled yet; "
                      "run `boardsync reconcile` first, which looks for its job")
    remote = connector.read(remote_id)
    if remote is None:
        raise Refused(f"{provider} has no job {remote_id} (GET by id answered that there is none)")
    now = clock()
    run_id = record.start_run(store, kind="adopt", trigger="command", digest=desired.digest, commit=desired.commit,
                              now=now)
    record.adopted_by_hand(store, run_id, (key, provider), remote, now)
    record.finish_run(store, run_id, outcome="converged", counts={"adopt": 1}, boards={provider: "converged"},
                      error=None, now=clock())
    log.info("adopted_by_hand", posting=key, provider=provider, remote_id=remote_id, status=remote.status)
    return Adopted(key, provider, remote_id, remote.status)


def _board_of_posting(
    desired: Desired, connectors: Mapping[str, Connector], key: str, provider: str,
) -> Connector:
    boards = _job_boards(desired, connectors)
    if provider not in boards:
        raise Refused(f"--board {provider}: not a configured board that holds jobs "
                      f"(configured: {', '.join(sorted(boards))})")
    known = {p.key for p in desired.postings}
    if key not in known:
        raise no_such_posting([key], known)
    if not desired.posting(key).boards.named(provider):
        raise Refused(f"{key} is not sent to {provider} (its `boards:` does not name it): a job bound to it "
                      "there would be closed as removed; add the board to the posting first")
    return boards[provider]


def _bindings(store: Store, provider: str) -> dict[str, str]:
    """posting key → the id of the job it is bound to on `provider`."""
    return {job.posting: job.remote_id for job in record.bound_jobs(store, [provider]).get(provider, [])}


def _open_create(store: Store, pair: Pair) -> bool:
    return any((i.posting_key, i.provider) == pair for i in record.unsettled_intents(store, [pair[1]], None))


# ------------------------------------------------------------------------------ forget


@dataclass(frozen=True)
class Forgotten:
    """A binding dropped: the job it pointed at (None: no job yet) is left on the board."""

    posting: str
    provider: str
    remote_id: str | None


def forget(
    desired: Desired, store: Store, key: str, provider: str | None = None, *, clock: Clock = _utcnow,
) -> list[Forgotten]:
    """Drop the bindings of posting `key` (on `provider`, or on every board), calling no
    board. Refused (nothing written) when there is none, or while the posting is still sent
    to one of those boards: the next run would find its job again, or post it anew."""
    held = sorted(p for (k, p) in _bound_pairs(store, key) if provider is None or p == provider)
    if not held:
        where = f" on {provider}" if provider else ""
        raise Refused(f"{key} is bound to nothing{where}: nothing to forget")
    still_sent = _still_sent(desired, key, held)
    if still_sent:
        raise Refused(
            f"{key} is still sent to {', '.join(still_sent)} by the config: the next run would find its job there "
            "again and take it back (or post it anew); remove the posting, or the board from its `boards:`, "
            "then forget it"
        )
    now = clock()
    run_id = record.start_run(store, kind="forget", trigger="command", digest=desired.digest, commit=desired.commit,
                              now=now)
    done = record.forgotten(store, run_id, [(key, p) for p in held], now)
    record.finish_run(store, run_id, outcome="converged", counts={"forget": len(done)},
                      boards={p: "converged" for (_, p), _ in done}, error=None, now=clock())
    log.info("forgotten", posting=key, providers=[p for (_, p), _ in done])
    return [Forgotten(k, p, remote_id) for (k, p), remote_id in done]


def _bound_pairs(store: Store, key: str) -> list[Pair]:
    return [(row.posting, row.provider) for row in store.status_rows() if row.posting == key]


def _still_sent(desired: Desired, key: str, providers: list[str]) -> list[str]:
    posting = next((p for p in desired.postings if p.key == key), None)
    if posting is None:
        return []
    return [p for p in providers if posting.boards.named(p)]
