"""The daemon's scheduler: skipped turns are reported, and progress goes stale."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from boardsync.daemon.scheduler import Progress, Scheduler, jitter_for


def test_a_run_still_going_at_its_next_turn_is_skipped_and_reported() -> None:
    """max_instances=1: the turn that finds the job running is not started, and on_skip hears it."""
    skipped: list[str] = []
    release = threading.Event()
    started = threading.Semaphore(0)

    def slow() -> None:
        started.release()
        release.wait(5)

    scheduler = Scheduler(on_skip=skipped.append)
    scheduler.every("reconcile", slow, timedelta(seconds=0.1), first=datetime.now(UTC))
    scheduler.start()
    try:
        assert started.acquire(timeout=5)
        deadline = time.monotonic() + 5
        while not skipped and time.monotonic() < deadline:
            time.sleep(0.02)
        assert skipped and set(skipped) == {"reconcile"}
        assert not started.acquire(timeout=0)  # never started twice
    finally:
        release.set()
        scheduler.shutdown()


def test_move_brings_the_next_turn_forward() -> None:
    """A job booked an hour out runs at once when moved to now."""
    ran = threading.Event()
    scheduler = Scheduler(on_skip=lambda job: None)
    scheduler.every("links", ran.set, timedelta(hours=1), first=datetime.now(UTC) + timedelta(hours=1))
    scheduler.start()
    try:
        assert not ran.wait(0.2)
        assert scheduler.move("links")
        assert ran.wait(5)
        assert scheduler.move("nothing") is False
    finally:
        scheduler.shutdown()


def test_progress_goes_stale_without_beats() -> None:
    """healthy() holds right after a beat and fails once stale_after has passed without one."""
    progress = Progress(stale_after=0.1)
    assert progress.healthy()
    deadline = time.monotonic() + 2
    while progress.healthy() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not progress.healthy()
    progress.beat()
    assert progress.healthy()


def test_jitter_is_a_tenth_of_the_interval_capped_at_30s() -> None:
    """Short intervals get a tenth as jitter; long ones at most 30 seconds."""
    assert jitter_for(timedelta(seconds=10)) == 1.0
    assert jitter_for(timedelta(hours=1)) == 30.0
