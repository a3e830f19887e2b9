"""The one backoff every retrying loop uses: exponential, capped, with jitter.

A loop that retries something failing (a journal store that is down, a worker that will not
start, a Redis subscription that dropped, a call lock another worker holds) waits longer
after each failure, up to a cap, so a dependency that is down is not hammered; and each wait
is shortened by a random part, so the workers that lost the same dependency at the same
moment do not all come back in step.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Backoff:
    """`delay(n)` before the retry that follows the n-th failure in a row (n >= 1):
    `first_s * factor**(n-1)`, at most `cap_s`, less a random share of up to `jitter`."""

    first_s: float
    cap_s: float
    factor: float = 2.0
    jitter: float = 0.5  # 0: always the full delay; 0.5: between half and all of it
    random: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 0 < self.first_s <= self.cap_s:
            raise ValueError(f"need 0 < first_s <= cap_s, got {self.first_s}, {self.cap_s}")
        if self.factor < 1 or not 0 <= self.jitter <= 1:
            raise ValueError("need factor >= 1 and 0 <= jitter <= 1")

    def delay(self, failures: int) -> float:
        if failures < 1:
            return 0.0
        exponent = min(failures - 1, 64)  # far past any cap; keeps the power finite
        full = min(self.cap_s, self.first_s * self.factor**exponent)
        return full * (1.0 - self.jitter * self.random())

    async def wait(self, failures: int) -> None:
        await asyncio.sleep(self.delay(failures))
