"""The daemon's /metrics on prometheus_client: its own registry, every counter from 0, the
process collectors, OpenMetrics on request, and a broken collector that blanks nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from boardsync.connectors.http import RequestTally
from boardsync.daemon.instruments import DaemonMetrics
from boardsync.state.store import Store, open_store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    yield opened  # type: ignore[misc]
    opened.close()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text page, by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_counters_that_never_moved_are_exported_as_zero(store: Store) -> None:
    """Before any run, request or reload, every run outcome, reload result and (per configured
    board) status class and error kind is a series at 0, not a missing one."""
    page = samples(DaemonMetrics(store, tally=RequestTally(), boards=["sorce", "hirempire"]).text())
    assert page[("boardsync_runs_total", (("kind", "reconcile"), ("result", "failed")))] == 0
    assert page[("boardsync_config_reloads_total", (("result", "refused"),))] == 0
    assert page[("boardsync_runs_skipped_total", (("job", "metrics"),))] == 0
    assert page[("boardsync_requests_total", (("board", "hirempire"), ("status_class", "5xx")))] == 0
    assert page[("boardsync_errors_total", (("board", "sorce"), ("kind", "Ambiguous")))] == 0
    assert page[("boardsync_run_duration_seconds_count", (("kind", "metrics"),))] == 0
    assert page[("boardsync_metrics_collector_errors_total", (("collector", "state"),))] == 0


def test_runs_and_tallied_requests_are_counted_under_their_names(store: Store) -> None:
    """A finished run moves its counter and histogram; the tally's counts show as requests
    and errors, beside the zeros of the classes that saw none."""
    tally = RequestTally()
    tally.record("sorce", "2xx")
    tally.record("sorce", "2xx")
    tally.record_error("sorce", "Transient")
    metrics = DaemonMetrics(store, tally=tally, boards=["sorce"])
    metrics.run_finished("reconcile", "converged", 3.0)
    page = samples(metrics.text())
    assert page[("boardsync_runs_total", (("kind", "reconcile"), ("result", "converged")))] == 1
    assert page[("boardsync_run_duration_seconds_bucket", (("kind", "reconcile"), ("le", "5.0")))] == 1
    assert page[("boardsync_run_duration_seconds_bucket", (("kind", "reconcile"), ("le", "2.5")))] == 0
    assert page[("boardsync_requests_total", (("board", "sorce"), ("status_class", "2xx")))] == 2
    assert page[("boardsync_requests_total", (("board", "sorce"), ("status_class", "4xx")))] == 0
    assert page[("boardsync_errors_total", (("board", "sorce"), ("kind", "Transient")))] == 1
    assert page[("boardsync_intents", (("state", "pending"),))] == 0


def test_the_process_collectors_are_in_the_daemons_own_registry(store: Store) -> None:
    """process_* and python_* series come with the page; two daemons' registries are apart,
    so one's counts never show in the other's."""
    first = DaemonMetrics(store, tally=RequestTally())
    second = DaemonMetrics(store, tally=RequestTally())
    first.run_finished("metrics", "converged", 1.0)
    page = samples(first.text())
    assert page[("process_resident_memory_bytes", ())] > 0
    assert any(name == "python_info" for name, _ in page)
    assert any(name == "python_gc_collections_total" for name, _ in page)
    assert samples(second.text())[("boardsync_runs_total", (("kind", "metrics"), ("result", "converged")))] == 0


def test_openmetrics_when_the_scraper_asks_for_it(store: Store) -> None:
    """An Accept header naming OpenMetrics gets it, ending in # EOF; no header gets text 0.0.4."""
    metrics = DaemonMetrics(store, tally=RequestTally())
    body, content_type = metrics.render("application/openmetrics-text; version=1.0.0; charset=utf-8")
    assert content_type.startswith("application/openmetrics-text; version=1.0.0")
    assert body.decode().endswith("# EOF\n")
    assert "# TYPE boardsync_runs counter\n" in body.decode()
    body, content_type = metrics.render(None)
    assert content_type.startswith("text/plain; version=0.0.4")
    assert "# TYPE boardsync_runs_total counter\n" in body.decode()


def test_label_values_are_escaped(store: Store) -> None:
    """Quotes, backslashes and newlines in a label (a channel name from a board) cannot break
    the line format: the page parses back to the same value."""
    tally = RequestTally()
    tally.record('so"r\\ce\nx', "2xx")
    page = samples(DaemonMetrics(store, tally=tally).text())
    assert page[("boardsync_requests_total", (("board", 'so"r\\ce\nx'), ("status_class", "2xx")))] == 1


def test_a_failing_collector_is_counted_and_the_rest_still_render(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A database read that fails at scrape time leaves its own families out of that scrape
    and counts the failure in it; the rest of the page is there."""
    metrics = DaemonMetrics(store, tally=RequestTally(), boards=["sorce"])

    def broken() -> object:
        raise RuntimeError("database gone")

    monkeypatch.setattr(store, "metrics", broken)
    page = samples(metrics.text())
    assert page[("boardsync_metrics_collector_errors_total", (("collector", "state"),))] == 1
    assert not any(name == "boardsync_intents" for name, _ in page)
    assert page[("boardsync_requests_total", (("board", "sorce"), ("status_class", "2xx")))] == 0
    assert page[("boardsync_runs_total", (("kind", "reconcile"), ("result", "converged")))] == 0
