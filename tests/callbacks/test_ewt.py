"""The expected wait: position in line over the staffed agents, and 'unknown' when the
figures are stale or too few; bench.ewt's simulation on a short run."""

from __future__ import annotations

import math

from bench.ewt import ESTIMATORS, QUARTER_S, Run, interval_error, simulate, waiters_per_interval
from ivr.callbacks.ewt import Figures, Policy, estimate, position_wait


def test_position_wait() -> None:
    busy = Figures(
        0, agents_staffed=4, agents_available=0, calls_waiting=3, average_handle_time_s=240
    )
    assert position_wait(busy, 240) == 4 * 240 / 4
    free = Figures(0, 4, agents_available=2, calls_waiting=1, average_handle_time_s=240)
    assert position_wait(free, 240) == 0


def test_unknown_when_stale_or_thin_closed_without_agents() -> None:
    policy = Policy(stale_after_s=120, look_back_s=900, min_samples=2)
    a = Figures(1000, 5, 0, 4, 300)
    b = Figures(1060, 5, 0, 9, 200)
    assert estimate([], 1100, policy).state == "unknown"
    assert estimate([a], 1100, policy).reason == "too few figures"
    stale = estimate([a, b], 1300, policy)
    assert (stale.state, stale.reason) == ("unknown", "figures are stale")
    fresh = estimate([b, a], 1100, policy)
    assert fresh.state == "open"
    assert fresh.sample_size == 2
    assert fresh.wait_s == (9 + 1) * 250 / 5  # latest queue, AHT averaged over the sample
    closed = estimate([a, Figures(1090, 0, 0, 0, 300)], 1100, policy)
    assert closed.state == "closed"


def test_every_estimator_is_measured_on_the_same_callers() -> None:
    run = simulate(20, 0.9, 300, 20, "exponential", 3)
    assert max(run.waits) > 0
    for name in ESTIMATORS:
        assert len(run.estimates[name]) == len(run.waits)
        assert 0 <= interval_error(run, name, QUARTER_S) < 10
    # the served estimator tracks the waits; the state-blind Erlang C mean does much worse
    position = interval_error(run, "position", QUARTER_S)
    assert position < 0.5  # the full run's figures are in bench.ewt and docs/callbacks.md
    assert position < interval_error(run, "erlang C", QUARTER_S)
    # what is served sees the queue as last pushed, up to 15 s before the caller joins
    assert run.estimates["served"] != run.estimates["position"]
    assert interval_error(run, "served", QUARTER_S) < 0.5
    assert waiters_per_interval(run) > 0


def test_interval_error_is_relative_to_the_mean_wait() -> None:
    run = Run(arrivals=[0, 10, 1000, 1010], waits=[10, 30, 0, 0])
    run.estimates["position"] = [30, 30, 5, 0]
    assert interval_error(run, "position", QUARTER_S) == 0.5  # |30 - 20| / 20; quiet one skipped
    nobody = Run(arrivals=[0.0], waits=[0.0])
    nobody.estimates["position"] = [0.0]
    assert math.isnan(interval_error(nobody, "position", QUARTER_S))
