"""The daemon's metrics registry and exposition, on prometheus_client.

Each daemon has its own `CollectorRegistry` (not the library's global one), holding the
process, platform and garbage-collector collectors, the instruments that live in the process,
and collectors that read the state database at scrape time. A scrape-time collector that
fails is left out of that scrape and counted in ``boardsync_metrics_collector_errors_total``:
one broken query must not blank the whole page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from boardsync.log import get_logger

log = get_logger(__name__)

__all__ = ["GuardedCollector", "collector_errors", "exposition", "new_registry"]


def new_registry() -> CollectorRegistry:
    """A registry of its own, with what the library knows of the process already in it."""
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


class GuardedCollector(Collector):
    """Families computed at scrape time by `collect`; a failure leaves them out of that scrape
    and counts one error under `name`."""

    def __init__(self, name: str, collect: Callable[[], Iterable[Metric]], errors: Counter) -> None:
        self.name = name
        self._collect = collect
        self._errors = errors
        errors.labels(collector=name)  # 0 until the first failure, not absent

    def collect(self) -> Iterable[Metric]:
        try:
            return list(self._collect())
        except Exception as exc:  # a scrape shows what it can; the error is its own series
            log.warning("metrics_collector_failed", collector=self.name, error=str(exc))
            self._errors.labels(collector=self.name).inc()
            return []

    def describe(self) -> Iterable[Metric]:
        # Nothing to declare up front: the families depend on what the database holds, and
        # describing by collecting would query it at registration.
        return []


def collector_errors() -> Counter:
    """The counter of failed scrape-time collectors, not yet in any registry: register it
    after the collectors it counts, so a failure shows in the very scrape it happened in."""
    return Counter(
        "boardsync_metrics_collector_errors", "Scrapes in which a collector failed.", ["collector"], registry=None
    )


def exposition(registry: CollectorRegistry, accept: str | None) -> tuple[bytes, str]:
    """The registry's samples in the format the scraper asks for in its Accept header:
    OpenMetrics when it says so, else Prometheus text 0.0.4. Returns (body, content type)."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type
