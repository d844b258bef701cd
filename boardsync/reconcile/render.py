"""A Plan as text (for a terminal), JSON (for programs) and Markdown (for a pull request).

The JSON document is stable: its schema is ``plan.schema.json`` beside this module
(`PLAN_SCHEMA`), and fields are only ever added. Values of fields are the boards' own
payload values, as `render` gives them; a plan never holds a credential or a signed link.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from boardsync.reconcile import verdict
from boardsync.reconcile.model import Action, Change, DriftItem, Plan, RemovedItem, UpcomingItem

FORMAT = "boardsync.plan"
VERSION = 1

SYMBOLS = {
    Action.CREATE: "+", Action.REPOST: "+", Action.ADOPT: "=", Action.UPDATE: "~",
    Action.PUBLISH: ">", Action.RESUME: ">", Action.PAUSE: "‖", Action.CLOSE: "-", Action.UNPUBLISH: "‖",
    Action.ENSURE_SOURCE: "+", Action.REFRESH_LINK: "↻",
}
COLOURS = {"+": "32", "-": "31", "~": "33", ">": "36", "‖": "36", "=": "36", "↻": "2", "!": "35", "?": "33"}

TEXT_VALUE_WIDTH = 70
DIFF_CONTEXT = 2  # unchanged lines shown around each changed one
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def load_schema() -> dict[str, Any]:
    """The JSON Schema every `to_json` document validates against."""
    text = resources.files("boardsync.reconcile").joinpath("plan.schema.json").read_text()
    return json.loads(text)  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------ JSON


def to_document(plan: Plan) -> dict[str, Any]:
    """The plan as plain JSON values, in the shape of ``plan.schema.json``."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "generated_at": _iso(plan.generated_at),
        "config_digest": plan.config_digest,
        "in_sync": verdict.in_sync(plan),
        "not_in_sync": list(verdict.not_in_sync(plan, pending=True)),
        "refused": plan.refused,
        "snapshot": _snapshot_document(plan),
        "counts": plan.counts,
        "changes": [change_document(c) for c in plan.changes],
        "drift": [
            {"provider": d.provider, "posting": d.posting, "field": d.field, "desired": d.desired,
             "observed": d.observed, "disposition": d.disposition}
            for d in plan.drift
        ],
        "blocked": [
            {"provider": b.provider, "posting": b.posting, "reason": b.reason, "gate": b.gate,
             "fields": dict(b.fields), "until": _iso(b.until)}
            for b in plan.blocked
        ],
        "removed": [
            {"provider": r.provider, "posting": r.posting, "remote_id": r.remote_id, "status": r.status,
             "closing": r.closing, "absent_since": _iso(r.absent_since), "closes_after": _iso(r.closes_after),
             "waiting": r.waiting, "suspended": r.suspended}
            for r in plan.removed
        ],
        "errors": [
            {"provider": e.provider, "posting": e.posting, "action": e.action, "message": e.message}
            for e in plan.errors
        ],
        "scope": {"postings": _listed(plan.scope.postings), "providers": _listed(plan.scope.providers)},
        "root_digest": plan.root_digest,
        "postings": dict(plan.posting_digests),
        "observed": [
            {"provider": o.provider, "posting": o.posting, "remote_id": o.remote_id, "digest": o.digest,
             "fields": dict(o.fields)}
            for o in plan.observed
        ],
        "renamed": [{"old": r.old, "new": r.new, "providers": list(r.providers)} for r in plan.renamed],
        "ignored": [
            {"provider": i.provider, "posting": i.posting, "field": i.field, "desired": i.desired,
             "observed": i.observed}
            for i in plan.ignored
        ],
        "suspended": [
            {"provider": s.provider, "posting": s.posting, "held": [change_document(c) for c in s.held]}
            for s in plan.suspended
        ],
        "horizon_seconds": round(plan.horizon.total_seconds()),
        "upcoming": [
            {"kind": u.kind, "provider": u.provider, "posting": u.posting, "at": _iso(u.at), "what": u.what,
             "remote_id": u.remote_id}
            for u in plan.upcoming
        ],
    }


def _listed(names: tuple[str, ...] | None) -> list[str] | None:
    return None if names is None else list(names)


def _snapshot_document(plan: Plan) -> dict[str, Any] | None:
    if plan.snapshot is None:
        return None
    now = plan.generated_at or plan.snapshot.taken_at
    return {
        "taken_at": _iso(plan.snapshot.taken_at),
        "observed_at": _iso(plan.snapshot.observed_at),
        "age_seconds": round(plan.snapshot.age(now)),
    }


def snapshot_line(plan: Plan) -> str | None:
    """``Planned against a snapshot: boards last read 2 h 5 min ago (…)``, or None for a live plan."""
    if plan.snapshot is None:
        return None
    snap = plan.snapshot
    now = plan.generated_at or snap.taken_at
    read = f"boards last read {age_text(snap.age(now))} ago" if snap.observed_at else "no board read in it"
    return (f"Planned against a snapshot, not the boards: {read} "
            f"(snapshot taken {snap.taken_at:%Y-%m-%d %H:%M} UTC); what merging would change as of then.")


def age_text(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3 h 5 min``, ``2 d 4 h``."""
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min" if minutes else f"{secs} s"


def removed_fate(removed: RemovedItem) -> str:
    """What happens to the job of a posting gone from the source, in words."""
    if removed.closing:
        return "closing (prune is on)"
    if removed.suspended:
        return "left open (the posting was suspended; boardsync never closes it)"
    if removed.waiting:
        return f"left open for now: {removed.waiting}"
    return "left open (prune is off)"


def to_json(plan: Plan, *, indent: int | None = 2) -> str:
    return json.dumps(to_document(plan), indent=indent, ensure_ascii=False, default=str)


def change_document(change: Change) -> dict[str, Any]:
    return {
        "provider": change.provider,
        "posting": change.posting,
        "action": change.action.value,
        "reason": change.reason,
        "remote_id": change.remote_id,
        "publish": change.publish,
        "channel": change.channel,
        "channels": list(change.channels),
        "heals": list(change.heals),
        "fields": [{"field": d.field, "before": d.before, "after": d.after} for d in change.diffs],
    }


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


# ------------------------------------------------------------------------------ text


def to_text(plan: Plan, *, color: bool = False) -> str:
    """A readable diff: per board, one line per change and one line per changed field."""
    paint = _painter(color)
    lines: list[str] = _section("Renamed (the state moves to the new key; no board changes)", [
        paint("~", f"  ~ {r.old} -> {r.new} (bound on {', '.join(r.providers)})") for r in plan.renamed
    ])
    for provider in _providers(plan):
        changes = [c for c in plan.changes if c.provider == provider]
        if changes:
            lines.append(paint("1", provider))
            lines += [line for c in changes for line in _change_lines(c, paint)]
    lines += _section("Drift", [_drift_text(d, paint) for d in plan.drift])
    lines += _section("Suspended (nothing is written)", [
        line for s in plan.suspended for line in _suspended_lines(s.posting, s.provider, s.held, paint)
    ])
    lines += _section("Ignored on the board", [
        f"  = {i.provider}/{i.posting} {i.field}: board has {_short(i.observed)}, posting {_short(i.desired)}"
        for i in plan.ignored
    ])
    lines += _section("Blocked", [
        paint("!", f"  ! {b.provider}/{b.posting}: {b.reason}{_until(b.until)}")
        + "".join(f"\n      {name}: {why}" for name, why in b.fields.items())
        for b in plan.blocked
    ])
    lines += _section("Removed from the source", [
        paint("-" if r.closing else "?",
              f"  {'-' if r.closing else '?'} {r.provider}/{r.posting} ({r.remote_id}, {r.status}): {removed_fate(r)}")
        for r in plan.removed
    ])
    lines += _section("Errors", [paint("-", f"  {e}") for e in plan.errors])
    lines += _section(f"Upcoming (next {age_text(plan.horizon.total_seconds())})", [
        f"  @ {_when(at)} {where}: {what}" for at, where, what in upcoming_lines(plan)
    ])
    if plan.refused:
        lines.append(paint("!", f"Refused: {plan.refused}"))
    if (against := snapshot_line(plan)) is not None:
        lines.append(against)
    lines.append(summary(plan))
    return "\n".join(lines) + "\n"


def summary(plan: Plan) -> str:
    """One line: ``Plan: 2 to create, 1 to update; 1 drift, 1 blocked.``, followed by what
    else keeps the boards from matching the postings (``Not in sync: 1 job expired …``)."""
    counts = plan.counts
    done = [f"{counts[a.value]} to {a.value.replace('_', ' ')}" for a in Action if counts[a.value]]
    notes = [f"{counts[k]} {k}" for k in ("drift", "blocked", "removed", "suspended", "ignored") if counts[k]]
    if counts["errors"]:
        notes.append(f"{counts['errors']} board error{'s' if counts['errors'] != 1 else ''}")
    head = "Plan: " + (", ".join(done) if done else "nothing to change")
    line = head + ("; " + ", ".join(notes) if notes else "") + "."
    apart = verdict.not_in_sync(plan, pending=False)  # the changes are listed already
    return line + (f" Not in sync: {'; '.join(apart)}." if apart else "")


def _change_lines(change: Change, paint: Any) -> list[str]:
    symbol = SYMBOLS[change.action]
    label = change.action.value.replace("_", " ")
    if change.action in (Action.CREATE, Action.REPOST):
        label += " (live)" if change.publish else " (draft)"
    if change.channel:
        label += f" {change.channel!r}"
    target = f" [{change.remote_id}]" if change.remote_id else ""
    lines = [paint(symbol, f"  {symbol} {change.posting}: {label}{target}") + f"  — {change.reason}"]
    for diff in change.diffs:
        if diff.before is None:
            lines.append(f"      {diff.field}: {_short(diff.after)}")
        elif unified := long_text_diff(diff.before, diff.after):
            lines.append(f"      {diff.field}:")
            lines += [paint(_diff_style(line), f"        {line}") for line in unified]
        else:
            lines.append(f"      {diff.field}: {_short(diff.before)} → {_short(diff.after)}")
    if change.channels:
        lines.append(f"      sources: {', '.join(change.channels)}")
    return lines


def _suspended_lines(posting: str, provider: str, held: Iterable[Change], paint: Any) -> list[str]:
    """A suspended pair, then each change it holds, as a change would read."""
    changes = list(held)
    head = paint("‖", f"  ‖ {provider}/{posting}: " + (f"{len(changes)} held" if changes else "nothing to hold"))
    return [head, *(f"  {line}" for c in changes for line in _change_lines(c, paint))]


def _drift_text(drift: DriftItem, paint: Callable[[str, str], str]) -> str:
    head = f"  ? {drift.provider}/{drift.posting} {drift.field}"
    how = describe_disposition(drift.disposition)
    if unified := long_text_diff(drift.observed, drift.desired):
        return paint("?", f"{head} ({how}):") + "".join(f"\n      {paint(_diff_style(x), x)}" for x in unified)
    return paint("?", f"{head}: board has {_short(drift.observed)}, desired {_short(drift.desired)} ({how})")


def _section(title: str, items: list[str]) -> list[str]:
    return [title, *items] if items else []


def _providers(plan: Plan) -> list[str]:
    seen: dict[str, None] = {}
    for change in plan.changes:
        seen.setdefault(change.provider)
    return list(seen)


def _painter(color: bool) -> Any:
    def paint(style: str, text: str) -> str:
        code = COLOURS.get(style, style)
        return f"\033[{code}m{text}\033[0m" if color and code else text
    return paint


def _short(value: Any, width: int = TEXT_VALUE_WIDTH) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def long_text_diff(before: Any, after: Any) -> list[str]:
    """A change of text too long for one line (a description) as a unified diff of the
    lines that changed, headed by what each side is; empty for any other change, which
    reads best as ``before → after``. Two prefixes cut to one line's width may both end
    before the part that changed, so a long text is never shown that way."""
    texts = (before, after)
    if not all(isinstance(t, str) for t in texts) or not any("\n" in t or len(t) > TEXT_VALUE_WIDTH for t in texts):
        return []
    return list(difflib.unified_diff(
        _diff_lines(before), _diff_lines(after), fromfile="on the board", tofile="desired", n=DIFF_CONTEXT,
        lineterm="",
    ))


def _diff_lines(text: str) -> list[str]:
    # A paragraph written on one line is split after each sentence, so a changed word
    # shows in its sentence rather than in the whole paragraph.
    return [part for line in text.splitlines()
            for part in (SENTENCE_END.split(line) if len(line) > TEXT_VALUE_WIDTH else [line])]


def _diff_style(line: str) -> str:
    if line.startswith(("---", "+++", "@@")):
        return "2"
    return {"+": "+", "-": "-"}.get(line[:1], "")  # context lines stay plain


def describe_disposition(disposition: str) -> str:
    """What the planner does about a drift, in words (`report` → "reported")."""
    return {"correct": "correcting", "report": "reported", "frozen": "frozen on the board"}.get(
        disposition, disposition
    )


def upcoming_lines(plan: Plan) -> list[tuple[datetime, str, str]]:
    """The plan's upcoming items as (when, board/posting, what), earliest first, a board's
    link renewals in one line: they come every few minutes for every linked posting, and
    what matters to a reader is the publishes, closes and expiries between them."""
    renewals: dict[str, list[UpcomingItem]] = {}
    lines = []
    for item in plan.upcoming:
        if item.kind == "renew_link":
            renewals.setdefault(item.provider, []).append(item)
        else:
            lines.append((item.at, f"{item.provider}/{item.posting}", item.what))
    for provider, items in renewals.items():
        count = f"{len(items)} signed link{'s' if len(items) != 1 else ''}"
        lines.append((items[0].at, provider, f"{count} run out, the first here; a new one is fetched when one is asked for"))
    return sorted(lines, key=lambda line: (line[0], line[1]))


def _when(at: datetime) -> str:
    """``2026-03-02 08:00 UTC``: every upcoming moment on one clock, so they sort by eye."""
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _until(until: datetime | None) -> str:
    return f" (until {until.isoformat(timespec='seconds')})" if until else ""


# ------------------------------------------------------------------------------ Markdown


def to_markdown(plan: Plan) -> str:
    """For a pull-request comment: a summary, a table of changes, the field diffs folded."""
    out = ["### boardsync plan", "", f"**{summary(plan)}**", ""]
    if (against := snapshot_line(plan)) is not None:
        out += [f"_{against}_", ""]
    if plan.refused:
        out += [f"**Refused:** {plan.refused}", ""]
    out += _md_table("Renamed (the state moves to the new key; no board changes)", ("old key", "new key", "boards"), [
        (r.old, r.new, ", ".join(r.providers)) for r in plan.renamed
    ])
    if plan.changes:
        out += ["| board | posting | action | why |", "|---|---|---|---|"]
        out += [_row(c.provider, c.posting, _md_action(c), c.reason) for c in plan.changes]
        out.append("")
        out += _md_diffs([c for c in plan.changes if c.diffs])
    out += _md_table("Drift", ("board", "posting", "field", "on the board", "desired", "what happens"), [
        (d.provider, d.posting, d.field, *_md_values(d.observed, d.desired), describe_disposition(d.disposition))
        for d in plan.drift
    ])
    out += _md_long_diffs([(f"{d.provider} / {d.posting} `{d.field}`", d.observed, d.desired) for d in plan.drift])
    out += _md_table("Suspended (nothing is written)", ("board", "posting", "held"), [
        (s.provider, s.posting, ", ".join(_md_action(c) for c in s.held) or "nothing")
        for s in plan.suspended
    ])
    out += _md_table("Ignored on the board", ("board", "posting", "field", "on the board", "posting"), [
        (i.provider, i.posting, i.field, *_md_values(i.observed, i.desired)) for i in plan.ignored
    ])
    out += _md_table("Blocked", ("board", "posting", "reason", "fields"), [
        (b.provider, b.posting, b.reason + _until(b.until), "; ".join(f"`{k}`: {v}" for k, v in b.fields.items()))
        for b in plan.blocked
    ])
    out += _md_table("Removed from the source", ("board", "posting", "job", "status", "what happens"), [
        (r.provider, r.posting, r.remote_id or "", r.status, removed_fate(r))
        for r in plan.removed
    ])
    out += _md_table("Errors", ("board", "posting", "error"), [
        (e.provider, e.posting or "", e.message) for e in plan.errors
    ])
    out += _md_table(f"Upcoming (next {age_text(plan.horizon.total_seconds())})", ("when", "where", "what"), [
        (_when(at), where, what) for at, where, what in upcoming_lines(plan)
    ])
    return "\n".join(out).rstrip() + "\n"


def _md_action(change: Change) -> str:
    text = change.action.value.replace("_", " ")
    if change.action in (Action.CREATE, Action.REPOST):
        text += " (live)" if change.publish else " (draft)"
    if change.channel:
        text += f" `{change.channel}`"
    return text


def _md_diffs(changes: list[Change]) -> list[str]:
    if not changes:
        return []
    out = ["<details><summary>Field changes</summary>", ""]
    for change in changes:
        out += [f"**{_cell(change.provider)} / {_cell(change.posting)}** — {_md_action(change)}", ""]
        out += ["| field | on the board | desired |", "|---|---|---|"]
        out += [_row(d.field, *_md_values(d.before, d.after)) for d in change.diffs]
        out.append("")
        out += _md_long_diffs([(f"`{d.field}`", d.before, d.after) for d in change.diffs])
    return [*out, "</details>", ""]


def _md_values(before: Any, after: Any) -> tuple[str, str]:
    """The two table cells of a change of value; a long text's are a pointer to its diff."""
    if long_text_diff(before, after):
        return "(diff below)", "(diff below)"
    return (_code(before) if before is not None else "—"), _code(after)


def _md_long_diffs(changes: list[tuple[str, Any, Any]]) -> list[str]:
    """A fenced ``diff`` block under its title for each change of a long text."""
    out: list[str] = []
    for title, before, after in changes:
        if unified := long_text_diff(before, after):
            out += [f"{title}:", "", f"{_fence(unified)}diff", *unified, _fence(unified), ""]
    return out


def _fence(lines: list[str]) -> str:
    # A description holding a fence of its own must not close ours early: ours is longer
    # than any run of backticks inside.
    longest = max((len(run) for x in lines for run in re.findall("`+", x)), default=0)
    return "`" * max(3, longest + 1)


def _md_table(title: str, header: tuple[str, ...], rows: Iterable[tuple[str, ...]]) -> list[str]:
    rows = list(rows)
    if not rows:
        return []
    return [f"#### {title}", "", _row(*header), "|" + "---|" * len(header), *(_row(*r) for r in rows), ""]


def _row(*cells: str) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _code(value: Any) -> str:
    text = _short(value, 120).replace("`", "'")
    return f"`{text}`"
