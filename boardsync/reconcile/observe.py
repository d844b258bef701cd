"""Observe: read every board, in parallel (a thread per board), each in its batched reads.

A board that cannot be read is not an exception for the run: its `Board` carries the error
and the planner leaves it alone while the others go on.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from boardsync.config.model import Posting
from boardsync.connectors.base import BoardProblem, Connector, Spec, Unrenderable
from boardsync.connectors.calls import in_context
from boardsync.errors import ProviderError, WaitAsked
from boardsync.log import get_logger
from boardsync.memory import give_back, one_heap
from boardsync.reconcile.model import Board, BoardView, NotRendered
from boardsync.reconcile.waits import BoardWaits

log = get_logger(__name__)


def observe(
    postings: Sequence[Posting],
    connectors: Mapping[str, Connector],
    *,
    render: bool = True,
    stop: threading.Event | None = None,
    waits: BoardWaits | None = None,
) -> dict[str, Board]:
    """Each board's view of `postings`: their payloads (`Rendered`, made when asked for),
    what the board refuses, and every object it has. With ``render=False`` only the objects
    are read (for metrics). A board that asked to be left alone (`waits`) is not called: it
    is not read, and says why."""
    if not connectors:
        return {}
    one_heap()  # the threads' freed memory stays where `give_back` can return it
    with ThreadPoolExecutor(max_workers=len(connectors), thread_name_prefix="observe") as pool:
        futures = {
            name: pool.submit(in_context(_observe_board), name, connector, postings, render, stop, waits)
            for name, connector in connectors.items()
        }
        return {name: future.result() for name, future in futures.items()}


def observe_recorded(
    postings: Sequence[Posting], connectors: Mapping[str, Connector], recorded: Mapping[str, BoardView],
) -> dict[str, Board]:
    """Each board as a recorded read showed it (a snapshot), with `postings` checked and
    rendered as `observe` does: no request to any board. What rendering needs from a board
    comes from what the read learned; a posting that needs more (a city no job shows and
    no search found) is refused for that board, saying so. A board with no recorded read
    counts as not read."""
    boards = {}
    for name, connector in connectors.items():
        view = recorded.get(name)
        targets = _targets(name, postings)
        problems = _problems(connector, targets)
        if view is None:
            boards[name] = Board(name, connector, problems=problems, error=NEVER_READ)
            continue
        connector.recall(view.learned)
        specs = Rendered(connector, [p for p in targets if p.key not in problems], recorded=True)
        boards[name] = Board(
            name, connector, specs=specs, remotes=view.remotes, problems=problems,
            gone=view.gone, unread=view.unread, suspect=view.suspect,
        )
    return boards


def _targets(name: str, postings: Sequence[Posting]) -> list[Posting]:
    """The postings that name board `name`, each as that board gets it (its overrides in place)."""
    return [p.on_board(name) for p in postings if p.boards.named(name)]


NEVER_READ = "the snapshot holds no read of this board (no reconcile run has read it yet)"


def _observe_board(
    name: str, connector: Connector, postings: Sequence[Posting], render: bool, stop: threading.Event | None,
    waits: BoardWaits | None,
) -> Board:
    try:
        return _read_board(name, connector, postings, render, stop, waits)
    finally:
        give_back()  # the board's answers are parsed: what their reading freed goes back now


def _read_board(
    name: str, connector: Connector, postings: Sequence[Posting], render: bool, stop: threading.Event | None,
    waits: BoardWaits | None,
) -> Board:
    bound = log.bind(provider=name)
    targets = _targets(name, postings)
    problems = _problems(connector, targets) if render else {}
    ready = [p for p in targets if p.key not in problems]
    try:
        if stop is not None and stop.is_set():
            return Board(name, connector, problems=problems, error="stopped before observing")
        held = waits.holding(name) if waits is not None else None
        if held is not None:
            bound.info("observe_held", reason=held)
            return Board(name, connector, problems=problems, error=held)
        specs: Mapping[str, Spec] = {}
        connector.authenticate()
        # Observe first: what the board already holds can spare `prepare` its look-ups.
        remotes = {r.remote_id: r for r in connector.observe()} if connector.SUPPORTS_JOBS else {}
        if render:
            connector.prepare(ready)
            specs = Rendered(connector, ready)
    except WaitAsked as exc:
        reason = waits.asked(name, exc) if waits is not None else exc.detail
        return Board(name, connector, problems=problems, error=reason)
    except ProviderError as exc:
        bound.warning("observe_failed", error=str(exc))
        return Board(name, connector, problems=problems, error=exc.detail)
    except Exception as exc:  # a bug or an unexpected answer must not stop the other boards
        bound.exception("observe_crashed")
        return Board(name, connector, problems=problems, error=f"unexpected error: {type(exc).__name__}: {exc}")
    bound.info("observed", postings=len(specs), remotes=len(remotes), refused=len(problems))
    return Board(name, connector, specs=specs, remotes=remotes, problems=problems)


def _problems(connector: Connector, postings: Sequence[Posting]) -> dict[str, tuple[BoardProblem, ...]]:
    found = {}
    for posting in postings:
        problems = tuple(connector.check(posting))
        if problems:
            found[posting.key] = problems
    return found


class Rendered(Mapping[str, Spec]):
    """The payload of each posting a board gets, rendered each time it is asked for and not
    kept. Planning asks for each once and keeps none it plans nothing for; held for every
    posting from the read to the end of planning, they were 13 MiB at 10,000 postings.
    Rendering reads only the posting and what the connector learned from the board
    (`Connector.prepare`), so a payload asked for again is the same payload.

    A posting that cannot be rendered is `NotRendered`, a `KeyError` carrying what the
    board would refuse: `Board.payload` gives it, and ``get`` reads it as absent. A render
    that fails otherwise (a bug in the board's connector) refuses its posting the same way,
    logged with its traceback, and the rest of the run goes on."""

    def __init__(self, connector: Connector, postings: Sequence[Posting], *, recorded: bool = False) -> None:
        self._connector = connector
        self._postings = {p.key: p for p in postings}
        self._recorded = recorded

    def __getitem__(self, key: str) -> Spec:
        posting = self._postings[key]
        connector = self._connector
        try:
            return connector.render(posting)
        except Unrenderable as exc:
            raise NotRendered(key, (exc.problem,)) from exc
        except (LookupError, ValueError) as exc:
            why = f"cannot be rendered for {connector.name}: {exc}"
            if self._recorded and isinstance(exc, LookupError):
                why = (f"cannot be rendered for {connector.name} from a snapshot: {exc} (the board's last read "
                       "did not need it; a live plan asks the board)")
            raise NotRendered(key, (BoardProblem("", why),)) from exc
        except Exception as exc:  # a bug in a board's render must not stop the rest of the run
            log.exception("render_crashed", provider=connector.name, posting=key)
            why = f"cannot be rendered for {connector.name}: unexpected error: {type(exc).__name__}: {exc}"
            raise NotRendered(key, (BoardProblem("", why),)) from exc

    def __contains__(self, key: object) -> bool:
        """Whether `key` is a posting the board gets, without rendering it."""
        return key in self._postings

    def __iter__(self) -> Iterator[str]:
        return iter(self._postings)

    def __len__(self) -> int:
        return len(self._postings)
