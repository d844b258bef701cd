"""Prometheus' text exposition format (version 0.0.4), written out by hand.

Most of what the daemon exposes is read from the state database at scrape time (intents, drift,
blocked pairs, visits); only run counts, durations and request counts live in the process.
prometheus-client would have us write a custom collector for the first kind anyway, and the
format itself is a few lines, so this module is the whole of it: counters, gauges and
histograms with labels, and families computed on demand.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import structlog

log = structlog.get_logger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Sample:
    suffix: str  # "" or "_bucket", "_sum", "_count"
    labels: Labels
    value: float


@dataclass
class Family:
    """One metric family: its name, type, help line and samples."""

    name: str
    kind: str  # counter | gauge | histogram
    help: str
    samples: list[Sample] = field(default_factory=list)

    def add(self, value: float, suffix: str = "", **labels: str) -> Family:
        self.samples.append(Sample(suffix, tuple(labels.items()), value))
        return self


def render(families: Iterable[Family]) -> str:
    """The families as Prometheus text, one HELP and TYPE line each, then the samples."""
    lines: list[str] = []
    for family in families:
        lines.append(f"# HELP {family.name} {_escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        for sample in family.samples:
            lines.append(f"{family.name}{sample.suffix}{_labels(sample.labels)} {_number(sample.value)}")
    return "\n".join(lines) + "\n"


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{_escape_value(str(value))}"' for key, value in labels) + "}"


def _escape_value(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


# ------------------------------------------------------------------------------ instruments


class _Instrument:
    kind = ""

    def __init__(self, name: str, help: str, labelnames: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help
        self.labelnames = tuple(labelnames)
        self._lock = threading.Lock()

    def _key(self, labels: Mapping[str, str]) -> Labels:
        if set(labels) != set(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {tuple(labels)}")
        return tuple((name, str(labels[name])) for name in self.labelnames)

    def collect(self) -> Family:
        raise NotImplementedError


class Counter(_Instrument):
    """A value that only goes up (until the process restarts, which Prometheus expects)."""

    kind = "counter"

    def __init__(self, name: str, help: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, help, labelnames)
        self._values: dict[Labels, float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        with self._lock:
            return self._values.get(self._key(labels), 0.0)

    def collect(self) -> Family:
        with self._lock:
            samples = [Sample("", key, value) for key, value in sorted(self._values.items())]
        return Family(self.name, self.kind, self.help, samples)


class Gauge(_Instrument):
    """A value that is set, not accumulated."""

    kind = "gauge"

    def __init__(self, name: str, help: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, help, labelnames)
        self._values: dict[Labels, float] = {}

    def set(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = value

    def collect(self) -> Family:
        with self._lock:
            samples = [Sample("", key, value) for key, value in sorted(self._values.items())]
        return Family(self.name, self.kind, self.help, samples)


class Histogram(_Instrument):
    """Observations counted into cumulative buckets, with their sum and count."""

    kind = "histogram"

    def __init__(self, name: str, help: str, buckets: Sequence[float], labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, help, labelnames)
        self.buckets = tuple(sorted(buckets)) + (math.inf,)
        self._series: dict[Labels, tuple[list[int], float]] = {}

    def observe(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            counts, total = self._series.get(key, ([0] * len(self.buckets), 0.0))
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    counts[i] += 1
            self._series[key] = (counts, total + value)

    def collect(self) -> Family:
        family = Family(self.name, self.kind, self.help)
        with self._lock:
            series = sorted((key, (list(counts), total)) for key, (counts, total) in self._series.items())
        for key, (counts, total) in series:
            for bound, count in zip(self.buckets, counts, strict=True):
                family.samples.append(Sample("_bucket", key + (("le", _number(bound)),), count))
            family.samples.append(Sample("_sum", key, total))
            family.samples.append(Sample("_count", key, counts[-1]))
        return family


class Registry:
    """Instruments that live in the process, and collectors that compute families at scrape
    time. A collector that fails is left out of that scrape (and counted), not fatal."""

    def __init__(self) -> None:
        self._instruments: list[_Instrument] = []
        self._collectors: list[tuple[str, Callable[[], Iterable[Family]]]] = []
        self.collector_errors = Counter(
            "boardsync_metrics_collector_errors_total", "Scrapes in which a collector failed.", ["collector"]
        )
        self.register(self.collector_errors)

    def register(self, instrument: _Instrument) -> None:
        self._instruments.append(instrument)

    def counter(self, name: str, help: str, labelnames: Sequence[str] = ()) -> Counter:
        counter = Counter(name, help, labelnames)
        self.register(counter)
        return counter

    def gauge(self, name: str, help: str, labelnames: Sequence[str] = ()) -> Gauge:
        gauge = Gauge(name, help, labelnames)
        self.register(gauge)
        return gauge

    def histogram(self, name: str, help: str, buckets: Sequence[float], labelnames: Sequence[str] = ()) -> Histogram:
        histogram = Histogram(name, help, buckets, labelnames)
        self.register(histogram)
        return histogram

    def add_collector(self, name: str, collector: Callable[[], Iterable[Family]]) -> None:
        """Compute families at each scrape; `name` labels the collector's failures."""
        self._collectors.append((name, collector))

    def families(self) -> list[Family]:
        computed: list[Family] = []
        for name, collector in self._collectors:
            try:
                computed.extend(collector())
            except Exception as exc:  # a scrape shows what it can; the error is its own series
                log.warning("metrics_collector_failed", collector=name, error=str(exc))
                self.collector_errors.inc(collector=name)
        return [instrument.collect() for instrument in self._instruments] + computed

    def render(self) -> str:
        return render(self.families())
