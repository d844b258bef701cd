"""What the commands around a run need on a terminal: opening the config, the state and
the boards together; a progress bar; tables for status, drift, visits and links; exit codes.

Kept here, beside the values it prints, so `cli.py` stays a list of thin handlers.
"""

from __future__ import annotations

import csv
import io
import json
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from boardsync.config import Desired, load
from boardsync.config.validate import Report
from boardsync.connectors import build_connectors
from boardsync.connectors.base import Connector
from boardsync.reconcile import render
from boardsync.reconcile.links import LinkResult
from boardsync.reconcile.model import RunResult
from boardsync.reconcile.record import WHOLE_POSTING
from boardsync.reconcile.sources import SourceRow
from boardsync.state import Backoff, BoardWait, DriftRow, StatusRow, Store, VisitRow, open_store
from boardsync.state.store import SourceCommits

LockFactory = Callable[[str], AbstractContextManager[Any]]

EXIT_OK, EXIT_ERROR, EXIT_PENDING = 0, 1, 2


@dataclass
class Opened:
    desired: Desired
    store: Store
    connectors: dict[str, Connector]


@contextmanager
def opened(
    config: Path,
    *,
    lock: LockFactory | None = None,
    boards: bool = True,
    migrate: bool = False,
    stop: threading.Event | None = None,
    quiet: bool = False,
) -> Iterator[Opened]:
    """Load the desired state, take the writer lock (when given), open the state database
    and build the connectors (whose retry and rate-limit waits end when `stop` is set);
    release everything on the way out. `quiet` leaves only errors in the log."""
    quiet_logs("error" if quiet else "warning")
    # Reading the state database needs no board secret: status, drift and visits work where
    # only the database is at hand. Its own URL may still hold a reference (a password).
    desired = load(config, resolve_secrets=boards)
    if not boards and "${" in desired.state_url:
        desired = load(config)
    with ExitStack() as stack:
        if lock is not None:
            stack.enter_context(lock(desired.state_url))
        # A command that only reads the state never creates it: a wrong -c must not leave
        # an empty database behind.
        store = stack.enter_context(open_store(desired.state_url, migrate=migrate, create=boards or migrate))
        connectors = build_connectors(desired.root.providers, stop=stop) if boards else {}
        for connector in connectors.values():
            stack.callback(connector.close)
        yield Opened(desired, store, connectors)


@contextmanager
def stopped_by_sigterm() -> Iterator[threading.Event]:
    """An event that SIGTERM sets while the block runs, as the daemon's stop does: the run
    finishes the call in flight and records it, tries nothing more, and ends with an outcome."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield stop
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)


def quiet_logs(level: str = "warning") -> None:
    """Log lines go to stderr, warnings and up only: stdout carries what the command prints
    (a plan as JSON must stay parseable)."""
    from boardsync import log

    log.configure(json=False, level=level, stream=sys.stderr)


# ------------------------------------------------------------------------------ progress


def progress_bar(stream: TextIO | None = None, width: int = 30) -> Callable[[int, int], None] | None:
    """A one-line bar redrawn in place, on a terminal only (None elsewhere)."""
    out = stream or sys.stderr
    if not out.isatty():
        return None

    def draw(done: int, total: int) -> None:
        filled = int(width * done / total) if total else width
        out.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} changes")
        if done >= total:
            out.write("\n")
        out.flush()

    return draw


# ------------------------------------------------------------------------------ runs


def run_report(result: RunResult) -> str:
    """What `reconcile` prints after a run: failures, blocks and drift left, then the summary."""
    lines = [f"  ! {e}" for e in result.errors]
    lines += [f"  ! {b.provider}/{b.posting}: {b.reason}" for b in result.blocked]
    plan = result.plan
    if plan is not None:
        lines += [f"  ? {d.provider}/{d.posting} {d.field}: drift ({render.describe_disposition(d.disposition)})"
                  for d in plan.drift
                  if d.disposition != "correct"]
        lines += [f"  ? {r.provider}/{r.posting}: removed from the source, {render.removed_fate(r)}"
                  for r in plan.removed if not r.closing]
    return "\n".join([*lines, result.summary()]) + "\n"


def exit_code(result: RunResult) -> int:
    """0 the boards match the postings (converged); 2 they do not (changes pending, a
    difference left as the policy says, a pair blocked or failed, a board not read);
    1 the plan was refused or the run failed."""
    if result.outcome == "converged":
        return EXIT_OK
    if result.outcome in ("partial", "pending", "drifted"):
        return EXIT_PENDING
    return EXIT_ERROR


# ------------------------------------------------------------------------------ tables


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns separated by two spaces; None shows as '-'."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(header)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%SZ")
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def status_table(rows: Sequence[StatusRow]) -> str:
    if not rows:
        return "No postings on any board yet.\n"
    return table(
        ("posting", "board", "state", "remote id", "drift", "last sync", "blocked"),
        [(r.posting, r.provider, r.state, r.remote_id, r.open_drift, r.last_sync, _blocked(r)) for r in rows],
    )


def _blocked(row: StatusRow) -> str | None:
    if row.blocked_reason:
        return row.blocked_reason
    if row.quarantine_until is not None:
        return f"backing off until {_cell(row.quarantine_until)}: {row.last_error or 'failed'}"
    return None


def waits_text(waits: Sequence[BoardWait]) -> str:
    """The waits boards asked for that still hold, one line each (none: nothing)."""
    return "".join(f"{w.provider}: {w.reason}; no request goes to it before then\n" for w in waits)


def source_text(source: SourceCommits | None) -> str:
    """The followed branch's live commit and the refused one, a line each (none: nothing)."""
    if source is None:
        return ""
    live = source.live.config_commit if source.live is not None else None
    lines = [f"source: commit {live[:12] if live else '(none yet)'} is live\n"]
    if source.refused is not None and source.refused.config_commit:
        first = (source.refused.error or "invalid").splitlines()[0]
        lines.append(f"source: commit {source.refused.config_commit[:12]} was refused: {first}\n")
    return "".join(lines)


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


def drift_table(rows: Sequence[DriftRow]) -> str:
    """One row per drift; a long text's cells point below the table, to a diff of its lines."""
    if not rows:
        return "No drift.\n"
    diffs = [render.long_text_diff(r.observed, r.desired) for r in rows]
    values = [("(diff below)",) * 2 if d else (_short(r.observed), _short(r.desired))
              for r, d in zip(rows, diffs, strict=True)]
    listed = table(
        ("posting", "board", "field", "on the board", "desired", "first seen", "last seen", "resolution"),
        [(r.posting, r.provider, r.field, *v, r.first_seen, r.last_seen,
          r.resolution if r.resolved_at else f"open ({render.describe_disposition(r.disposition)})")
         for r, v in zip(rows, values, strict=True)],
    )
    below = [f"\n{r.posting} {r.provider} {r.field}:\n" + "".join(f"  {x}\n" for x in d)
             for r, d in zip(rows, diffs, strict=True) if d]
    return listed + "".join(below)


def drift_json(rows: Sequence[DriftRow]) -> str:
    return _dumps([{**asdict(r), "open": r.open} for r in rows])


VISIT_HEADER = ("posting", "board", "channel", "visits", "change", "applicants", "change")


def visits_rows(rows: Sequence[VisitRow]) -> list[tuple[Any, ...]]:
    return [
        (r.posting, r.provider, "(all)" if r.channel == WHOLE_POSTING else r.channel, r.visits, r.visits_change,
         r.applicants, r.applicants_change)
        for r in rows
    ]


def visits_table(rows: Sequence[VisitRow], since: str) -> str:
    if not rows:
        return "No visits or applicants recorded yet.\n"
    header = (*VISIT_HEADER[:4], f"+{since}", VISIT_HEADER[5], f"+{since}")
    return table(header, visits_rows(rows))


def visits_csv(rows: Sequence[VisitRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["posting", "board", "channel", "visits", "visits_change", "applicants", "applicants_change"])
    for row in visits_rows(rows):
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue()


def visits_json(rows: Sequence[VisitRow]) -> str:
    """The CSV's columns, one object per row; counters never read are null."""
    keys = ("posting", "provider", "channel", "visits", "visits_change", "applicants", "applicants_change")
    return _dumps([dict(zip(keys, row, strict=True)) for row in visits_rows(rows)])


def links_json(results: Sequence[LinkResult]) -> str:
    return _dumps([asdict(r) for r in results])


def sources_table(rows: Sequence[SourceRow]) -> str:
    if not rows:
        return "No posting is sent to a board with tracked source URLs.\n"
    return table(
        ("posting", "board", "channel", "visits", "source url"),
        [(r.posting, r.provider, r.channel, r.visits, r.url or (f"error: {r.error}" if r.error else "not made yet"))
         for r in rows],
    )


def sources_json(rows: Sequence[SourceRow]) -> str:
    return _dumps([asdict(r) for r in rows])


def retry_text(lifted: Sequence[Backoff]) -> str:
    if not lifted:
        return "No pair is backing off.\n"
    lines = [f"{b.provider}/{b.posting}: backoff lifted ({b.attempts} failed, was until {_cell(b.until)})"
             for b in lifted]
    return "\n".join([*lines, "the next run tries them now"]) + "\n"


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


def migrate_json(url: str, version: int) -> str:
    return _dumps({"database": url, "schema_version": version, "up_to_date": True})


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
        document["plan"] = json.loads(render.to_json(plan)) if plan is not None else None
    return _dumps(document)


def _dumps(value: Any) -> str:
    return json.dumps(_plain(value), indent=2, ensure_ascii=False)


def links_table(results: Sequence[LinkResult]) -> str:
    if not results:
        return "No posting is sent to a board with signed links.\n"
    return table(
        ("posting", "board", "expires", "link"),
        [(r.posting, r.provider, r.expires_at, r.url or f"error: {r.error}") for r in results],
    )


def _short(value: Any, width: int = 40) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def waiting(holder: Any) -> None:
    """Said once when the state database's writer lock is taken by another process."""
    describe = getattr(holder, "describe", None)
    who = describe() if callable(describe) else "another process"
    print(f"waiting for {who} to finish with the state database…", file=sys.stderr)
