"""``POST /hooks/<board>/<token>``: a board says one of its jobs changed, so that posting is
reconciled now instead of at the next cycle (a hand edit is undone in seconds).

Hirempire signs nothing, so the token in the path (``daemon.events_token``) is the only
proof a call comes from the board: a wrong or missing one is the same 404 as any unknown
page, and nothing else is looked at. Then the board's connector reads the body
(`Connector.read_event`):

- its URL-verification challenge is answered at once, as the board documents it;
- a job event for a job bound to a posting books a run of that posting on that board;
- a job event for a job no posting owns is logged and ignored;
- a job event that does not say which job books a run of the whole board;
- an applicant event books a collection of that board's counters;
- anything else is logged and ignored.

Booked work is coalesced (`EventWork`): the events that come while a run waits are that one
run, so a burst of events costs one run, not one each.
"""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from boardsync.connectors.base import BoardEvent
from boardsync.daemon.hooks import read_body
from boardsync.log import get_logger

log = get_logger(__name__)

EVENTS_PREFIX = "/hooks/"
EVENTS_PATH = EVENTS_PREFIX + "{board}/{token}"
MAX_BODY = 1024 * 1024
"""An event is a few fields; a megabyte is far past any a board sends."""

Booked = Literal["booked", "already booked", "ignored"]


class EventSurface(Protocol):
    def events_token(self) -> bytes | None:
        """``daemon.events_token``; None when board events are not set up."""
        ...

    def event_reader(self, board: str) -> Callable[[Mapping[str, Any]], BoardEvent] | None:
        """How `board` reads its webhook bodies; None for a board not configured or with no events."""
        ...

    def board_event(self, board: str, event: BoardEvent) -> Booked:
        """Book what `event` asks for; what was done."""
        ...


def is_event_path(path: str) -> bool:
    """Whether `path` is a board's event hook (two segments under /hooks/)."""
    return path.startswith(EVENTS_PREFIX) and path.count("/") == 3


def _answer(status: int, body: Mapping[str, Any]) -> JSONResponse:
    return JSONResponse(dict(body), status, headers={"Cache-Control": "no-store"})


NOT_FOUND = {"error": "not_found", "message": "no such page"}


def token_matches(given: str, token: bytes | None) -> bool:
    # Constant time: how much of a guessed token matched must not show in the answer's timing.
    return token is not None and hmac.compare_digest(given.encode(), token)


def board_hook(surface: EventSurface) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint: the token, the board, the body, then the event's work booked."""

    async def hook(request: Request) -> Response:
        board = request.path_params["board"]
        if not token_matches(request.path_params["token"], surface.events_token()):
            log.warning("board_event_refused", board=board, reason="wrong or missing token")
            return _answer(404, NOT_FOUND)  # the same as any page that is not there
        read = surface.event_reader(board)
        if read is None:
            log.warning("board_event_refused", board=board, reason="not a configured board that sends events")
            return _answer(404, NOT_FOUND)
        body = await _json_body(request)
        if body is None:
            log.warning("board_event_refused", board=board, reason="not a JSON object of at most 1 MB")
            return _answer(400, {"error": "bad_request", "message": "send a JSON object of at most 1 MB"})
        event = read(body)
        if event.kind == "challenge":
            log.info("board_challenge_answered", board=board)
            return _answer(200, event.reply or {})
        booked = await run_in_threadpool(surface.board_event, board, event)  # reads the database
        return _answer(202, {"event": event.name, "run": booked})

    return hook


async def _json_body(request: Request) -> dict[str, Any] | None:
    raw = await read_body(request, MAX_BODY)
    if raw is None:
        return None
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


# ------------------------------------------------------------------------------ the work


@dataclass
class BoardWork:
    """What one board's events asked for since the last run took them."""

    postings: set[str] = field(default_factory=set)
    whole_board: bool = False
    counters: bool = False


class EventWork:
    """Work booked by events, coalesced per board until a run takes it.

    `ask_*` return whether the caller must book a run (True) or one that has not yet taken
    the work is already booked (False); `take` empties it and lets the next ask book again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._boards: dict[str, BoardWork] = {}
        self._booked = False

    def ask_posting(self, board: str, key: str) -> bool:
        return self._ask(board, lambda w: w.postings.add(key))

    def ask_board(self, board: str) -> bool:
        return self._ask(board, lambda w: setattr(w, "whole_board", True))

    def ask_counters(self, board: str) -> bool:
        return self._ask(board, lambda w: setattr(w, "counters", True))

    def take(self) -> dict[str, BoardWork]:
        with self._lock:
            work, self._boards, self._booked = self._boards, {}, False
            return work

    def _ask(self, board: str, add: Callable[[BoardWork], object]) -> bool:
        with self._lock:
            add(self._boards.setdefault(board, BoardWork()))
            book, self._booked = not self._booked, True
            return book
