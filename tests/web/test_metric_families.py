"""One metrics system: the pipeline's metrics are prometheus_client's own, under the names,
types and labels dashboards already query."""

from __future__ import annotations

from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

from ivr.calls import metrics

# name -> (type, label names): what /metrics has always exposed
EXPECTED = {
    "ivr_active_calls": ("gauge", ()),
    "ivr_events": ("counter", ("adapter", "kind")),
    "ivr_duplicate_events": ("counter", ("adapter",)),
    "ivr_rejected_requests": ("counter", ("adapter", "reason")),
    "ivr_unknown_call_events": ("counter", ("adapter",)),
    "ivr_deadline_overruns": ("counter", ()),
    "ivr_step_outcomes": ("counter", ("step", "outcome")),
    "ivr_calls_ended": ("counter", ("ended_by", "idv_status")),
    "ivr_webhook_seconds": ("histogram", ("adapter",)),
    "ivr_reloads": ("counter", ("result",)),
    "ivr_token_checks": ("counter", ("result",)),
    "ivr_gateway_errors": ("counter", ("adapter",)),
    "ivr_fallbacks": ("counter", ("cause",)),
    "ivr_language_fallbacks": ("counter", ("flow",)),
}


def test_every_metric_is_prometheus_clients_own() -> None:
    found = [value for value in vars(metrics).values() if isinstance(value, MetricWrapperBase)]
    assert len(found) == len(EXPECTED)


def test_names_types_and_labels_are_unchanged() -> None:
    metrics.child(metrics.EVENTS, "json", "dtmf").inc()  # so every family has a sample
    families = {family.name: family for family in REGISTRY.collect()}
    for name, (kind, labels) in EXPECTED.items():
        family = families[name]
        assert family.type == kind, name
        sample_labels = {tuple(k for k in sample.labels if k != "le") for sample in family.samples}
        assert sample_labels <= {labels}, name


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_updates_reach_the_exposed_samples() -> None:
    before = {
        "events": value("ivr_events_total", adapter="twilio", kind="gather"),
        "active": value("ivr_active_calls"),
        "le_5ms": value("ivr_webhook_seconds_bucket", adapter="twilio", le="0.005"),
        "le_1ms": value("ivr_webhook_seconds_bucket", adapter="twilio", le="0.001"),
        "count": value("ivr_webhook_seconds_count", adapter="twilio"),
    }
    metrics.child(metrics.EVENTS, "twilio", "gather").inc()
    metrics.child(metrics.EVENTS, "twilio", "gather").inc(2)
    metrics.ACTIVE_CALLS.inc()
    metrics.child(metrics.LATENCY, "twilio").observe(0.003)
    assert value("ivr_events_total", adapter="twilio", kind="gather") == before["events"] + 3
    assert value("ivr_active_calls") == before["active"] + 1
    assert value("ivr_webhook_seconds_bucket", adapter="twilio", le="0.005") == (
        before["le_5ms"] + 1
    )
    assert value("ivr_webhook_seconds_bucket", adapter="twilio", le="0.001") == before["le_1ms"]
    assert value("ivr_webhook_seconds_count", adapter="twilio") == before["count"] + 1
    metrics.ACTIVE_CALLS.dec()


def test_child_is_labels_kept() -> None:
    assert metrics.child(metrics.REJECTED, "json", "signature") is metrics.child(
        metrics.REJECTED, "json", "signature"
    )
    assert metrics.child(metrics.REJECTED, "json", "signature") is metrics.REJECTED.labels(
        "json", "signature"
    )
