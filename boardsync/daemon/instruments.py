"""What the daemon's ``/metrics`` shows, and where each number comes from.

In the process (reset at restart, as Prometheus counters may be):
    boardsync_runs_total{kind,result}             runs by kind and outcome
    boardsync_run_duration_seconds{kind}          histogram of run durations
    boardsync_runs_skipped_total{job}             turns skipped: the previous run still going
    boardsync_config_reloads_total{result}        reloads applied or refused
    boardsync_requests_total{board,status_class}  every try sent to a board, reads and retries
                                                  included: 2xx … 5xx, or transport (no status)
    boardsync_errors_total{board,kind}            calls ended by an error status, no answer,
                                                  no JSON or an answer of another shape:
                                                  Transient, Rejected, Blocked, Ambiguous, Malformed
The last two are read from the connectors' `RequestTally`, which `BoardHttp` fills as it
sends: the daemon's own requests since it started. A one-shot command run beside it counts
in its own process, not here.

From the state database, at scrape time:
    boardsync_intents{state}                      intents pending, in flight, unknown, …
    boardsync_drift_open{board}                   open drift rows
    boardsync_blocked_pairs{board}                pairs a person must unblock
    boardsync_last_success_timestamp_seconds{board}
    boardsync_visits{board,channel}               latest cumulative counts, summed over
    boardsync_applicants{board,channel}           postings (per posting with daemon.posting_labels)
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from boardsync.connectors.http import PROCESS_TALLY, RequestTally, TallyKey
from boardsync.daemon.metrics import Family, Registry
from boardsync.state.store import Store

RUN_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


class DaemonMetrics:
    """The daemon's registry, with its instruments and its collectors: the boards' request
    tally (default: the process-wide one the connectors count into) and the database."""

    def __init__(self, store: Store, *, posting_labels: bool = False, tally: RequestTally | None = None) -> None:
        self.store = store
        self.posting_labels = posting_labels
        self.tally = tally if tally is not None else PROCESS_TALLY
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
        r.add_collector("requests", self._request_families)
        r.add_collector("state", self._state_families)
        r.add_collector("visits", self._visit_families)

    def run_finished(self, kind: str, result: str, seconds: float) -> None:
        self.runs.inc(kind=kind, result=result)
        self.run_seconds.observe(seconds, kind=kind)

    def render(self) -> str:
        return self.registry.render()

    def _request_families(self) -> list[Family]:
        requests = _counter_family(
            "boardsync_requests_total",
            "Requests sent to the boards, retries and reads included, by status class.",
            "status_class",
            self.tally.snapshot(),
        )
        errors = _counter_family(
            "boardsync_errors_total", "Errors raised by calls to the boards, by kind.", "kind", self.tally.error_snapshot()
        )
        return [requests, errors]

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
        backing_off = Family(
            "boardsync_pairs_backing_off", "gauge", "Posting and board pairs waiting out a backoff after failures."
        )
        for board, count in sorted(snapshot.quarantined_pairs.items()):
            backing_off.add(count, board=board)
        last = Family(
            "boardsync_last_success_timestamp_seconds", "gauge", "End of the last run that converged on a board."
        )
        for board, when in sorted(snapshot.last_success.items()):
            last.add(when.timestamp(), board=board)
        return [intents, drift, blocked, backing_off, last]

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


def _counter_family(name: str, help: str, label: str, counts: dict[TallyKey, int]) -> Family:
    """A counter family from a tally's (board, `label`) counts."""
    family = Family(name, "counter", help)
    for (board, value), count in sorted(counts.items()):
        family.add(count, board=board, **{label: value})
    return family
