"""What the dashboard's tests share: a state database filled by real runs against the sandbox
boards (visits through the tracked URLs, applicants, hand edits on a board), and a reader of
the page's HTML that gives back the numbers it shows."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

from boardsync.reconcile import collect_metrics, reconcile
from tests.reconcile_helpers import Workspace

POSTING = "backend-engineer"
EDITED = "product-designer"


class Days:
    """The runs' clock, set back in days: a week of runs takes seconds (never a sleep). The
    runs go forward in time, as samples are written in the order they were observed."""

    def __init__(self) -> None:
        self.start = datetime.now(UTC)

    def ago(self, days: float) -> Callable[[], datetime]:
        at = self.start - timedelta(days=days)
        return lambda: at


def run_at(ws: Workspace, clock: Callable[[], datetime], *, metrics: bool = False) -> str:
    """A reconcile (or a metrics read) of the repository as it stands, at `clock`'s moment."""
    with ws.opened() as (desired, store, connectors):
        if metrics:
            return collect_metrics(desired, store, connectors, clock=clock).outcome
        return reconcile(desired, store, connectors, clock=clock).outcome


def fill(ws: Workspace) -> None:
    """Nine days of real runs against the sandbox boards: visits through two of a posting's
    tracked URLs on Hirempire, applicants there and on Sorce, a metrics read; its Hirempire
    title edited by hand and left as drift (self_heal off) for three days in which its visits
    fall, then put back; a second hand edit, on Sorce, still open. Then a run and a metrics
    read now, so a daemon started on it has nothing due for an hour."""
    days = Days()
    assert run_at(ws, days.ago(9)) == "converged"
    job = _hirempire_job(ws, POSTING)
    sources = {s["source_name"]: s["id"] for s in job["sources"]["items"]}
    hirempire = ws.sandbox.hirempire
    hirempire.add_visits(sources["indeed"], 20)
    hirempire.add_visits(sources["linkedin"], 6)
    assert run_at(ws, days.ago(8.2)) == "converged"
    hirempire.add_visits(sources["indeed"], 22)
    hirempire.add_visits(sources["linkedin"], 4)
    for channel in ("indeed", "indeed", "linkedin"):
        hirempire.add_candidate(job["id"], channel)
    ws.sandbox.sorce.add_applications(ws.remote_id(POSTING, "sorce"), 2)
    assert run_at(ws, days.ago(6.9)) == "converged"
    assert run_at(ws, days.ago(6.8), metrics=True) == "converged"

    ws.write_config(self_heal=False)
    hirempire.edit_job(job["id"], job_title="Edited by hand")
    assert run_at(ws, days.ago(6)) == "drifted"
    hirempire.add_visits(sources["indeed"], 2)
    assert run_at(ws, days.ago(4.5)) == "drifted"
    ws.write_config(self_heal=True)
    assert run_at(ws, days.ago(3)) == "converged"
    hirempire.add_visits(sources["indeed"], 15)
    hirempire.add_visits(sources["linkedin"], 5)
    assert run_at(ws, days.ago(1.8)) == "converged"
    ws.write_config(self_heal=False)
    ws.sandbox.sorce.edit_job(ws.remote_id(EDITED, "sorce"), title="Edited by hand")
    assert run_at(ws, days.ago(1)) == "drifted"
    assert ws.run("reconcile").code == 2
    assert run_at(ws, lambda: datetime.now(UTC), metrics=True) == "converged"


def _hirempire_job(ws: Workspace, key: str) -> dict[str, Any]:
    return next(j for j in ws.hirempire_jobs() if j["public_slug"] == f"bs-{key}")


def cli_json(ws: Workspace, *argv: str) -> Any:
    ran = ws.run(*argv, "--json")
    assert ran.code in (0, 2), ran.err
    return json.loads(ran.out)


# ------------------------------------------------------------------------------ the page


@dataclass
class Page:
    """What the page shows, read back from its HTML."""

    pairs: list[dict[str, str]] = field(default_factory=list)
    """Each posting × board cell's data attributes."""
    drift: list[tuple[int, bool]] = field(default_factory=list)
    """(drift id, open) in the order shown: the open table, then the timeline."""
    effects: list[int] = field(default_factory=list)
    conversion: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    """"channel" or "board" → name → (visits, applicants) as shown."""
    tables: dict[str, list[list[str]]] = field(default_factory=dict)
    """A table's class → its body rows' cell texts."""
    runs: list[int] = field(default_factory=list)
    upcoming: list[str] = field(default_factory=list)
    charts: dict[str, Any] = field(default_factory=dict)
    scripts: list[dict[str, str | None]] = field(default_factory=list)
    canvases: list[str] = field(default_factory=list)


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._by: str | None = None
        self._script: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self._mark(tag, a)
        if tag == "table":
            self._table, self._by = a.get("class"), a.get("data-by")
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "script":
            self._script, self._text = a, []

    def _mark(self, tag: str, a: dict[str, str | None]) -> None:
        if tag == "td" and "data-health" in a:
            self.page.pairs.append({k[5:]: v or "" for k, v in a.items() if k.startswith("data-")})
        if "data-open" in a:
            self.page.drift.append((int(a["data-drift-id"] or 0), a["data-open"] == "true"))
        elif "data-drift-id" in a:
            self.page.effects.append(int(a["data-drift-id"] or 0))
        if tag == "tr" and self._by is not None and "data-name" in a:
            self.page.conversion.setdefault(self._by, {})[a["data-name"] or ""] = (
                a["data-visits"] or "", a["data-applicants"] or "")
        if "data-run" in a:
            self.page.runs.append(int(a["data-run"] or 0))
        if "data-kind" in a:
            self.page.upcoming.append(a["data-kind"] or "")
        if tag == "canvas":
            self.page.canvases.append(a.get("data-chart") or "")

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._script is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            self.page.tables.setdefault(self._table, []).append(self._row)
            self._row = None
        elif tag == "table":
            self._table = self._by = None
        elif tag == "script" and self._script is not None:
            self._ended_script("".join(self._text))

    def _ended_script(self, text: str) -> None:
        assert self._script is not None
        if self._script.get("id") == "chart-data":
            self.page.charts = json.loads(text)
        else:
            self.page.scripts.append({"src": self._script.get("src"), "inline": text or None})
        self._script = None


def read_page(html: str) -> Page:
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return reader.page


def body_rows(page: Page, table: str) -> list[list[str]]:
    """A table's rows less its heading row."""
    return page.tables.get(table, [])[1:]


def shown(value: Any) -> str:
    """A value as a cell shows it."""
    return "-" if value is None else str(value)
