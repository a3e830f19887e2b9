"""ProcessJournalWriter: the journal's database work in a child process, off the engine's GIL.

`write()` is the same as JournalWriter's (live hub fed at once, bounded drop-oldest queue), but
the background task only pickles batches of tuples to the worker (`python -m ivr.journal.worker`)
over its stdin; scrubbing, folding and the inserts, most of the journal's Python work per
record, run in the worker on another core (`python -m bench.journal_overhead` prints the cost
left to the engine). At most `window` batches are in flight: the worker acknowledges each
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
import time
from pathlib import Path
from types import TracebackType

from ivr.journal.hub import JournalHub
from ivr.journal.metrics import (
    FLUSH_SECONDS,
    RECORDS_DROPPED,
    RECORDS_SPOOLED,
    RECORDS_WRITTEN,
    SECRETS_STRIPPED,
    SPOOL_BYTES,
    SPOOL_DAMAGED,
    SPOOL_DROPPED,
    SPOOL_RECORDS,
    STORE_REBUILT,
    WRITE_ERRORS,
    watch,
)
from ivr.journal.spool import check_directory
from ivr.journal.store import URL_ENV
from ivr.journal.wire import READY, Ack, Status, encode_batch
from ivr.journal.writer import RecordQueue
from ivr.retry import Backoff
from ivr.settings import child_environment

log = logging.getLogger(__name__)
SPAWN_BACKOFF = Backoff(first_s=0.2, cap_s=5.0)  # a worker that will not start

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
        spool_dir: str | None = None,
        spool_max_bytes: int | None = None,
    ) -> None:
        super().__init__(hub, max_queue, batch_size)
        self.url = url
        self.spool_dir = spool_dir  # None: $IVR_JOURNAL_SPOOL_DIR, else var/journal-spool
        self.spool_max_bytes = spool_max_bytes  # None: $IVR_JOURNAL_SPOOL_MAX_BYTES, else 256 MiB
        self.status = Status("ok")  # the worker's last word on the store and its spool
        self.spooled = 0  # records acknowledged as spooled (stored later, from the spool)
        self.spool_dropped = 0  # records the store refused and the full spool could not take
        self.spool_damaged_bytes = 0  # damaged spool frames the worker skipped
        self.spool_refused: str | None = None  # why the spool directory is not to be trusted
        self.rebuilt: list[str] = []  # what the store had lost and the migrations recreated
        self._started_at = 0.0
        self.interval = interval
        self.window = window
        self.close_timeout = close_timeout
        self.restarts = 0
        # Sent, not yet acknowledged: each batch's record count and its frame as sent, to send
        # again to a new worker. Frames, not the records: a record's share of a pickled frame is
        # a fraction of the record object's size, which keeps the engine's working set small
        # (its memory is then reused while still in cache).
        self._inflight: dict[int, tuple[int, bytes]] = {}
        self._next_id = 0
        self._proc: Process | None = None
        self._acks: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._ready = asyncio.Event()

    @property
    def queued(self) -> int:
        """Records this process holds that no worker has stored or spooled yet."""
        return len(self._queue) + sum(count for count, _ in self._inflight.values())

    def health(self) -> dict[str, object]:
        """The journal's state for /readyz: "ok" (the store takes records), "spooling" (the
        store refuses them: they go to the worker's spool, nothing is lost) or "down" (neither
        the store nor the spool takes them, or no worker runs: records wait in memory)."""
        running = self._acks is not None and not self._acks.done()
        state = self.status.state if running else "down"
        if state == "ok" and self.spool_refused:
            state = "no_spool"  # stores now, but a store outage would have nowhere to go
        return {
            "state": state,
            "spool_refused": self.spool_refused,
            "pending_records": self.queued,
            "spooled_records": self.status.spooled_records,
            "spooled_bytes": self.status.spooled_bytes,
            "spool_dropped_records": self.spool_dropped,
            "spool_damaged_bytes": self.spool_damaged_bytes,
            "worker_restarts": self.restarts,
            "rebuilt": self.rebuilt[-10:],
        }

    @property
    def pid(self) -> int | None:
        """The worker's process id (None before it starts)."""
        return self._proc.pid if self._proc is not None else None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._check_spool()
            watch(self)
            self._task = asyncio.get_running_loop().create_task(self._run(), name="journal-sender")

    def _check_spool(self) -> None:
        """The worker refuses a spool directory others could write to (ivr.journal.spool):
        say so here too, where /readyz and the log see it."""
        if self.spool_dir is None:
            return
        try:
            check_directory(Path(self.spool_dir))
        except OSError as error:
            self.spool_refused = str(error)
            log.error("journal: no spool: %s", error)

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
                if self._proc is not None and time.monotonic() - self._started_at < 1.0:
                    failures += 1  # it died at once (a store that kills it): do not spin
                    await SPAWN_BACKOFF.wait(failures)
                if not await self._spawn():
                    failures += 1
                    await SPAWN_BACKOFF.wait(failures)
                    continue
                if time.monotonic() - self._started_at >= 1.0:
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
        options = []
        if self._proc is not None:
            self.restarts += 1
            log.error("journal: worker exited (%s); restarting it", self._proc.returncode)
            await self._stop_worker()
            # what it had not acknowledged may be stored already: its successor checks
            options.append(f"--resent-below={self._next_id}")
        if self.spool_dir is not None:
            options.append(f"--spool-dir={self.spool_dir}")
        if self.spool_max_bytes is not None:
            options.append(f"--spool-max-bytes={self.spool_max_bytes}")
        self._started_at = time.monotonic()
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "ivr.journal.worker",  # the URL goes in its environment: `ps` shows no password
                *options,
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
            elif line.startswith(b"state "):
                self._new_status(Status.decode(line))
            else:
                self._acknowledged(Ack.decode(line))
        self._wake.set()  # the worker ended: the sender restarts it or finishes closing

    def _acknowledged(self, ack: Ack) -> None:
        name = ack.name
        if name == "err":
            self.errors += 1
            WRITE_ERRORS.inc()
            log.debug("journal: writing batch %d failed: %s", ack.batch_id, ack.error)
            return
        if name == "replayed":  # spooled earlier, stored now
            self._stored(ack)
            return
        if self._inflight.pop(ack.batch_id, None) is None:
            return
        if name == "ok":
            self._stored(ack)
        elif name == "spooled":
            self.spooled += ack.records
            RECORDS_SPOOLED.inc(ack.records)
        else:  # dropped: the store refused it and the spool was full
            self.dropped += ack.records
            self.spool_dropped += ack.records
            SPOOL_DROPPED.inc(ack.records)
        if self._closing:
            self._wake.set()
        else:
            self._arm()  # a slot in the window is free

    def _stored(self, ack: Ack) -> None:
        self.written += ack.records
        RECORDS_WRITTEN.inc(ack.records)
        if ack.secrets:
            SECRETS_STRIPPED.inc(ack.secrets)
        FLUSH_SECONDS.observe(ack.seconds)

    def _new_status(self, status: Status) -> None:
        if status.state != self.status.state:
            log.warning("journal: %s -> %s", self.status.state, status.state)
        self.status = status
        SPOOL_RECORDS.set(status.spooled_records)
        SPOOL_BYTES.set(status.spooled_bytes)
        if status.damaged_bytes:
            log.error("journal: %d bytes of damaged spool skipped", status.damaged_bytes)
            self.spool_damaged_bytes += status.damaged_bytes
            SPOOL_DAMAGED.inc(status.damaged_bytes)
        for name in status.rebuilt:
            self.rebuilt.append(name)
            STORE_REBUILT.labels(name).inc()
