"""bench.ewt: how far the expected-wait estimate (ivr.callbacks.ewt, method "position") is from
the waits callers really get, in simulated queues with known arrivals and handle times.

A multi-agent FIFO queue is simulated: Poisson arrivals, N agents, handle times exponential
or log-normal (coefficient of variation 1.0 and 0.5) with a known mean. At each arrival the
queue's figures are what a contact centre would push (agents staffed, agents free, calls
waiting, the mean of the last 200 handle times); the estimate from them is compared with that
caller's simulated wait. Printed per occupancy (offered load / N): the mean wait; the median
absolute error per caller as a share of the mean wait; and per 15-minute interval, the error
of the mean estimate against the mean simulated wait (what a wait shown to many people is
judged by), as the median over intervals. Target (issue 14): <= 20 % at 70-90 % occupancy.

    python -m bench.ewt [--agents 20] [--hours 200] [--seed 7]
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import statistics
from collections import deque
from collections.abc import Callable

from bench.machine import describe
from ivr.callbacks.ewt import Figures, position_wait

INTERVALS_S = (900.0, 3600.0)


def _service(kind: str, mean: float, rng: random.Random) -> Callable[[], float]:
    if kind == "exponential":
        return lambda: rng.expovariate(1 / mean)
    cv = 0.5
    sigma = math.sqrt(math.log(1 + cv * cv))
    mu = math.log(mean) - sigma * sigma / 2
    return lambda: rng.lognormvariate(mu, sigma)


def simulate(
    agents: int, occupancy: float, aht: float, hours: float, kind: str, seed: int
) -> tuple[list[float], list[float], list[float]]:
    """(arrival times, estimates, actual waits) for every caller."""
    rng = random.Random(seed)
    rate = occupancy * agents / aht
    handle = _service(kind, aht, rng)
    free_at = [0.0] * agents  # when each agent is next free (FIFO: earliest free agent serves)
    heapq.heapify(free_at)
    recent: deque[float] = deque([aht] * 200, maxlen=200)
    waiting_starts: deque[float] = deque()  # start times of callers still waiting, ascending
    now, end = 0.0, hours * 3600
    arrivals, estimates, waits = [], [], []
    while now < end:
        now += rng.expovariate(rate)
        while waiting_starts and waiting_starts[0] <= now:
            waiting_starts.popleft()
        busy = sum(1 for t in free_at if t > now)
        figures = Figures(now, agents, agents - busy, len(waiting_starts), statistics.fmean(recent))
        estimate = position_wait(figures, figures.average_handle_time_s)
        start = max(now, heapq.heappop(free_at))
        duration = handle()
        heapq.heappush(free_at, start + duration)
        recent.append(duration)
        if start > now:
            waiting_starts.append(start)
        arrivals.append(now)
        estimates.append(estimate)
        waits.append(start - now)
    return arrivals, estimates, waits


def interval_error(
    arrivals: list[float], estimates: list[float], waits: list[float], interval_s: float
) -> float:
    """Median over intervals of |mean estimate - mean wait| / mean wait."""
    buckets: dict[int, tuple[list[float], list[float]]] = {}
    for at, est, wait in zip(arrivals, estimates, waits, strict=True):
        bucket = buckets.setdefault(int(at // interval_s), ([], []))
        bucket[0].append(est)
        bucket[1].append(wait)
    relative = [
        abs(statistics.fmean(e) - statistics.fmean(w)) / statistics.fmean(w)
        for e, w in buckets.values()
        if statistics.fmean(w) > 0
    ]
    return statistics.median(relative)


def errors(
    arrivals: list[float], estimates: list[float], waits: list[float]
) -> tuple[float, float, float, float, float]:
    """(mean wait s, per-caller median |error| / mean wait, median |error| / estimate over the
    callers told to wait, per-15-min and per-hour interval errors)."""
    mean_wait = statistics.fmean(waits)
    pairs = list(zip(estimates, waits, strict=True))
    per_caller = statistics.median(abs(e - w) for e, w in pairs) / mean_wait
    told = [(e, w) for e, w in pairs if e > 0]
    told_error = statistics.median(abs(e - w) / e for e, w in told) if told else 0.0
    by_interval = [interval_error(arrivals, estimates, waits, i) for i in INTERVALS_S]
    return mean_wait, per_caller, told_error, by_interval[0], by_interval[1]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ewt", description=__doc__)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--aht", type=float, default=300.0, help="mean handle time, seconds")
    parser.add_argument("--hours", type=float, default=200.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    print(describe())
    print(f"{args.agents} agents, mean handle time {args.aht:.0f} s, {args.hours:.0f} h per row")
    print(
        f"{'handle times':<12} {'occ.':>5} {'mean wait':>9} {'per caller':>10}"
        f" {'told to wait':>12} {'per 15 min':>10} {'per hour':>8}"
    )
    for kind in ("exponential", "lognormal"):
        for occupancy in (0.70, 0.80, 0.85, 0.90):
            result = simulate(args.agents, occupancy, args.aht, args.hours, kind, args.seed)
            mean_wait, caller, told, quarter, hour = errors(*result)
            print(
                f"{kind:<12} {occupancy:>5.0%} {mean_wait:>8.1f}s {caller:>10.0%}"
                f" {told:>12.0%} {quarter:>10.0%} {hour:>8.0%}"
            )


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
