"""Both session stores keep the same contract; the Redis one across workers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from redis.asyncio import Redis

from ivr.sessions import LockTimeout, MemorySessionStore, SessionStore
from ivr.sessions.redis_store import RedisSessionStore

STATE = {"call_id": "c1", "state": "s_welcome", "attempts": {"x": 1}}


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> SessionStore:
    if request.param == "memory":
        return MemorySessionStore()
    redis: RedisSessionStore = request.getfixturevalue("redis_store")
    return redis


async def test_unknown_call_loads_as_none(store: SessionStore) -> None:
    lease = await store.acquire("nobody")
    assert lease.data is None
    await store.release(lease)
    assert await store.get("nobody") is None


async def test_commit_saves_and_the_next_acquire_loads(store: SessionStore) -> None:
    lease = await store.acquire("c1")
    assert await store.commit(lease, STATE, ttl_s=60)
    again = await store.acquire("c1")
    assert again.data == STATE
    await store.release(again)


async def test_loaded_state_is_a_copy(store: SessionStore) -> None:
    lease = await store.acquire("c1")
    await store.commit(lease, STATE, ttl_s=60)
    loaded = await store.get("c1")
    assert loaded is not None
    loaded["attempts"]["x"] = 99
    assert await store.get("c1") == STATE


async def test_commit_saves_a_snapshot(store: SessionStore) -> None:
    """Changing the committed data afterwards (a later failure path) changes nothing stored."""
    data = {"call_id": "c1", "attempts": {"x": 1}, "stack": [{"flow_id": "f"}]}
    await store.commit(await store.acquire("c1"), data, ttl_s=60)
    data["attempts"]["x"] = 99
    data["stack"].append({"flow_id": "g"})
    assert await store.get("c1") == {
        "call_id": "c1",
        "attempts": {"x": 1},
        "stack": [{"flow_id": "f"}],
    }


async def test_claim_is_true_once(store: SessionStore) -> None:
    assert await store.claim("jti:abc", ttl_s=60)
    assert not await store.claim("jti:abc", ttl_s=60)
    assert await store.claim("jti:other", ttl_s=60)


async def test_memory_state_expires_after_its_ttl() -> None:
    now = [1000.0]
    store = MemorySessionStore(clock=lambda: now[0])
    await store.commit(await store.acquire("c1"), STATE, ttl_s=10)
    assert await store.claim("k", 10)
    now[0] += 11
    assert await store.get("c1") is None
    assert await store.claim("k", 10)


async def test_redis_state_has_a_ttl(redis_store: RedisSessionStore, raw_redis: Redis) -> None:
    await redis_store.commit(await redis_store.acquire("c1"), STATE, ttl_s=60)
    ttl = await raw_redis.ttl(f"{redis_store.prefix}call:{{c1}}")
    assert 0 < ttl <= 60
    assert json.loads(await raw_redis.get(f"{redis_store.prefix}call:{{c1}}")) == STATE


async def test_another_worker_continues_the_call(
    redis_store: RedisSessionStore, other_worker: RedisSessionStore
) -> None:
    await redis_store.commit(await redis_store.acquire("c1"), STATE, ttl_s=60)
    lease = await other_worker.acquire("c1")
    assert lease.data == STATE
    await other_worker.release(lease)


async def test_a_held_call_makes_the_other_worker_wait(
    redis_store: RedisSessionStore, other_worker: RedisSessionStore
) -> None:
    lease = await redis_store.acquire("c1")
    waiting = asyncio.create_task(other_worker.acquire("c1", wait_s=2.0))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await redis_store.commit(lease, STATE, ttl_s=60)
    second = await waiting
    assert second.data == STATE  # it sees the first worker's save
    await other_worker.release(second)


async def test_lock_wait_is_bounded(
    redis_store: RedisSessionStore, other_worker: RedisSessionStore
) -> None:
    lease = await redis_store.acquire("c1")
    with pytest.raises(LockTimeout):
        await other_worker.acquire("c1", wait_s=0.1)
    await redis_store.release(lease)


async def test_a_lost_lease_cannot_save(
    redis_store: RedisSessionStore, other_worker: RedisSessionStore, raw_redis: Redis
) -> None:
    lease = await redis_store.acquire("c1")
    await raw_redis.delete(f"{redis_store.prefix}lock:{{c1}}")  # as if it expired
    taken = await other_worker.acquire("c1")
    stale: dict[str, Any] = {**STATE, "state": "stale"}
    assert not await redis_store.commit(lease, stale, ttl_s=60)
    assert await other_worker.commit(taken, STATE, ttl_s=60)
    assert await redis_store.get("c1") == STATE


async def test_release_does_not_drop_another_workers_lock(
    redis_store: RedisSessionStore, other_worker: RedisSessionStore, raw_redis: Redis
) -> None:
    lease = await redis_store.acquire("c1")
    await raw_redis.delete(f"{redis_store.prefix}lock:{{c1}}")
    taken = await other_worker.acquire("c1")
    await redis_store.release(lease)  # late release of a lost lease
    with pytest.raises(LockTimeout):
        await redis_store.acquire("c1", wait_s=0.05)
    await other_worker.release(taken)


async def test_claims_are_shared_between_workers(
    redis_store: RedisSessionStore, other_worker: RedisSessionStore
) -> None:
    assert await redis_store.claim("jti:1", 60)
    assert not await other_worker.claim("jti:1", 60)


async def test_memory_store_keeps_each_shape_and_key_order() -> None:
    """Keys are kept once per shape: states of different shapes never borrow each other's."""
    store = MemorySessionStore()
    shapes = [{"a": 1, "b": [2]}, {"b": [2], "a": 1}, {"a": 1}, {}, {"a": {"c": None}, "z": "t"}]
    for number, data in enumerate(shapes):
        await store.commit(await store.acquire(f"c{number}"), data, ttl_s=60)
    for number, data in enumerate(shapes):
        loaded = await store.get(f"c{number}")
        assert loaded == data
        assert list(loaded or {}) == list(data)
