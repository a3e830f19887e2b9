"""Settings for every test.

Hypothesis fails an example that takes over 200 ms by default: a timed assertion, which on a
loaded two-core machine fails correct code. Speed is measured by the benchmarks in bench/, so
the property tests here check behaviour only.
"""

import os
import uuid
from collections.abc import AsyncIterator

import pytest
from hypothesis import settings
from redis import asyncio as aioredis

REDIS_URL = os.environ.get("IVR_TEST_REDIS", "redis://127.0.0.1:6379/0")

settings.register_profile("ivr", deadline=None)
settings.load_profile("ivr")


async def delete_keys(prefix: str) -> None:
    """Delete every Redis key under a test's prefix."""
    client = aioredis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A Redis key prefix of the test's own, its keys deleted afterwards."""
    prefix = f"ivr-test-{uuid.uuid4().hex[:12]}:"
    yield prefix
    await delete_keys(prefix)
