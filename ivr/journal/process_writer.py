"""ProcessJournalWriter: the journal's database work in a child process, off the engine's GIL.

`write()` is the same as JournalWriter's (live hub fed at once, bounded drop-oldest queue), but
the background task only pickles batches of tuples to the worker (`python -m ivr.journal.worker`)
over its stdin; scrubbing, folding and the inserts, ~20 µs of Python per record, run in the
worker on another core. At most `window` batches are in flight: the worker acknowledges each
once stored, and unacknowledged batches are kept so that a worker that dies is replaced and
sent them again (records are idempotent; a batch stored just before the crash could count twice
in the call summaries, the same at-least-once as a lost database reply in JournalWriter).
`close()` sends everything, waits for the acknowledgements and ends the worker; the worker also
exits when its stdin ends, so it never outlives an engine that is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from types import TracebackType

from ivr.journal.hub import JournalHub
from ivr.journal.metrics import (
    FLUSH_SECONDS,
    RECORDS_DROPPED,
    RECORDS_WRITTEN,
    SECRETS_STRIPPED,
    WRITE_ERRORS,
)
from ivr.journal.store import URL_ENV
from ivr.journal.wire import READY, Ack, encode_batch
from ivr.journal.writer import RecordQueue
from ivr.settings import child_environment

log = logging.getLogger(__name__)

Process = asyncio.subprocess.Process


class ProcessJournalWriter(RecordQueue):
    def __init__(
        self,
        url: str,
        hub: JournalHub | None = None,
        *,
        max_queue: int = 100_000,
        batch_size: int = 1000,
        interval: float = 0.2,
        window: int = 4,
        close_timeout: float = 30.0,
    ) -> None:
        super().__init__(hub, max_queue, batch_size)
        self.url = url
        self.interval = interval
        self.window = window
        self.close_timeout = close_timeout
        self.restarts = 0
        # Sent, not yet acknowledged: each batch's record count and its frame as sent, to send
        # again to a new worker. Frames, not the records: ~45 bytes a record instead of ~300
        # keeps the engine's working set small (its memory is then reused while still in cache).
        self._inflight: dict[int, tuple[int, bytes]] = {}
        self._next_id = 0
        self._proc: Process | None = None
        self._acks: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._ready = asyncio.Event()

    @property
    def queued(self) -> int:
        return len(self._queue) + sum(count for count, _ in self._inflight.values())

    @property
    def pid(self) -> int | None:
        """The worker's process id (None before it starts)."""
        return self._proc.pid if self._proc is not None else None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="journal-sender")

    async def wait_ready(self) -> None:
        """Start, and wait until the worker runs and has tried to open the store (benchmarks)."""
        self.start()
        await self._ready.wait()

    async def __aenter__(self) -> ProcessJournalWriter:
        self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Send everything, wait until it is stored (up to `close_timeout`), end the worker."""
        self._closing = True
        self.start()
        self._wake.set()
        assert self._task is not None
        try:
            await asyncio.wait_for(asyncio.shield(self._task), self.close_timeout)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._stop_worker()
        lost = self.queued
        if lost:
            log.error("journal: %d records could not be written at shutdown", lost)
            self.dropped += lost
            RECORDS_DROPPED.inc(lost)
            self._queue.clear()
            self._inflight.clear()

    async def _stop_worker(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.stdin is not None and not proc.stdin.is_closing():
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 10.0)  # it writes what it has, then exits
        except TimeoutError:
            proc.kill()
            await proc.wait()
        if self._acks is not None:
            await self._acks  # the last acknowledgements, up to the worker's end of output

    # -- sending -------------------------------------------------------------------------------
    async def _run(self) -> None:
        failures = 0
        while not (self._closing and not self._queue and not self._inflight):
            if self._acks is None or self._acks.done():
                if not await self._spawn():
                    failures += 1
                    await asyncio.sleep(min(5.0, 0.2 * failures))
                    continue
                failures = 0
            if len(self._inflight) < self.window:
                self._arm()
            timed_out = False
            if not self._closing:
                try:
                    await asyncio.wait_for(self._wake.wait(), self.interval)
                except TimeoutError:
                    timed_out = True
            else:
                await self._wake.wait()
            self._wake.clear()
            await self._send(partial=timed_out or self._closing)

    async def _spawn(self) -> bool:
        """Start a worker (again) and send it what the previous one had not acknowledged."""
        if self._proc is not None:
            self.restarts += 1
            log.error("journal: worker exited (%s); restarting it", self._proc.returncode)
            await self._stop_worker()
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "ivr.journal.worker",  # the URL goes in its environment: `ps` shows no password
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                env=child_environment({URL_ENV: self.url}),
            )
        except OSError as exc:
            log.error("journal: cannot start the worker: %s", type(exc).__name__)
            return False
        self._proc = proc
        self._acks = asyncio.get_running_loop().create_task(self._read_acks(proc))
        for batch_id in sorted(self._inflight):
            await self._put(self._inflight[batch_id][1])
        return True

    async def _send(self, partial: bool) -> None:
        """Full batches while the window allows; the remainder too when `partial`."""
        while len(self._inflight) < self.window and self._queue:
            if len(self._queue) < self.batch_size and not partial:
                return
            batch = self._take()
            batch_id = self._next_id
            self._next_id += 1
            frame = encode_batch(batch_id, batch)
            self._inflight[batch_id] = (len(batch), frame)
            del batch  # the records go now, not when the worker acknowledges them
            if not await self._put(frame):
                return

    async def _put(self, frame: bytes) -> bool:
        """Write a frame to the worker; False if it is gone (its batches stay in flight)."""
        proc = self._proc
        assert proc is not None
        assert proc.stdin is not None
        try:
            proc.stdin.write(frame)
            await proc.stdin.drain()
        except (ConnectionError, RuntimeError):
            return False
        return True

    async def _read_acks(self, proc: Process) -> None:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            if line == READY:
                self._ready.set()
                continue
            ack = Ack.decode(line)
            if not ack.ok:
                self.errors += 1
                WRITE_ERRORS.inc()
                log.warning("journal: writing batch %d failed: %s", ack.batch_id, ack.error)
                continue
            if self._inflight.pop(ack.batch_id, None) is None:
                continue
            self.written += ack.records
            RECORDS_WRITTEN.inc(ack.records)
            if ack.secrets:
                SECRETS_STRIPPED.inc(ack.secrets)
            FLUSH_SECONDS.observe(ack.seconds)
            if self._closing:
                self._wake.set()
            else:
                self._arm()  # a slot in the window is free
        self._wake.set()  # the worker ended: the sender restarts it or finishes closing
