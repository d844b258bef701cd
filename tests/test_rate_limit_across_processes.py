"""A board's rate limit holds across processes: each run keeps its requests in the state
database, and the next run's limiter counts them before it sends anything.

Each `boardsync reconcile` here is run as a fresh command, with fresh connectors and
limiters, as a new process would be; the limiters wait on a fake clock that moves the
sandbox's frozen clock, so a minute's wait takes no time."""

from __future__ import annotations

import time
from typing import Any

import pytest

from boardsync.connectors.http import KEEP_FROM, RateLimiter
from boardsync.reconcile import pace
from boardsync.reconcile.engine import reconcile
from boardsync.testing import FakeClock
from tests.reconcile_helpers import FAST_LIMIT, Workspace, _dump, _yaml

pytestmark = pytest.mark.slow

SORCE_LIMIT = 60
"""Sorce's documented limit: 60 requests a minute, per key."""


def _sorce_at_its_real_limit(ws: Workspace, monkeypatch: pytest.MonkeyPatch, clock: Ticking) -> None:
    """Sorce, in the sandbox and in boardsync's config, at its documented 60 a minute; every
    Sorce limiter boardsync builds waits on `clock`. RecruitiFi's second-long window is
    taken out of the way: the sandbox's clock stands still between the fake clock's waits."""
    ws.sandbox.sorce.set_rate_limit(SORCE_LIMIT)
    ws.sandbox.recruitifi.set_limits(requests_per_second=FAST_LIMIT)
    ws.sandbox.hirempire.set_limits(active_jobs=FAST_LIMIT)
    path = ws.root / "boardsync.yaml"
    config = _yaml().load(path.read_text())
    config["providers"]["sorce"]["requests_per_minute"] = SORCE_LIMIT
    _dump(config, path)

    def limiter(limit: int, per: float, **_: Any) -> RateLimiter:
        return RateLimiter(limit, per, clock=clock, sleep=clock.sleep)

    monkeypatch.setattr("boardsync.connectors.sorce.RateLimiter", limiter)


def _more_postings(ws: Workspace, count: int) -> None:
    """`count` copies of an example posting under new keys: enough Sorce work to fill a window."""
    template = _yaml().load(ws.posting_file("backend-engineer").read_text())
    for i in range(count):
        data = dict(template)
        data["key"] = f"backend-engineer-{i}"
        ws.add_posting(data)


class Ticking(FakeClock):
    """A fake clock on which every reading takes `step` seconds (the sandbox's clock moves
    with it), so requests are spread out as they are in real time, not all at one instant."""

    def __init__(self, linked: Any, step: float) -> None:
        super().__init__(linked)
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        if self.linked is not None:
            self.linked.advance(self.step)
        return self.now


@pytest.fixture
def clock(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> Ticking:
    """The sandbox's clock stands still but for the fake clock's moves, and the times kept
    in the state database are read off the fake clock too."""
    ws.sandbox.clock.freeze()
    ticking = Ticking(ws.sandbox.clock, 0.01)
    start = time.time()
    monkeypatch.setattr(pace, "wall", lambda: start + ticking.now)
    return ticking


def test_a_run_right_after_another_waits_for_its_requests_instead_of_meeting_a_429(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch, clock: Ticking,
) -> None:
    """The first reconcile sends Sorce more than a window's worth, ending with the window
    full; the second, started at once, waits until the first one's requests leave it, and
    Sorce refuses nothing."""
    _sorce_at_its_real_limit(ws, monkeypatch, clock)
    _more_postings(ws, 65)
    assert ws.run("reconcile").code == 0
    first = sum(ws.counts()["sorce"].values())
    assert first > SORCE_LIMIT, "the first run must fill Sorce's window"
    ws.clear_counts()
    slept = len(clock.slept)
    clock.step = 0.0  # the second run's requests all at once: the window frees no slot meanwhile
    for i in range(5):  # the second run reads, then updates five jobs: more than the window has left
        ws.edit_posting(f"backend-engineer-{i}", "(Python)", "(Python, Go)")

    assert ws.run("reconcile").code == 0

    assert ws.sandbox.sorce.window.refused == 0
    assert sum(ws.counts()["sorce"].values()) >= 6
    waited = sum(clock.slept[slept:])
    assert 0 < waited <= 60, "the second run waited for the first one's requests, at most a window"


def test_requests_kept_by_a_process_that_died_are_counted_with_a_margin(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch, clock: Ticking,
) -> None:
    """A run killed mid-way leaves its entry open: the next run counts the requests it kept
    plus the most it may have sent since (`lost_at_most`) as sent when it starts, so it waits
    rather than risk a 429, and closes the entry."""
    _sorce_at_its_real_limit(ws, monkeypatch, clock)
    with ws.opened() as (_, store, connectors):
        sorce = connectors["sorce"]
        limiter = sorce.pace()
        assert limiter is not None and limiter.per >= KEEP_FROM
        keeping = pace.shared(store, {"sorce": sorce}, keep=True)
        keeping.__enter__()  # never left: the process "dies" with its entry open
        for _ in range(SORCE_LIMIT - 3):
            sorce.observe()
        entry = store.request_logs()["sorce"][limiter.token]
    assert entry["open"] and len(entry["times"]) >= SORCE_LIMIT - 3 - limiter.keep_every
    unkept = SORCE_LIMIT - 3 - len(entry["times"])
    assert 0 < unkept <= entry["lost_at_most"] < SORCE_LIMIT
    slept = len(clock.slept)

    assert ws.run("reconcile").code == 0

    assert ws.sandbox.sorce.window.refused == 0
    assert sum(clock.slept[slept:]) > 0
    with ws.store() as store:
        assert not store.request_logs()["sorce"][limiter.token]["open"]


def test_other_processes_requests_are_read_by_age_and_an_open_entry_adds_its_margin() -> None:
    """`others_ages` reads other processes' requests within the window, skips this limiter's
    own, and counts an open entry's margin as sent now."""
    limiter = RateLimiter(10, 60.0, clock=FakeClock())
    logged = {
        limiter.token: {"kept_at": 100.0, "open": False, "lost_at_most": 2, "times": [99.0]},
        "other": {"kept_at": 100.0, "open": True, "lost_at_most": 2, "times": [30.0, 50.0, 90.0]},
    }
    assert pace.others_ages(logged, limiter, 100.0) == [50.0, 10.0, 0.0, 0.0]


def test_a_limiter_counts_what_it_heard_as_its_own() -> None:
    """Heard requests fill the window like the limiter's own, and leave it on time."""
    clock = FakeClock()
    limiter = RateLimiter(3, 60.0, clock=clock, sleep=clock.sleep)
    limiter.hear([50.0, 10.0, 70.0])  # the last one is out of the window already
    with limiter.slot():
        pass
    assert clock.slept == []
    with limiter.slot():
        pass
    assert clock.slept == [pytest.approx(10.0)]  # the 50-second-old one left the window
    assert limiter.own_ages() == (pytest.approx(10.0), 0.0)


def test_a_limiter_calls_its_keeper_first_then_every_tenth_of_its_limit() -> None:
    clock = FakeClock()
    limiter = RateLimiter(60, 60.0, clock=clock, sleep=clock.sleep)
    calls: list[int] = []
    limiter.keep_with(lambda: calls.append(len(limiter.own_ages())))
    for _ in range(20):
        with limiter.slot():
            pass
    assert calls == [1, 7, 13, 19]
    short = RateLimiter(10, 1.0, clock=clock, sleep=clock.sleep)
    calls.clear()
    short.keep_with(lambda: calls.append(1))
    for _ in range(8):
        with short.slot():
            pass
    assert calls == [1] and short.lost_at_most == 10


def test_a_long_lived_process_hears_others_but_not_itself(synced: Workspace) -> None:
    """The daemon's connectors live across its cycles: each cycle's run keeps the limiter's
    requests under its own token and hears only the other processes' (here, the command run
    that synced), so nothing is counted twice."""
    with synced.opened() as (desired, store, connectors):
        for _ in range(2):
            assert reconcile(desired, store, connectors).outcome == "converged"
        limiter = connectors["hirempire"].pace()  # an hour's window: nothing leaves it meanwhile
        assert limiter is not None
        logged = store.request_logs()["hirempire"]
        mine = logged[limiter.token]
        others = sum(len(e["times"]) for token, e in logged.items() if token != limiter.token)
    assert not mine["open"] and len(mine["times"]) == len(limiter.own_ages()) == 2  # one read a cycle
    assert others >= 1 and len(limiter._heard) == others  # the command's requests, heard once
