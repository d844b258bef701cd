"""What the daemon's ``/metrics`` shows, and where each number comes from.

In the process (reset at restart, as Prometheus counters may be):
    boardsync_runs_total{kind,result}             runs by kind and outcome
    boardsync_run_duration_seconds{kind}          histogram of run durations
    boardsync_runs_skipped_total{job}             turns skipped: the previous run still going
    boardsync_config_reloads_total{result}        reloads applied or refused
    boardsync_requests_total{board,status_class}  changes sent (2xx … 5xx, or "none": no reply)
    boardsync_errors_total{board,kind}            changes that failed, by error code
The last two are tallied from the audit log (`action` rows) written since the daemon started,
so calls made by a one-shot ``reconcile`` beside it count too. The audit log holds the calls
that change a board, not the reads: a board that cannot be read shows in the runs' outcome
and in its last-success time instead.

From the state database, at scrape time:
    boardsync_intents{state}                      intents pending, in flight, unknown, …
    boardsync_drift_open{board}                   open drift rows
    boardsync_blocked_pairs{board}                pairs a person must unblock
    boardsync_last_success_timestamp_seconds{board}
    boardsync_visits{board,channel}               latest cumulative counts, summed over
    boardsync_applicants{board,channel}           postings (per posting with daemon.posting_labels)
"""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import UTC, datetime

from sqlmodel import col, func, select

from boardsync.daemon.metrics import Family, Registry
from boardsync.state.store import Store
from boardsync.state.tables import Action

RUN_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


class DaemonMetrics:
    """The daemon's registry, with its instruments and its database collectors."""

    def __init__(self, store: Store, *, posting_labels: bool = False) -> None:
        self.store = store
        self.posting_labels = posting_labels
        self.registry = Registry()
        r = self.registry
        self.runs = r.counter("boardsync_runs_total", "Runs by kind and outcome.", ["kind", "result"])
        self.run_seconds = r.histogram(
            "boardsync_run_duration_seconds", "How long runs took.", RUN_BUCKETS, ["kind"]
        )
        self.skipped = r.counter(
            "boardsync_runs_skipped_total", "Turns skipped because the previous run was still going.", ["job"]
        )
        self.reloads = r.counter("boardsync_config_reloads_total", "Config reloads by result.", ["result"])
        self.requests = r.counter(
            "boardsync_requests_total", "Calls made to the boards, by status class.", ["board", "status_class"]
        )
        self.errors = r.counter("boardsync_errors_total", "Failed calls to the boards, by kind.", ["board", "kind"])
        self._actions = _ActionTally(store, self)
        r.add_collector("actions", self._actions.collect)
        r.add_collector("state", self._state_families)
        r.add_collector("visits", self._visit_families)

    def run_finished(self, kind: str, result: str, seconds: float) -> None:
        self.runs.inc(kind=kind, result=result)
        self.run_seconds.observe(seconds, kind=kind)
        self._actions.tally()

    def render(self) -> str:
        return self.registry.render()

    def _state_families(self) -> list[Family]:
        snapshot = self.store.metrics()
        intents = Family("boardsync_intents", "gauge", "Intents by state; unknown ones wait to be looked up.")
        for state, count in sorted(snapshot.intents_by_state.items()):
            intents.add(count, state=state)
        drift = Family("boardsync_drift_open", "gauge", "Open drift: fields on which a board differs.")
        for board, count in sorted(snapshot.open_drift.items()):
            drift.add(count, board=board)
        blocked = Family("boardsync_blocked_pairs", "gauge", "Posting and board pairs blocked until a person acts.")
        for board, count in sorted(snapshot.blocked_pairs.items()):
            blocked.add(count, board=board)
        last = Family(
            "boardsync_last_success_timestamp_seconds", "gauge", "End of the last run that converged on a board."
        )
        for board, when in sorted(snapshot.last_success.items()):
            last.add(when.timestamp(), board=board)
        return [intents, drift, blocked, last]

    def _visit_families(self) -> list[Family]:
        visits: dict[tuple[tuple[str, str], ...], int] = defaultdict(int)
        applicants: dict[tuple[tuple[str, str], ...], int] = defaultdict(int)
        for row in self.store.visit_rows(since=datetime.now(UTC)):
            labels: tuple[tuple[str, str], ...] = (("board", row.provider), ("channel", row.channel))
            if self.posting_labels:
                labels = (("posting", row.posting), *labels)
            if row.visits is not None:
                visits[labels] += row.visits
            if row.applicants is not None:
                applicants[labels] += row.applicants
        visit_family = Family("boardsync_visits", "gauge", "Visits counted by the boards, per channel.")
        for labels, count in sorted(visits.items()):
            visit_family.add(count, **dict(labels))
        applicant_family = Family("boardsync_applicants", "gauge", "Applicants counted by the boards, per channel.")
        for labels, count in sorted(applicants.items()):
            applicant_family.add(count, **dict(labels))
        return [visit_family, applicant_family]


class _ActionTally:
    """Adds the audit log's new rows to the request and error counters, once each."""

    def __init__(self, store: Store, metrics: DaemonMetrics) -> None:
        self.store = store
        self.metrics = metrics
        self._lock = threading.Lock()
        with store.session() as session:
            self._seen = session.exec(select(func.max(Action.id))).one() or 0

    def tally(self) -> None:
        with self._lock, self.store.session() as session:
            rows = session.exec(select(Action).where(col(Action.id) > self._seen).order_by(col(Action.id))).all()
            for row in rows:
                status_class = _status_class(row.http_status)
                self.metrics.requests.inc(board=row.provider, status_class=status_class)
                if not row.ok:
                    self.metrics.errors.inc(board=row.provider, kind=row.error_code or status_class)
                self._seen = row.id or self._seen

    def collect(self) -> list[Family]:
        self.tally()
        return []


def _status_class(status: int | None) -> str:
    return "none" if status is None else f"{status // 100}xx"
