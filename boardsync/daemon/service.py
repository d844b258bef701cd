"""`boardsync daemon`: reconcile, collect metrics and hand out signed links, until told to stop.

    start      load the config → take the writer lock → open the database → build connectors
               → book the jobs from what the database remembers → listen → READY=1
    run        the scheduler's threads do the work; the main thread waits for signals and
               reload requests, and does every reload itself, one at a time
    SIGHUP     (or a config file changed) RELOADING=1 → load → swap → READY=1; a config that
               fails validation is logged with every problem and the last good one keeps going
    git        with `source:`, the branch is fetched before the first load, then on its
               schedule and on the push webhook; a commit put live is a reload (`follow.py`)
    events     a board's webhook books a run of the posting whose job changed, through
               the scheduler, one run for a burst (`events.py`)
    SIGTERM    STOPPING=1 → no new runs, retries stop, the call in flight finishes and is
    SIGINT     recorded → exit 0
    standby    on PostgreSQL, a daemon that finds the writer lock held waits for it and takes
               over when it frees (`standby.py`); an active daemon whose lock session ended
               stops writing at once and exits 1 (its service manager starts it again, as a
               standby)

Everything systemd-specific goes through `Notifier`, which is silent outside systemd.
"""

from __future__ import annotations

import gc
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from boardsync import config, dashboard
from boardsync.config.gitsource import Checkout
from boardsync.config.loader import Collected, collect
from boardsync.config.sources import SourceUnreadable, TableVersion
from boardsync.config.model import parse_duration
from boardsync.connectors import build_connectors
from boardsync.connectors.base import BoardEvent, Connector
from boardsync.daemon.events import Booked, EventWork
from boardsync.dashboard import reads
from boardsync.daemon.http import Check, HttpSurface, require_token_off_loopback
from boardsync.daemon.follow import Follower, SourceCollector
from boardsync.daemon.instruments import DaemonMetrics
from boardsync.daemon.links import LinkKeeper
from boardsync.daemon.lock import WriterLock, WriterLockLost, acquire_writer_lock
from boardsync.memory import give_back, one_heap
from boardsync.daemon.notify import Notifier, Watchdog, watchdog_interval
from boardsync.daemon.scheduler import Progress, Scheduler
from boardsync.daemon.standby import StandbySurface, active_gauge, can_stand_by, poll_interval, wait_for_lock
from boardsync.daemon.timed import TimedRuns
from boardsync.daemon.watch import ConfigWatch, ConfigWatcher, inotify_batches
from boardsync.errors import BoardsyncError, ConfigError, ProviderError
from boardsync.log import get_logger, redact
from boardsync.reconcile import collect_metrics, events, reconcile, snapshot
from boardsync.reconcile.model import RunResult
from boardsync.reconcile.outbox import Courier, targets
from boardsync.state import migrations
from boardsync.state.outbox import add_events
from boardsync.state.store import Store, open_store

log = get_logger(__name__)

BEAT_EVERY = 5.0
NOTIFY_IDLE = timedelta(minutes=1)
"""How often the notification job looks at the outbox when nothing is due sooner."""
SUCCESSFUL = ("converged", "drifted", "partial")
"""Outcomes of a run that did its job: a partial run converged what it could, a drifted one
all the policy allows."""


class Generation:
    """A loaded config and the connectors built for it.

    Jobs hold a generation while they run (`Daemon._current`). A reload retires the old one;
    its connectors close when the last job that uses them returns, so a reload never cuts a
    call short."""

    def __init__(self, desired: config.Desired, connectors: dict[str, Connector]) -> None:
        self.desired = desired
        self.connectors = connectors
        self._users = 0
        self._retired = False
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            self._users += 1

    def leave(self) -> None:
        with self._lock:
            self._users -= 1
            done = self._retired and self._users == 0
        if done:
            self._close()

    def retire(self) -> None:
        with self._lock:
            self._retired = True
            done = self._users == 0
        if done:
            self._close()

    def _close(self) -> None:
        for connector in self.connectors.values():
            connector.close()


class Daemon:
    """One daemon process. `run()` returns the exit code."""

    def __init__(
        self, config_path: Path, *, notifier: Notifier | None = None, standby: bool = True, listen: str | None = None,
    ) -> None:
        self.config_path = config_path
        self.standby = standby
        """On PostgreSQL, wait for a held writer lock; False: refuse at once, naming the holder."""
        self.listen = listen
        """Where the HTTP surface listens, instead of `daemon.listen`."""
        self.notifier = notifier or Notifier.from_env()
        self.stopping = threading.Event()
        self._requests: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
        self._swap = threading.Lock()
        """Guards taking the current generation against a reload swapping it."""
        self._watchdog_interval = watchdog_interval()
        beat = min(BEAT_EVERY, self._watchdog_interval / 4) if self._watchdog_interval else BEAT_EVERY
        self._beat_every = timedelta(seconds=beat)
        self.progress = Progress(stale_after=3 * beat)
        self.scheduler = Scheduler(on_skip=self._skipped)
        self.timed = TimedRuns(self.scheduler, self._timed_job)
        self._reconciling = threading.Lock()
        """One reconcile at a time: the schedule's, the timed ones and the board events' (they
        write the same pairs)."""
        self._again = threading.Event()
        """A timed run came due while a reconcile was running: reconcile again right after it."""
        self._collecting = threading.Lock()
        """One collection of counters at a time, for the same reason."""
        self.events = EventWork()
        self._last_ok: datetime | None = None
        """When the last reconcile that did its job finished."""
        self._reload_error: str | None = None
        self._table_seen: TableVersion | None = None
        """The postings table's version when the daemon last asked for a reload because of it."""
        self._ready = False
        self._why_next: str | None = None
        """What moved the next reconcile ahead of its turn (reload or webhook); None: the schedule."""
        self._fetched_by = "schedule"
        """What asked for the fetch whose commit went live last (a webhook, the schedule, SIGHUP)."""
        self._delivered_once = False
        self._lease = timedelta(seconds=30)
        """How soon a dead holder's writer lock frees (`daemon.lease`); set by `_start`."""
        self._took_over = False
        """This daemon stood by, then took the writer lock: its first reconcile runs at once."""
        # Set by `_start`, in this order.
        self._generation: Generation
        self._lock: WriterLock | None = None
        self.store: Store
        self.metrics: DaemonMetrics
        self.links: LinkKeeper
        self.courier: Courier
        self._watch: ConfigWatcher | None = None
        self._http: HttpSurface | None = None
        self._watchdog: Watchdog | None = None
        self._follower: Follower | None = None

    # ------------------------------------------------------------------------ lifecycle

    def run(self) -> int:
        previous = self._install_signal_handlers()
        code = 0
        try:
            if self._start():
                code = self._serve_until_stopped()
        finally:
            self._shutdown()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return code

    def _start(self) -> bool:
        """Start; False when stopped while standing by (nothing was started)."""
        collected = collect(self.config_path)
        if not self._writer_lock_or_standby(collected):
            return False
        self._follower = self._follow_branch(collected)
        desired = self._load()
        settings = desired.root.daemon
        token = settings.token.get_secret_value() if settings.token is not None else None
        listen = self.listen or settings.listen
        require_token_off_loopback(listen, token)
        self._lease = parse_duration(settings.lease)
        self._lock = self._lock or acquire_writer_lock(
            desired.state_url, wait=0, command="daemon", lease=self._lease.total_seconds())
        self.store = open_store(desired.state_url)
        if self._follower is not None:
            self._follower.record_to(self.store)
        self._generation = Generation(desired, build_connectors(desired.root.providers, stop=self.stopping))
        self.metrics = DaemonMetrics(self.store, posting_labels=desired.root.daemon.posting_labels,
                                     boards=desired.root.providers.names())
        self.metrics.pairs = desired.pairs()
        active_gauge(self.metrics.registry, active=True)
        if self._follower is not None:
            self.metrics.registry.register(SourceCollector(self._follower))
        self.links = LinkKeeper(self.store)
        self.courier = Courier(self.store, targets(desired))
        self._last_ok = self._last_success_on_record()
        self._http = HttpSurface(listen, self, token=token).start()
        if self._took_over:
            self._why_next = "takeover"
        self._book_jobs(desired, first_start=True)
        watch = ConfigWatch(self.config_path, desired.root)
        self._watch = ConfigWatcher(watch, self._config_changed, inotify_batches(watch.settle)).start()
        # Ready before the first job runs, so systemd hears READY=1 before any STATUS=.
        log.info("daemon_ready", postings=len(desired.postings), boards=desired.root.providers.names(),
                 listen=self._http.address, database=self.store.url)
        self.notifier.ready(status=f"loaded {len(desired.postings)} postings; first run starting")
        self._ready = True
        self.progress.beat()
        self.scheduler.start()
        if self._watchdog_interval:
            self._watchdog = Watchdog(self.notifier, self._watchdog_interval, self.progress.healthy)
            self._watchdog.start()
        if self._follower is not None:
            self._follower.start()
        return True

    def _writer_lock_or_standby(self, collected: Collected) -> bool:
        """On PostgreSQL, take the writer lock now, standing by while another daemon holds
        it; False when told to stop meanwhile. (On SQLite, and with a root file that does not
        read, the lock is taken later, where a refusal names the holder or the problem.)"""
        root, url = collected.root, collected.state_url
        if not self.standby or root is None or collected.problems or not url or not can_stand_by(url):
            return True
        self._lease = parse_duration(root.daemon.lease)
        settings = root.daemon
        token = settings.token.get_secret_value() if settings.token is not None else None
        watchdog: list[Watchdog] = []

        def serve(surface: StandbySurface) -> None:
            listen = self.listen or settings.listen
            require_token_off_loopback(listen, token)
            self._http = HttpSurface(listen, surface, token=token).start()
            if self._watchdog_interval:  # standing by is making progress: keep systemd's watchdog fed
                watchdog.append(Watchdog(self.notifier, self._watchdog_interval, lambda: True))
                watchdog[0].start()
            self.notifier.ready(status=surface.readiness()[0].detail)
            self._took_over = True  # if the wait ends with the lock

        def leave() -> None:
            for dog in watchdog:
                dog.stop()
            if self._http is not None:
                self._http.close()
                self._http = None

        self._lock = wait_for_lock(url, self._lease, self._requests, on_standby=serve, on_leave=leave)
        return self._lock is not None

    def _follow_branch(self, collected: Collected) -> Follower | None:
        """With `source:`, the follower of the git branch, its tip fetched and live (or the
        last good commit, when the tip is refused or cannot be fetched). The writer lock is
        taken first: the checkout is the daemon's alone."""
        follower = Follower.for_root(collected, on_live=self._commit_live)
        if follower is None:
            return None  # not following git, or the root file is wrong: `_load` says how
        self._lock = self._lock or acquire_writer_lock(collected.state_url, wait=0, command="daemon")
        live = follower.prepare()
        log.info("source_following", branch=follower.source.branch, commit=live.short)
        return follower

    def _serve_until_stopped(self) -> int:
        """Serve until asked to stop (0) or until the writer lock is lost (1)."""
        while True:
            # A signal handler runs here and queues its request. The wait still ends now and
            # then: a signal caught in the instant before the wait began would leave its
            # handler pending until the next request (the heartbeat wakes the daemon as often).
            try:
                request, reason = self._requests.get(timeout=BEAT_EVERY)
            except queue.Empty:
                continue
            if request == "stop":
                log.info("daemon_stopping", reason=reason)
                return 0
            if request == "lost":
                return 1
            self._reload(reason)

    def _shutdown(self) -> None:
        """Stop booking runs, let the running ones finish their call and record, release."""
        if self._ready:
            self.notifier.stopping(status="stopping: finishing the call in flight")
        self.stopping.set()
        if self._follower is not None:
            self._follower.stop()
        if self._watchdog is not None:
            self._watchdog.stop()
        if self._watch is not None:
            self._watch.stop()
        self.scheduler.shutdown()
        if self._http is not None:
            self._http.close()
        if hasattr(self, "_generation"):
            self._generation.retire()
        if hasattr(self, "store"):
            self.store.close()
        if self._lock is not None:
            self._lock.release()
            log.info("daemon_stopped")

    @contextmanager
    def _current(self) -> Iterator[Generation]:
        """The current generation, held until the block ends."""
        with self._swap:
            generation = self._generation
            generation.enter()
        try:
            yield generation
        finally:
            generation.leave()

    def _install_signal_handlers(self) -> dict[int, signal.Handlers | Callable[..., object] | int | None]:
        def stop(signum: int, frame: FrameType | None) -> None:
            self._requests.put(("stop", signal.Signals(signum).name))

        def reload(signum: int, frame: FrameType | None) -> None:
            self._requests.put(("reload", "SIGHUP"))

        handlers = {signal.SIGTERM: stop, signal.SIGINT: stop, signal.SIGHUP: reload}
        return {signum: signal.signal(signum, handler) for signum, handler in handlers.items()}

    # ------------------------------------------------------------------------ config

    def _load(self) -> config.Desired:
        try:
            return config.load(self.config_path, start_cache=True)
        except ConfigError as exc:
            log.error("config_invalid", path=str(self.config_path), problems=[str(p) for p in exc.problems])
            raise

    def _reload(self, reason: str) -> None:
        self.notifier.reloading()
        log.info("config_reloading", reason=reason)
        current = self._generation.desired
        if reason == "SIGHUP" and self._follower is not None:
            self._follower.ask("SIGHUP")  # the host's config may make a refused commit good
        try:
            desired = self._load()
            self._refuse_restart_only_changes(current, desired)
            connectors = build_connectors(desired.root.providers, stop=self.stopping)
        except BoardsyncError as exc:
            self._follow(current)  # look again only after the next edit
            self._reload_refused(exc)
            return
        self._follow(desired)
        if self._follower is not None and desired.root.source is not None:
            self._follower.follow(desired.root.source)
        with self._swap:
            old, self._generation = self._generation, Generation(desired, connectors)
        old.retire()
        self._table_seen = None  # the new generation knows the version it read
        self.courier.targets = targets(desired)
        self.metrics.posting_labels = desired.root.daemon.posting_labels
        self.metrics.boards = tuple(desired.root.providers.names())
        self.metrics.pairs = desired.pairs()
        self._why_next = "webhook" if reason.startswith("commit") and self._fetched_by.startswith("webhook") else "reload"
        self._book_jobs(desired, first_start=False, previous=current)
        self._reload_error = None
        self.metrics.reloads.labels(result="applied").inc()
        log.info("config_reloaded", postings=len(desired.postings), digest=desired.digest[:12],
                 commit=desired.commit[:12] if desired.commit else None)
        self.notifier.ready(status=f"config reloaded: {len(desired.postings)} postings")

    def _refuse_restart_only_changes(self, current: config.Desired, desired: config.Desired) -> None:
        if desired.state_url != current.state_url:
            raise ConfigError("state: the daemon keeps the database it started with; restart it to change it")
        if (desired.root.source is None) != (current.root.source is None):
            raise ConfigError("source: the daemon keeps the postings source it started with (a git branch "
                              "or not); restart it to change that")
        if desired.root.daemon.listen != current.root.daemon.listen:
            log.warning("listen_change_needs_restart", listen=current.root.daemon.listen)

    def _reload_refused(self, exc: BoardsyncError) -> None:
        self._reload_error = str(exc).splitlines()[0]
        problems = [str(p) for p in exc.problems] if isinstance(exc, ConfigError) else [str(exc)]
        add_events(self.store, [events.config_refused(f"the config {self.config_path.name}", problems)],
                   datetime.now(UTC))
        self._notify_now()
        self.metrics.reloads.labels(result="refused").inc()
        if not isinstance(exc, ConfigError):  # ConfigError was logged with every problem by _load
            log.error("config_reload_failed", error=str(exc))
        log.warning("config_kept", reason="the new config failed; the last good one keeps running")
        self.notifier.ready(status=f"reload refused, last good config kept: {self._reload_error}")

    # ------------------------------------------------------------------------ jobs

    def _book_jobs(self, desired: config.Desired, *, first_start: bool, previous: config.Desired | None = None) -> None:
        """Book the periodic jobs. At start, each first turn follows from the last run on
        record (a restart does not run early); after a reload, a reconcile runs now."""
        schedule = desired.root.schedule
        if first_start or previous is None or previous.root.schedule != schedule:
            for kind, every, job in (
                ("reconcile", parse_duration(schedule.reconcile), self._reconcile_job),
                ("metrics", parse_duration(schedule.metrics), self._metrics_job),
            ):
                self.scheduler.every(kind, job, every, first=self._first_turn(kind, every))
        if first_start:
            now = datetime.now(UTC)
            self.scheduler.every("heartbeat", self.progress.beat, self._beat_every, first=now)
            self.scheduler.every("notify", self._notify_job, NOTIFY_IDLE, first=now)
            self.scheduler.every("lease", self._still_writer, timedelta(seconds=poll_interval(self._lease)), first=now)
        else:
            self.scheduler.move("reconcile")
        self.timed.book(desired.postings)

    def _first_turn(self, kind: str, every: timedelta) -> datetime:
        now = datetime.now(UTC)
        if self._took_over and kind == "reconcile":
            return now  # the daemon that stood down may have died mid-run: settle what it left
        last = self.store.last_runs(limit=1, kind=kind)
        if not last or last[0].started_at is None:
            return now
        return max(now, last[0].started_at + every)

    def _last_success_on_record(self) -> datetime | None:
        for run in self.store.last_runs(limit=50, kind="reconcile"):
            if run.outcome in SUCCESSFUL and run.finished_at is not None:
                return run.finished_at
        return None

    def _reconcile_job(self) -> None:
        if self._postings_table_moved():
            return  # the reload asked for runs a reconcile at once, with the rows as they are now
        with self._reconciling:
            self._again.clear()  # this run reads the boards after any moment already past
            trigger, self._why_next = self._why_next or "schedule", None
            self._run("reconcile", lambda g: reconcile(
                g.desired, self.store, g.connectors, trigger=trigger, stop=self.stopping))
        self._reconcile_again_if_asked()

    def _postings_table_moved(self) -> bool:
        """For postings kept in a database: whether the table changed since it was last
        looked at (one query of its row count and newest `updated_at`), in which case a reload
        is asked for. Files need no such look: inotify says when they change."""
        with self._current() as generation:
            read_at = generation.desired.table
        if read_at is None:
            return False
        try:
            now = read_at.current()
        except SourceUnreadable as exc:
            log.warning("postings_table_unreadable", error=str(exc))
            return False  # the run goes on with the rows last read
        if now == (self._table_seen or read_at):
            return False
        # Remembered, so a version whose rows fail validation is asked about once: the runs
        # after the refusal go on with the last good rows until the table changes again.
        self._table_seen = now
        log.info("postings_table_changed", rows=now.rows, newest=now.newest)
        self._requests.put(("reload", "the postings table changed"))
        return True

    def _timed_job(self, postings: tuple[str, ...], trigger: str) -> None:
        """A publish_at or close_at came: reconcile those postings now. A run already going
        may have read the boards before the moment, so another follows it instead of this
        one waiting on a worker thread."""
        if not self._reconciling.acquire(blocking=False):
            self._again.set()
            return
        try:
            self._run("reconcile", lambda g: reconcile(
                g.desired, self.store, g.connectors, trigger=trigger, stop=self.stopping,
                postings=[key for key in postings if key in {p.key for p in g.desired.postings}]))
        finally:
            self._reconciling.release()
        self._reconcile_again_if_asked()

    def _reconcile_again_if_asked(self) -> None:
        if self._again.is_set():
            self.scheduler.move("reconcile")

    def _metrics_job(self) -> None:
        with self._collecting:
            self._run("metrics", lambda g: collect_metrics(g.desired, self.store, g.connectors, trigger="schedule"))

    def _events_job(self) -> None:
        """The work board events booked: per board, a run of the postings whose jobs changed
        (or of the whole board), then its counters. The work is taken once the lock is held,
        so the events that come while another run goes are all this one's."""
        with self._reconciling:
            work = self.events.take()
            for board, asked in work.items():
                if asked.whole_board or asked.postings:
                    self._reconcile_board(board, None if asked.whole_board else sorted(asked.postings))
        for board in (board for board, asked in work.items() if asked.counters):
            with self._collecting:
                self._run("metrics", lambda g: collect_metrics(
                    g.desired, self.store, g.connectors, providers=[board], trigger=f"webhook {board}"))

    def _reconcile_board(self, board: str, keys: list[str] | None) -> None:
        """A run of `board` alone, for the postings `keys` (None: all of them)."""
        self._run("reconcile", lambda g: reconcile(
            g.desired, self.store, g.connectors, postings=keys, providers=[board], trigger=f"webhook {board}",
            stop=self.stopping), scoped=True)

    def _still_writer(self) -> bool:
        """Whether this daemon still holds the writer lock. When it has lost it (its database
        session ended: a network cut, the server restarted) another daemon may be writing
        already: stop at once — no new run, retries end — and exit 1."""
        if self._lock is None:
            return True  # not started: `_start` takes the lock before any job is booked
        try:
            self._lock.check()
        except WriterLockLost as exc:
            if not self.stopping.is_set():
                log.error("writer_lock_lost", error=str(exc))
                self.stopping.set()
                self._requests.put(("lost", str(exc)))
            return False
        return True

    def _run(self, kind: str, call: Callable[[Generation], RunResult], *, scoped: bool = False) -> None:
        if self.stopping.is_set() or not self._still_writer():
            return
        started = time.monotonic()
        try:
            with self._current() as generation:
                result = call(generation)
        except Exception as exc:  # one failed run must not end the daemon; the next turn retries
            seconds = time.monotonic() - started
            self.metrics.run_finished(kind, "failed", seconds)
            log.exception("run_failed", kind=kind, duration_s=round(seconds, 3), error=str(exc))
            self._status(f"{kind} run failed: {exc}")
            return
        finally:
            # A run leaves a few objects in reference cycles (SQLAlchemy's statements), and
            # they outlive the young generations. Python walks its oldest one only once what
            # waits there is a quarter of what lives there, so at thousands of postings they
            # piled up for thousands of runs: collected here instead (0.1 s at 10,000 postings).
            gc.collect()
            give_back()  # what the run read is freed now: the daemon's size stays where one run leaves it
        self._record(kind, result, scoped=scoped)
        self._notify_now()  # what the run wrote to the outbox goes out now, not in a minute

    def _record(self, kind: str, result: RunResult, *, scoped: bool = False) -> None:
        # The run logged its own summary line (`run_finished`); here it goes to systemd.
        self.metrics.run_finished(kind, result.outcome, result.duration)
        # A run of part of the boards says nothing of the rest: readiness waits for a whole one.
        if kind == "reconcile" and result.outcome in SUCCESSFUL and not scoped:
            self._last_ok = result.finished_at
        self._status(result.summary())

    def _notify_now(self) -> None:
        """Bring the notification job's next turn to now, unless the daemon is stopping: the
        scheduler's shutdown holds the job store while it waits for the running jobs, so a job
        that moved one then would wait for the shutdown, and the shutdown for it."""
        if not self.stopping.is_set():
            self.scheduler.move("notify")

    def _notify_job(self) -> None:
        """Deliver what the outbox owes, then look again when the next delivery falls due."""
        if self.stopping.is_set():
            return
        try:
            # The first pass tries everything owed, whatever its backoff: what a process that
            # died left undelivered goes out as soon as the daemon is back.
            self.courier.deliver(now_or_never=not self._delivered_once)
            self._delivered_once = True
            due = self.courier.next_due()
        except Exception as exc:  # a database hiccup must not end the job: the next turn retries
            log.exception("notify_failed", error=str(exc))
            due = None
        now = datetime.now(UTC)
        if not self.stopping.is_set():
            self.scheduler.move("notify", min(max(due, now), now + NOTIFY_IDLE) if due is not None else now + NOTIFY_IDLE)

    def _commit_live(self, checkout: Checkout) -> None:
        if self._follower is not None:
            self._fetched_by = self._follower.live_trigger
        self._requests.put(("reload", f"commit {checkout.short} is live"))

    def _config_changed(self) -> None:
        self._requests.put(("reload", "config files changed"))

    def _follow(self, desired: config.Desired) -> None:
        if self._watch is not None:
            self._watch.follow(desired.root)

    def _skipped(self, job: str) -> None:
        self.metrics.skipped.labels(job=job).inc()

    def _status(self, text: str) -> None:
        self.notifier.status(redact(text))

    # ------------------------------------------------------------------------ HTTP surface

    def liveness(self) -> Sequence[Check]:
        age = self.progress.age()
        return [
            Check("scheduler", self.scheduler.running and self.progress.healthy(),
                  f"last job {age:.1f}s ago"),
        ]

    def readiness(self) -> Sequence[Check]:
        checks = [self._config_check(), self._database_check(), self._reconcile_check()]
        if self._follower is not None:
            # A refused commit or a failing fetch leaves the last good commit running: ready.
            checks.append(Check("source", self._follower.live() is not None, self._follower.detail()))
        return checks

    def _config_check(self) -> Check:
        detail = f"last reload refused: {self._reload_error}" if self._reload_error else ""
        return Check("config", True, detail)

    def _database_check(self) -> Check:
        try:
            found = migrations.standing(self.store.engine, self.store.url)
        except Exception as exc:  # any failure to read it means not ready
            return Check("database", False, f"unreachable: {exc}")
        if found.revision != migrations.head() or not found.known:
            return Check("database", False, f"{found.describe()}, expected revision {migrations.head()}")
        return Check("database", True)

    def _reconcile_check(self) -> Check:
        every = parse_duration(self._generation.desired.root.schedule.reconcile)
        ok_at = self._last_ok
        if ok_at is None:
            return Check("reconcile", False, "no successful reconcile yet")
        age = datetime.now(UTC) - ok_at
        fresh = age < 2 * every + timedelta(minutes=1)
        return Check("reconcile", fresh, f"last success {age.total_seconds():.0f}s ago")

    def board_health(self) -> dict[str, dict[str, int]]:
        return self.metrics.board_health()

    def metrics_page(self, accept: str | None) -> tuple[bytes, str]:
        return self.metrics.render(accept)

    def snapshot(self) -> dict[str, Any]:
        return snapshot.take(self.store, datetime.now(UTC))

    def dashboard_page(self, since: timedelta, since_text: str) -> str:
        with self._current() as generation:
            page = dashboard.gather(generation.desired, self.store, since=since, since_text=since_text,
                                    now=datetime.now(UTC))
        return dashboard.render(page)

    def status_document(self) -> str:
        with self._current() as generation:
            return reads.status_document(generation.desired, self.store, datetime.now(UTC))

    def drift_document(self, open_only: bool) -> str:
        return reads.drift_document(self.store, open_only=open_only)

    def visits_document(self, since: timedelta) -> str:
        return reads.visits_document(self.store, datetime.now(UTC) - since)

    def webhook_secret(self) -> bytes | None:
        if self._follower is None:
            return None
        secret = self._generation.desired.root.daemon.webhook_secret
        return secret.get_secret_value().encode() if secret is not None else None

    def fetch_asked(self, trigger: str) -> bool:
        return self._follower is not None and self._follower.ask(trigger)

    def events_token(self) -> bytes | None:
        token = self._generation.desired.root.daemon.events_token
        return token.get_secret_value().encode() if token is not None else None

    def event_reader(self, board: str) -> Callable[[Mapping[str, Any]], BoardEvent] | None:
        connector = self._generation.connectors.get(board)
        return connector.read_event if connector is not None and connector.SUPPORTS_EVENTS else None

    def board_event(self, board: str, event: BoardEvent) -> Booked:
        """Book the work `event` asks for (see `boardsync.daemon.events`)."""
        log.info("board_event", board=board, name=event.name, job=event.remote_id)
        if self.stopping.is_set():
            return "ignored"
        book = self._ask(board, event)
        if book is None:
            return "ignored"
        if book:
            self.scheduler.once("events", self._events_job, max_instances=3)
        return "booked" if book else "already booked"

    def _ask(self, board: str, event: BoardEvent) -> bool | None:
        """Add `event`'s work to what is booked: whether a run must be booked for it, or None
        when there is nothing to do."""
        if event.kind == "job" and event.remote_id is not None:
            key = self.store.posting_of(board, event.remote_id)
            if key is None:
                log.info("board_event_ignored", board=board, name=event.name, job=event.remote_id,
                         reason="no posting is bound to this job")
                return None
            return self.events.ask_posting(board, key)
        if event.kind in ("job", "board"):
            return self.events.ask_board(board)
        if event.kind == "applicants":
            return self.events.ask_counters(board)
        log.info("board_event_ignored", board=board, name=event.name, reason="nothing boardsync keeps")
        return None

    def fresh_link(self, posting_key: str) -> str:
        """The posting's signed link, fetched now unless the stored one has time left."""
        try:
            with self._current() as generation:
                return self.links.fresh_url(generation.desired, generation.connectors, posting_key)
        except ProviderError:
            self._notify_now()  # a link that could not be fetched is told now (link_failing)
            raise


def run_daemon(config_path: Path, *, standby: bool = True, listen: str | None = None) -> int:
    """The body of `boardsync daemon`: run until SIGTERM or SIGINT, then exit 0."""
    one_heap()  # before any thread starts: a thread that allocates first would get a heap of its own
    return Daemon(config_path, standby=standby, listen=listen).run()
