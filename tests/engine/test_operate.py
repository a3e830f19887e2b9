"""`within`: an operation's deadline, asyncio.timeout's (no coroutine driven by hand)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from ivr.engine.operate import within


def timers() -> int:
    """Timers scheduled on the running loop (CPython's own list; no public count exists)."""
    loop: Any = asyncio.get_running_loop()
    return len(loop._scheduled)


async def answered_from_memory() -> str:
    return "found"


async def test_an_operation_that_never_waits_runs_under_asyncio_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entered: list[float | None] = []
    original = asyncio.timeout

    def spy(delay: float | None) -> asyncio.Timeout:
        entered.append(delay)
        return original(delay)

    monkeypatch.setattr(asyncio, "timeout", spy)
    assert await within(1.0, answered_from_memory()) == "found"
    assert entered == [1.0]


async def test_an_operation_that_waits_does_so_under_a_timer() -> None:
    seen: list[int] = []

    async def waits() -> str:
        await asyncio.sleep(0)
        seen.append(timers())
        return "found"

    before = timers()
    assert await within(1.0, waits()) == "found"
    assert seen == [before + 1]


async def test_an_operation_past_its_deadline_is_cancelled_and_times_out() -> None:
    cancelled: list[bool] = []

    async def hangs() -> str:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return "found"

    with pytest.raises(TimeoutError):
        await within(0.02, hangs())
    assert cancelled == [True]


async def test_the_deadline_counts_from_the_start_not_from_the_first_wait() -> None:
    async def busy_then_waits() -> str:
        busy_until = time.monotonic() + 0.08  # holds the loop, as slow synchronous work would
        while time.monotonic() < busy_until:
            pass
        await asyncio.sleep(0.05)
        return "found"

    with pytest.raises(TimeoutError):
        await within(0.1, busy_then_waits())


async def test_values_and_errors_pass_through_before_and_after_a_wait() -> None:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str] = loop.create_future()
    loop.call_soon(future.set_result, "verified")

    async def awaits_a_value() -> str:
        return await future

    async def fails_at_once() -> str:
        raise ValueError("directory down")

    async def fails_after_a_wait() -> str:
        await asyncio.sleep(0)
        raise KeyError("gone")

    assert await within(1.0, awaits_a_value()) == "verified"
    with pytest.raises(ValueError, match="directory down"):
        await within(1.0, fails_at_once())
    with pytest.raises(KeyError):
        await within(1.0, fails_after_a_wait())


async def test_cancelling_the_caller_cancels_the_waiting_operation() -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def waits_forever() -> str:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "found"

    task = asyncio.create_task(within(10.0, waits_forever()))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled.is_set()


async def test_an_awaitable_that_is_not_a_coroutine_is_awaited_under_the_deadline() -> None:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[str] = loop.create_future()
    loop.call_soon(done.set_result, "found")
    assert await within(1.0, done) == "found"
    never: asyncio.Future[str] = loop.create_future()
    with pytest.raises(TimeoutError):
        await within(0.02, never)
