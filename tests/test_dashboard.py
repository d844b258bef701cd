"""The dashboard (`boardsync report --html`, the daemon's `/`) rendered from a state database
filled by real runs against the sandbox boards: every number it shows is the one `status`,
`drift`, `visits`, `plan` and `history` print as JSON."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from boardsync.dashboard import figures
from boardsync.state import DriftRow, VisitRow
from boardsync.state.series import Sample
from tests.dashboard_helpers import POSTING, Page, body_rows, cli_json, fill, read_page, shown
from tests.reconcile_helpers import Workspace


def report(ws: Workspace, *argv: str) -> Page:
    out = ws.root / "report.html"
    ran = ws.run("report", "--html", str(out), *argv)
    assert ran.code == 0, ran.err
    return read_page(out.read_text())


@pytest.mark.slow
def test_the_report_shows_what_status_drift_and_visits_print(ws: Workspace) -> None:
    """Each posting × board cell holds the health, state, board id and open drift of its
    `status --json` row; the drift shown (open first, then how the rest ended) is `drift
    --json`'s; the counters table is `visits --json` row for row, and the channel and board
    sums and the chart's visits by day add up to its numbers; the drift that cost visits is
    ranked first, with the visits a day the board counted before and during it."""
    fill(ws)
    page = report(ws, "--since", "30d")

    status = cli_json(ws, "status")
    assert sorted(page.pairs, key=lambda p: (p["posting"], p["board"])) == [
        {"posting": r["posting"], "board": r["provider"], "health": r["health"], "state": r["state"],
         "remote-id": r["remote_id"] or "", "open-drift": str(r["open_drift"])}
        for r in status
    ]

    drift = cli_json(ws, "drift")
    opened = [(d["id"], True) for d in drift if d["open"]]
    ended = sorted(((d["id"], False) for d in drift if not d["open"]), key=lambda x: -x[0])
    assert len(opened) == 1 and len(ended) == 1
    assert page.drift == opened + ended
    assert sorted(page.effects) == sorted(d["id"] for d in drift)

    visits = cli_json(ws, "visits", "--since", "30d")
    assert body_rows(page, "counters") == [
        [r["posting"], r["provider"], r["channel"], *(shown(r[k]) for k in
         ("visits", "visits_change", "applicants", "applicants_change"))]
        for r in visits
    ]
    channels = {r["channel"] for r in visits if r["channel"] != "(all)"}
    assert {"indeed", "linkedin"} <= channels
    for channel in channels:
        rows = [r for r in visits if r["channel"] == channel]
        grew = sum(r["visits_change"] or 0 for r in rows)
        assert sum(page.charts["visits"]["channels"].get(channel, [])) == grew, channel
        assert page.conversion["channel"][channel] == (
            _sum_shown(r["visits"] for r in rows), _sum_shown(r["applicants"] for r in rows))
    board_visits = sum(r["visits"] for r in visits if r["provider"] == "hirempire" and r["visits"] is not None)
    board_applicants = sum(r["applicants"] for r in visits if (r["provider"], r["channel"]) == ("hirempire", "(all)"))
    assert page.conversion["board"]["hirempire"] == (shown(board_visits), shown(board_applicants))
    assert page.charts["boards"] == {"hirempire": round(board_applicants / board_visits * 100, 2)}
    assert page.conversion["board"]["sorce"] == ("-", shown(
        sum(r["applicants"] for r in visits if r["provider"] == "sorce" and r["channel"] == "(all)")))
    indeed = next(r for r in visits if (r["posting"], r["provider"], r["channel"]) == (POSTING, "hirempire", "indeed"))
    assert (indeed["visits"], indeed["applicants"]) == (59, 2)

    # What the Hirempire edit cost: the posting had 26 visits at its first count (8.2 days
    # ago), 52 when the edit was first seen (6 days ago) and 54 when it was put back (3 days
    # ago); the drift still open on Sorce had none, before or during.
    before, during = (52 - 26) / 2.2, (54 - 52) / 3
    assert body_rows(page, "effects") == [
        [POSTING, "hirempire", "job_title", f"{before:.1f}", f"{during:.1f}", f"{before - during:.1f}", "corrected"],
        ["product-designer", "sorce", "title", "0.0", "0.0", "0.0", "open"],
    ]


@pytest.mark.slow
def test_the_report_lists_what_is_coming_and_the_last_runs(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """Coming up is the Upcoming section of `plan --json` (planned from the state, with no
    board called and no board secret at hand); the last runs are `history --json`'s newest,
    each with its commit and result."""
    fill(ws)
    planned = cli_json(ws, "plan")["upcoming"]
    ws.clear_counts()
    for name in ws.sandbox.credentials():
        monkeypatch.delenv(name)
    page = report(ws)
    assert ws.counts() == {"sorce": {}, "hirempire": {}, "recruitifi": {}}

    assert planned and page.upcoming == [u["kind"] for u in planned]
    assert body_rows(page, "upcoming") == [
        [_when(u["at"]), u["provider"], u["posting"], u["what"]] for u in planned
    ]
    runs = cli_json(ws, "history", "--since", "30d")
    assert page.runs == [r["id"] for r in runs][:20]
    first = body_rows(page, "runs")[0]
    assert first[5] == runs[0]["outcome"] and first[4] == (runs[0]["config_commit"] or "-")[:12]


@pytest.mark.slow
def test_report_needs_a_database_and_a_writable_file(ws: Workspace, tmp_path: Path) -> None:
    """No state database yet: exit 1 naming it, no file written, none created; a file that
    cannot be written: exit 1 naming it; a period that is not one: exit 1 naming it."""
    out = tmp_path / "report.html"
    ran = ws.run("report", "--html", str(out))
    assert ran.code == 1 and "state.db" in ran.err and not out.exists()
    assert not (ws.root / "state.db").exists()
    assert ws.run("reconcile").code == 0
    ran = ws.run("report", "--html", str(tmp_path / "missing" / "report.html"))
    assert ran.code == 1 and "missing/report.html" in ran.err
    ran = ws.run("report", "--html", str(out), "--since", "soon")
    assert ran.code == 1 and "--since 'soon'" in ran.err


def test_the_report_is_one_file_with_the_chart_library_inside(ws: Workspace) -> None:
    """The report loads nothing: the chart library and the script that draws are inside, the
    data too; the scripts come after the data they read."""
    assert ws.run("reconcile").code == 0
    page = report(ws)
    assert [s["src"] for s in page.scripts] == [None, None]
    library, ours = (s["inline"] or "" for s in page.scripts)
    assert "Chart.js v4" in library and "chart-data" in ours
    assert set(page.charts) == {"visits", "applicants", "conversion", "boards"}
    assert page.canvases == ["visits", "applicants", "conversion", "boards"]


# ------------------------------------------------------------------------------ the figures


AT = datetime(2026, 3, 2, 12, tzinfo=UTC)


def _drift(drift_id: int, posting: str, opened: datetime, ended: datetime | None) -> DriftRow:
    return DriftRow(drift_id, posting, "sorce", "title", "a", "b", "report", opened, opened, ended,
                    "corrected" if ended else None)


def test_drift_is_ranked_by_the_visits_it_cost() -> None:
    """Visits per day before a drift opened (up to a week) and while it lasted, the largest
    drop first; a posting without counted visits is last, its effect not known."""
    samples = [
        Sample("a", "hirempire", "indeed", AT - timedelta(days=10), 10),
        Sample("a", "hirempire", "indeed", AT - timedelta(days=7), 80),   # 10 a day over the week before
        Sample("a", "hirempire", "indeed", AT, 150),
        Sample("a", "hirempire", "indeed", AT + timedelta(days=2), 154),  # 2 a day while it lasts
        Sample("b", "hirempire", "linkedin", AT - timedelta(days=1), 0),
        Sample("b", "hirempire", "linkedin", AT, 4),                      # 4 a day the day before
        Sample("b", "hirempire", "linkedin", AT + timedelta(days=1), 7),  # 3 a day after
    ]
    rows = [_drift(1, "c", AT, None), _drift(2, "b", AT, AT + timedelta(days=1)),
            _drift(3, "a", AT, AT + timedelta(days=2))]
    effects = figures.drift_effects(rows, samples, AT + timedelta(days=5))
    assert [(e.drift.id, e.before, e.during, e.drop) for e in effects] == [
        (3, 10.0, 2.0, 8.0), (2, 4.0, 3.0, 1.0), (1, None, None, None),
    ]


def test_visits_by_day_start_from_the_period_and_leave_the_whole_posting_out() -> None:
    """A series seen before the period counts from its last sample before it; one first seen
    inside counts from zero; the whole posting's count is no channel."""
    since = AT - timedelta(days=2)
    samples = [
        Sample("a", "hirempire", "indeed", since - timedelta(days=3), 50),
        Sample("a", "hirempire", "indeed", since + timedelta(hours=1), 55),
        Sample("a", "hirempire", "indeed", AT, 61),
        Sample("b", "hirempire", "indeed", AT, 4),
        Sample("a", "sorce", "*", AT, 9),
    ]
    daily = figures.daily_growth(samples, since, AT)
    assert [d.isoformat() for d in daily.days] == ["2026-02-28", "2026-03-01", "2026-03-02"]
    assert daily.values == {"indeed": [5, 0, 10]}


def test_conversion_per_channel_and_per_board() -> None:
    """Per channel: its visits and applicants summed over postings; per board: its channels'
    visits and its own applicant count; nothing counted shows as not known."""
    rows = [
        VisitRow("a", "hirempire", "indeed", 40, 0, 2, 0),
        VisitRow("b", "hirempire", "indeed", 10, 0, 3, 0),
        VisitRow("a", "hirempire", "*", None, None, 6, 0),
        VisitRow("a", "sorce", "*", None, None, 4, 0),
        VisitRow("a", "hirempire", "(direct)", None, None, 1, 0),
    ]
    per_channel = {c.name: (c.visits, c.applicants, c.rate) for c in figures.by_channel(rows)}
    assert per_channel == {"indeed": (50, 5, 0.1), "(direct)": (None, 1, None)}
    per_board = {c.name: (c.visits, c.applicants, c.rate) for c in figures.by_board(rows, ["sorce", "hirempire"])}
    assert per_board == {"sorce": (None, 4, None), "hirempire": (50, 6, 0.12)}


def _sum_shown(values: object) -> str:
    counted = [v for v in values if v is not None]  # type: ignore[attr-defined]
    return shown(sum(counted) if counted else None)


def _when(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M UTC")
