"""The live side of the journal: records fan out to subscribers and an in-memory view of calls.

Everything here is per process and in memory, fed synchronously by `JournalWriter.write` before
any database is involved, so the dashboard and `/calls/stream` see a record the moment the engine
produces it. With several workers, each has its own hub (a shared bus is future work).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ivr.journal.records import JournalRecord, RecordKind

PULSE_SECONDS = 120


@dataclass(slots=True)
class ActiveCall:
    call_id: str
    started_at: float
    service_line: str
    flow_id: str
    flow_version: str
    step: str | None = None
    last_kind: str = ""
    last_at: float = 0.0
    idv_status: str | None = None
    records: deque[JournalRecord] = field(default_factory=lambda: deque(maxlen=500))

    def summary(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "started_at": self.started_at,
            "service_line": self.service_line,
            "flow": self.flow_id,
            "version": self.flow_version,
            "step": self.step,
            "last_kind": self.last_kind,
            "last_at": self.last_at,
            "idv_status": self.idv_status,
        }


class Subscription:
    """An async iterator of records published after it was created; slow readers lose the oldest."""

    def __init__(self, hub: JournalHub, maxsize: int) -> None:
        self._hub = hub
        self._queue: asyncio.Queue[JournalRecord | None] = asyncio.Queue(maxsize)
        self.dropped = 0

    def put(self, record: JournalRecord) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(record)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> JournalRecord:
        record = await self._queue.get()
        if record is None:
            raise StopAsyncIteration
        return record

    def close(self) -> None:
        """Stop the subscription: the iterator ends once what was queued has been read."""
        self._hub._subscribers.discard(self)
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(None)


def is_error(record: JournalRecord) -> bool:
    """Errors for the system pulse: failed or timed-out operations and steps."""
    return record.kind in (RecordKind.OPERATION, RecordKind.STEP_OUTCOME) and record.outcome in (
        "error",
        "timeout",
    )


class JournalHub:
    def __init__(self, subscriber_queue: int = 1000, stale_after: float = 4 * 3600) -> None:
        self._subscribers: set[Subscription] = set()
        self._active: dict[str, ActiveCall] = {}
        self._subscriber_queue = subscriber_queue
        self._stale_after = stale_after
        self._pulse: dict[int, list[int]] = {}  # second -> [events, errors]
        self.events = 0
        self.errors = 0

    def subscribe(self) -> Subscription:
        sub = Subscription(self, self._subscriber_queue)
        self._subscribers.add(sub)
        return sub

    def publish(self, records: Iterable[JournalRecord]) -> None:
        """Update the active-call view and hand each record to every subscriber (never blocks)."""
        for record in records:
            self._track(record)
            for sub in tuple(self._subscribers):
                sub.put(record)

    def _track(self, r: JournalRecord) -> None:
        second = int(r.at)
        bucket = self._pulse.get(second)
        if bucket is None:
            bucket = self._pulse[second] = [0, 0]
            self._trim(second)
        error = is_error(r)
        bucket[0] += 1
        bucket[1] += error
        self.events += 1
        self.errors += error
        call = self._active.get(r.call_id)
        if r.kind is RecordKind.CALL_ENDED:
            self._active.pop(r.call_id, None)
            return
        if call is None:
            call = self._active[r.call_id] = ActiveCall(
                r.call_id, r.at, r.service_line, r.flow_id, r.flow_version
            )
        if r.step:
            call.step = r.step
        if r.kind is RecordKind.IDV_STATUS:
            call.idv_status = r.outcome
        call.last_kind, call.last_at = str(r.kind), r.at
        call.records.append(r)

    def _trim(self, now: int) -> None:
        for second in [s for s in self._pulse if s <= now - PULSE_SECONDS]:
            del self._pulse[second]
        stale = now - self._stale_after
        for call_id in [c.call_id for c in self._active.values() if c.last_at < stale]:
            del self._active[call_id]  # a worker died mid-call: don't show it forever

    def active(self) -> list[ActiveCall]:
        return sorted(self._active.values(), key=lambda c: c.started_at)

    def journey(self, call_id: str) -> list[JournalRecord] | None:
        call = self._active.get(call_id)
        return list(call.records) if call else None

    def pulse(self, seconds: int = 60, now: float | None = None) -> list[tuple[int, int, int]]:
        """(second, events, errors) for each of the last `seconds` seconds, oldest first."""
        end = int(now if now is not None else time.time())
        return [(s, *self._pulse.get(s, (0, 0))) for s in range(end - seconds + 1, end + 1)]
