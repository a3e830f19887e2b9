"""Counters, gauges and histograms kept as plain numbers, exposed in Prometheus's format.

Why not prometheus_client's own metric classes: each `inc()` or `observe()` there takes a
`threading.Lock`, which costs the webhook path ~25 µs an event over the four to five updates
it makes. Here every update comes from the event loop's one thread (handlers, never executor
threads), so a plain `+=` is safe, and prometheus_client still does the exposition: a
`Collector` registered in its default registry reads these numbers at scrape time, so
`/metrics` and `REGISTRY.get_sample_value` see them as before.

Do not update these from another thread: `+=` on an attribute is not atomic across threads.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from typing import Generic, TypeVar

from prometheus_client.core import (
    REGISTRY,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

C = TypeVar("C")


class CountChild:
    """One label set of a counter or gauge."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount

    def dec(self, amount: float = 1.0) -> None:
        self.value -= amount


class HistogramChild:
    """One label set of a histogram: a count per bucket (not cumulative) and the sum."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        # Prometheus buckets are "less than or equal": the first bound >= value
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value


class Family(ABC, Generic[C]):
    """A metric with its children by label values; `labels()` as in prometheus_client."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self.children: dict[tuple[str, ...], C] = {}
        if not self.labelnames:
            self.children[()] = self._new_child()

    @abstractmethod
    def _new_child(self) -> C:
        """A child for one set of label values (a counter, a histogram...)."""

    def labels(self, *values: str) -> C:
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name}: expected labels {self.labelnames}, got {values}")
        key = tuple(str(value) for value in values)
        child = self.children.get(key)
        if child is None:
            child = self.children[key] = self._new_child()
        return child

    def _only(self) -> C:
        if self.labelnames:
            raise ValueError(f"{self.name} has labels {self.labelnames}: use labels()")
        return self.children[()]


class Counter(Family[CountChild]):
    exposed_as: type[CounterMetricFamily | GaugeMetricFamily] = CounterMetricFamily

    def _new_child(self) -> CountChild:
        return CountChild()

    def inc(self, amount: float = 1.0) -> None:
        self._only().inc(amount)

    def family(self) -> Metric:
        metric = self.exposed_as(self.name, self.documentation, labels=self.labelnames)
        for values, child in self.children.items():
            metric.add_metric(list(values), child.value)
        return metric


class Gauge(Counter):
    exposed_as = GaugeMetricFamily

    def dec(self, amount: float = 1.0) -> None:
        self._only().dec(amount)


class Histogram(Family[HistogramChild]):
    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str], buckets: Sequence[float]
    ) -> None:
        self.bounds = tuple(sorted(float(bound) for bound in buckets))
        super().__init__(name, documentation, labelnames)

    def _new_child(self) -> HistogramChild:
        return HistogramChild(self.bounds)

    def observe(self, value: float) -> None:
        self._only().observe(value)

    def family(self) -> Metric:
        metric = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for values, child in self.children.items():
            cumulative, buckets = 0, []
            for bound, count in zip((*self.bounds, float("inf")), child.counts, strict=True):
                cumulative += count
                buckets.append((_bound_text(bound), float(cumulative)))
            metric.add_metric(list(values), buckets, child.sum)
        return metric


def _bound_text(bound: float) -> str:
    """`le` label text as prometheus_client writes it (`0.005`, `1.0`, `+Inf`)."""
    return "+Inf" if bound == float("inf") else repr(bound)


AnyFamily = Counter | Histogram


class TallyCollector(Collector):
    """Hands prometheus_client the current numbers of every registered family at scrape."""

    def __init__(self) -> None:
        self.families: list[AnyFamily] = []

    def add(self, family: AnyFamily) -> None:
        self.families.append(family)

    def collect(self) -> Iterator[Metric]:
        for family in self.families:
            yield family.family()


COLLECTOR = TallyCollector()
REGISTRY.register(COLLECTOR)


def counter(name: str, documentation: str, labelnames: Sequence[str] = ()) -> Counter:
    found = Counter(name, documentation, labelnames)
    COLLECTOR.add(found)
    return found


def gauge(name: str, documentation: str, labelnames: Sequence[str] = ()) -> Gauge:
    found = Gauge(name, documentation, labelnames)
    COLLECTOR.add(found)
    return found


def histogram(
    name: str, documentation: str, labelnames: Sequence[str], buckets: Sequence[float]
) -> Histogram:
    found = Histogram(name, documentation, labelnames, buckets)
    COLLECTOR.add(found)
    return found
