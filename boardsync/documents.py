"""What the reading commands print for programs: JSON (`--json`) and CSV (`visits --csv`).

Each shape is documented in the README and only ever gains fields; nothing here depends on
the terminal, so a pipe and a terminal get the same bytes.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only the types: `validate` loads neither the run nor the state database
    from boardsync.config.validate import Report
    from boardsync.reconcile.adoption import Adopted, Forgotten, Unmanaged
    from boardsync.reconcile.importing import Imported
    from boardsync.reconcile.links import LinkResult
    from boardsync.reconcile.model import RunResult
    from boardsync.reconcile.outbox import Pending
    from boardsync.reconcile.sources import SourceRow
    from boardsync.state import Backoff, BoardWait, DriftRow, StatusRow, VisitRow
    from boardsync.state.history import CallRow, PostingStory, RunHistory
    from boardsync.state.migrations import Migration
    from boardsync.state.store import SourceCommits


def status_json(rows: Sequence[StatusRow], waits: Sequence[BoardWait] = (), source: SourceCommits | None = None) -> str:
    """Every row as the table has it, with its backoff's end (`quarantine_until`), the wait
    its board asked for that still holds (`board_wait_until`, `board_wait_reason`) and, for
    postings that follow a git branch, the commit live and the one refused (`commit`,
    `refused_commit`, `refused_reason`)."""
    held = {w.provider: w for w in waits}
    live = source.live if source is not None else None
    refused = source.refused if source is not None else None
    commits = {
        "commit": live.config_commit if live is not None else None,
        "refused_commit": refused.config_commit if refused is not None else None,
        "refused_reason": refused.error if refused is not None else None,
    }
    return _dumps([
        {**asdict(r), "board_wait_until": _wait_of(held, r.provider, "until"),
         "board_wait_reason": _wait_of(held, r.provider, "reason"), **commits}
        for r in rows
    ])


def _wait_of(held: dict[str, BoardWait], provider: str, what: str) -> Any:
    wait = held.get(provider)
    return None if wait is None else getattr(wait, what)


def drift_json(rows: Sequence[DriftRow]) -> str:
    return _dumps([{**asdict(r), "open": r.open} for r in rows])


def visits_rows(rows: Sequence[VisitRow]) -> list[tuple[Any, ...]]:
    """(posting, board, channel, visits, change, applicants, change) per row; the counters of a
    posting as a whole show as the channel "(all)"."""
    from boardsync.state.history import WHOLE_POSTING

    return [
        (r.posting, r.provider, "(all)" if r.channel == WHOLE_POSTING else r.channel, r.visits, r.visits_change,
         r.applicants, r.applicants_change)
        for r in rows
    ]


VISIT_KEYS = ("posting", "provider", "channel", "visits", "visits_change", "applicants", "applicants_change")


def visits_csv(rows: Sequence[VisitRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["posting", "board", *VISIT_KEYS[2:]])
    for row in visits_rows(rows):
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue()


def visits_json(rows: Sequence[VisitRow]) -> str:
    """The CSV's columns, one object per row; counters never read are null."""
    return _dumps([dict(zip(VISIT_KEYS, row, strict=True)) for row in visits_rows(rows)])


def links_json(results: Sequence[LinkResult]) -> str:
    return _dumps([asdict(r) for r in results])


def sources_json(rows: Sequence[SourceRow]) -> str:
    return _dumps([asdict(r) for r in rows])


def unmanaged_json(found: Unmanaged) -> str:
    """The jobs no posting owns, and the boards not read: ``{"jobs": [...], "errors": [...]}``."""
    return _dumps({"jobs": [asdict(j) for j in found.jobs], "errors": [asdict(e) for e in found.errors]})


def imported_json(done: Imported) -> str:
    """``{"dry_run", "written": [{key, path, jobs: [...]}], "ambiguous": [{job..., reason}],
    "skipped": [{job..., reason}]}``; each job ``{provider, remote_id, title, status, place}``."""
    def left(items: Sequence[Any]) -> list[dict[str, Any]]:
        return [{**asdict(i.job), "reason": i.reason} for i in items]

    return _dumps({
        "dry_run": done.dry_run,
        "written": [{"key": w.key, "path": w.path, "jobs": [asdict(j) for j in w.jobs]} for w in done.written],
        "ambiguous": left(done.ambiguous),
        "skipped": left(done.skipped),
    })


def adopted_json(done: Adopted) -> str:
    return _dumps(asdict(done))


def forgotten_json(done: Sequence[Forgotten]) -> str:
    return _dumps([asdict(f) for f in done])


def retry_json(lifted: Sequence[Backoff]) -> str:
    return _dumps([asdict(b) for b in lifted])


def validate_json(report: Report) -> str:
    """The validation report as one object: `valid`, every problem and warning, and what was found."""
    return _dumps({
        "valid": report.ok,
        "problems": [asdict(p) for p in report.problems],
        "warnings": [asdict(w) for w in report.warnings],
        "postings": len(report.postings),
        "boards": list(report.boards),
        "channels": report.channels,
        "summary": report.lines()[-1],
    })


def migrate_json(url: str, migration: Migration) -> str:
    return _dumps({
        "database": url,
        "revision": migration.after,
        "before": None if migration.created else migration.before.revision,
        "before_schema_version": migration.before.legacy,
        "created": migration.created,
        "steps": [{"from": s.before, "to": s.after, "about": s.about} for s in migration.steps],
        "up_to_date": True,
    })


RUN_FORMAT = "boardsync.run"
RUN_FORMAT_VERSION = 1


def run_json(result: RunResult, *, with_plan: bool = False) -> str:
    """A run's result as one document (`reconcile --json`); the plan only when asked (a dry run)."""
    plan = result.plan
    document: dict[str, Any] = {
        "format": RUN_FORMAT,
        "version": RUN_FORMAT_VERSION,
        "run_id": result.run_id,
        "kind": result.kind,
        "trigger": result.trigger,
        "outcome": result.outcome,
        "in_sync": result.outcome == "converged",
        "not_in_sync": list(result.not_in_sync),
        "refused": result.error if result.outcome == "refused" else None,
        "error": result.error if result.outcome != "refused" else None,
        "started_at": result.started_at,
        "finished_at": result.finished_at,
        "duration_seconds": round(result.duration, 3),
        "counts": dict(result.counts),
        "boards": dict(result.boards),
        "errors": [asdict(e) for e in result.errors],
        "blocked": [asdict(b) for b in result.blocked],
        "drift_left": [asdict(d) for d in plan.drift if d.disposition != "correct"] if plan else [],
        "summary": result.summary(),
    }
    if with_plan:
        from boardsync.reconcile import render

        document["plan"] = json.loads(render.to_json(plan)) if plan is not None else None
    return _dumps(document)


def history_record(h: RunHistory) -> dict[str, Any]:
    """One run as `history --json` lists it."""
    r = h.run
    return {
        "id": r.id, "kind": r.kind, "trigger": r.trigger, "started_at": r.started_at, "finished_at": r.finished_at,
        "duration_s": None if h.duration is None else round(h.duration, 3), "outcome": r.outcome,
        "config_commit": r.config_commit, "changes": h.changes, "errors": h.errors, "error": r.error,
        "boards": r.boards, "calls": h.calls,
    }


def history_json(runs: Sequence[RunHistory]) -> str:
    return _dumps([history_record(h) for h in runs])


def run_calls_json(run: RunHistory, calls: Sequence[CallRow]) -> str:
    """`history RUN --json`: the run, and each request it sent (never a body)."""
    return _dumps({"run": history_record(run), "calls": [asdict(c) for c in calls]})


def story_json(story: PostingStory) -> str:
    """`log KEY --json`: what happened to the posting, oldest first, and its counts by day."""
    return _dumps({
        "posting": story.posting,
        "events": [asdict(e) for e in story.events],
        "days": [{**asdict(d), "day": d.day.isoformat()} for d in story.days],
    })


def _dumps(value: Any) -> str:
    return json.dumps(_plain(value), indent=2, ensure_ascii=False)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def notify_json(rows: Sequence[Pending]) -> str:
    """`boardsync notify list --json`: one object per delivery owed to a target."""
    return _dumps([
        {"target": r.target, "state": r.state, "event": r.event.kind, "posting": r.event.posting,
         "provider": r.event.provider, "title": r.event.title, "created_at": r.created_at, "attempts": r.attempts,
         "next_attempt_at": r.next_attempt_at, "last_error": r.last_error}
        for r in rows
    ])
