"""A test case that plays a callback the company places: its booking, made in a scratch
journal database, is claimed as the dispatcher would claim it, with the real callback
operations (ivr.callbacks.console)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as day_time
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from ivr.callbacks.auth import AppIdentity
from ivr.callbacks.console import ConsoleCallback, play_callback
from ivr.callbacks.crypto import SecretBox
from ivr.callbacks.db import Database, open_database
from ivr.callbacks.model import Booking, Window
from ivr.callbacks.queues import Queue, Queues
from ivr.callbacks.service import book
from ivr.callbacks.store import CallbackStore
from ivr.engine.handoff import IDENTIFIED_AND_VERIFIED, IDENTIFIED_ONLY
from ivr.engine.operations import OperationRegistry

ALWAYS: dict[int, tuple[tuple[day_time, day_time | None], ...]] = {
    day: ((day_time(0), None),) for day in range(7)
}


def always_open(configured: Queues, wanted: str) -> Queues:
    """The project's queues (with their routes), staffed around the clock, so a case plays
    whenever it runs; `wanted` is added when the project does not configure it."""
    queues = {
        name: Queue(name, ZoneInfo("UTC"), ALWAYS, route=queue.route)
        for name, queue in configured.by_name.items()
    }
    queues.setdefault(wanted, Queue(wanted, ZoneInfo("UTC"), ALWAYS))
    return Queues(queues)


class CallbackFixture(BaseModel):
    """The callback a case plays: who booked it, their secret, who answers."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    customer_id: str = "C1001"
    name: str = "Alice Example"
    number: str = "+447700900123"
    secret: str | None = "anana"
    verified: bool = True  # booked from the app, whose login verified the customer
    answered_by: str | None = None  # e.g. machine_start: an answering machine picked up
    queue: str = "general"  # the queue booked into: its route is where pressing 1 goes
    language: str | None = None  # the language booked in (None: the service line's)


@dataclass
class PlayedCallback:
    console: ConsoleCallback
    db: Database

    @property
    def context(self) -> dict[str, str]:
        return self.console.context

    async def close(self) -> str:
        """End the call as the gateway would; the callback's status after it."""
        try:
            return await self.console.ended()
        finally:
            await self.db.close()


async def booked_callback(
    fixture: CallbackFixture,
    operations: OperationRegistry,
    flow: str,
    folder: Path,
    configured: Queues | None = None,
) -> PlayedCallback:
    db = await open_database(f"sqlite:///{folder}/callbacks.db")
    store = CallbackStore(db, SecretBox([("case", os.urandom(32))]))
    now = time.time()
    start = datetime.fromtimestamp(now, UTC)
    window = Window(start=start, end=start + timedelta(hours=2))
    request = Booking(
        number=fixture.number, queue=fixture.queue, window=window, secret=fixture.secret,
        language=fixture.language,
    )  # fmt: skip
    status = IDENTIFIED_AND_VERIFIED if fixture.verified else IDENTIFIED_ONLY
    who = AppIdentity(fixture.customer_id, fixture.name, status)
    queues = always_open(configured or Queues(), fixture.queue)
    callback, _ = await book(store, queues, who, request, now)
    console = await play_callback(store, queues, operations, callback.id, flow)
    if fixture.answered_by:
        console.context["answered_by"] = fixture.answered_by
    return PlayedCallback(console, db)
