"""bench.ewt: how far expected-wait estimates are from the waits callers really get, in
simulated queues with known arrivals and handle times, one column per estimator.

A multi-agent FIFO queue is simulated: Poisson arrivals, N agents, handle times exponential
or log-normal (coefficient of variation 0.5) with a known mean. Every 15 s the queue's figures
are pushed as a contact centre would (agents staffed, agents free, calls waiting, the mean of
the last 200 handle times). At each arrival every estimator gives the wait of a caller joining
now and that caller's simulated wait is recorded. Estimators:

- `position`: k x AHT / agents from the queue's state at the caller's arrival, with the AHT
  the contact centre would push then;
- `served`: what `GET /queues/{name}/wait` answers, `ivr.callbacks.ewt.estimate` over the
  pushes themselves, so the state it sees is that of the last push (up to 15 s old) and its AHT
  the mean of the pushes of the last 15 minutes;
- `ewma`: the same from the last push, with the pushed AHTs smoothed exponentially (weight
  0.1 per push) instead of averaged over the look-back;
- `erlang C` (ivr.callbacks.erlang): the M/M/N mean wait, the offered load taken as the mean
  number of busy agents over the pushes of the last 15 minutes (carried load = offered load
  without abandonment);
- `blend`: the mean of the two;
- `floor`: position with the true mean handle time. For exponential handle times this is the
  exact expected wait given everything known when the caller joins, so no estimator can do
  better on average: its error is the sampling noise of the waits themselves.

Error per 15-minute interval (and per hour for `position`, `served` and `floor`):
|mean estimate - mean simulated wait| / mean simulated wait over the callers of the interval,
the median over intervals in which someone waited (what a wait shown to many people is judged
by; "nan" when nobody waited). `waiters` is how many callers waited per 15 minutes: few
waiters make a noisy mean. Target (issue 14): <= 20 % at 70-90 % occupancy.

    python -m bench.ewt [--agents 20] [--aht 300] [--hours 200] [--seed 7]
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import statistics
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.machine import describe
from ivr.callbacks.erlang import erlang_c_wait
from ivr.callbacks.ewt import Figures, estimate, position_wait

QUARTER_S, HOUR_S = 900.0, 3600.0
PUSH_EVERY_S = 15.0
ESTIMATORS = ("position", "served", "ewma", "erlang C", "blend", "floor")
HOURLY = ("position", "served", "floor")  # also measured per hour
EWMA_WEIGHT = 0.1  # of each new push's AHT


@dataclass
class Run:
    """Every caller of one simulated run: when they joined, what each estimator said, the wait."""

    arrivals: list[float] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)
    estimates: dict[str, list[float]] = field(
        default_factory=lambda: {name: [] for name in ESTIMATORS}
    )


def _service(kind: str, mean: float, rng: random.Random) -> Callable[[], float]:
    if kind == "exponential":
        return lambda: rng.expovariate(1 / mean)
    cv = 0.5
    sigma = math.sqrt(math.log(1 + cv * cv))
    mu = math.log(mean) - sigma * sigma / 2
    return lambda: rng.lognormvariate(mu, sigma)


def _erlang(agents: int, busy: deque[int], aht: float, fallback: float) -> float:
    load = statistics.fmean(busy) if busy else 0.0
    wait = erlang_c_wait(agents, load, aht)
    return fallback if wait is None else wait


def simulate(agents: int, occupancy: float, aht: float, hours: float, kind: str, seed: int) -> Run:
    """One run of a queue offered `occupancy` x `agents` erlangs for `hours`."""
    rng = random.Random(seed)
    rate = occupancy * agents / aht
    handle = _service(kind, aht, rng)
    free_at = [0.0] * agents  # when each agent is next free (FIFO: earliest free agent serves)
    recent: deque[float] = deque([aht] * 200, maxlen=200)
    busy_pushed: deque[int] = deque(maxlen=int(QUARTER_S / PUSH_EVERY_S))
    pushes: deque[Figures] = deque(maxlen=int(QUARTER_S / PUSH_EVERY_S))
    smoothed = aht
    waiting_starts: deque[float] = deque()  # start times of callers still waiting, ascending
    now, end, next_push = 0.0, hours * 3600, 0.0
    run = Run()
    while now < end:
        now += rng.expovariate(rate)
        mean_handle = statistics.fmean(recent)  # no call ended since the last arrival
        while next_push <= now:  # the queue as it was at each push since the last arrival
            busy_then = sum(1 for t in free_at if t > next_push)
            waiting_then = sum(1 for t in waiting_starts if t > next_push)
            pushed = Figures(next_push, agents, agents - busy_then, waiting_then, mean_handle)
            pushes.append(pushed)
            busy_pushed.append(busy_then)
            smoothed += EWMA_WEIGHT * (mean_handle - smoothed)
            next_push += PUSH_EVERY_S
        while waiting_starts and waiting_starts[0] <= now:
            waiting_starts.popleft()
        busy = sum(1 for t in free_at if t > now)
        figures = Figures(now, agents, agents - busy, len(waiting_starts), mean_handle)
        position = position_wait(figures, mean_handle)
        erlang = _erlang(agents, busy_pushed, mean_handle, position)
        served = estimate(list(pushes), now).wait_s
        said = run.estimates
        said["position"].append(position)
        said["served"].append(position if served is None else served)  # the first 30 s only
        said["ewma"].append(position_wait(pushes[-1], smoothed))
        said["erlang C"].append(erlang)
        said["blend"].append((position + erlang) / 2)
        said["floor"].append(position_wait(figures, aht))
        start = max(now, heapq.heappop(free_at))
        duration = handle()
        heapq.heappush(free_at, start + duration)
        recent.append(duration)
        if start > now:
            waiting_starts.append(start)
        run.arrivals.append(now)
        run.waits.append(start - now)
    return run


def interval_error(run: Run, estimator: str, interval_s: float) -> float:
    """Median over intervals of |mean estimate - mean wait| / mean wait."""
    buckets: dict[int, tuple[list[float], list[float]]] = {}
    for at, said, wait in zip(run.arrivals, run.estimates[estimator], run.waits, strict=True):
        bucket = buckets.setdefault(int(at // interval_s), ([], []))
        bucket[0].append(said)
        bucket[1].append(wait)
    relative = [
        abs(statistics.fmean(e) - statistics.fmean(w)) / statistics.fmean(w)
        for e, w in buckets.values()
        if statistics.fmean(w) > 0
    ]
    return statistics.median(relative) if relative else math.nan


def waiters_per_interval(run: Run, interval_s: float = QUARTER_S) -> float:
    span = run.arrivals[-1] - run.arrivals[0] if len(run.arrivals) > 1 else interval_s
    return sum(1 for w in run.waits if w > 0) * interval_s / max(span, interval_s)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ewt", description=__doc__)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--aht", type=float, default=300.0, help="mean handle time, seconds")
    parser.add_argument("--hours", type=float, default=200.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    print(describe())
    print(f"{args.agents} agents, mean handle time {args.aht:.0f} s, {args.hours:.0f} h per row")
    print("median error of the mean estimate per 15 minutes (/h: per hour)")
    names = "".join(f" {name:>9}" for name in ESTIMATORS)
    hourly = "".join(f" {name.replace('position', 'pos.') + '/h':>8}" for name in HOURLY)
    print(f"{'handle times':<12} {'occ.':>4} {'mean wait':>9} {'waiters':>7}{names}{hourly}")
    for kind in ("exponential", "lognormal"):
        for occupancy in (0.70, 0.80, 0.85, 0.90):
            run = simulate(args.agents, occupancy, args.aht, args.hours, kind, args.seed)
            errors = "".join(f" {interval_error(run, n, QUARTER_S):>9.0%}" for n in ESTIMATORS)
            hours = "".join(f" {interval_error(run, n, HOUR_S):>8.0%}" for n in HOURLY)
            print(
                f"{kind:<12} {occupancy:>4.0%} {statistics.fmean(run.waits):>8.1f}s"
                f" {waiters_per_interval(run):>7.1f}{errors}{hours}"
            )


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
