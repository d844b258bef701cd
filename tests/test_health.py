"""A pair's health apart from its sync (`boardsync.state.health`): each value reached by a real
run against the sandbox boards over loopback, and shown by `status`, `status --json`,
`/metrics` and `/readyz`."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import httpx
import pytest

from boardsync.daemon.http import Check, HttpSurface
from boardsync.daemon.instruments import DaemonMetrics
from boardsync.connectors.http import RequestTally
from boardsync.sandbox.core import Fault
from boardsync.state.health import HEALTHS
from tests.reconcile_helpers import SORCE_COMPANY, Workspace

pytestmark = pytest.mark.slow

LIVE_ON_SORCE = {"backend-engineer", "intern-software-2025", "product-designer", "warehouse-associate"}


def health(ws: Workspace) -> dict[tuple[str, str], str]:
    """(posting, board) → health, as `status --json` says."""
    ran = ws.run("status", "--json")
    assert ran.code == 0, ran.err
    return {(r["posting"], r["provider"]): r["health"] for r in json.loads(ran.out)}


def test_a_synced_pair_is_live_and_a_closed_posting_never_posted_is_too(synced: Workspace) -> None:
    """After a sync every job shows the status applied: live, links included; a posting
    written as closed, never posted, is as it asks: live as well."""
    found = health(synced)
    assert set(found.values()) == {"live"}
    assert found[("product-designer", "recruitifi")] == "live"
    assert found[("intern-design-2024", "sorce")] == "live"


def test_pairs_never_created_are_missing_and_a_job_deleted_by_hand_is_missing(ws: Workspace) -> None:
    """With the database made but nothing synced, every pair that should have a job is
    missing; after a sync, a job deleted on the board by hand (self_heal off, so it is not
    made again) is missing once a run found it gone."""
    assert ws.run("migrate").code == 0
    before = health(ws)
    assert before[("backend-engineer", "sorce")] == "missing"
    assert before[("intern-design-2024", "sorce")] == "live"
    assert ws.run("reconcile").code == 0
    ws.write_config(self_heal=False)
    ws.sandbox.hirempire.delete_job(ws.remote_id("backend-engineer", "hirempire"))
    ws.run("reconcile")
    assert health(ws)[("backend-engineer", "hirempire")] == "missing"


def test_a_create_whose_answer_was_lost_is_pending_until_found(ws: Workspace) -> None:
    """A create committed on the board whose answer was lost leaves the pair pending (not
    backing off); the next run finds the job and it is live."""
    ws.sandbox.sorce.faults.add(Fault("lost_response", method="POST", path=r".*/jobs", times=1))
    assert ws.run("reconcile").code == 2
    pending = [pair for pair, h in health(ws).items() if h == "pending"]
    assert len(pending) == 1 and pending[0][1] == "sorce"
    assert ws.run("reconcile").code == 0
    assert health(ws)[pending[0]] == "live"


def test_a_gate_blocks_the_pairs_it_stops(ws: Workspace) -> None:
    """Sorce's terms not accepted: its postings meant to be live are blocked, the draft is
    live; the status table's health column says so."""
    ws.sandbox.sorce.set_gates(SORCE_COMPANY, terms_accepted=False)
    ws.run("reconcile")
    found = health(ws)
    assert {k for (k, b), h in found.items() if b == "sorce" and h == "blocked"} == LIVE_ON_SORCE | {"support-specialist"}
    assert found[("data-analyst", "sorce")] == "live"
    table = ws.run("status").out
    assert re.search(r"backend-engineer\s+sorce\s+not synced\s+blocked", table), table


def test_an_update_that_keeps_failing_backs_off(synced: Workspace) -> None:
    """Sorce answering 500 to every update: the edited pair backs off, the others stay live;
    once the board answers and the backoff is lifted, it is live again."""
    job_id = synced.remote_id("backend-engineer", "sorce")
    synced.sandbox.sorce.faults.add(Fault("status", status=500, method="PATCH", path=f".*/{job_id}", times=None))
    synced.edit_posting("backend-engineer", "Senior Backend Engineer (Python)", "Backend Engineer (Python)")
    assert synced.run("reconcile").code == 2
    found = health(synced)
    assert found[("backend-engineer", "sorce")] == "backing_off"
    assert found[("product-designer", "sorce")] == "live"
    assert re.search(r"backend-engineer\s+sorce\s+active\s+backing_off", synced.run("status").out)
    synced.sandbox.sorce.faults.clear()
    assert synced.run("retry").code == 0
    assert synced.run("reconcile").code == 0
    assert health(synced)[("backend-engineer", "sorce")] == "live"


def test_a_job_past_its_expiry_is_expired(synced: Workspace) -> None:
    """31 days on, without repost_expired, Sorce's live jobs read as expired."""
    synced.sandbox.clock.advance(31 * 86400)
    synced.run("reconcile")
    found = health(synced)
    assert {k for (k, b), h in found.items() if b == "sorce" and h == "expired"} == LIVE_ON_SORCE | {"support-specialist"}
    assert found[("backend-engineer", "hirempire")] == "live"


class _Daemon:
    """The daemon's HTTP surface as the daemon fills it, over its real metrics and store."""

    def __init__(self, metrics: DaemonMetrics) -> None:
        self.metrics = metrics

    def liveness(self) -> Sequence[Check]:
        return [Check("scheduler", True)]

    def readiness(self) -> Sequence[Check]:
        return [Check("reconcile", True)]

    def board_health(self) -> dict[str, dict[str, int]]:
        return self.metrics.board_health()

    def metrics_page(self, accept: str | None) -> tuple[bytes, str]:
        return self.metrics.render(accept)


def test_metrics_and_readyz_count_each_board_s_pairs_by_health(ws: Workspace) -> None:
    """With Sorce gated: /metrics has a gauge per board and health (zeros included) and
    /readyz's body the same counts per board, its answer still the checks' alone."""
    ws.sandbox.sorce.set_gates(SORCE_COMPANY, terms_accepted=False)
    ws.run("reconcile")
    desired = ws.desired()
    with ws.store() as store:
        metrics = DaemonMetrics(store, tally=RequestTally(), boards=desired.root.providers.names())
        metrics.pairs = desired.pairs()
        server = HttpSurface("127.0.0.1:0", _Daemon(metrics)).start()  # type: ignore[arg-type]
        try:
            page = httpx.get(f"http://{server.address}/metrics", timeout=5).text
            ready = httpx.get(f"http://{server.address}/readyz", timeout=5)
        finally:
            server.close()
    assert 'boardsync_pair_health{board="sorce",health="blocked"} 5.0' in page
    assert 'boardsync_pair_health{board="sorce",health="live"} 2.0' in page  # the draft, the closed one
    assert 'boardsync_pair_health{board="hirempire",health="expired"} 0.0' in page
    assert ready.status_code == 200
    boards = ready.json()["boards"]
    assert set(boards) == {"sorce", "hirempire", "recruitifi"}
    assert boards["sorce"]["blocked"] == 5 and set(boards["sorce"]) == set(HEALTHS)
    assert boards["hirempire"]["live"] == 7
