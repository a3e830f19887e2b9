"""Dispatch on SQLite and PostgreSQL: one worker at a time, each due callback dialled once,
retries after the delay, a maximum of attempts, answering machines, the window's end, and
every transition journaled."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

from ivr.callbacks.auth import AppIdentity
from ivr.callbacks.dialers.base import DialFailed, DialRequest
from ivr.callbacks.model import Booking, Window
from ivr.callbacks.queues import Queues
from ivr.callbacks.scheduler import Dispatcher, Lease
from ivr.callbacks.service import book
from ivr.callbacks.store import CallbackStore
from tests.callbacks.conftest import NOW, Clock


class RecordingDialer:
    gateway = "twilio"

    def __init__(self, failures: list[DialFailed] | None = None) -> None:
        self.requests: list[DialRequest] = []
        self.failures = failures or []

    async def dial(self, request: DialRequest) -> str:
        self.requests.append(request)
        if self.failures:
            raise self.failures.pop(0)
        return f"CA{len(self.requests)}"

    async def close(self) -> None:
        return None


async def _book(store: CallbackStore, queues: Queues, clock: Clock, hours: float = 3) -> str:
    start = datetime.fromtimestamp(clock.now, UTC)
    window = Window(start=start, end=start + timedelta(hours=hours))
    request = Booking(number="+447700900123", queue="general", window=window, secret="anana")
    callback, _ = await book(store, queues, AppIdentity("C1"), request, clock.now)
    return callback.id


def _dispatcher(
    store: CallbackStore, queues: Queues, clock: Clock, dialer: RecordingDialer
) -> Dispatcher:
    return Dispatcher(store, queues, dialer, "https://ivr.example", "+441134960000", clock=clock)


async def test_each_due_callback_is_dialled_once_even_by_two_workers(
    callback_store: CallbackStore, queues: Queues, clock: Clock
) -> None:
    ids = {await _book(callback_store, queues, clock) for _ in range(5)}
    one, two = RecordingDialer(), RecordingDialer()
    first, second = (_dispatcher(callback_store, queues, clock, d) for d in (one, two))
    await asyncio.gather(first.tick(), second.tick())
    dialled = [r.callback_id for r in one.requests + two.requests]
    assert sorted(dialled) == sorted(ids)
    request = (one.requests + two.requests)[0]
    assert request.answer_url.startswith("https://ivr.example/twilio/voice?ivr_callback=cb_")
    assert "anana" not in repr(dataclasses.astuple(request))
    assert (await first.tick()) == 0  # nothing is due any more


async def test_only_one_worker_holds_the_lease(callback_store: CallbackStore) -> None:
    a = Lease(callback_store.db, "dispatch-test", "a", ttl_s=30)
    b = Lease(callback_store.db, "dispatch-test", "b", ttl_s=30)
    assert await a.take(NOW)
    assert not await b.take(NOW + 1)
    assert await a.take(NOW + 2)  # renewed by its holder
    assert await b.take(NOW + 40)  # a stopped renewing: b takes over
    assert not await a.take(NOW + 41)
    await b.release()
    assert await a.take(NOW + 42)


async def test_retries_then_fails_after_max_attempts(
    callback_store: CallbackStore, queues: Queues, clock: Clock
) -> None:
    callback_id = await _book(callback_store, queues, clock)
    dialer = RecordingDialer()
    dispatcher = _dispatcher(callback_store, queues, clock, dialer)
    for attempt in range(1, 4):
        assert await dispatcher.tick() == 1
        signature = dialer.requests[-1].context["ivr_sig"]
        assert await dispatcher.call_status(callback_id, signature, "no-answer", None)
        callback = await callback_store.get(callback_id)
        assert callback.attempts == attempt
        if attempt < 3:
            assert callback.status == "scheduled"
            assert callback.next_attempt_at == clock.now + 300
            assert await dispatcher.tick() == 0  # not before the retry delay
            clock.now += 300
    assert callback.status == "failed"
    assert callback.outcome == "no_answer"
    assert callback.secret_ct is None
    events = [(e[2], e[3].get("reason")) for e in await callback_store.events(callback_id)]
    assert events == [
        ("requested", None), ("scheduled", None),
        ("dialling", None), ("scheduled", "no_answer"),
        ("dialling", None), ("scheduled", "no_answer"),
        ("dialling", None), ("failed", "no_answer"),
    ]  # fmt: skip


async def test_answering_machine_and_hang_up_are_retried(
    callback_store: CallbackStore, queues: Queues, clock: Clock
) -> None:
    callback_id = await _book(callback_store, queues, clock)
    dialer = RecordingDialer()
    dispatcher = _dispatcher(callback_store, queues, clock, dialer)
    await dispatcher.tick()
    signature = dialer.requests[-1].context["ivr_sig"]
    await dispatcher.call_status(callback_id, signature, "completed", "machine_end_beep")
    events = await callback_store.events(callback_id)
    assert events[-1][3]["reason"] == "answering machine"
    clock.now += 300
    await dispatcher.tick()
    old_signature, signature = signature, dialer.requests[-1].context["ivr_sig"]
    # a late status of the first attempt changes nothing
    assert not await dispatcher.call_status(callback_id, old_signature, "busy", None)
    await dispatcher.call_status(callback_id, signature, "completed", "human")
    assert (await callback_store.events(callback_id))[-1][3][
        "reason"
    ] == "hung up before connecting"


async def test_a_refused_number_fails_at_once_and_a_down_gateway_is_retried(
    callback_store: CallbackStore, queues: Queues, clock: Clock
) -> None:
    refused = await _book(callback_store, queues, clock)
    dialer = RecordingDialer([DialFailed("twilio 400 21211", retry=False)])
    await _dispatcher(callback_store, queues, clock, dialer).tick()
    assert (await callback_store.get(refused)).status == "failed"
    down = await _book(callback_store, queues, clock)
    dialer = RecordingDialer([DialFailed("twilio unreachable: OSError")])
    await _dispatcher(callback_store, queues, clock, dialer).tick()
    assert (await callback_store.get(down)).status == "scheduled"


async def test_window_end_and_closed_queue(
    callback_store: CallbackStore, queues: Queues, clock: Clock
) -> None:
    short = await _book(callback_store, queues, clock, hours=0.05)  # 3 minutes
    dialer = RecordingDialer()
    dispatcher = _dispatcher(callback_store, queues, clock, dialer)
    await dispatcher.tick()
    await dispatcher.call_status(short, dialer.requests[-1].context["ivr_sig"], "busy", None)
    assert (await callback_store.get(short)).status == "expired"  # the retry would be too late
    evening = await _book(callback_store, queues, clock, hours=30)
    clock.now += 11 * 3600  # 21:00: the general queue closed at 20:00
    callback = await callback_store.get(evening)
    await dispatcher.dial(callback, clock.now)
    waiting = await callback_store.get(evening)
    assert waiting.status == "scheduled"
    opens = datetime.fromtimestamp(waiting.next_attempt_at or 0, UTC)
    assert opens == datetime(2026, 12, 4, 8, 0, tzinfo=UTC)  # Friday 08:00 London
    clock.now += 2 * 86400  # long after the window
    await dispatcher.tick()
    assert (await callback_store.get(evening)).status == "expired"


async def test_silent_gateway_fails_the_attempt(
    callback_store: CallbackStore, queues: Queues, clock: Clock
) -> None:
    callback_id = await _book(callback_store, queues, clock)
    dispatcher = _dispatcher(callback_store, queues, clock, RecordingDialer())
    await dispatcher.tick()
    clock.now += dispatcher.silent_after_s + 1
    await dispatcher.tick()
    events = await callback_store.events(callback_id)
    assert events[-1][2] in ("scheduled", "dialling")
    assert any(e[3].get("reason") == "no word from the gateway" for e in events)
