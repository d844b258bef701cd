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
    boardsync_pair_health{board,health}           pairs per health (live, pending, blocked,
                                                  backing_off, expired, missing; each at 0 too)
    boardsync_last_success_timestamp_seconds{board}
    boardsync_visits{board,channel}               latest cumulative counts, summed over
    boardsync_applicants{board,channel}           postings (per posting with daemon.posting_labels)

And what prometheus_client knows of the process: ``process_*`` (CPU, memory, open files),
``python_info`` and ``python_gc_*``. A counter is shown at 0 for every label set it can take
(every kind and outcome, every board and status class…) before anything happened, so a
`rate()` or an alert on it has a series from the first scrape.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import get_args

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from boardsync.connectors.http import PROCESS_TALLY, TRANSPORT, RequestTally, TallyKey
from boardsync.daemon.metrics import GuardedCollector, collector_errors, exposition, new_registry
from boardsync.errors import Ambiguous, Blocked, Malformed, Rejected, Transient
from boardsync.reconcile.model import Outcome
from boardsync.state.health import HEALTHS
from boardsync.state.store import Store

Pair = tuple[str, str]

RUN_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
RUN_KINDS = ("reconcile", "metrics")
SKIPPABLE_JOBS = ("reconcile", "metrics", "links")
RELOAD_RESULTS = ("applied", "refused")
STATUS_CLASSES = ("2xx", "4xx", "5xx", TRANSPORT)
ERROR_KINDS = tuple(cls.__name__ for cls in (Transient, Rejected, Blocked, Ambiguous, Malformed))


class DaemonMetrics:
    """The daemon's registry, with its instruments and its collectors: the boards' request
    tally (default: the process-wide one the connectors count into) and the database.
    `boards` are the configured boards, whose request and error counters start at 0."""

    def __init__(
        self, store: Store, *, posting_labels: bool = False, tally: RequestTally | None = None,
        boards: Sequence[str] = (),
    ) -> None:
        self.store = store
        self.posting_labels = posting_labels
        self.tally = tally if tally is not None else PROCESS_TALLY
        self.boards = tuple(boards)
        self.pairs: tuple[list[Pair], list[Pair]] = ([], [])
        """The pairs the config expects, and those of postings written as closed
        (`Desired.pairs`): a pair the database has never seen still has a health."""
        self.registry: CollectorRegistry = new_registry()
        r = self.registry
        self.runs = Counter("boardsync_runs", "Runs by kind and outcome.", ["kind", "result"], registry=r)
        self.run_seconds = Histogram(
            "boardsync_run_duration_seconds", "How long runs took.", ["kind"], buckets=RUN_BUCKETS, registry=r
        )
        self.skipped = Counter(
            "boardsync_runs_skipped", "Turns skipped because the previous run was still going.", ["job"], registry=r
        )
        self.reloads = Counter("boardsync_config_reloads", "Config reloads by result.", ["result"], registry=r)
        self._start_at_zero()
        errors = collector_errors()
        for name, collect in (
            ("requests", self._request_families), ("state", self._state_families), ("visits", self._visit_families),
            ("health", self._health_families),
        ):
            r.register(GuardedCollector(name, collect, errors))
        r.register(errors)

    def _start_at_zero(self) -> None:
        for kind in RUN_KINDS:
            self.run_seconds.labels(kind=kind)
            for result in get_args(Outcome):
                self.runs.labels(kind=kind, result=result)
        for job in SKIPPABLE_JOBS:
            self.skipped.labels(job=job)
        for result in RELOAD_RESULTS:
            self.reloads.labels(result=result)

    def run_finished(self, kind: str, result: str, seconds: float) -> None:
        self.runs.labels(kind=kind, result=result).inc()
        self.run_seconds.labels(kind=kind).observe(seconds)

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition the scraper's Accept header asks for: (body, content type)."""
        return exposition(self.registry, accept)

    def text(self) -> str:
        """Prometheus text, as a plain scrape gets it."""
        return self.render()[0].decode()

    def _request_families(self) -> list[Metric]:
        requests = _counter_family(
            "boardsync_requests",
            "Requests sent to the boards, retries and reads included, by status class.",
            "status_class",
            _with_zeros(self.tally.snapshot(), self.boards, STATUS_CLASSES),
        )
        errors = _counter_family(
            "boardsync_errors", "Errors raised by calls to the boards, by kind.", "kind",
            _with_zeros(self.tally.error_snapshot(), self.boards, ERROR_KINDS),
        )
        return [requests, errors]

    def _state_families(self) -> list[Metric]:
        snapshot = self.store.metrics()
        return [
            _gauge_family("boardsync_intents", "Intents by state; unknown ones wait to be looked up.", "state",
                          snapshot.intents_by_state),
            _gauge_family("boardsync_drift_open", "Open drift: fields on which a board differs.", "board",
                          snapshot.open_drift),
            _gauge_family("boardsync_blocked_pairs", "Posting and board pairs blocked until a person acts.", "board",
                          snapshot.blocked_pairs),
            _gauge_family("boardsync_pairs_backing_off",
                          "Posting and board pairs waiting out a backoff after failures.", "board",
                          snapshot.quarantined_pairs),
            _gauge_family("boardsync_last_success_timestamp_seconds",
                          "End of the last run that converged on a board.", "board",
                          {board: when.timestamp() for board, when in snapshot.last_success.items()}),
        ]

    def board_health(self) -> dict[str, dict[str, int]]:
        """board → health → pairs, every configured board and health present."""
        expected, never_posted = self.pairs
        counts = self.store.health_counts(expected, never_posted=never_posted)
        return {board: counts.get(board, dict.fromkeys(HEALTHS, 0)) for board in sorted({*self.boards, *counts})}

    def _health_families(self) -> list[Metric]:
        family = GaugeMetricFamily("boardsync_pair_health", "Posting and board pairs by health, apart from sync.",
                                   labels=["board", "health"])
        for board, counts in self.board_health().items():
            for health, n in counts.items():
                family.add_metric([board, health], n)
        return [family]

    def _visit_families(self) -> list[Metric]:
        visits: dict[tuple[str, ...], int] = defaultdict(int)
        applicants: dict[tuple[str, ...], int] = defaultdict(int)
        for row in self.store.visit_rows(since=None):  # the counts alone: no growth is exported
            labels = (row.posting, row.provider, row.channel) if self.posting_labels else (row.provider, row.channel)
            if row.visits is not None:
                visits[labels] += row.visits
            if row.applicants is not None:
                applicants[labels] += row.applicants
        names = ["posting", "board", "channel"] if self.posting_labels else ["board", "channel"]
        visit_family = GaugeMetricFamily("boardsync_visits", "Visits counted by the boards, per channel.",
                                         labels=names)
        applicant_family = GaugeMetricFamily("boardsync_applicants", "Applicants counted by the boards, per channel.",
                                             labels=names)
        for family, counts in ((visit_family, visits), (applicant_family, applicants)):
            for values, count in sorted(counts.items()):
                family.add_metric(list(values), count)
        return [visit_family, applicant_family]


def _with_zeros(counts: dict[TallyKey, int], boards: Iterable[str], values: Iterable[str]) -> dict[TallyKey, int]:
    """`counts`, with every (board, value) it lacks at 0."""
    return {(board, value): 0 for board in boards for value in values} | counts


def _counter_family(name: str, help: str, label: str, counts: dict[TallyKey, int]) -> CounterMetricFamily:
    """A counter family from a tally's (board, `label`) counts."""
    family = CounterMetricFamily(name, help, labels=["board", label])
    for (board, value), count in sorted(counts.items()):
        family.add_metric([board, value], count)
    return family


def _gauge_family(name: str, help: str, label: str, values: dict[str, int] | dict[str, float]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, help, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family
