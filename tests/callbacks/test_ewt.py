"""The expected wait: position in line over the staffed agents, and 'unknown' when the
figures are stale or too few; bench.ewt's simulation on a short run."""

from __future__ import annotations

from bench.ewt import errors, simulate
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


def test_simulated_estimates_track_simulated_waits() -> None:
    mean_wait, _, _, _, per_hour = errors(*simulate(20, 0.9, 300, 20, "exponential", 3))
    assert mean_wait > 0
    assert per_hour < 0.5  # the full run's figures are in bench.ewt and the note
