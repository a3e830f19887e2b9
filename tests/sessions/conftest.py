"""Stores under test: the in-memory one and the real Redis on 127.0.0.1:6379, each test with
its own key prefix, deleted afterwards."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis import asyncio as aioredis

from ivr.sessions.redis_store import RedisSessionStore
from tests.conftest import REDIS_URL, delete_keys


@pytest.fixture
def prefix() -> str:
    return f"ivr-test-{uuid.uuid4().hex[:12]}:"


@pytest.fixture
async def raw_redis() -> AsyncIterator[aioredis.Redis]:
    """redis-py, a client independent of ours, to look at and disturb what the store wrote."""
    client = aioredis.from_url(REDIS_URL, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def redis_store(prefix: str) -> AsyncIterator[RedisSessionStore]:
    store = await RedisSessionStore.open(REDIS_URL, prefix)
    yield store
    await store.close()
    await delete_keys(prefix)


@pytest.fixture
async def other_worker(prefix: str) -> AsyncIterator[RedisSessionStore]:
    """A second connection on the same prefix: another worker process's view."""
    store = await RedisSessionStore.open(REDIS_URL, prefix)
    yield store
    await store.close()
