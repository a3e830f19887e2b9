"""Slot capacity: a callback takes a place in the queue's slot its time falls in, and a full
slot takes no more (config/queues.yaml `slot_minutes`, `callbacks_per_slot`).

A booking (or a reschedule) is placed in the first slot of its window that has room, at the
first staffed instant of that slot inside the window; when every slot of the window is full
it is refused with the next slots that still have room. The count and the insert happen in
one transaction that holds the queue's slot lock, so bookings racing for the last place
cannot both take it: SQLite's write transaction (BEGIN IMMEDIATE) already admits one writer
at a time; PostgreSQL takes a transaction-scoped advisory lock per queue (read committed
alone would let two transactions count the same free place).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ivr.callbacks.db import Tx
from ivr.callbacks.queues import Queue

LOOK_AHEAD = timedelta(days=14)  # how far the next free slots are searched for a refusal
NEXT_FREE = 3  # how many free slots a refusal offers


@dataclass(frozen=True, slots=True)
class FreeSlot:
    start: datetime
    end: datetime
    available: int

    def as_json(self) -> dict[str, object]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "available": self.available,
        }


class SlotsFull(Exception):
    """Every slot of the window is taken; `next_free` says where there is room."""

    def __init__(self, queue: str, next_free: list[FreeSlot]) -> None:
        super().__init__(f"every slot of queue {queue!r} in the window is full")
        self.next_free = next_free


def slots_between(queue: Queue, start: float, end: float) -> Iterator[tuple[datetime, datetime]]:
    """The queue's slots that overlap [start, end), in order."""
    day = datetime.fromtimestamp(start, UTC).astimezone(queue.zone).date() - timedelta(days=1)
    last = datetime.fromtimestamp(end, UTC).astimezone(queue.zone).date()
    while day <= last:
        for slot_start, slot_end in queue.slots(day):
            if slot_end.timestamp() > start and slot_start.timestamp() < end:
                yield slot_start, slot_end
        day += timedelta(days=1)


async def lock(tx: Tx, queue: str) -> None:
    """Hold the queue's slots until the transaction ends (see the module's docstring)."""
    if tx.dialect == "postgresql":
        await tx.fetch("SELECT pg_advisory_xact_lock(hashtext(:k))", {"k": f"ivr-slots:{queue}"})


async def _held(tx: Tx, queue: str, start: float, end: float, exclude: str) -> list[float]:
    """When the callbacks holding a place in [start, end) of a queue are due, sorted."""
    rows = await tx.fetch(
        "SELECT scheduled_at FROM callbacks WHERE queue = :q AND scheduled_at >= :a"
        " AND scheduled_at < :b AND id <> :x AND status IN ('requested', 'scheduled', 'dialling')"
        " ORDER BY scheduled_at",
        {"q": queue, "a": float(start), "b": float(end), "x": exclude},
    )
    return [float(row[0]) for row in rows]


def _count(held: list[float], start: float, end: float) -> int:
    return bisect.bisect_left(held, end) - bisect.bisect_left(held, start)


async def take_place(
    tx: Tx, queue: Queue, earliest: float, window_end: float, exclude: str = ""
) -> float:
    """When the callback is due: the first instant from `earliest` in the window's first slot
    with room. SlotsFull when there is none; call inside the transaction that stores it."""
    await lock(tx, queue.name)
    slots = [(s.timestamp(), e.timestamp()) for s, e in slots_between(queue, earliest, window_end)]
    if slots:
        held = await _held(tx, queue.name, slots[0][0], slots[-1][1], exclude)
        for slot_start, slot_end in slots:
            if _count(held, slot_start, slot_end) < queue.callbacks_per_slot:
                return max(slot_start, earliest)
    raise SlotsFull(queue.name, await next_free(tx, queue, window_end, exclude))


async def next_free(tx: Tx, queue: Queue, after: float, exclude: str = "") -> list[FreeSlot]:
    """The first slots starting at or after `after` that have room."""
    horizon = after + LOOK_AHEAD.total_seconds()
    held = await _held(tx, queue.name, after, horizon, exclude)
    found: list[FreeSlot] = []
    for slot_start, slot_end in slots_between(queue, after, horizon):
        if slot_start.timestamp() < after:
            continue
        used = _count(held, slot_start.timestamp(), slot_end.timestamp())
        if used < queue.callbacks_per_slot:
            found.append(FreeSlot(slot_start, slot_end, queue.callbacks_per_slot - used))
            if len(found) == NEXT_FREE:
                break
    return found
