"""Lock-free metrics: what they expose is what prometheus_client's own classes would."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client import Counter as PromCounter
from prometheus_client import Gauge as PromGauge
from prometheus_client import Histogram as PromHistogram

from ivr.web.tally import Counter, Gauge, Histogram, TallyCollector

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.5, 1.0, 8.0)


def samples(registry: CollectorRegistry) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
    """Every sample but the `_created` timestamps prometheus_client adds."""
    return {
        (sample.name, tuple(sorted(sample.labels.items())), sample.value)
        for family in registry.collect()
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


def tally_registry(*families: Counter | Histogram) -> CollectorRegistry:
    registry, collector = CollectorRegistry(), TallyCollector()
    for family in families:
        collector.add(family)
    registry.register(collector)
    return registry


values = st.floats(min_value=0, max_value=20, allow_nan=False) | st.sampled_from(BUCKETS)


@given(st.lists(st.tuples(st.sampled_from(["twilio", "json"]), values), max_size=40))
def test_histogram_exposes_the_same_samples_as_prometheus_client(
    observed: list[tuple[str, float]],
) -> None:
    ours = Histogram("ivr_t_seconds", "t", ["adapter"], BUCKETS)
    theirs_registry = CollectorRegistry()
    theirs = PromHistogram(
        "ivr_t_seconds", "t", ["adapter"], buckets=BUCKETS, registry=theirs_registry
    )
    for adapter, value in observed:
        ours.labels(adapter).observe(value)
        theirs.labels(adapter).observe(value)
    assert samples(tally_registry(ours)) == samples(theirs_registry)


@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), st.integers(1, 3)), max_size=30))
def test_counter_and_gauge_expose_the_same_samples_as_prometheus_client(
    steps: list[tuple[str, int]],
) -> None:
    counter = Counter("ivr_t_total", "t", ["step"])
    gauge = Gauge("ivr_t_active", "t")
    theirs_registry = CollectorRegistry()
    their_counter = PromCounter("ivr_t_total", "t", ["step"], registry=theirs_registry)
    their_gauge = PromGauge("ivr_t_active", "t", registry=theirs_registry)
    for step, amount in steps:
        counter.labels(step).inc(amount)
        their_counter.labels(step).inc(amount)
        gauge.inc(amount)
        their_gauge.inc(amount)
        gauge.dec()
        their_gauge.dec()
    assert samples(tally_registry(counter, gauge)) == samples(theirs_registry)


def test_exposition_text_is_prometheus_text() -> None:
    latency = Histogram("ivr_t2_seconds", "Time to answer", ["adapter"], (0.005, 1.0))
    latency.labels("twilio").observe(0.002)
    latency.labels("twilio").observe(2.0)
    text = generate_latest(tally_registry(latency)).decode()
    assert "# TYPE ivr_t2_seconds histogram" in text
    assert 'ivr_t2_seconds_bucket{adapter="twilio",le="0.005"} 1.0' in text
    assert 'ivr_t2_seconds_bucket{adapter="twilio",le="+Inf"} 2.0' in text
    assert 'ivr_t2_seconds_count{adapter="twilio"} 2.0' in text


def test_wrong_label_count_and_unlabelled_use_of_a_labelled_metric_are_refused() -> None:
    counter = Counter("ivr_t3_total", "t", ["step"])
    with pytest.raises(ValueError, match="expected labels"):
        counter.labels("a", "b")
    with pytest.raises(ValueError, match="use labels"):
        counter.inc()
