"""Erlang C: the M/M/N queue's chance of waiting and mean wait, from the offered load alone.

The served estimate (ewt.py) conditions on the queue's state at the moment; Erlang C does not,
and bench/ewt.py sets the two side by side so the choice of method stays measured. The chance
of waiting is computed through the Erlang B recursion, which stays finite for any number of
agents (the textbook form's powers and factorials overflow floats for large N).
"""

from __future__ import annotations


def erlang_b(agents: int, load: float) -> float:
    """Blocking probability of N servers offered `load` erlangs (no queue)."""
    if agents < 0 or load < 0:
        raise ValueError("agents and load must not be negative")
    blocking = 1.0
    for n in range(1, agents + 1):
        blocking = load * blocking / (n + load * blocking)
    return blocking


def erlang_c(agents: int, load: float) -> float:
    """Chance that a caller waits, N agents offered `load` erlangs (1 when load >= N)."""
    if agents <= 0 or load >= agents:
        return 1.0
    blocking = erlang_b(agents, load)
    return agents * blocking / (agents - load * (1 - blocking))


def erlang_c_wait(agents: int, load: float, handle_time_s: float) -> float | None:
    """Mean wait over all callers, seconds; None when the queue is unstable (load >= N)."""
    if agents <= 0 or load >= agents:
        return None
    return erlang_c(agents, load) * handle_time_s / (agents - load)
