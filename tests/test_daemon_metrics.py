"""Prometheus text exposition, as the daemon writes it."""

from __future__ import annotations

import math

import pytest

from boardsync.daemon.metrics import Family, Registry, render


def test_counter_renders_help_type_and_labelled_samples() -> None:
    """A counter shows its HELP and TYPE lines, then one sample per label set."""
    registry = Registry()
    runs = registry.counter("boardsync_runs_total", "Runs by kind and result.", ["kind", "result"])
    runs.inc(kind="reconcile", result="ok")
    runs.inc(2, kind="reconcile", result="ok")
    runs.inc(kind="metrics", result="error")
    text = render([runs.collect()])
    assert text == (
        "# HELP boardsync_runs_total Runs by kind and result.\n"
        "# TYPE boardsync_runs_total counter\n"
        'boardsync_runs_total{kind="metrics",result="error"} 1\n'
        'boardsync_runs_total{kind="reconcile",result="ok"} 3\n'
    )


def test_histogram_buckets_are_cumulative_with_sum_and_count() -> None:
    """Each bucket counts every observation at or below its bound; +Inf counts them all."""
    registry = Registry()
    hist = registry.histogram("d_seconds", "Durations.", [1, 5], ["kind"])
    for value in (0.5, 3, 7):
        hist.observe(value, kind="reconcile")
    lines = render([hist.collect()]).splitlines()[2:]
    assert lines == [
        'd_seconds_bucket{kind="reconcile",le="1"} 1',
        'd_seconds_bucket{kind="reconcile",le="5"} 2',
        'd_seconds_bucket{kind="reconcile",le="+Inf"} 3',
        'd_seconds_sum{kind="reconcile"} 10.5',
        'd_seconds_count{kind="reconcile"} 3',
    ]


def test_label_values_and_help_are_escaped() -> None:
    """Quotes, backslashes and newlines in labels cannot break the line format."""
    family = Family("x", "gauge", "two\nlines").add(1, channel='a"b\\c\nd')
    assert render([family]) == '# HELP x two\\nlines\n# TYPE x gauge\nx{channel="a\\"b\\\\c\\nd"} 1\n'


def test_special_values_use_prometheus_spelling() -> None:
    """Infinity and NaN are written as +Inf and NaN; fractions keep their digits."""
    family = Family("v", "gauge", "h").add(math.inf, a="1").add(math.nan, a="2").add(0.25, a="3")
    assert render([family]).splitlines()[2:] == ['v{a="1"} +Inf', 'v{a="2"} NaN', 'v{a="3"} 0.25']


def test_wrong_labels_are_refused() -> None:
    """An instrument refuses a label set other than the one it declared."""
    counter = Registry().counter("c_total", "h", ["board"])
    with pytest.raises(ValueError):
        counter.inc(kind="x")


def test_a_failing_collector_is_counted_and_the_rest_still_render() -> None:
    """One broken scrape-time collector does not blank the whole scrape."""
    registry = Registry()
    registry.gauge("g", "h").set(4)

    def broken() -> list[Family]:
        raise RuntimeError("database gone")

    registry.add_collector("broken", broken)
    registry.add_collector("fine", lambda: [Family("h", "gauge", "h").add(5)])
    text = registry.render()
    assert "\ng 4\n" in text and "\nh 5\n" in text
    assert 'boardsync_metrics_collector_errors_total{collector="broken"} 1' in text
