"""JournalWriter: the engine's JournalSink, writing batches to a store off the request path.

`write()` only appends to a bounded in-memory queue and returns: a slow or dead database must
never hold up a caller. When the queue is full the oldest records are dropped and counted. A
background task writes a batch when `batch_size` records are waiting or every `interval`
seconds, each batch in one transaction. `close()` writes everything still queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections import deque
from itertools import repeat, starmap
from types import TracebackType

from ivr.journal.hub import JournalHub
from ivr.journal.metrics import (
    FLUSH_SECONDS,
    RECORDS_DROPPED,
    RECORDS_WRITTEN,
    WRITE_ERRORS,
    watch,
)
from ivr.journal.records import JournalRecord
from ivr.journal.store import JournalStore
from ivr.retry import Backoff

log = logging.getLogger(__name__)
CLOSE_BACKOFF = Backoff(first_s=0.1, cap_s=1.0)  # the last flushes at shutdown

NEVER = sys.maxsize  # a wake threshold no queue reaches


class RecordQueue:
    """The engine-side half of a writer: live hub first, then a bounded drop-oldest queue."""

    def __init__(self, hub: JournalHub | None, max_queue: int, batch_size: int) -> None:
        self.hub = hub
        self.batch_size = batch_size
        self.dropped = 0
        self.written = 0
        self.errors = 0
        self._queue: deque[JournalRecord] = deque(maxlen=max_queue)
        self._wake = asyncio.Event()
        # The queue length at which `write` wakes the sender, once: while the sender is busy
        # (storing, or its window of batches in flight is full) a wake-up per turn would cost a
        # task switch and a new timed wait each; the sender re-arms it when it can take more
        # (`_arm`).
        self._wake_at = batch_size

    # -- JournalSink ---------------------------------------------------------------------------
    def write(self, records: list[JournalRecord]) -> None:
        """Queue records and return at once; on overflow drop the oldest and count them."""
        if self.hub is not None:
            self.hub.publish(records)
        queue = self._queue
        assert queue.maxlen is not None
        overflow = len(queue) + len(records) - queue.maxlen
        if overflow > 0:
            self.dropped += overflow
            RECORDS_DROPPED.inc(overflow)
        queue.extend(records)
        if len(queue) >= self._wake_at:
            self._wake_at = NEVER
            self._wake.set()

    def _arm(self) -> None:
        """Let the next `write` that fills a batch wake the sender (it can take one now)."""
        self._wake_at = self.batch_size
        if len(self._queue) >= self.batch_size:
            self._wake.set()

    def _take(self) -> list[JournalRecord]:
        """The next batch off the queue (oldest first)."""
        queue = self._queue
        n = min(self.batch_size, len(queue))
        return list(starmap(queue.popleft, repeat((), n)))  # popped in C, not by a Python loop


class JournalWriter(RecordQueue):
    """Writes to a store in this process (tests, tools); `ivr serve` uses ProcessJournalWriter."""

    def __init__(
        self,
        store: JournalStore,
        hub: JournalHub | None = None,
        *,
        max_queue: int = 100_000,
        batch_size: int = 1000,
        interval: float = 0.2,
        close_retries: int = 3,
    ) -> None:
        super().__init__(hub, max_queue, batch_size)
        self.store = store
        self.interval = interval
        self._backoff = Backoff(first_s=min(1.0, interval * 5), cap_s=1.0)  # a failing store
        self.close_retries = close_retries
        self._pending: list[JournalRecord] | None = None  # a batch whose write failed
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            watch(self)  # ivr_journal_queue_depth reads `queued` when scraped
            self._task = asyncio.get_running_loop().create_task(self._run(), name="journal-writer")

    async def __aenter__(self) -> JournalWriter:
        self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop the background task and write everything still queued (retrying on errors)."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for attempt in range(self.close_retries):
            if await self.flush():
                return
            await CLOSE_BACKOFF.wait(attempt + 1)
        lost = len(self._queue) + len(self._pending or ())
        log.error("journal: %d records could not be written at shutdown", lost)
        self.dropped += lost
        RECORDS_DROPPED.inc(lost)

    @property
    def queued(self) -> int:
        return len(self._queue) + len(self._pending or ())

    # -- writing -------------------------------------------------------------------------------
    async def _run(self) -> None:
        failures = 0
        while not self._closing:
            self._arm()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            if await self.flush():
                failures = 0
            else:  # back off a failing store
                failures += 1
                await self._backoff.wait(failures)

    async def flush(self) -> bool:
        """Write all queued records in batches; False if the store failed (batch kept)."""
        async with self._lock:
            while self._pending or self._queue:
                if self._pending is None:
                    self._pending = self._take()
                batch = self._pending
                try:
                    with FLUSH_SECONDS.time():
                        await self.store.append(batch)
                except Exception as exc:  # keep the call path alive whatever the store does
                    self.errors += 1
                    WRITE_ERRORS.inc()
                    log.warning(
                        "journal: writing %d records failed: %s", len(batch), type(exc).__name__
                    )
                    return False
                self._pending = None
                self.written += len(batch)
                RECORDS_WRITTEN.inc(len(batch))
            return True
