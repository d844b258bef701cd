"""`boardsync_requests_total` and `boardsync_errors_total`: every request sent to a board,
reads and retries included, counted where it is sent (`BoardHttp`), and shown by the daemon's
metrics. Real runs against the sandbox over loopback; retries never wait."""

from __future__ import annotations


import pytest
from sqlmodel import select

from boardsync.connectors import build_connectors
from boardsync.connectors.http import TRANSPORT, RequestTally
from boardsync.connectors.sorce import SorceConnector
from boardsync.daemon.instruments import DaemonMetrics
from boardsync.errors import Ambiguous, Blocked
from boardsync.reconcile import plan, reconcile
from boardsync.sandbox.core import Fault
from boardsync.sandbox.server import Sandbox
from boardsync.state import Store
from boardsync.state.tables import AuditEntry
from tests import connector_helpers as helpers
from tests.reconcile_helpers import Workspace, writes

pytestmark = pytest.mark.slow

HIREMPIRE_JOBS = "GET /v1/jobs"
SORCE_JOBS = "/api/external/v1/jobs"


def audit_rows(store: Store) -> int:
    with store.session() as session:
        return len(session.exec(select(AuditEntry)).all())


def counted_sorce(sandbox: Sandbox, tally: RequestTally) -> SorceConnector:
    """A Sorce connector on a fake clock that counts into `tally`."""
    plain = helpers.sorce(sandbox)
    return SorceConnector(plain.settings, plain.client, limiter=plain.http.limiter, retry=plain.http.retry, tally=tally)


def test_a_board_answering_500_to_every_read_shows_as_5xx_requests_and_a_transient_error(ws: Workspace) -> None:
    """A plan against a Hirempire that answers 500 to every GET /jobs sends no change (so the
    audit log holds nothing), yet the metrics count each try as 5xx and the read as one
    Transient error."""
    ws.sandbox.hirempire.faults.add(Fault("status", method="GET", path=r".*/jobs", status=500, times=None))
    tally = RequestTally()
    desired = ws.desired()
    connectors = build_connectors(desired.root.providers, tally=tally)
    with ws.store() as store:
        result = plan(desired, store, connectors)
        text = DaemonMetrics(store, tally=tally).text()
    assert [error.provider for error in result.errors] == ["hirempire"]
    with ws.store() as store:
        assert audit_rows(store) == 0
    tries = ws.counts()["hirempire"][HIREMPIRE_JOBS]
    assert tries > 1  # a read is retried, and every try is a request
    assert f'boardsync_requests_total{{board="hirempire",status_class="5xx"}} {tries}.0\n' in text
    assert 'boardsync_errors_total{board="hirempire",kind="Transient"} 1.0\n' in text
    assert 'boardsync_requests_total{board="sorce",status_class="2xx"}' in text
    assert "# TYPE boardsync_requests_total counter\n" in text and "# TYPE boardsync_errors_total counter\n" in text


def test_a_steady_reconcile_counts_each_read_once_as_2xx_and_no_errors(ws: Workspace) -> None:
    """Once converged, a reconcile only reads (and asks RecruitiFi for an access token): the
    tally holds exactly the requests each board received, all 2xx, and no error."""
    assert ws.run("reconcile").code == 0
    ws.clear_counts()
    tally = RequestTally()
    desired = ws.desired()
    connectors = build_connectors(desired.root.providers, tally=tally)
    with ws.store() as store:
        assert reconcile(desired, store, connectors).outcome == "converged"
    received = {board: sum(counts.values()) for board, counts in ws.counts().items() if counts}
    assert received and all(writes(counts) == {} for counts in ws.counts().values())
    assert tally.snapshot() == {(board, "2xx"): n for board, n in received.items()}
    assert tally.error_snapshot() == {}


def test_a_dropped_connection_counts_as_transport_and_a_lost_create_as_ambiguous(sandbox: Sandbox) -> None:
    """A reset read is one `transport` try then a 2xx retry, with no error; a create whose
    connection dropped is one `transport` try (not resent) and one Ambiguous error."""
    tally = RequestTally()
    connector = counted_sorce(sandbox, tally)
    sandbox.sorce.faults.add(Fault("reset", method="GET", path=SORCE_JOBS))
    assert connector.observe() == []
    assert tally.snapshot() == {("sorce", TRANSPORT): 1, ("sorce", "2xx"): 1}
    assert tally.error_snapshot() == {}

    p = helpers.posting()
    connector.prepare([p])
    sandbox.sorce.faults.add(Fault("reset", method="POST", path=SORCE_JOBS))
    with pytest.raises(Ambiguous):
        connector.create(p, dict(connector.render(p)), publish=True)
    assert tally.snapshot()[("sorce", TRANSPORT)] == 2
    assert tally.error_snapshot() == {("sorce", "Ambiguous"): 1}


def test_a_refused_key_counts_as_4xx_and_a_blocked_error(sandbox: Sandbox) -> None:
    """A key Sorce does not know: one 401 (not retried), counted as 4xx and as Blocked."""
    tally = RequestTally()
    plain = helpers.sorce(sandbox, key="sk_ext_unknown")
    connector = SorceConnector(plain.settings, plain.client, limiter=plain.http.limiter, retry=plain.http.retry,
                               tally=tally)
    with pytest.raises(Blocked):
        connector.observe()
    assert tally.snapshot() == {("sorce", "4xx"): 1}
    assert tally.error_snapshot() == {("sorce", "Blocked"): 1}


def test_pairs_backing_off_after_failures_show_as_a_gauge(ws: Workspace) -> None:
    """Three Hirempire creates failing with 503 leave three pairs waiting out their backoff,
    and /metrics says so per board."""
    ws.sandbox.hirempire.faults.add(Fault("status", method="POST", path=r".*/add-job", status=503, times=None))
    assert ws.run("reconcile").code == 2
    with ws.store() as store:
        text = DaemonMetrics(store, tally=RequestTally()).text()
    assert 'boardsync_pairs_backing_off{board="hirempire"} 3.0\n' in text
    assert 'boardsync_pairs_backing_off{board="sorce"}' not in text
