"""What happened, read back from the state database alone (no board is called):

- `runs_since`: each run since a moment, with the number of board calls it made per board
  (`boardsync history`);
- `run_calls`: every board call of one run (`boardsync history RUN`);
- `posting_story`: one posting's story on every board: the changes carried out (with the
  fields an update sent and the commit it came from), drift opened and how it ended, what
  blocks it now, and visits and applicants by day (`boardsync log KEY`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, func, select

from boardsync.state.db import IN_LIST
from boardsync.state.store import RunRow, Store, run_row
from boardsync.state.tables import ApplicantSample, AuditEntry, Binding, BoardCall, CounterSample, Drift, Run, VisitSample

NOT_CHANGES = frozenset({"failed", "blocked", "drift", "removed", "errors", "skipped", "given_up", "pending", "samples"})
"""Keys of a run's counts that are not changes carried out."""
WHOLE_POSTING = "*"
"""The channel under which a board's total applicants for a posting are kept."""


@dataclass(frozen=True)
class RunHistory:
    """One run as `boardsync history` lists it."""

    run: RunRow
    calls: dict[str, int]
    """provider → requests sent to it (retries and reads included)."""

    @property
    def changes(self) -> dict[str, int]:
        """Changes carried out, by kind (create, update, close, …); none of the other counts."""
        return {k: v for k, v in self.run.counts.items() if k not in NOT_CHANGES and v}

    @property
    def errors(self) -> int:
        return self.run.counts.get("errors", 0) + self.run.counts.get("failed", 0)

    @property
    def duration(self) -> float | None:
        r = self.run
        return None if r.started_at is None or r.finished_at is None else (r.finished_at - r.started_at).total_seconds()


@dataclass(frozen=True)
class CallRow:
    """One request of a run, as `history RUN` shows it: never a body, secrets masked."""

    seq: int
    provider: str
    method: str
    path: str
    query: str
    status: int | None
    duration_ms: int


@dataclass(frozen=True)
class StoryEvent:
    """One thing that happened to a posting on a board."""

    at: datetime | None
    provider: str
    what: str
    """created, updated, closed, … (an audit action), failed, drift_opened, drift_ended, blocked."""
    detail: str
    run_id: int | None = None
    commit: str | None = None


@dataclass(frozen=True)
class DayCount:
    """Visits and applicants a board counted for a posting on one day (UTC)."""

    provider: str
    day: date
    visits: int
    applicants: int


@dataclass(frozen=True)
class PostingStory:
    posting: str
    events: list[StoryEvent]
    days: list[DayCount]
    known: bool
    """Whether the database knows the posting at all."""


def runs_since(store: Store, since: datetime) -> list[RunHistory]:
    """Every run started at or after `since`, newest first, with its board calls counted."""
    with store.session() as session:
        runs = [run_row(r) for r in session.exec(
            select(Run).where(col(Run.started_at) >= since).order_by(col(Run.id).desc())
        ).all()]
        counts = _call_counts(session, [r.id for r in runs])
    return [RunHistory(r, counts.get(r.id, {})) for r in runs]


def run_by_id(store: Store, run_id: int) -> RunHistory | None:
    with store.session() as session:
        row = session.get(Run, run_id)
        if row is None:
            return None
        return RunHistory(run_row(row), _call_counts(session, [run_id]).get(run_id, {}))


def run_calls(store: Store, run_id: int) -> list[CallRow]:
    """The run's requests in the order they were sent."""
    query = select(BoardCall).where(BoardCall.run_id == run_id).order_by(col(BoardCall.seq))
    with store.session() as session:
        return [CallRow(c.seq, c.provider, c.method, c.path, c.query, c.status, c.duration_ms)
                for c in session.exec(query).all()]


def _call_counts(session: Session, run_ids: list[int]) -> dict[int, dict[str, int]]:
    found: dict[int, dict[str, int]] = defaultdict(dict)
    for start in range(0, len(run_ids), IN_LIST):  # a year of runs every few minutes passes the limits
        rows = session.exec(
            select(BoardCall.run_id, BoardCall.provider, func.count())
            .where(col(BoardCall.run_id).in_(run_ids[start : start + IN_LIST]))
            .group_by(col(BoardCall.run_id), col(BoardCall.provider))
        ).all()
        for run_id, provider, n in rows:
            found[run_id][provider] = n
    return found


# ------------------------------------------------------------------------------ a posting


def posting_story(store: Store, key: str) -> PostingStory:
    """Everything the database holds of posting `key`, oldest first."""
    with store.session() as session:
        audits = session.exec(select(AuditEntry).where(AuditEntry.posting_key == key)).all()
        commits = _commits(session, {a.run_id for a in audits if a.run_id is not None})
        drift = session.exec(select(Drift).where(Drift.posting_key == key)).all()
        bindings = session.exec(select(Binding).where(Binding.posting_key == key)).all()
        days = _days(session, key)
    events = [_audit_event(a, commits) for a in audits]
    events += [e for d in drift for e in _drift_events(d)]
    events += [StoryEvent(b.updated_at, b.provider, "blocked", b.blocked_reason)
               for b in bindings if b.blocked_reason]
    events.sort(key=lambda e: (e.at is None, e.at or datetime.min, e.provider))
    return PostingStory(key, events, days, known=bool(audits or drift or bindings or days))


def _commits(session: Session, run_ids: set[int]) -> dict[int, str | None]:
    if not run_ids:
        return {}
    rows = session.exec(select(Run.id, Run.config_commit).where(col(Run.id).in_(list(run_ids)))).all()
    return {run_id: commit for run_id, commit in rows if run_id is not None}


def _audit_event(a: AuditEntry, commits: dict[int, str | None]) -> StoryEvent:
    what = _PAST.get(a.action, a.action) if a.ok else f"{a.action} failed"
    parts = [a.message or ""]
    if not a.ok and a.http_status:
        parts.insert(0, f"HTTP {a.http_status}")
    detail = ": ".join(p for p in parts if p)
    return StoryEvent(a.at, a.provider, what, detail, a.run_id, commits.get(a.run_id) if a.run_id else None)


_PAST = {
    "create": "created", "repost": "reposted", "update": "updated", "publish": "published", "pause": "paused",
    "resume": "resumed", "close": "closed", "unpublish": "back to draft", "adopt": "adopted", "forget": "forgotten",
    "rename": "renamed", "ensure_source": "source made", "refresh_link": "link refreshed",
}


def _drift_events(d: Drift) -> list[StoryEvent]:
    opened = StoryEvent(d.first_seen, d.provider, "drift_opened",
                        f"{d.field}: the board shows {_short(d.observed)}, the source asks {_short(d.desired)} "
                        f"({d.disposition})")
    if d.resolved_at is None:
        return [opened]
    return [opened, StoryEvent(d.resolved_at, d.provider, "drift_ended", f"{d.field}: {d.resolution}")]


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _days(session: Session, key: str) -> list[DayCount]:
    """Per board and day: the growth of the visits (all channels) and applicants (the whole
    posting's count) that day, from the cumulative samples."""
    visits = _daily(session, VisitSample, "visits", key, None)
    applicants = _daily(session, ApplicantSample, "applicants", key, WHOLE_POSTING)
    return [
        DayCount(provider, day, visits.get((provider, day), 0), applicants.get((provider, day), 0))
        for provider, day in sorted(set(visits) | set(applicants))
    ]


def _daily(
    session: Session, table: type[CounterSample], column: str, key: str, channel: str | None
) -> dict[tuple[str, date], int]:
    """(provider, day) → how much the counter grew that day, summed over channels. The first
    sample of a series counts from zero."""
    query = select(table).where(table.posting_key == key).order_by(col(table.id))
    if channel is not None:
        query = query.where(table.channel == channel)
    last: dict[tuple[str, str], int] = {}
    grown: dict[tuple[str, date], int] = defaultdict(int)
    for sample in session.exec(query).all():
        if sample.observed_at is None:
            continue
        series = (sample.provider, sample.channel)
        value: int = getattr(sample, column)
        grown[(sample.provider, sample.observed_at.date())] += value - last.get(series, 0)
        last[series] = value
    return dict(grown)
