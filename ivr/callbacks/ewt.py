"""Expected wait from the figures the contact centre pushes: the method, and when to say unknown.

Method ("position"): a caller joining now is number k = calls_waiting - agents_available + 1
in line for an agent. While every staffed agent is busy, agents free up at a rate of
agents_staffed / AHT, so the wait is k x AHT / agents_staffed (for exponential handle times
this is the exact expected wait given the queue's state). AHT is the mean of the pushes in the
look-back (the sample), which smooths one odd push. No wait when an agent is free; `closed`
when no agent is staffed; `unknown` when the newest push is stale or the sample is too small.
bench/ewt.py measures the error against simulated queues.
"""

from __future__ import annotations

from dataclasses import dataclass

METHOD = "position"


@dataclass(frozen=True, slots=True)
class Figures:
    at: float
    agents_staffed: int
    agents_available: int
    calls_waiting: int
    average_handle_time_s: float


@dataclass(frozen=True, slots=True)
class Estimate:
    state: str  # "open", "closed" or "unknown"
    wait_s: float | None
    method: str
    sample_size: int
    figures_at: float | None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Policy:
    stale_after_s: float = 120.0
    look_back_s: float = 900.0
    min_samples: int = 2


def position_wait(figures: Figures, aht_s: float) -> float:
    """The expected wait of a caller joining now, in seconds."""
    ahead = figures.calls_waiting - figures.agents_available
    if ahead < 0:
        return 0.0
    return (ahead + 1) * aht_s / figures.agents_staffed


def estimate(samples: list[Figures], now: float, policy: Policy | None = None) -> Estimate:
    """The estimate from the pushes of one queue (any order)."""
    policy = policy or Policy()
    recent = sorted(
        (s for s in samples if now - policy.look_back_s <= s.at <= now + 5), key=lambda s: s.at
    )
    if not recent:
        return Estimate("unknown", None, METHOD, 0, None, "no figures in the look-back")
    latest = recent[-1]
    if now - latest.at > policy.stale_after_s:
        return Estimate("unknown", None, METHOD, len(recent), latest.at, "figures are stale")
    if latest.agents_staffed <= 0:
        return Estimate("closed", None, METHOD, len(recent), latest.at, "no agent staffed")
    if len(recent) < policy.min_samples:
        return Estimate("unknown", None, METHOD, len(recent), latest.at, "too few figures")
    aht = sum(s.average_handle_time_s for s in recent) / len(recent)
    return Estimate("open", position_wait(latest, aht), METHOD, len(recent), latest.at)
