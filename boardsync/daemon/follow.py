"""The daemon following a git branch: fetch, validate, switch, and say so.

    fetch      every `source.every`, and when asked (the push webhook, SIGHUP): asks that
               come while a fetch waits are that one fetch; one that comes while a fetch
               runs books one more after it, so no push is missed and a burst costs two
               fetches at most
    validate   the new commit's postings are loaded with the root file, exactly as every
               command loads them (`config.collect` on the commit's work tree)
    switch     a valid commit becomes `live` and the daemon reloads onto it; a commit that
               fails is refused with every problem logged, and the live one keeps running

What runs and what was refused is kept here (for ``/readyz`` and ``/metrics``) and in the
state database as runs of kind ``source`` (for ``boardsync status``, another process).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from boardsync.config.gitsource import Checkout, GitCheckout, GitError, checkout_folder
from boardsync.config.loader import Collected, collect
from boardsync.config.model import GitSource, parse_duration
from boardsync.config.yamlfile import display_path
from boardsync.errors import BoardsyncError, Problem
from boardsync.log import get_logger
from boardsync.reconcile import events
from boardsync.state.store import Store

log = get_logger(__name__)

FetchResult = Literal["live", "unchanged", "refused", "failed"]
FETCH_RESULTS: tuple[FetchResult, ...] = ("live", "unchanged", "refused", "failed")
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Refusal:
    """A commit that failed validation, and every problem it had."""

    commit: str
    problems: tuple[str, ...]
    at: datetime

    @property
    def reason(self) -> str:
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        return f"{self.problems[0]}{more}" if self.problems else "invalid"


class FetchRequests:
    """Asks for a fetch, coalesced: any number of asks before the fetcher takes them is one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wanted = threading.Event()
        self._pending: str | None = None

    def ask(self, trigger: str) -> bool:
        """Ask for a fetch; False when one is already waiting (this ask is part of it)."""
        with self._lock:
            if self._pending is not None:
                return False
            self._pending = trigger
            self._wanted.set()
            return True

    def take(self, timeout: float | None) -> str | None:
        """Wait up to `timeout` seconds for an ask; its trigger, or None when none came."""
        self._wanted.wait(timeout)
        with self._lock:
            trigger, self._pending = self._pending, None
            self._wanted.clear()
            return trigger

    def wake(self) -> None:
        """End a wait without asking for anything (on stop)."""
        self._wanted.set()


class Follower:
    """Follows `source`'s branch for the root file at `root_path`. `on_live` is called with
    each commit put live after the first, from the follower's thread."""

    def __init__(
        self, root_path: Path, source: GitSource, folder: Path, *, on_live: Callable[[Checkout], None],
        env: dict[str, str] | None = None, clock: Clock = lambda: datetime.now(UTC), timeout: float | None = None,
    ) -> None:
        self.root_path = root_path
        self.env = env
        self.clock = clock
        self.git = GitCheckout(folder, source, root_path, **({"timeout": timeout} if timeout else {}))
        self.requests = FetchRequests()
        self.fetches = {result: 0 for result in FETCH_RESULTS}
        self.refused: Refusal | None = None
        self.live_trigger = "schedule"
        """What asked for the fetch whose commit went live last ("webhook …", "schedule", "SIGHUP")."""
        self.last_error: str | None = None
        self.store: Store | None = None
        self._unrecorded: list[tuple[str, str, str, datetime, str | None]] = []
        self._on_live = on_live
        self._fetching = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def for_root(cls, collected: Collected, *, on_live: Callable[[Checkout], None]) -> Follower | None:
        """A follower when the root file says `source:`, else None."""
        root = collected.root
        if root is None or root.source is None:
            return None
        folder = checkout_folder(root, collected.path, collected.state_url)
        return cls(collected.path, root.source, folder, on_live=on_live)

    @property
    def source(self) -> GitSource:
        return self.git.source

    def live(self) -> Checkout | None:
        return self.git.live()

    def prepare(self) -> Checkout:
        """At start: fetch, and put the tip live if it is valid; the commit to run. With no
        commit that ever validated there is nothing to run: a `BoardsyncError` saying why."""
        self.fetch("start", first=True)
        live = self.live()
        if live is not None:
            return live
        if self.refused is not None:
            raise BoardsyncError(f"source: commit {self.refused.commit[:12]} of {self.source.branch} is refused "
                                 f"and no earlier commit ran: {self.refused.reason}")
        raise BoardsyncError(f"source: cannot fetch {self.source.branch}: {self.last_error}")

    # ------------------------------------------------------------------------ the thread

    def start(self) -> Follower:
        self._thread = threading.Thread(target=self._run, name="git-follow", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.requests.wake()
        if self._thread is not None:
            self._thread.join(timeout)

    def follow(self, source: GitSource) -> None:
        """Settings of a reloaded root file: a new URL, branch or interval, from the next fetch."""
        self.git.source = source

    def ask(self, trigger: str) -> bool:
        """Ask for a fetch now (the webhook, SIGHUP); False when one is already waiting."""
        booked = self.requests.ask(trigger)
        log.info("source_fetch_asked", trigger=trigger, booked=booked)
        return booked

    def _run(self) -> None:
        while not self._stop.is_set():
            self.step(parse_duration(self.source.every).total_seconds())

    def step(self, wait: float | None) -> FetchResult | None:
        """Wait up to `wait` seconds for an ask, then fetch (for the ask, or as scheduled);
        None when stopped meanwhile."""
        trigger = self.requests.take(wait)
        if self._stop.is_set():
            return None
        return self.fetch(trigger or "schedule")

    # ------------------------------------------------------------------------ one fetch

    def fetch(self, trigger: str, *, first: bool = False) -> FetchResult:
        """Fetch the branch, validate a new tip and put it live, or refuse it. One at a time."""
        with self._fetching:
            started = self.clock()
            try:
                result = self._fetch(trigger, started, first=first)
            except Exception as exc:  # the follower's thread must outlive any one fetch
                log.exception("source_fetch_crashed", trigger=trigger, error=str(exc))
                self.last_error = str(exc)
                result = "failed"
            self.fetches[result] += 1
            return result

    def _fetch(self, trigger: str, started: datetime, *, first: bool) -> FetchResult:
        try:
            tip = self.git.fetch()
        except GitError as exc:
            self.last_error = str(exc)
            log.error("source_fetch_failed", branch=self.source.branch, error=str(exc), trigger=trigger)
            return "failed"
        self.last_error = None
        live = self.live()
        if live is not None and live.commit == tip:
            return "unchanged"
        if self.refused is not None and self.refused.commit == tip and trigger != "SIGHUP":
            return "unchanged"  # refused already; a reload (the host's config changed) looks again
        return self._try(tip, trigger, started, first=first)

    def _try(self, commit: str, trigger: str, started: datetime, *, first: bool) -> FetchResult:
        try:
            candidate = self.git.check_out(commit)
        except GitError as exc:
            self.last_error = str(exc)
            log.error("source_checkout_failed", commit=commit[:12], error=str(exc))
            return "failed"
        problems = self._problems(candidate)
        if problems:
            self._refuse(candidate, problems, trigger, started)
            return "refused"
        self.git.make_live(candidate)
        self.refused = None
        self.live_trigger = trigger
        self._record(candidate.commit, "live", trigger, started)
        log.info("source_commit_live", commit=candidate.short, branch=self.source.branch, trigger=trigger)
        if not first:
            self._on_live(candidate)
        return "live"

    def _problems(self, candidate: Checkout) -> list[Problem]:
        try:
            collected = collect(self.root_path, env=self.env, checkout=candidate)
        except BoardsyncError as exc:
            return [Problem(str(self.root_path), "", str(exc))]
        return collected.problems

    def _refuse(self, candidate: Checkout, problems: list[Problem], trigger: str, started: datetime) -> None:
        live = self.live()
        self.refused = Refusal(candidate.commit, tuple(_in_repository(p, candidate) for p in problems), self.clock())
        log.error("source_commit_refused", commit=candidate.short, branch=self.source.branch,
                  problems=list(self.refused.problems),
                  live=live.short if live is not None else None)
        self.git.drop(candidate)
        self._record(candidate.commit, "refused", trigger, started, error="\n".join(self.refused.problems))

    def _record(self, commit: str, outcome: str, trigger: str, started: datetime, error: str | None = None) -> None:
        if self.store is None:
            self._unrecorded.append((commit, outcome, trigger, started, error))
            return
        told = None
        if outcome == "refused":
            told = events.config_refused(f"commit {commit[:12]} of branch {self.source.branch}",
                                         (error or "").splitlines())
        self.store.record_source_commit(commit, outcome, trigger=trigger, started=started,
                                        finished=self.clock(), error=error, told=told)

    def record_to(self, store: Store) -> None:
        """Record from now on in `store`, with what happened before it was open."""
        self.store = store
        pending, self._unrecorded = self._unrecorded, []
        for commit, outcome, trigger, started, error in pending:
            self._record(commit, outcome, trigger, started, error)
        if self.refused is None:
            latest = store.source_commits()
            if latest.refused is not None and latest.refused.config_commit:
                # A refusal from before a restart still stands until a newer commit goes live.
                self.refused = Refusal(latest.refused.config_commit, tuple((latest.refused.error or "").splitlines()),
                                       latest.refused.finished_at or self.clock())

    # ------------------------------------------------------------------------ what it shows

    def detail(self) -> str:
        """The live commit, the refused one and a failing fetch, in one line for ``/readyz``."""
        live = self.live()
        parts = [f"live {live.short}" if live else "no live commit"]
        if self.refused is not None:
            parts.append(f"refused {self.refused.commit[:12]}: {self.refused.reason}")
        if self.last_error is not None:
            parts.append(f"last fetch failed: {self.last_error}")
        return "; ".join(parts)


def _in_repository(problem: Problem, candidate: Checkout) -> str:
    """The problem with its file named as in the repository (``postings/x.yaml:3:7``), not
    by where the commit is checked out."""
    text = str(problem)
    for folder in {display_path(candidate.folder), str(candidate.folder)}:
        text = text.replace(f"{folder}/", "")
    return text


class SourceCollector(Collector):
    """``boardsync_source_commit_info{commit,state}`` (1 for the live commit and for the
    refused one) and ``boardsync_source_fetches_total{result}``."""

    def __init__(self, follower: Follower) -> None:
        self.follower = follower

    def collect(self) -> Iterable[Metric]:
        info = GaugeMetricFamily("boardsync_source_commit_info",
                                 "The followed branch's commit that runs (state=live) and the one refused.",
                                 labels=["commit", "state"])
        live = self.follower.live()
        if live is not None:
            info.add_metric([live.commit, "live"], 1)
        if self.follower.refused is not None:
            info.add_metric([self.follower.refused.commit, "refused"], 1)
        fetches = CounterMetricFamily("boardsync_source_fetches", "Fetches of the followed branch, by result.",
                                      labels=["result"])
        for result in FETCH_RESULTS:
            fetches.add_metric([result], self.follower.fetches[result])
        return [info, fetches]

    def describe(self) -> Iterable[Metric]:
        return []
