"""The dashboard as values (`gather`) and as HTML (`render`).

`gather` reads the state once, through the same reads as `status`, `drift`, `visits` and
`history`; `render` turns the values into one server-rendered page (Jinja2) whose tables
hold every number, and whose charts are drawn by Chart.js from the same values embedded as
JSON. Served by the daemon, the page loads the chart library from the daemon; written as a
report, the library and the data are inside the file, which then works with no network.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from typing import Any
from urllib.parse import quote

import jinja2

from boardsync.config import Desired
from boardsync.dashboard import figures, offline, reads
from boardsync.dashboard.figures import Conversion, Daily, DriftEffect
from boardsync.dashboard.reads import StatusFacts
from boardsync.documents import visits_rows
from boardsync.reconcile.model import UpcomingItem
from boardsync.state import DriftRow, StatusRow, Store, VisitRow
from boardsync.state.history import RunHistory
from boardsync.state.series import Sample, visit_samples

LAST_RUNS = 20
ASSETS = ("chart.umd.min.js", "dashboard.js")
"""The scripts the page loads, in order: the chart library, then what draws our charts."""


@dataclass(frozen=True)
class Dashboard:
    """Everything the page shows, read at `generated_at`."""

    generated_at: datetime
    since: str
    """The period of the changes and the charts, as written (``7d``)."""
    boards: tuple[str, ...]
    linked: frozenset[str]
    """Boards whose postings the daemon can open (a fresh signed link at ``links/KEY``)."""
    status: StatusFacts
    drift: list[DriftRow]
    visits: list[VisitRow]
    visits_by_day: Daily
    applicants: list[Conversion]
    by_board: list[Conversion]
    effects: list[DriftEffect]
    upcoming: tuple[UpcomingItem, ...]
    runs: list[RunHistory]


def gather(desired: Desired, store: Store, *, since: timedelta, since_text: str, now: datetime) -> Dashboard:
    """Read what the page shows: the state as of `now`, changes and charts from `now - since`."""
    start = now - since
    drift = reads.drift_rows(store)
    visits = reads.visit_rows(store, start)
    with offline.offline_connectors(desired) as connectors:
        boards = tuple(connectors)
        linked = frozenset(name for name, c in connectors.items() if c.SUPPORTS_LINKS)
    return Dashboard(
        generated_at=now, since=since_text, boards=boards, linked=linked,
        status=reads.status_facts(desired, store, now),
        drift=_open_first(drift),
        visits=visits,
        visits_by_day=figures.daily_growth(visit_samples(store, start), start, now),
        applicants=figures.by_channel(visits),
        by_board=figures.by_board(visits, boards),
        effects=figures.drift_effects(drift, _visits_around(store, drift), now),
        upcoming=offline.upcoming(desired, store, now),
        runs=[RunHistory(run, {}) for run in store.last_runs(limit=LAST_RUNS)],
    )


def _open_first(rows: list[DriftRow]) -> list[DriftRow]:
    """Open drift (newest first), then the ended ones, the latest ended first."""
    ended = sorted((r for r in rows if not r.open), key=lambda r: r.resolved_at.isoformat() if r.resolved_at else "",
                   reverse=True)
    return [r for r in rows if r.open] + ended


def _visits_around(store: Store, drift: list[DriftRow]) -> list[Sample]:
    """The drifted postings' visit samples from a week before the oldest drift opened."""
    opened = [r.first_seen for r in drift if r.first_seen is not None]
    if not opened:
        return []
    return visit_samples(store, min(opened) - figures.BEFORE, {r.posting for r in drift})


# ------------------------------------------------------------------------------ HTML


def render(dashboard: Dashboard, *, standalone: bool = False) -> str:
    """The page. `standalone`: one file with the chart library and the data inside (a
    report); otherwise it loads its scripts from the daemon and links each posting on a
    board of signed links to the daemon's ``links/KEY``."""
    template = _environment().get_template("dashboard.html")
    return template.render(
        d=dashboard, standalone=standalone, scripts=_scripts(standalone), charts=_chart_json(dashboard),
        matrix=_matrix(dashboard, links=not standalone), counters=visits_rows(dashboard.visits),
        css=asset("dashboard.css"),
    )


def asset(name: str) -> str:
    """A file the page uses, shipped in the package (`static/`)."""
    return resources.files("boardsync.dashboard").joinpath("static", name).read_text(encoding="utf-8")


def _scripts(standalone: bool) -> list[dict[str, str]]:
    if standalone:
        return [{"inline": _inline(asset(name))} for name in ASSETS]
    return [{"src": f"assets/{name}"} for name in ASSETS]


def _inline(script: str) -> str:
    """A script to put inside a <script> element, which it must not close early."""
    if "</script" in script.lower():
        raise ValueError("a script of the dashboard holds </script and cannot be inlined")
    return script


@functools.cache
def _environment() -> jinja2.Environment:
    """The templates, compiled once per process."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("boardsync.dashboard", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )
    env.filters.update(when=_when, rate=_rate, percent=_percent, amount=_amount, short=_short)
    return env


@dataclass(frozen=True)
class Cell:
    row: StatusRow | None
    link: str | None


def _matrix(dashboard: Dashboard, *, links: bool) -> list[tuple[str, list[Cell]]]:
    """Per posting, one cell per board: its status row (None when it is not sent there)."""
    rows = {(r.posting, r.provider): r for r in dashboard.status.rows}
    postings = sorted({r.posting for r in dashboard.status.rows})
    return [
        (key, [Cell(rows.get((key, board)), _link(dashboard, key, board, links)) for board in dashboard.boards])
        for key in postings
    ]


def _link(dashboard: Dashboard, key: str, board: str, links: bool) -> str | None:
    # Neither Sorce nor Hirempire documents a public address of a job, and Hirempire's tracked
    # source URLs count a visit each time they are opened: only a board of signed links has an
    # address to offer, the daemon's own redirect to a fresh link.
    if links and board in dashboard.linked:
        return f"links/{quote(key, safe='')}"
    return None


def _chart_json(dashboard: Dashboard) -> str:
    """The charts' data as JSON that is safe inside a <script> element."""
    daily = dashboard.visits_by_day
    data = {
        "visits": {"days": [d.isoformat() for d in daily.days], "channels": daily.values},
        "applicants": {c.name: c.applicants or 0 for c in dashboard.applicants},
        "conversion": {c.name: round(c.rate * 100, 2) for c in dashboard.applicants if c.rate is not None},
        "boards": {c.name: round(c.rate * 100, 2) for c in dashboard.by_board if c.rate is not None},
    }
    return json.dumps(data, sort_keys=True).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def _rate(value: float | None) -> str:
    return "not known" if value is None else f"{value:.1f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _amount(value: int | None) -> str:
    return "-" if value is None else str(value)


def _short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"
