"""Prometheus metrics of the call pipeline and the webhook server (served at /metrics by ivr.web).

Labels are adapter names, event kinds, step ids and outcome names: words chosen by us or by
the flow author, never anything the caller keyed. Menu outcomes (`key_1`) carry the key the
caller pressed, so they are folded to `key`. Gauges count this process only; sum them over
the workers for the service. These are prometheus_client's own metrics in its default
registry, as the journal's are (ivr.journal.metrics): one metrics system for the process.
The cost of an update is printed by `python -m bench.micro`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

M = TypeVar("M", bound=MetricWrapperBase)
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

ACTIVE_CALLS = Gauge("ivr_active_calls", "Calls started and not yet ended, seen by this process")
EVENTS = Counter("ivr_events_total", "Gateway events applied to calls", ["adapter", "kind"])
DUPLICATES = Counter(
    "ivr_duplicate_events_total",
    "Redelivered events answered from the stored response",
    ["adapter"],
)
REJECTED = Counter(
    "ivr_rejected_requests_total", "Webhooks refused before touching a call", ["adapter", "reason"]
)
UNKNOWN_CALLS = Counter(
    "ivr_unknown_call_events_total",
    "Events for calls not in the store (sent to an agent)",
    ["adapter"],
)
GATEWAY_ERRORS = Counter(
    "ivr_gateway_errors_total",
    "Fatal errors a gateway reported running our documents (the caller is sent to an agent)",
    ["adapter"],
)
OVERRUNS = Counter(
    "ivr_deadline_overruns_total", "Events that overran the response deadline (sent to an agent)"
)
OUTCOMES = Counter("ivr_step_outcomes_total", "Step outcomes", ["step", "outcome"])
CALLS_ENDED = Counter("ivr_calls_ended_total", "Calls ended, by how", ["ended_by", "idv_status"])
LATENCY = Histogram(
    "ivr_webhook_seconds",
    "Time to answer a webhook",
    ["adapter"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0),
)
LANGUAGE_FALLBACKS = Counter(
    "ivr_language_fallbacks_total",
    "Calls asked to speak a language their flow has no prompts in (spoken in the line's)",
    ["flow"],
)
FALLBACKS = Counter(
    "ivr_fallbacks_total",
    "Calls routed on by a fault rather than by the flow, by cause (ivr.journal.faults)",
    ["cause"],
)
RELOADS = Counter("ivr_reloads_total", "Hot reloads of flows, prompts and config", ["result"])
TOKENS = Counter("ivr_token_checks_total", "Visual-IVR token verifications", ["result"])


_children: dict[tuple[int, tuple[str, ...]], MetricWrapperBase] = {}


def child(metric: M, *values: str) -> M:
    """`metric.labels(*values)`, kept per label set: labels() validates and converts the
    values and takes the metric's lock on every call, and the webhook path asks for several
    label sets an event, always the same few."""
    key = (id(metric), values)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(*values)
    return found  # type: ignore[return-value]  # labels() of an M is an M


def outcome_label(outcome: str | None) -> str:
    """A metric-safe outcome name: menu keys are folded so no keyed digit reaches a label."""
    if outcome is None:
        return "none"
    return "key" if outcome.startswith("key_") else outcome


class Counts(Protocol):
    def inc(self, amount: float = 1) -> None: ...


class Observes(Protocol):
    def observe(self, amount: float) -> None: ...


class Bound(dict[K, V], Generic[K, V]):
    """Metric children (or anything derived from label values) bound at first use: every
    later lookup is a plain dict hit, with no call, on the path every webhook takes."""

    def __init__(self, bind: Callable[[K], V]) -> None:
        super().__init__()
        self._bind = bind

    def __missing__(self, key: K) -> V:
        value = self[key] = self._bind(key)
        return value


def _step_outcome(key: tuple[str, str | None]) -> tuple[Counts, str]:
    step, outcome = key
    label = outcome_label(outcome)
    return OUTCOMES.labels(step, label), label


# by (step, outcome as the engine names it): the counter and the outcome's label
STEP_OUTCOMES: Bound[tuple[str, str | None], tuple[Counts, str]] = Bound(_step_outcome)
# by (how it ended, ID&V status)
ENDED: Bound[tuple[str, str], Counts] = Bound(lambda labels: CALLS_ENDED.labels(*labels))


class GatewayMetrics:
    """One adapter's metric children, bound once: the pipeline counts every webhook of that
    adapter through these, with no label lookup per event."""

    def __init__(self, adapter: str) -> None:
        self.adapter = adapter
        self.latency: Observes = LATENCY.labels(adapter)
        self.duplicates: Counts = DUPLICATES.labels(adapter)
        self.unknown_calls: Counts = UNKNOWN_CALLS.labels(adapter)
        # the applied-events counter by event kind
        self.events: Bound[str, Counts] = Bound(lambda kind: EVENTS.labels(adapter, kind))
