"""What a command around a run holds while it works: the config, the state database and the
boards, opened together and released together; a stop that SIGTERM sets; and what a run's
outcome means as an exit code.

The command line and the demo both open their runs here; neither imports the other for it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from boardsync.config import Desired, load
from boardsync.errors import BoardsyncError

if TYPE_CHECKING:  # `status` and the other reads load neither the run, nor snapshots, nor HTTP
    import httpx

    from boardsync.connectors.base import Connector
    from boardsync.reconcile.model import RunResult
    from boardsync.reconcile.snapshot import Loaded
    from boardsync.state import Store
    from boardsync.state.status import StatusReads

LockFactory = Callable[[str], AbstractContextManager[Any]]

EXIT_OK, EXIT_ERROR, EXIT_PENDING = 0, 1, 2


@dataclass
class Opened:
    desired: Desired
    store: Store
    connectors: dict[str, Connector]


@contextmanager
def opened(
    config: Path,
    *,
    lock: LockFactory | None = None,
    boards: bool = True,
    migrate: bool = False,
    read_only: bool = False,
    stop: threading.Event | None = None,
) -> Iterator[Opened]:
    """Load the desired state, take the writer lock (when given), open the state database
    and build the connectors (whose retry and rate-limit waits end when `stop` is set);
    release everything on the way out. With `read_only` (a plan), the database is only read
    (a missing one reads as empty and is not created), so no lock is needed beside a writer."""
    from boardsync.state import open_store

    desired = _desired(config, boards=boards, start_cache=(boards or migrate) and not read_only)
    with ExitStack() as stack:
        if lock is not None:
            stack.enter_context(lock(desired.state_url))
        # A command that only reads the state never creates it: a wrong -c must not leave
        # an empty database behind.
        store = stack.enter_context(
            open_store(desired.state_url, migrate=migrate, create=boards or migrate, read_only=read_only)
        )
        connectors = _connectors(desired, stop) if boards else {}
        for connector in connectors.values():
            stack.callback(connector.close)
        yield Opened(desired, store, connectors)


@contextmanager
def status_read(config: Path) -> Iterator[tuple[Desired, StatusReads]]:
    """The desired state (no board secret resolved) and the state database, as `status`
    reads them: through the database's own driver when it stands at this boardsync's
    revision, which spares loading SQLAlchemy; otherwise as ``opened(config, boards=False)``
    opens it, which refuses it, or creates it when empty, as it always did."""
    from boardsync.state.direct import open_direct

    desired = _desired(config, boards=False, start_cache=False)
    direct = open_direct(desired.state_url)
    if direct is not None:
        with direct:
            yield desired, direct
        return
    from boardsync.state import open_store

    with open_store(desired.state_url, create=False) as store:
        yield desired, store


def _desired(config: Path, *, boards: bool, start_cache: bool) -> Desired:
    """The config; without `boards`, with no board secret resolved."""
    # Reading the state database needs no board secret: status, drift and visits work where
    # only the database is at hand. Its own URL may still hold a reference (a password).
    desired = load(config, resolve_secrets=boards, start_cache=start_cache)
    if not boards and "${" in desired.state_url:
        desired = load(config)
    return desired


def _connectors(desired: Desired, stop: threading.Event | None) -> dict[str, Connector]:
    from boardsync.connectors import build_connectors  # HTTP clients: only for a command that reads the boards

    return build_connectors(desired.root.providers, stop=stop)


@contextmanager
def opened_offline(config: Path, snapshot_path: Path) -> Iterator[tuple[Opened, Loaded]]:
    """The desired state with no secret resolved (none is needed), the state a snapshot holds
    (read-only, in memory), and connectors whose client refuses every request: a plan made
    from these reaches no board, and a request that slipped through fails loudly instead."""
    import httpx

    from boardsync.connectors import build_connectors
    from boardsync.reconcile import snapshot

    loaded = snapshot.load(snapshot.read(snapshot_path), str(snapshot_path))
    desired = load(config, resolve_secrets=False)
    with ExitStack() as stack:
        stack.callback(loaded.store.close)
        connectors = build_connectors(desired.root.providers, transport=httpx.MockTransport(_no_request))
        for connector in connectors.values():
            stack.callback(connector.close)
        yield Opened(desired, loaded.store, connectors), loaded


def _no_request(request: httpx.Request) -> httpx.Response:
    raise BoardsyncError(
        f"{request.method} {request.url.host}{request.url.path}: a plan against a snapshot sends no request to a board"
    )


@contextmanager
def stopped_by_sigterm() -> Iterator[threading.Event]:
    """An event that SIGTERM sets while the block runs, as the daemon's stop does: the run
    finishes the call in flight and records it, tries nothing more, and ends with an outcome."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield stop
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)


def exit_code(result: RunResult) -> int:
    """0 the boards match the postings (converged); 2 they do not (changes pending, a
    difference left as the policy says, a pair blocked or failed, a board not read);
    1 the plan was refused or the run failed."""
    if result.outcome == "converged":
        return EXIT_OK
    if result.outcome in ("partial", "pending", "drifted"):
        return EXIT_PENDING
    return EXIT_ERROR
