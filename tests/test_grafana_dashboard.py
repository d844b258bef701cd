"""The Grafana dashboard shipped in examples/grafana/ reads only what the daemon's /metrics
exports: a metric renamed on one side and not the other shows up here, not as an empty panel."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from boardsync.connectors.http import RequestTally
from boardsync.daemon.instruments import DaemonMetrics
from boardsync.state.tables import INTENT_STATES
from boardsync.state.store import open_store

DASHBOARD = Path(__file__).resolve().parent.parent / "examples" / "grafana" / "boardsync.json"
METRIC = re.compile(r"\bboardsync_[a-z_]+")
SELECTOR = re.compile(r'(boardsync_[a-z_]+)\{(\w+)="([^"]*)"\}')


def _exprs(dashboard: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def _exported(tmp_path: Path) -> tuple[set[str], str]:
    """The family and sample names a daemon's /metrics page holds, and the page."""
    with open_store(f"sqlite:///{tmp_path / 'state.db'}") as store:
        page = DaemonMetrics(store, tally=RequestTally(), boards=["sorce", "hirempire"]).text()
    names = set()
    for family in text_string_to_metric_families(page):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    return names, page


def test_every_panel_queries_metrics_the_daemon_exports(tmp_path: Path) -> None:
    """Each metric a panel's query names is a family or a sample of /metrics, and each label
    value a query selects on is one the daemon uses."""
    dashboard = json.loads(DASHBOARD.read_text())
    exported, _ = _exported(tmp_path)
    exprs = _exprs(dashboard)
    named = {name for expr in exprs for name in METRIC.findall(expr)}
    assert named and named <= exported, sorted(named - exported)
    for expr in exprs:
        for metric, label, value in SELECTOR.findall(expr):
            assert (metric, label) == ("boardsync_intents", "state") and value in INTENT_STATES, expr


def test_the_dashboard_is_importable_as_it_is(tmp_path: Path) -> None:
    """A dashboard Grafana imports: a title and uid, every panel on the datasource variable
    with a query per target, panels laid out without overlapping."""
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["title"] and dashboard["uid"]
    assert [v["name"] for v in dashboard["templating"]["list"]] == ["datasource"]
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}" and panel["targets"]
        assert all(t["expr"] and t["refId"] for t in panel["targets"])
        pos = panel["gridPos"]
        area = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not area & cells, panel["title"]
        cells |= area
