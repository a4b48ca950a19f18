"""The authority's Prometheus metrics (``GET /metrics``), with ``prometheus_client``.

Counters (``pausebutton_authority_<name>_total``) count what this server did: chips
registered, licences issued, reports accepted, 401/403 answers, background-loop
failures; gauges: clients waiting for an order, background loops now failing; and, at
each scrape, the database's counts (``pausebutton_authority_<table>``).

Under ``authority serve --workers N`` the serve command sets ``PROMETHEUS_MULTIPROC_DIR``
to a private directory before the workers start: every worker writes its values there
and any worker's ``/metrics`` answers the sum over all of them (one coherent set). An
app built without it (tests, in-process use) keeps its values in a registry of its own,
so two apps in one process never share counts.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    disable_created_metrics,
    generate_latest,
    values,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

PREFIX = "pausebutton_authority_"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

COUNTERS = {
    "chips_registered": "Chips registered.",
    "licenses_issued": "Licences issued.",
    "orders_assembled": "Pause/resume orders assembled.",
    "reports_accepted": "Usage reports accepted.",
    "prohibited_lists": "Prohibited-artifact lists published.",
    "artifact_reports": "Refused-load reports accepted from node agents.",
    "location_measurements": "Landmark measurements accepted.",
    "time_tokens": "Time tokens served.",
    "auth_401": "Requests refused 401 (missing, bad or replayed signature).",
    "auth_403": "Requests refused 403 (the key's role may not call this).",
    "deadlock_retries": "Write transactions run again after a deadlock or serialization failure.",
    "verifier_failures": (
        "Report-signature helper processes that failed (their chunks were checked in the"
        " worker instead)."
    ),
}

disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series


def multiprocess() -> bool:
    """True when this process writes its metric values to ``PROMETHEUS_MULTIPROC_DIR``
    (the variable was set before prometheus_client was first imported)."""
    return bool(os.environ.get(MULTIPROC_ENV)) and values.ValueClass is not values.MutexValue


class _Stats(Collector):
    """The database's counts, read at scrape time (the same from every worker)."""

    def __init__(self, stats: Mapping[str, int]) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        for name, value in sorted(self.stats.items()):
            yield GaugeMetricFamily(PREFIX + name, f"{name} in the database", value=value)


class Metrics:
    """One app's metrics; see the module docstring for the multi-worker mode."""

    def __init__(self) -> None:
        self.multiprocess = multiprocess()
        self.registry = None if self.multiprocess else CollectorRegistry(auto_describe=True)
        self._counters: dict[str, Counter] = {}
        for name, text in COUNTERS.items():
            self._counter(name, text)
        self.loop_failures = Counter(
            PREFIX + "background_failures",
            "Failed runs of a background loop (order feed, checkpointer, WAL, location).",
            ["loop"],
            registry=self.registry,
        )
        self.loop_failing = Gauge(
            PREFIX + "background_failing",
            "1 while a background loop's latest run failed (max over workers).",
            ["loop"],
            registry=self.registry,
            multiprocess_mode="livemax",
        )
        self.order_waiters = Gauge(
            PREFIX + "order_waiters",
            "Clients waiting for an order (long-poll and event streams), over all workers.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )

    def _counter(self, name: str, text: str) -> Counter:
        counter = self._counters.get(name)
        if counter is None:
            counter = Counter(PREFIX + name, text, registry=self.registry)
            self._counters[name] = counter
        return counter

    def count(self, name: str, n: int = 1) -> None:
        if n:
            self._counter(name, name.replace("_", " ")).inc(n)

    def render(self, stats: Mapping[str, int]) -> bytes:
        """The Prometheus text exposition: the database counts, then this server's
        counters and gauges (all workers' when multiprocess)."""
        db = CollectorRegistry(auto_describe=False)
        db.register(_Stats(stats))
        if self.multiprocess:
            own = CollectorRegistry(auto_describe=False)
            MultiProcessCollector(own)  # type: ignore[no-untyped-call]
        else:
            assert self.registry is not None
            own = self.registry
        return generate_latest(db) + generate_latest(own)

    def close(self) -> None:
        """This worker stops: its live gauges leave the multiprocess sums."""
        if self.multiprocess:
            mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


__all__ = ["CONTENT_TYPE", "COUNTERS", "MULTIPROC_ENV", "Metrics", "multiprocess"]
