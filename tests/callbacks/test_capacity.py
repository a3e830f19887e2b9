"""Slot capacity on SQLite and PostgreSQL: a full slot takes no more bookings (409 with the
next free slots), a wider window moves on to its next slot with room, a reschedule into a
full slot is refused, and bookings racing for the last places never overfill a slot."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from ivr.callbacks.auth import AppIdentity
from ivr.callbacks.capacity import SlotsFull
from ivr.callbacks.db import open_database
from ivr.callbacks.model import Booking, Window
from ivr.callbacks.queues import Queues
from ivr.callbacks.service import book
from ivr.callbacks.store import CallbackStore
from tests.callbacks.conftest import NOW, ApiClient, bearer, booking

# "cards" (config/queues.yaml): open all day, 15-minute slots of 4 callbacks
SLOT = {"start": "2026-12-03T11:00:00Z", "end": "2026-12-03T11:15:00Z"}
PER_SLOT = 4


def _cards(window: dict[str, str]) -> dict[str, Any]:
    return booking(queue="cards", window=window)


async def test_a_full_slot_refuses_with_the_next_free_ones(api: ApiClient) -> None:
    for n in range(PER_SLOT):
        taken = await api.post("/callbacks", json=_cards(SLOT), headers=bearer(f"C{n}"))
        assert taken.status == 201
    full = await api.post("/callbacks", json=_cards(SLOT), headers=bearer("C9"))
    assert full.status == 409
    problem = await full.json()
    assert "anana" not in str(problem)
    free = problem["next_free"]
    assert [slot["start"] for slot in free] == [
        "2026-12-03T11:15:00+00:00",
        "2026-12-03T11:30:00+00:00",
        "2026-12-03T11:45:00+00:00",
    ]
    assert free[0]["available"] == PER_SLOT
    wider = {"start": SLOT["start"], "end": "2026-12-03T11:30:00Z"}
    moved = await api.post("/callbacks", json=_cards(wider), headers=bearer("C9"))
    assert moved.status == 201
    assert (await moved.json())["scheduled_at"].startswith("2026-12-03T11:15:00")
    slots = await api.get("/callbacks/slots?queue=cards&date=2026-12-03", headers=bearer("C9"))
    by_start = {s["start"][:16]: s["available"] for s in (await slots.json())["slots"]}
    assert by_start["2026-12-03T11:00"] == 0
    assert by_start["2026-12-03T11:15"] == PER_SLOT - 1


async def test_a_reschedule_into_a_full_slot_is_refused(api: ApiClient) -> None:
    for n in range(PER_SLOT):
        await api.post("/callbacks", json=_cards(SLOT), headers=bearer(f"C{n}"))
    later = {"start": "2026-12-03T12:00:00Z", "end": "2026-12-03T12:15:00Z"}
    mine = await api.post("/callbacks", json=_cards(later), headers=bearer("C9"))
    body = await mine.json()
    etag = mine.headers["ETag"]
    into_full = await api.patch(
        f"/callbacks/{body['id']}",
        json={"window": SLOT},
        headers={**bearer("C9"), "If-Match": etag},
    )
    assert into_full.status == 409
    assert (await into_full.json())["next_free"]
    # moving within its own slot does not count itself twice
    same = {"start": "2026-12-03T12:05:00Z", "end": "2026-12-03T12:15:00Z"}
    for n in range(PER_SLOT - 1):
        await api.post("/callbacks", json=_cards(later), headers=bearer(f"D{n}"))
    moved = await api.patch(
        f"/callbacks/{body['id']}",
        json={"window": same},
        headers={**bearer("C9"), "If-Match": etag},
    )
    assert moved.status == 200


async def test_racing_bookings_never_overfill_a_slot(
    callback_store: CallbackStore, queues: Queues, store_url: str
) -> None:
    """Ten bookings for the four places of one slot, from three connections (pools) at once:
    as three workers would send them."""
    others = [await open_database(store_url) for _ in range(2)]
    stores = [callback_store, *(CallbackStore(db, callback_store.box) for db in others)]
    start = datetime(2026, 12, 3, 11, 0, tzinfo=UTC)
    request = Booking(
        number="+447700900123",
        queue="cards",
        window=Window(start=start, end=start + timedelta(minutes=15)),
    )

    async def one(n: int) -> str:
        try:
            await book(stores[n % 3], queues, AppIdentity(f"C{n}"), request, NOW)
        except SlotsFull:
            return "full"
        return "booked"

    try:
        results = await asyncio.gather(*(one(n) for n in range(10)))
    finally:
        for db in others:
            await db.close()
    assert sorted(results) == ["booked"] * PER_SLOT + ["full"] * (10 - PER_SLOT)
    held = await callback_store.booked_between("cards", start.timestamp(), start.timestamp() + 900)
    assert held == PER_SLOT
