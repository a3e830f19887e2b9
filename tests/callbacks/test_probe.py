"""One probe of the callback database: a hang is a failure after the timeout, not a wait."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import REGISTRY

from ivr.callbacks.availability import StoreHealth
from ivr.callbacks.probe import probe_once


class Hanging:
    async def ping(self) -> None:
        await asyncio.sleep(60)


class Answering:
    async def ping(self) -> None:
        return None


async def test_a_hanging_database_is_down_after_the_timeout_and_up_when_it_answers() -> None:
    health = StoreHealth(5)
    started = time.monotonic()
    assert await probe_once(Hanging(), health, timeout_s=0.2) is False
    assert time.monotonic() - started < 2
    assert health.state()["state"] == "down"
    assert health.state()["error"] == "TimeoutError"
    assert REGISTRY.get_sample_value("ivr_callback_store_up") == 0
    assert await probe_once(Answering(), health, timeout_s=0.2) is True
    assert health.state() == {"state": "ok"}
    assert REGISTRY.get_sample_value("ivr_callback_store_up") == 1
