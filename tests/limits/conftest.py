"""Counters under test: in memory and in the real Redis on 127.0.0.1:6379 (each test its own
key prefix, deleted after), and a clock the tests move."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ivr.limits.counters import Counters, MemoryCounters, RedisCounters
from tests.conftest import REDIS_URL


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["memory", "redis"])
async def counters(request: pytest.FixtureRequest, redis_prefix: str) -> AsyncIterator[Counters]:
    made: Counters = (
        MemoryCounters()
        if request.param == "memory"
        else RedisCounters.from_url(REDIS_URL, redis_prefix)
    )
    yield made
    await made.close()
