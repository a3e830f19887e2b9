"""Flow operations `callback.book` and `queue.estimated_wait`, and re-sealing secrets."""

from __future__ import annotations

from datetime import UTC, datetime

from ivr.callbacks.crypto import SecretBox
from ivr.callbacks.operations import callback_operations, words
from ivr.callbacks.queue_stats import QueueFigures, QueueStats
from ivr.callbacks.queues import Queues
from ivr.callbacks.store import CallbackStore
from ivr.engine.events import CallerIdTrust
from ivr.engine.operations import OperationCall
from tests.callbacks.conftest import KEY_1, KEY_2, NOW, Clock


def _call(**overrides: object) -> OperationCall:
    values: dict[str, object] = {
        "call_id": "call-1",
        "ani": "+447700900123",
        "caller_id_trust": CallerIdTrust.UNKNOWN,
        "customer_id": "C1001",
        "digits": None,
        "params": {"queue": "general"},
        "customer_name": "Alice Example",
        "idv_status": "identified_and_verified",
    }
    values.update(overrides)
    return OperationCall(**values)  # type: ignore[arg-type]


def test_words() -> None:
    assert words(5) == "five"
    assert words(25) == "twenty five" or words(25) == "twenty-five"


async def test_book_from_a_call(
    callback_store: CallbackStore, queues: Queues, clock: Clock
) -> None:
    operations = callback_operations(callback_store, queues, QueueStats(callback_store.db), clock)
    booked = await operations["callback.book"](
        _call(params={"queue": "general", "after_minutes": 30})
    )
    assert booked.outcome == "booked"
    assert booked.values["callback_minutes"] == "thirty"
    callback = await callback_store.get(booked.values["callback_id"], "C1001")
    assert callback.source == "ivr"
    assert callback.number == "+447700900123"
    assert callback.customer_name == "Alice Example"
    unknown = await operations["callback.book"](
        _call(customer_id=None, idv_status="not_identified")
    )
    assert unknown.outcome == "not_identified"
    withheld = await operations["callback.book"](_call(ani=None))
    assert withheld.outcome == "no_number"
    clock.now = datetime(2026, 12, 5, 23, 0, tzinfo=UTC).timestamp()  # Saturday night
    closed = await operations["callback.book"](_call())
    assert closed.outcome == "closed"  # not staffed in the next four hours


async def test_estimated_wait(callback_store: CallbackStore, queues: Queues, clock: Clock) -> None:
    stats = QueueStats(callback_store.db)
    operations = callback_operations(callback_store, queues, stats, clock)
    wait = operations["queue.estimated_wait"]
    assert (await wait(_call())).outcome == "unknown"  # no figures yet
    busy = QueueFigures(
        agents_staffed=2, agents_available=0, calls_waiting=3, average_handle_time_s=120
    )
    await stats.push("general", busy, NOW - 30)
    await stats.push("general", busy, NOW - 10)
    short = await wait(_call())
    assert (short.outcome, short.values["wait_minutes"]) == ("short", "four")  # 4th x 120 s / 2
    long = await wait(_call(params={"queue": "general", "long_after_minutes": 3}))
    assert long.outcome == "long"
    clock.now = NOW + 600
    assert (await wait(_call())).outcome == "unknown"  # the figures are stale
    clock.now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC).timestamp()  # Sunday
    assert (await wait(_call())).outcome == "closed"


async def test_rekey_reseals_with_the_newest_key(callback_store: CallbackStore) -> None:
    old = SecretBox.from_text(f"k1:{KEY_1}")
    store = CallbackStore(callback_store.db, old)
    await store.set_standing_secret("C9", "blue moon", NOW)
    rotated = CallbackStore(callback_store.db, SecretBox.from_text(f"k2:{KEY_2},k1:{KEY_1}"))
    assert await rotated.rekey() == 1
    only_new = CallbackStore(callback_store.db, SecretBox.from_text(f"k2:{KEY_2}"))
    assert await only_new.standing_secret("C9") == "blue moon"


async def test_book_from_a_call_when_every_slot_is_full(
    callback_store: CallbackStore, queues: Queues, clock: Clock
) -> None:
    """callback.book's four-hour window on "cards" (16 slots of 4): full, the caller hears
    `closed` and stays on the line's other options."""
    operations = callback_operations(callback_store, queues, QueueStats(callback_store.db), clock)
    book = operations["callback.book"]
    for n in range(16 * 4):
        taken = await book(_call(customer_id=f"C{n}", params={"queue": "cards"}))
        assert taken.outcome == "booked"
    full = await book(_call(params={"queue": "cards"}))
    assert full.outcome == "closed"
    assert full.detail == "every slot in the next hours is full"
