"""The tracked source URLs of each channel (``boardsync sources``), read from the board.

The state database keeps no source URL (only the visit counts per channel), so they are
read where they live: one `observe` of each board that tracks channels (Hirempire's
``GET /jobs``, which carries every job's sources). Nothing is written, but a long wait the
board asks for is kept, as every other read keeps it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from boardsync.config.loader import Desired
from boardsync.config.model import Posting
from boardsync.connectors.registry import none_configured
from boardsync.connectors.base import Channel, Connector, Remote
from boardsync.errors import ProviderError
from boardsync.reconcile.waits import BoardWaits, read_jobs
from boardsync.state import Store


@dataclass(frozen=True)
class SourceRow:
    """One channel of a posting on a board: its tracked URL, or why there is none."""

    posting: str
    provider: str
    channel: str | None
    url: str | None
    visits: int | None
    error: str | None = None


def tracked_sources(
    desired: Desired,
    store: Store,
    connectors: Mapping[str, Connector],
    *,
    keys: Collection[str] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[SourceRow]:
    """Per posting (of `keys`, or all) and board that tracks channels, one row per channel
    the posting names or the board has: the board's URL and visits, or ``url None`` for a
    channel not made yet; one row per posting with the error for a board not read."""
    boards = {n: c for n, c in connectors.items() if c.SUPPORTS_CHANNELS and n in desired.root.providers.names()}
    if not boards:
        raise none_configured("SUPPORTS_CHANNELS", "tracks channels")
    wanted = desired.chosen(keys)
    waits = BoardWaits(store, clock)
    rows: list[SourceRow] = []
    for name, connector in boards.items():
        named = [p for p in wanted if p.boards.named(name)]
        if not named:
            continue
        try:
            remotes = read_jobs(name, connector, waits)
        except ProviderError as exc:
            rows += [SourceRow(p.key, name, None, None, None, str(exc)) for p in named]
            continue
        bound = _bound_ids(store, name)
        for posting in named:
            rows += _posting_rows(posting, name, _remote_of(posting.key, remotes, bound))
    return rows


def _bound_ids(store: Store, provider: str) -> dict[str, str]:
    """posting key → the board's id, as the state database binds them."""
    return {r.posting: r.remote_id for r in store.status_rows() if r.provider == provider and r.remote_id}


def _remote_of(key: str, remotes: list[Remote], bound: Mapping[str, str]) -> Remote | None:
    """The posting's object: the one the database binds, else the one that names the posting."""
    by_id = {r.remote_id: r for r in remotes}
    if key in bound and bound[key] in by_id:
        return by_id[bound[key]]
    return next((r for r in remotes if r.posting_key == key), None)


def _posting_rows(posting: Posting, provider: str, remote: Remote | None) -> list[SourceRow]:
    channels: dict[str, Channel | None] = {name: None for name in posting.channels}
    if remote is not None:  # a posting not on the board yet has none of its channels made
        channels.update(remote.channels)
    return [
        SourceRow(posting.key, provider, name, c.url if c else None, c.visits if c else None)
        for name, c in sorted(channels.items())
    ]
