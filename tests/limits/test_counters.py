"""Sliding-window counters behave the same in memory and in Redis; Redis ones are shared by
every worker (two clients, one prefix)."""

from __future__ import annotations

import asyncio

import pytest

from ivr.limits.counters import Counters, Hit, RedisCounters
from tests.conftest import REDIS_URL

T0 = 1_800_000_000.0  # a multiple of 3600: the hour bucket starts here


async def test_counts_slide_over_the_window(counters: Counters) -> None:
    assert await counters.add([Hit("k", 3600)], T0) == [1]
    assert await counters.add([Hit("k", 3600)], T0 + 10) == [2]
    assert await counters.add([Hit("k", 3600, 0)], T0 + 10) == [2]  # a read
    # half-way through the next hour, the previous bucket counts half
    assert await counters.add([Hit("k", 3600, 0)], T0 + 5400) == [1.0]
    assert await counters.add([Hit("k", 3600)], T0 + 5400) == [2.0]
    # two windows on, nothing of the first hour is left
    assert await counters.add([Hit("k", 3600, 0)], T0 + 7200) == [1.0]
    assert await counters.add([Hit("k", 3600, 0)], T0 + 10800) == [0]


async def test_undo_clear_and_several_keys_at_once(counters: Counters) -> None:
    got = await counters.add([Hit("a", 60), Hit("b", 3600), Hit("a", 60)], T0)
    assert got == [1, 1, 2]
    assert await counters.add([Hit("a", 60, -1)], T0) == [1]
    await counters.clear([("a", 60), ("b", 3600)], T0 + 1)
    assert await counters.add([Hit("a", 60, 0), Hit("b", 3600, 0)], T0 + 1) == [0, 0]


async def test_locks(counters: Counters) -> None:
    assert await counters.locked_until("c") == 0
    await counters.lock("c", T0 + 900, T0)
    assert await counters.locked_until("c") == T0 + 900


async def test_parallel_adds_each_see_their_own_count(counters: Counters) -> None:
    got = await asyncio.gather(*(counters.add([Hit("p", 3600)], T0) for _ in range(50)))
    assert sorted(result[0] for result in got) == list(range(1, 51))


async def test_two_workers_share_redis_counters(redis_prefix: str) -> None:
    first = RedisCounters.from_url(REDIS_URL, redis_prefix)
    second = RedisCounters.from_url(REDIS_URL, redis_prefix)
    try:
        await first.add([Hit("shared", 3600)], T0)
        assert await second.add([Hit("shared", 3600)], T0) == [2]
        await second.lock("x", T0 + 60, T0)
        assert await first.locked_until("x") == T0 + 60
    finally:
        await first.close()
        await second.close()


async def test_redis_keys_expire(redis_prefix: str) -> None:
    from redis import asyncio as aioredis

    counters = RedisCounters.from_url(REDIS_URL, redis_prefix)
    raw = aioredis.from_url(REDIS_URL)
    try:
        await counters.add([Hit("e", 60)], T0)
        await counters.lock("l", T0 + 5, T0)
        keys = [key async for key in raw.scan_iter(match=f"{redis_prefix}*")]
        assert len(keys) == 2
        ttls = [await raw.pttl(key) for key in keys]
        assert all(0 < ttl <= 120_000 for ttl in ttls)
    finally:
        await counters.close()
        await raw.aclose()


@pytest.mark.parametrize("window", [60.0, 3600.0, 86400.0])
async def test_a_window_never_counts_more_than_was_added(counters: Counters, window: float) -> None:
    for step in range(0, 40):
        (count,) = await counters.add([Hit("w", window)], T0 + step * window / 10)
        assert count <= step + 1
