"""What a person sees of a command's result: the tables of `status`, `drift`, `visits`,
`links` and `sources`, a run's report and a validation's, as rich renderables.

`boardsync.terminal` prints them: drawn, in colour, on a terminal; plain text in a pipe. The
machine formats (JSON, CSV) are not made here: `boardsync.documents` writes them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from boardsync.documents import visits_rows

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


# ------------------------------------------------------------------------------ runs and checks

REPORT_STYLES = {"!": "red", "?": "yellow"}
SUMMARY_STYLES = {"converged": "green", "refused": "red", "failed": "red"}


def run_report(result: RunResult) -> Text:
    """What `reconcile` prints after a run: failures, blocks and drift left, then the summary."""
    from boardsync.reconcile import render

    lines = [("!", f"  ! {e}") for e in result.errors]
    lines += [("!", f"  ! {b.provider}/{b.posting}: {b.reason}") for b in result.blocked]
    plan = result.plan
    if plan is not None:
        lines += [("?", f"  ? {d.provider}/{d.posting} {d.field}: drift ({render.describe_disposition(d.disposition)})")
                  for d in plan.drift
                  if d.disposition != "correct"]
        lines += [("?", f"  ? {r.provider}/{r.posting}: removed from the source, {render.removed_fate(r)}")
                  for r in plan.removed if not r.closing]
    report = Text()
    for mark, line in lines:
        report.append(line + "\n", style=REPORT_STYLES[mark])
    report.append(result.summary(), style=SUMMARY_STYLES.get(result.outcome, "yellow"))
    return report


def validation(report: Report) -> Text:
    """What `validate` prints: warnings, every problem, then the closing line."""
    lines = report.lines()
    styles = ["yellow"] * len(report.warnings) + ["red"] * len(report.problems)
    text = Text()
    for line, style in zip(lines[:-1], styles, strict=True):
        text.append(line + "\n", style=style)
    text.append(lines[-1], style="green" if report.ok else "bold red")
    return text


# ------------------------------------------------------------------------------ tables


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], *, wrapped: Sequence[str] = ()) -> Table:
    """Left-aligned columns two spaces apart under upper-case headings; None shows as '-'.

    A cell may be given as rich `Text` to carry a style. On a terminal too narrow for the
    table, the columns named in `wrapped` (free text, times, ids, URLs) wrap, at spaces where
    they can, and lose no character; the others (keys, names, counts) stay on one line."""
    grid = Table(box=None, show_edge=False, pad_edge=False, padding=(0, 1), header_style="bold")
    for name in header:
        grid.add_column(name.upper(), no_wrap=name not in wrapped, overflow="fold")
    for row in rows:
        grid.add_row(*(v if isinstance(v, Text) else Text(_cell(v)) for v in row))
    return grid


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%SZ")
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _styled(value: Any, style: str | None) -> Text:
    """A cell in `style`; a missing value ('-') never carries one."""
    return Text(_cell(value), style=style if style and value is not None else "")


STATE_STYLES = {"active": "green", "paused": "yellow", "draft": "yellow", "closed": "dim", "expired": "dim",
                "not posted": "dim", "not synced": "yellow", "unknown": "red"}


HEALTH_STYLES = {"live": "green", "pending": "yellow", "blocked": "red", "backing_off": "red", "expired": "dim",
                 "missing": "red"}


def status_table(rows: Sequence[StatusRow]) -> RenderableType:
    if not rows:
        return Text("No postings on any board yet.")
    return table(
        ("posting", "board", "state", "health", "remote id", "drift", "last sync", "blocked"),
        [(r.posting, r.provider, _styled(r.state, STATE_STYLES.get(r.state.lower())),
          _styled(r.health, HEALTH_STYLES.get(r.health)), r.remote_id,
          _styled(r.open_drift, "yellow" if r.open_drift else None), r.last_sync, _styled(_blocked(r), "red"))
         for r in rows],
        wrapped=("remote id", "last sync", "blocked"),
    )


def _blocked(row: StatusRow) -> str | None:
    if row.blocked_reason:
        return row.blocked_reason
    if row.quarantine_until is not None:
        return f"backing off until {_cell(row.quarantine_until)}: {row.last_error or 'failed'}"
    return None


def waits_text(waits: Sequence[BoardWait]) -> Text:
    """The waits boards asked for that still hold, one line each (none: nothing)."""
    return Text("\n".join(f"{w.provider}: {w.reason}; no request goes to it before then" for w in waits),
                style="yellow")


def source_text(source: SourceCommits) -> Text:
    """The followed branch's live commit and the refused one, a line each."""
    live = source.live.config_commit if source.live is not None else None
    lines = [Text(f"source: commit {live[:12] if live else '(none yet)'} is live")]
    if source.refused is not None and source.refused.config_commit:
        first = (source.refused.error or "invalid").splitlines()[0]
        lines.append(Text(f"source: commit {source.refused.config_commit[:12]} was refused: {first}", style="red"))
    return Text("\n").join(lines)


def status_view(rows: Sequence[StatusRow], waits: Sequence[BoardWait], source: SourceCommits | None = None) -> RenderableType:
    """`status`: the table, then the waits boards asked for, then the followed branch's commits."""
    parts: list[RenderableType] = [status_table(rows)]
    if waits:
        parts.append(waits_text(waits))
    if source is not None:
        parts.append(source_text(source))
    return Group(*parts) if len(parts) > 1 else parts[0]


def drift_table(rows: Sequence[DriftRow]) -> RenderableType:
    """One row per drift; a long text's cells point below the table, to a diff of its lines."""
    from boardsync.reconcile import render

    if not rows:
        return Text("No drift.")
    diffs = [render.long_text_diff(r.observed, r.desired) for r in rows]
    values = [("(diff below)",) * 2 if d else (_short(r.observed), _short(r.desired))
              for r, d in zip(rows, diffs, strict=True)]
    listed = table(
        ("posting", "board", "field", "on the board", "desired", "first seen", "last seen", "resolution"),
        [(r.posting, r.provider, r.field, *v, r.first_seen, r.last_seen, _resolution(r))
         for r, v in zip(rows, values, strict=True)],
        wrapped=("on the board", "desired", "first seen", "last seen", "resolution"),
    )
    below = [_diff_below(r, d) for r, d in zip(rows, diffs, strict=True) if d]
    return Group(listed, *below)


def _resolution(row: DriftRow) -> Text:
    from boardsync.reconcile import render

    if row.resolved_at:
        return _styled(row.resolution, "green")
    return _styled(f"open ({render.describe_disposition(row.disposition)})", "yellow")


DIFF_STYLES = {"+": "green", "-": "red"}


def _diff_below(row: DriftRow, diff: Sequence[str]) -> Text:
    text = Text(f"\n{row.posting} {row.provider} {row.field}:\n")
    for line in diff:
        text.append(f"  {line}\n", style=DIFF_STYLES.get(line[:1], ""))
    text.rstrip()
    return text


def visits_table(rows: Sequence[VisitRow], since: str) -> RenderableType:
    if not rows:
        return Text("No visits or applicants recorded yet.")
    header = ("posting", "board", "channel", "visits", f"+{since}", "applicants", f"+{since}")
    return table(header, [(*row[:4], _growth(row[4]), row[5], _growth(row[6])) for row in visits_rows(rows)])


def _growth(change: int | None) -> Text:
    return _styled(change, "green" if change else None)


def links_table(results: Sequence[LinkResult]) -> RenderableType:
    if not results:
        return Text("No posting is sent to a board with signed links.")
    return table(
        ("posting", "board", "expires", "link"),
        [(r.posting, r.provider, r.expires_at, r.url or _styled(f"error: {r.error}", "red")) for r in results],
        wrapped=("expires", "link"),
    )


def sources_table(rows: Sequence[SourceRow]) -> RenderableType:
    if not rows:
        return Text("No posting is sent to a board with tracked source URLs.")
    return table(
        ("posting", "board", "channel", "visits", "source url"),
        [(r.posting, r.provider, r.channel, r.visits, _source_cell(r)) for r in rows],
        wrapped=("source url",),
    )


def _source_cell(row: SourceRow) -> str | Text:
    if row.url:
        return row.url
    return _styled(f"error: {row.error}", "red") if row.error else _styled("not made yet", "dim")


def unmanaged_table(found: Unmanaged) -> RenderableType:
    """The jobs no posting owns, then each board that could not be read."""
    errors = [_styled(f"{e.provider}: not read: {e.message}", "red") for e in found.errors]
    if not found.jobs:
        return Group(Text("Every job on the boards read is managed by a posting."), *errors)
    rows = table(
        ("board", "job", "title", "status", "place"),
        [(j.provider, j.remote_id, j.title, j.status, j.place) for j in found.jobs],
        wrapped=("title", "place"),
    )
    hint = Text(f"{len(found.jobs)} job(s) no posting owns; bind one with "
                "`boardsync adopt KEY --board NAME --id JOB`")
    return Group(rows, hint, *errors)


def imported_view(done: Imported) -> RenderableType:
    """The files written (or that a dry run would write) with their jobs, then the jobs left
    out and why, then one line of counts."""
    verb = "would write" if done.dry_run else "wrote"
    parts: list[RenderableType] = []
    if done.written:
        parts.append(table(
            ("file", "key", "board", "job", "title"),
            [(w.path if i == 0 else "", w.key if i == 0 else "", j.provider, j.remote_id, j.title)
             for w in done.written for i, j in enumerate(w.jobs)],
            wrapped=("file", "title"),
        ))
    for heading, items in (("Ambiguous, left unbound", done.ambiguous), ("Skipped", done.skipped)):
        if items:
            parts.append(Text(heading, style="bold"))
            parts.append(table(("board", "job", "title", "why"),
                               [(i.job.provider, i.job.remote_id, i.job.title, i.reason) for i in items],
                               wrapped=("title", "why")))
    bound = "would bind" if done.dry_run else "bound"
    parts.append(Text(f"{verb} {len(done.written)} file(s), {bound} {done.bound} job(s); "
                      f"{len(done.ambiguous)} ambiguous, {len(done.skipped)} skipped"))
    return Group(*parts)


def adopted_text(done: Adopted) -> Text:
    if done.already:
        return Text(f"{done.provider}/{done.posting}: already bound to {done.remote_id}; nothing changed")
    return Text(f"{done.provider}/{done.posting}: bound to {done.remote_id} ({done.status}), as it is on the board; "
                "`boardsync plan` shows what the next run changes on it")


def forgotten_text(done: Sequence[Forgotten]) -> Text:
    lines = [f"{f.provider}/{f.posting}: no longer managed; job {f.remote_id or '(none)'} left as it is"
             for f in done]
    return Text("\n".join(lines))


def retry_text(lifted: Sequence[Backoff]) -> Text:
    if not lifted:
        return Text("No pair is backing off.")
    lines = [f"{b.provider}/{b.posting}: backoff lifted ({b.attempts} failed, was until {_cell(b.until)})"
             for b in lifted]
    return Text("\n".join([*lines, "the next run tries them now"]))


def migrate_text(database: str, migration: Migration) -> Text:
    """What `migrate` did: created the database, nothing, or each revision it ran."""
    if migration.created:
        return Text(f"{database}: created at revision {migration.after}")
    if not migration.steps:
        return Text(f"{database}: at revision {migration.after}, up to date")
    lines = [f"{database}: at {migration.before.describe()}"]
    if migration.before.legacy is not None:
        lines.append(f"  recognised as revision {migration.before.revision}")
    lines += [f"  {step.before} → {step.after}: {step.about}" for step in migration.steps]
    lines.append(f"{database}: upgraded to revision {migration.after}, up to date")
    return Text("\n".join(lines))


def _short(value: Any, width: int = 40) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


# ------------------------------------------------------------------------------ history


OUTCOME_STYLES = {"converged": "green", "live": "green", "drifted": "yellow", "partial": "yellow",
                  "pending": "yellow", "failed": "red", "refused": "red"}


def history_table(runs: Sequence[RunHistory], since: str) -> RenderableType:
    """`history`: one line per run, newest first."""
    if not runs:
        return Text(f"No run in the last {since}.")
    return table(
        ("run", "started", "kind", "trigger", "commit", "outcome", "changes", "errors", "calls", "took"),
        [(h.run.id, h.run.started_at, h.run.kind, h.run.trigger, (h.run.config_commit or "")[:12] or None,
          _styled(h.run.outcome, OUTCOME_STYLES.get(h.run.outcome or "")), _counts(h.changes),
          _styled(h.errors, "red" if h.errors else None), _counts(h.calls), _took(h.duration))
         for h in runs],
        wrapped=("started", "changes", "calls"),
    )


def _counts(counts: dict[str, int]) -> str | None:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or None


def _took(seconds: float | None) -> str | None:
    return None if seconds is None else f"{seconds:.1f}s"


def run_calls_view(run: RunHistory, calls: Sequence[CallRow]) -> RenderableType:
    """`history RUN`: the run's line, its error if any, then each request it sent."""
    head = Text(f"run {run.run.id}: {run.run.kind} ({run.run.trigger}), {run.run.outcome or 'unfinished'}, "
                f"started {_cell(run.run.started_at)}, took {_took(run.duration) or '-'}, "
                f"commit {(run.run.config_commit or '-')[:12]}")
    parts: list[RenderableType] = [head]
    if run.run.error:
        parts.append(Text(f"error: {run.run.error}", style="red"))
    if not calls:
        parts.append(Text("No request was sent to a board."))
    else:
        parts.append(table(
            ("#", "board", "method", "path", "status", "ms"),
            [(c.seq, c.provider, c.method, f"{c.path}?{c.query}" if c.query else c.path,
              _styled(c.status if c.status is not None else "no answer", _status_style(c.status)), c.duration_ms)
             for c in calls],
            wrapped=("path",),
        ))
    return Group(*parts)


def _status_style(status: int | None) -> str | None:
    if status is None or status >= 500:
        return "red"
    return "yellow" if status >= 400 else None


STORY_STYLES = {"drift_opened": "yellow", "drift_ended": "green", "blocked": "red"}


def story_view(story: PostingStory) -> RenderableType:
    """`log KEY`: what happened on each board, oldest first, then visits and applicants by day."""
    parts: list[RenderableType] = [table(
        ("when", "board", "what", "detail", "run", "commit"),
        [(e.at, e.provider, _styled(e.what, "red" if e.what.endswith("failed") else STORY_STYLES.get(e.what)),
          e.detail or None, e.run_id, (e.commit or "")[:12] or None)
         for e in story.events],
        wrapped=("detail",),
    ) if story.events else Text(f"Nothing happened to {story.posting} on a board yet.")]
    if story.days:
        parts.append(table(("day", "board", "visits", "applicants"),
                           [(d.day.isoformat(), d.provider, d.visits, d.applicants) for d in story.days]))
    return Group(*parts)


def notify_table(rows: Sequence[Pending]) -> RenderableType:
    """One row per delivery owed: the target, the event, where it stands."""
    if not rows:
        return Text("Nothing owed: every target took every event.")
    return table(
        ("target", "event", "posting", "board", "written", "state", "attempts", "next try", "last error"),
        [(r.target, r.event.kind, r.event.posting or "", r.event.provider or "", r.created_at,
          _styled(r.state, "red" if r.state == "failed" else "yellow"), r.attempts, r.next_attempt_at or "",
          r.last_error or "") for r in rows],
        wrapped=("last error",),
    )
