"""The live side of the journal: records fan out to subscribers and an in-memory view of calls.

Everything here is per process and in memory, fed synchronously by `JournalWriter.write` before
any database is involved, so the dashboard and `/calls/stream` see a record the moment the engine
produces it. Workers that share calls through Redis share these views through the live bus
(`ivr.journal.live_bus`), which feeds each hub the other processes' records (`receive`).
"""

from __future__ import annotations

import asyncio
import operator
import time
from collections import deque
from collections.abc import Callable, Iterable
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
    # The seq of the record each field comes from: a record of another worker that crosses
    # the live bus after newer ones of its call changes only the fields it is the latest for.
    last_seq: int = -1
    step_seq: int = -1
    idv_seq: int = -1
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


ERROR_KINDS: frozenset[RecordKind] = frozenset({RecordKind.OPERATION, RecordKind.STEP_OUTCOME})
ERROR_OUTCOMES: frozenset[str] = frozenset({"error", "timeout"})
SWEEP_SECONDS = 60  # how often calls gone quiet are looked for (a walk over every active call)
ENDED_KEPT = 10_000  # ended calls remembered, so that a record arriving late does not revive one


_CALL_ENDED = RecordKind.CALL_ENDED
_by_seq = operator.attrgetter("seq")
_IDV_STATUS = RecordKind.IDV_STATUS


def is_error(record: JournalRecord) -> bool:
    """Errors for the system pulse: failed or timed-out operations and steps."""
    return record.outcome in ERROR_OUTCOMES and record.kind in ERROR_KINDS


class JournalHub:
    """Live views fed on the engine's path: a few attribute updates per record, nothing more.

    `publish` runs for every record the engine writes, so it keeps to O(1) work per record: the
    current pulse second is cached (the dict is only touched when the second changes), the
    subscriber fan-out is skipped when nobody listens, and stale calls are swept once a minute
    rather than every second.
    """

    def __init__(self, subscriber_queue: int = 1000, stale_after: float = 4 * 3600) -> None:
        self._subscribers: set[Subscription] = set()
        self._active: dict[str, ActiveCall] = {}
        self._subscriber_queue = subscriber_queue
        self._stale_after = stale_after
        self._pulse: dict[int, list[int]] = {}  # second -> [events, errors]
        self._second = -1  # the second `_bucket` counts
        self._bucket = [0, 0]
        self._swept = 0
        self._ended: dict[str, None] = {}  # recently ended call ids, oldest first
        self.forward: Callable[[list[JournalRecord]], None] | None = None  # e.g. the live bus
        self.events = 0
        self.errors = 0

    def subscribe(self) -> Subscription:
        sub = Subscription(self, self._subscriber_queue)
        self._subscribers.add(sub)
        return sub

    def publish(self, records: Iterable[JournalRecord]) -> None:
        """This process's records: update the active-call view, hand each record to every
        subscriber (never blocks) and to `forward` (the other processes' hubs) when set."""
        if not isinstance(records, list):
            records = list(records)  # read once, for the views, the fan-out and the forward
        self._track(records)
        if self._subscribers:
            self._fan_out(records)
        if self.forward is not None:
            self.forward(records)

    def receive(self, records: Iterable[JournalRecord]) -> None:
        """Records another process produced (through the live bus): the same views, built record
        by record because they may arrive after newer ones of the same call or after its end."""
        records = list(records)
        for r in records:
            self._merge(r)
        if self._subscribers:
            self._fan_out(records)

    def _fan_out(self, records: list[JournalRecord]) -> None:
        for sub in tuple(self._subscribers):
            for record in records:
                sub.put(record)

    def _merge(self, r: JournalRecord) -> None:
        second, bucket = self._second, self._bucket
        if int(r.at) != second:
            second, bucket = self._move_to(int(r.at))
        bucket[0] += 1
        self.events += 1
        if is_error(r):
            bucket[1] += 1
            self.errors += 1
        call_id = r.call_id
        if call_id in self._ended:
            return
        if r.kind is _CALL_ENDED:
            self._active.pop(call_id, None)
            self._remember_ended(call_id)
            return
        call = self._active.get(call_id)
        if call is None:
            call = self._active[call_id] = ActiveCall(
                call_id, r.at, r.service_line, r.flow_id, r.flow_version
            )
        call.records.append(r)
        seq = r.seq
        call.started_at = min(call.started_at, r.at)
        if seq > call.last_seq:
            call.last_kind, call.last_at, call.last_seq = r.kind, r.at, seq
        if r.step and seq > call.step_seq:
            call.step, call.step_seq = r.step, seq
        if r.kind is _IDV_STATUS and seq > call.idv_seq:
            call.idv_status, call.idv_seq = r.outcome, seq

    def _remember_ended(self, call_id: str) -> None:
        ended = self._ended
        ended[call_id] = None
        if len(ended) > ENDED_KEPT:
            del ended[next(iter(ended))]

    def _track(self, records: Iterable[JournalRecord]) -> None:
        """One pass; what holds for a run of records of one call is written once per run.

        A turn's records are nearly always one call's within one second, so the pulse bucket
        is added to once per second seen, the call looked up once per change of call, and its
        last kind and time set when the run ends, rather than each per record.
        """
        active = self._active
        second, bucket = self._second, self._bucket
        in_second = events = errors = 0
        call: ActiveCall | None = None
        last: JournalRecord | None = None
        for r in records:
            at = r.at
            if int(at) != second:
                bucket[0] += in_second
                events += in_second
                in_second = 0
                if call is not None and last is not None:  # before a sweep looks at last_at
                    call.last_kind, call.last_at, call.last_seq = last.kind, last.at, last.seq
                call = last = None  # and looked up again: the sweep may have dropped it
                second, bucket = self._move_to(int(at))
            in_second += 1
            kind = r.kind
            outcome = r.outcome
            if outcome is not None and outcome in ERROR_OUTCOMES and kind in ERROR_KINDS:
                errors += 1
                bucket[1] += 1
            call_id = r.call_id
            if call is None or call_id != call.call_id:
                if call is not None and last is not None:
                    call.last_kind, call.last_at, call.last_seq = last.kind, last.at, last.seq
                call = active.get(call_id)
                if call is None:
                    call = active[call_id] = ActiveCall(
                        call_id, at, r.service_line, r.flow_id, r.flow_version
                    )
            if kind is _CALL_ENDED:
                active.pop(call_id, None)
                self._remember_ended(call_id)
                call = last = None
                continue
            last = r
            if r.step:
                call.step, call.step_seq = r.step, r.seq
            if kind is _IDV_STATUS:
                call.idv_status, call.idv_seq = outcome, r.seq
            call.records.append(r)
        if call is not None and last is not None:
            call.last_kind, call.last_at, call.last_seq = last.kind, last.at, last.seq
        bucket[0] += in_second
        self.events += events + in_second
        self.errors += errors

    def _move_to(self, second: int) -> tuple[int, list[int]]:
        """The pulse bucket of another second (made if new, old seconds trimmed)."""
        bucket = self._pulse.get(second)
        if bucket is None:
            bucket = self._pulse[second] = [0, 0]
            self._trim(second)
        self._second, self._bucket = second, bucket
        return second, bucket

    def _trim(self, now: int) -> None:
        for second in [s for s in self._pulse if s <= now - PULSE_SECONDS]:
            del self._pulse[second]
        if now - self._swept < SWEEP_SECONDS:
            return
        self._swept = now
        stale = now - self._stale_after
        for call_id in [c.call_id for c in self._active.values() if c.last_at < stale]:
            del self._active[call_id]  # a worker died mid-call: don't show it forever

    def active(self) -> list[ActiveCall]:
        return sorted(self._active.values(), key=lambda c: c.started_at)

    def journey(self, call_id: str) -> list[JournalRecord] | None:
        """The call's records so far in their order (records from other processes may have
        arrived out of it)."""
        call = self._active.get(call_id)
        return sorted(call.records, key=_by_seq) if call else None

    def pulse(self, seconds: int = 60, now: float | None = None) -> list[tuple[int, int, int]]:
        """(second, events, errors) for each of the last `seconds` seconds, oldest first."""
        end = int(now if now is not None else time.time())
        return [(s, *self._pulse.get(s, (0, 0))) for s in range(end - seconds + 1, end + 1)]
