"""``POST /hooks/<board>/<token>`` through Starlette's TestClient, and the coalescing of the
work events book: the token in the path is the proof (the bearer token is not asked for),
anything else is 404 and books nothing."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from starlette.testclient import TestClient

from boardsync.connectors.base import BoardEvent
from boardsync.connectors.hirempire import read_event
from boardsync.daemon.events import Booked, EventWork
from boardsync.daemon.http import Check, make_app

TOKEN = "events-token-0123456789abcdef"
BEARER = "a-daemon-token-0123456789"


class _Daemon:
    """A daemon with Hirempire configured: it reads events as the connector does and books
    them in a real `EventWork`."""

    def __init__(self) -> None:
        self.work = EventWork()
        self.booked: list[BoardEvent] = []

    def liveness(self) -> Sequence[Check]:
        return [Check("scheduler", True)]

    def readiness(self) -> Sequence[Check]:
        return [Check("config", True)]

    def metrics_page(self, accept: str | None) -> tuple[bytes, str]:
        return b"", "text/plain"

    def snapshot(self) -> dict[str, Any]:
        return {}

    def fresh_link(self, posting_key: str) -> str:
        return "https://app.example/embed/job"

    def webhook_secret(self) -> bytes | None:
        return None

    def fetch_asked(self, trigger: str) -> bool:
        return False

    def events_token(self) -> bytes | None:
        return TOKEN.encode()

    def event_reader(self, board: str) -> Callable[[Mapping[str, Any]], BoardEvent] | None:
        return read_event if board == "hirempire" else None

    def board_event(self, board: str, event: BoardEvent) -> Booked:
        self.booked.append(event)
        book = self.work.ask_posting(board, event.remote_id or "")
        return "booked" if book else "already booked"


def _client(daemon: _Daemon) -> TestClient:
    return TestClient(make_app(daemon, token=BEARER))


def test_the_challenge_is_answered_without_the_bearer_token() -> None:
    """With daemon.token set, the board's call needs only the token in its path."""
    daemon = _Daemon()
    with _client(daemon) as client:
        answer = client.post(f"/hooks/hirempire/{TOKEN}", json={"challenge": "xyz", "type": "url_verification"})
        assert (answer.status_code, answer.json()) == (200, {"challenge": "xyz"})
        assert client.get("/snapshot").status_code == 401  # the rest still asks for the bearer token
    assert daemon.booked == []


def test_anything_but_the_token_and_a_board_with_events_is_404_and_books_nothing() -> None:
    """A wrong token, a token's prefix, and a board that sends no events answer as a page that
    is not there; a body that is no JSON object is 400; none books anything."""
    daemon = _Daemon()
    event = {"type": "job_deactivated", "job_id": "j-1"}
    with _client(daemon) as client:
        for path in (f"/hooks/hirempire/{TOKEN[:-1]}", "/hooks/hirempire/x", f"/hooks/sorce/{TOKEN}"):
            answer = client.post(path, json=event)
            assert (answer.status_code, answer.json()["error"]) == (404, "not_found"), path
        assert client.post(f"/hooks/hirempire/{TOKEN}", content=b"[1]").status_code == 400
        assert client.post(f"/hooks/hirempire/{TOKEN}", content=b"{not json").status_code == 400
    assert daemon.booked == []


def test_a_burst_of_events_books_one_run_until_the_run_takes_the_work() -> None:
    """The first event books a run, the next ones join it; once the run takes the work, the
    next event books another."""
    daemon = _Daemon()
    with _client(daemon) as client:
        answers = [client.post(f"/hooks/hirempire/{TOKEN}", json={"type": "job_deactivated", "job_id": f"j-{n}"})
                   for n in range(3)]
        assert [a.json()["run"] for a in answers] == ["booked", "already booked", "already booked"]
        taken = daemon.work.take()
        assert taken["hirempire"].postings == {"j-0", "j-1", "j-2"}
        again = client.post(f"/hooks/hirempire/{TOKEN}", json={"type": "job_deleted", "job_id": "j-9"})
        assert again.json() == {"event": "job_deleted", "run": "booked"}


def test_the_work_keeps_each_board_and_kind_apart() -> None:
    """A whole-board run and a collection of counters are kept per board, beside postings."""
    work = EventWork()
    assert work.ask_counters("hirempire") is True
    assert work.ask_board("hirempire") is False
    assert work.ask_posting("other", "k") is False
    taken = work.take()
    assert (taken["hirempire"].counters, taken["hirempire"].whole_board, taken["hirempire"].postings) == (True, True, set())
    assert taken["other"].postings == {"k"}
    assert work.take() == {}
