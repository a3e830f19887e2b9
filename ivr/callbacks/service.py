"""Booking and changing callbacks: the rules between the API (or a flow) and the store.

A window must lie ahead and overlap the queue's staffed hours; the callback is scheduled for the
first staffed instant in it that lies in a slot with room (capacity.py). A repeated
Idempotency-Key with the same body gets the first booking back; with another body it is
refused (the body is compared by keyed hash, since it may hold the secret).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from ivr.callbacks.auth import AppIdentity
from ivr.callbacks.capacity import take_place
from ivr.callbacks.db import Tx
from ivr.callbacks.model import Booking, Change, Status, Window
from ivr.callbacks.queues import Queue, Queues
from ivr.callbacks.store import (
    OWN_SECRET,
    STANDING_SECRET,
    Callback,
    CallbackStore,
    IdempotencyConflict,
    new_id,
)

MAX_AHEAD = timedelta(days=30)
MAX_WINDOW = timedelta(days=7)


class BookingRefused(ValueError):
    """The booking cannot be taken as asked; the message says why (and holds no secret)."""


@dataclass(frozen=True, slots=True)
class Placed:
    queue: Queue
    zone: str
    start: float
    end: float
    scheduled_at: float


def place(queues: Queues, queue_name: str, window: Window, now: float) -> Placed:
    """Where a window falls in a queue's hours; BookingRefused when it cannot be served."""
    queue = queues.get(queue_name)
    if queue is None:
        raise BookingRefused(f"no queue named {queue_name!r}")
    current = datetime.fromtimestamp(now, UTC)
    if window.end <= current:
        raise BookingRefused("the window has already ended")
    if window.start > current + MAX_AHEAD:
        raise BookingRefused("the window starts more than 30 days ahead")
    if window.end - window.start > MAX_WINDOW:
        raise BookingRefused("the window is longer than 7 days")
    zone = window.time_zone or queue.time_zone
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(zone)
    except (ValueError, KeyError, OSError):
        raise BookingRefused(f"unknown time zone {zone!r}") from None
    first = queue.first_open(max(window.start, current), window.end)
    if first is None:
        raise BookingRefused(f"queue {queue_name!r} is not staffed at any time in the window")
    return Placed(queue, zone, window.start.timestamp(), window.end.timestamp(), first.timestamp())


def _body_bytes(booking: Booking) -> bytes:
    return json.dumps(booking.model_dump(mode="json"), sort_keys=True).encode()


async def book(
    store: CallbackStore,
    queues: Queues,
    who: AppIdentity,
    booking: Booking,
    now: float,
    idempotency_key: str | None = None,
    source: str = "app",
) -> tuple[Callback, bool]:
    """The booked callback and whether it is new (False: an idempotent replay)."""
    body = _body_bytes(booking)
    if idempotency_key is not None:
        earlier = await _replay(store, who.customer_id, idempotency_key, body)
        if earlier is not None:
            return earlier, False
    placed = place(queues, booking.queue, booking.window, now)
    read_secret = 0
    if booking.secret is not None:
        read_secret = OWN_SECRET
    elif booking.use_standing_secret:
        if not await store.has_standing_secret(who.customer_id):
            raise BookingRefused("no standing secret is set for this customer")
        read_secret = STANDING_SECRET
    callback = Callback(
        id=new_id(),
        customer_id=who.customer_id,
        customer_name=who.name,
        number=booking.number,
        queue=booking.queue,
        reason=booking.reason,
        language=booking.language,
        window_start=placed.start,
        window_end=placed.end,
        time_zone=placed.zone,
        scheduled_at=placed.scheduled_at,
        status=str(Status.SCHEDULED),
        attempts=0,
        max_attempts=placed.queue.max_attempts,
        retry_delay_s=placed.queue.retry_delay_s,
        next_attempt_at=placed.scheduled_at,
        idv_status=who.idv_status,
        source=source,
        secret_kid=None,
        secret_ct=None,
        read_secret=read_secret,
        version=1,
        idempotency_key=idempotency_key,
        request_hash=store.request_hash(body) if idempotency_key else None,
        call_id=None,
        outcome=None,
        created_at=now,
        updated_at=now,
        connected_at=None,
        ended_at=None,
    )

    async def in_a_free_slot(tx: Tx) -> float:
        return await take_place(tx, placed.queue, placed.scheduled_at, placed.end)

    detail = {"source": source, "queue": booking.queue}
    try:
        await store.insert(callback, booking.secret, detail, in_a_free_slot)
    except (sqlite3.IntegrityError, asyncpg.UniqueViolationError):
        # the same key raced in from another request: answer as that one did
        if idempotency_key is None:
            raise
        earlier = await _replay(store, who.customer_id, idempotency_key, body)
        if earlier is None:
            raise
        return earlier, False
    return await store.get(callback.id), True


async def _replay(store: CallbackStore, customer_id: str, key: str, body: bytes) -> Callback | None:
    earlier = await store.by_idempotency_key(customer_id, key)
    if earlier is None:
        return None
    if earlier.request_hash is None or store.box is None:
        raise IdempotencyConflict(key)
    if not store.box.same_hash(earlier.request_hash, body):
        raise IdempotencyConflict(key)
    return earlier


async def change(
    store: CallbackStore,
    queues: Queues,
    who: AppIdentity,
    callback_id: str,
    version: int,
    patch: Change,
    now: float,
) -> Callback:
    current = await store.get(callback_id, who.customer_id)
    values: dict[str, object] = {}
    in_a_free_slot = None
    given = patch.model_fields_set
    if "number" in given and patch.number is not None:
        values["number"] = patch.number
    if "reason" in given:
        values["reason"] = patch.reason
    if "language" in given:
        values["language"] = patch.language
    if "window" in given and patch.window is not None:
        placed = place(queues, current.queue, patch.window, now)
        values.update(
            window_start=placed.start,
            window_end=placed.end,
            time_zone=placed.zone,
        )

        async def in_a_free_slot(tx: Tx) -> float:
            return await take_place(tx, placed.queue, placed.scheduled_at, placed.end, callback_id)

    secret: str | None | bool = False
    if "secret" in given:
        secret = patch.secret
    return await store.change(
        callback_id, who.customer_id, version, values, secret, now, in_a_free_slot
    )
