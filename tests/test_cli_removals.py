"""A posting removed from the source, against the sandbox: with prune on, its jobs are closed
only once it has been gone for `policy.prune_after` and missed by two runs, so a file that
vanishes for a moment (a `git checkout`, an editor's save-by-rename) closes nothing; and a
posting that is gone drops the block it had, from `status` and from the metrics.

The runs take the clock as an argument: moving it stands for the time between runs.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from boardsync.reconcile import reconcile
from boardsync.reconcile.model import RunResult
from boardsync.sandbox.core import Fault
from boardsync.sandbox.server import Sandbox
from tests.reconcile_helpers import SORCE_COMPANY, Workspace, writes

pytestmark = pytest.mark.slow

T0 = datetime.now(UTC)


@pytest.fixture
def ws(tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    workspace = Workspace(tmp_path, sandbox, monkeypatch).copy_examples()
    workspace.write_config(prune=True, prune_after="1h")
    assert workspace.run("reconcile").code == 0
    workspace.clear_counts()
    return workspace


def _run_at(ws: Workspace, when: datetime) -> RunResult:
    with ws.opened() as (desired, store, connectors):
        return reconcile(desired, store, connectors, clock=lambda: when)


def _closed_on_sorce(ws: Workspace, key: str) -> bool:
    return ws.sorce_job(key)["status"] == "CLOSED"


def test_a_posting_file_removed_and_restored_within_the_grace_closes_nothing(ws: Workspace) -> None:
    """Prune on: the file gone for two runs ten minutes apart, then back — no close was sent,
    each run said when the removal would be acted on, and the next run is in sync."""
    path = ws.posting_file("warehouse-associate")
    text = path.read_text()
    path.unlink()
    for minutes in (0, 10):
        result = _run_at(ws, T0 + timedelta(minutes=minutes))
        assert result.plan is not None
        (removed,) = [r for r in result.plan.removed if r.provider == "sorce"]
        assert not removed.closing and removed.closes_after == T0 + timedelta(hours=1)
    assert writes(ws.counts()["sorce"]) == {} and writes(ws.counts()["hirempire"]) == {}
    path.write_text(text)
    assert _run_at(ws, T0 + timedelta(minutes=20)).converged
    assert not _closed_on_sorce(ws, "warehouse-associate")


def test_gone_longer_than_prune_after_but_missed_by_one_run_only_is_not_closed(ws: Workspace) -> None:
    """The first run to miss the posting comes two hours after it was removed: time alone is
    not enough, a second run must miss it too; that one closes it on both boards."""
    ws.remove_posting("warehouse-associate")
    first = _run_at(ws, T0 + timedelta(hours=2))
    assert first.plan is not None and not any(r.closing for r in first.plan.removed)
    assert first.outcome == "drifted" and not _closed_on_sorce(ws, "warehouse-associate")
    assert _run_at(ws, T0 + timedelta(hours=2, minutes=1)).plan is not None
    # Gone since the first run that missed it: one minute later is still within the hour.
    assert not _closed_on_sorce(ws, "warehouse-associate")
    closing = _run_at(ws, T0 + timedelta(hours=3, minutes=1))
    assert closing.converged, closing.summary()
    assert _closed_on_sorce(ws, "warehouse-associate")
    hirempire_id = ws.remote_id("warehouse-associate", "hirempire")
    assert {j["id"]: j["status"] for j in ws.hirempire_jobs()}[hirempire_id] == "closed"


def test_the_plan_says_when_a_removal_will_be_acted_on(ws: Workspace) -> None:
    """`plan` within the grace lists the removal as left open for now, with the reason, in
    text and JSON; it exits 2 (the boards still hold a job the source no longer has)."""
    ws.remove_posting("warehouse-associate")
    planned = ws.run("plan")
    assert planned.code == 2
    assert "left open for now: gone from the source just now; closed once gone for 1h and missed by 2 runs" \
        in planned.out, planned.out
    document = json.loads(ws.run("plan", "--json").out)
    (removed,) = [r for r in document["removed"] if r["provider"] == "sorce"]
    assert removed["closing"] is False and removed["closes_after"] and removed["absent_since"]


def test_a_posting_back_in_the_source_starts_its_grace_again(ws: Workspace) -> None:
    """Missed by a run, back for one, gone again: the count and the clock start over, so two
    runs past the hour from the first removal still close nothing."""
    path = ws.posting_file("warehouse-associate")
    text = path.read_text()
    path.unlink()
    _run_at(ws, T0)
    path.write_text(text)
    _run_at(ws, T0 + timedelta(minutes=30))
    path.unlink()
    _run_at(ws, T0 + timedelta(minutes=70))
    _run_at(ws, T0 + timedelta(minutes=80))
    assert not _closed_on_sorce(ws, "warehouse-associate")
    assert _run_at(ws, T0 + timedelta(minutes=131)).converged
    assert _closed_on_sorce(ws, "warehouse-associate")


def test_a_removed_postings_block_clears_from_status_and_the_metrics(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sorce's terms gate blocks a posting that was never created there; once the posting is
    removed from the source, `status` no longer shows it blocked and the blocked-pairs count
    drops, though the terms are still not accepted."""
    ws = Workspace(tmp_path, sandbox, monkeypatch).copy_examples()
    ws.write_config()
    ws.sandbox.sorce.set_gates(SORCE_COMPANY, terms_accepted=False)
    assert ws.run("reconcile").code == 2
    blocked_before = ws.store().metrics().blocked_pairs["sorce"]
    ws.remove_posting("backend-engineer")
    ws.run("reconcile")
    status = json.loads(ws.run("status", "--json").out)
    assert not [r for r in status if r["posting"] == "backend-engineer" and r["blocked_reason"]]
    assert ws.store().metrics().blocked_pairs["sorce"] == blocked_before - 1


def test_a_run_scoped_to_other_postings_counts_no_read_of_a_removed_one(ws: Workspace) -> None:
    """`--posting` narrows what a run looks at: runs for another posting do not count as
    reads that missed the removed one, so only its own runs (or whole ones) bring its close."""
    ws.remove_posting("warehouse-associate")
    with ws.opened() as (desired, store, connectors):
        for minutes in (0, 70, 80):
            at = T0 + timedelta(minutes=minutes)
            reconcile(desired, store, connectors, postings=["backend-engineer"], clock=lambda: at)
    assert not _closed_on_sorce(ws, "warehouse-associate")
    _run_at(ws, T0 + timedelta(minutes=90))  # the first run that looks at it
    assert not _closed_on_sorce(ws, "warehouse-associate")


def test_a_failing_close_of_a_removed_posting_backs_off(ws: Workspace) -> None:
    """Past its grace, the close of a removed posting fails on Sorce (500): the next run a
    minute later does not send it again (it backs off, as any failed change), and once the
    backoff is over the close goes through."""
    ws.remove_posting("warehouse-associate")
    _run_at(ws, T0)
    ws.sandbox.sorce.faults.add(Fault("status", method="POST", path=r".*/close", status=500, times=None))
    failed = _run_at(ws, T0 + timedelta(hours=1))
    assert failed.counts["failed"] == 1 and not _closed_on_sorce(ws, "warehouse-associate")
    ws.sandbox.sorce.faults.clear()
    ws.clear_counts()
    held = _run_at(ws, T0 + timedelta(hours=1, seconds=30))
    assert held.plan is not None and [b.gate for b in held.plan.blocked] == ["backoff"]
    assert writes(ws.counts()["sorce"]) == {}
    assert _run_at(ws, T0 + timedelta(hours=2)).converged
    assert _closed_on_sorce(ws, "warehouse-associate")
