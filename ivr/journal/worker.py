"""The journal worker: a child process that owns the store and does the journal's database work.

    python -m ivr.journal.worker [URL]     (URL defaults to $IVR_JOURNAL_URL)

Started by `ProcessJournalWriter`, which sends batches on stdin (see `ivr.journal.wire`). Here each
batch, plain tuples, is scrubbed, folded and stored (`JournalStore.append_batches`, one transaction)
and acknowledged on stdout, so none of that Python work competes with the engine for its process's
GIL. A failed batch is reported and retried until it is stored, in order. End of stdin means the
engine closed the writer or died: what was received is still written (a few retries only if the
store is down) and the worker exits, so it never outlives its engine. It ignores SIGINT and SIGTERM,
which a terminal or service manager sends to the whole group: the engine decides when it stops. It
runs at a lower CPU priority (nice 10) so that on a machine with few cores it yields to the engine;
the bounded queue and the acknowledgement window absorb the delay. With more than one core it keeps
off the first, leaving the scheduler a core where the engine never meets it, or runs on the CPUs
named in $IVR_JOURNAL_WORKER_CPUS. Batches that arrived
while the previous one was written are stored together, in one transaction, and acknowledged one
by one: when the worker falls behind, its cost per record drops (fewer commits and summary passes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from pathlib import Path

from prometheus_client import REGISTRY

from ivr.journal.records import Row
from ivr.journal.spool import Spool, SpoolFull
from ivr.journal.store import JournalStore, open_store
from ivr.journal.wire import HEADER, READY, Ack, Status, decode_batch
from ivr.retry import Backoff
from ivr.settings import Settings, SettingsError, load_settings

log = logging.getLogger("ivr.journal.worker")

Batch = tuple[int, list[Row]]
NICENESS = 10  # below the engine: on a small machine the calls come first, the journal catches up
RETRIES_AFTER_EOF = 5  # with the engine gone, a store still down is not waited for forever
GROUP_RECORDS = 8000  # at most this many records (whole batches) in one transaction


def _stripped() -> int:
    """Secret keys stripped so far in this process (clean_batch counts them), for the acks."""
    return int(REGISTRY.get_sample_value("ivr_journal_secret_keys_stripped_total") or 0)


async def _read(inp: asyncio.StreamReader, batches: asyncio.Queue[Batch | None]) -> None:
    """Frames from stdin to the queue; None once stdin ends (or breaks mid-frame)."""
    try:
        while True:
            batch_id, size = HEADER.unpack(await inp.readexactly(HEADER.size))
            batches.put_nowait((batch_id, decode_batch(await inp.readexactly(size))))
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        batches.put_nowait(None)


async def _next_group(batches: asyncio.Queue[Batch | None]) -> list[Batch]:
    """The next batch and those already waiting behind it (up to GROUP_RECORDS); [] at the end.

    The end marker, once seen, is put back so that the next call returns [] after this group.
    """
    item = await batches.get()
    if item is None:
        batches.put_nowait(None)
        return []
    group, size = [item], len(item[1])
    while size < GROUP_RECORDS and not batches.empty():
        item = batches.get_nowait()
        if item is None:
            batches.put_nowait(None)
            break
        group.append(item)
        size += len(item[1])
    return group


CPUS_ENV = "IVR_JOURNAL_WORKER_CPUS"  # e.g. "1" or "2-3,6": where an operator puts the worker


def parse_cpus(text: str) -> set[int]:
    """'1', '2-3,6' -> {1}, {2, 3, 6}; ValueError for anything else."""
    cpus: set[int] = set()
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        if not first.isdigit() or (last and not last.isdigit()):
            raise ValueError(
                f"{CPUS_ENV}: {text!r} is not a list of CPU numbers such as 1 or 2-3,6"
            )
        cpus.update(range(int(first), int(last or first) + 1))
    return cpus


def _place(chosen: str | None) -> None:
    """On the CPUs in $IVR_JOURNAL_WORKER_CPUS when set (an engine pinned to one core with
    taskset would otherwise pass its own single core on to the worker); else, with several
    cores, off the first: the engine then has a core the worker never takes."""
    with contextlib.suppress(AttributeError, OSError):  # no sched_*affinity on macOS
        if chosen:
            try:
                os.sched_setaffinity(0, parse_cpus(chosen))
            except (ValueError, OSError) as error:  # a typo must not stop the journal
                log.error("journal worker: %s; staying where it was started", error)
            return
        cores = sorted(os.sched_getaffinity(0))
        if len(cores) > 1:
            os.sched_setaffinity(0, cores[1:])


REPLAY_BACKOFF_MAX = 2.0  # seconds between tries of a store that refuses the spool's batches
REPLAY_BACKOFF = Backoff(first_s=0.1, cap_s=REPLAY_BACKOFF_MAX)
STORE_BACKOFF = Backoff(first_s=0.1, cap_s=1.0)  # a store that refuses a batch, no spool


class Worker:
    """Stores batches; when the store refuses them, spools them and replays the spool later.

    While the spool holds anything, new batches join it behind the older ones, so records
    reach the store in the order they were sent. A failure closes the store: the next try opens
    it again, which recreates a deleted SQLite file or dropped tables (migrations and repairs,
    reported as `rebuilt`) and replaces connections a server restart killed.
    """

    def __init__(
        self, url: str, out_fd: int, spool: Spool | None = None, resent_below: int = 0
    ) -> None:
        self.url = url
        self.out_fd = out_fd
        self.spool = spool
        self.resent_below = resent_below
        self.store: JournalStore | None = None
        self.eof = False
        self.lost = 0
        self.state = "ok"
        self._opened_before = False
        self._rebuilt: tuple[str, ...] = ()
        self._status: Status | None = None
        self._replay_wake = asyncio.Event()
        self._outage = False  # logged once per outage
        self._last_write_ok = True  # an empty spool means "ok" only once the store took a write

    def send(self, ack: Ack) -> None:
        self.send_line(ack.encode())

    def send_line(self, line: bytes) -> None:
        with contextlib.suppress(OSError):  # the engine is gone: still store what was received
            os.write(self.out_fd, line)

    def report(self) -> None:
        """Send the journal state when it changed (the engine shows it in /readyz, /metrics)."""
        spool = self.spool
        status = Status(
            self.state,
            spool.records if spool else 0,
            spool.bytes if spool else 0,
            self._rebuilt,
            spool.damaged_bytes if spool else 0,
        )
        if status != self._status:
            self._status = status
            self.send_line(status.encode())
            self._rebuilt = ()
            if spool is not None:
                spool.damaged_bytes = 0

    # -- the store -------------------------------------------------------------------------
    async def _open(self) -> JournalStore:
        if self.store is None:
            store = await open_store(self.url)
            rebuilt = store.rebuilt
            if rebuilt == ("schema",) and not self._opened_before:
                rebuilt = ()  # a journal created on first use is no loss to report
            if rebuilt:
                log.error(
                    "journal: the store had lost %s; recreated by the migrations",
                    ", ".join(rebuilt),
                )
                self._rebuilt = rebuilt
            self._opened_before = True
            self.store = store
        return self.store

    async def _close_store(self) -> None:
        store, self.store = self.store, None
        if store is not None:
            with contextlib.suppress(Exception):
                await store.close()

    async def _write(self, batches: list[list[Row]], replay: bool) -> tuple[int, float]:
        """Store batches in one transaction (opening the store if needed); on any failure the
        store is closed so that the next try opens it afresh. Secret keys stripped, seconds."""
        try:
            store = await self._open()
            before, started = _stripped(), time.perf_counter()
            await store.append_batches(batches, replay=replay)
        except BaseException:
            self._last_write_ok = False
            await self._close_store()
            raise
        self._last_write_ok = True
        return _stripped() - before, time.perf_counter() - started

    def _failed(self, exc: BaseException) -> None:
        if not self._outage:
            self._outage = True
            log.error(
                "journal worker: the store refused a write (%s: %s); %s",
                type(exc).__name__,
                exc,
                f"spooling to {self.spool.path}" if self.spool else "retrying",
            )

    # -- batches from the engine -----------------------------------------------------------
    async def store_group(self, group: list[Batch]) -> bool:
        """Store batches in one transaction and acknowledge each; when the store refuses them,
        spool them (acknowledged as spooled) or, with no spool, retry until stored. False
        only when the engine is gone and the batches could be neither stored nor spooled."""
        replay = any(batch_id < self.resent_below for batch_id, _ in group)
        failures = 0
        tried = False  # with an empty spool the store is tried first, even during an outage
        while True:
            spooling = self.spool is not None and (self.spool.records or tried)
            if not spooling:
                tried = True
                try:
                    secrets, seconds = await self._write([b for _, b in group], replay)
                except Exception as exc:  # report, then spool or retry: never lose a batch
                    self._failed(exc)
                    for batch_id, _ in group:
                        self.send(Ack(batch_id, False, error=type(exc).__name__))
                    replay = True  # it may have been stored after all (a lost commit reply)
                    if self.spool is not None:
                        self.state = "spooling"
                        continue
                else:
                    for batch_id, batch in group:
                        self.send(Ack(batch_id, True, len(batch), secrets, seconds))
                        secrets = 0  # all on the first ack: the engine's total is exact
                    self._back_if_stored()
                    return True
            elif self._spool_group(group):
                return True
            failures += 1
            if self.eof and failures >= RETRIES_AFTER_EOF:
                return False
            await STORE_BACKOFF.wait(failures)

    def _spool_group(self, group: list[Batch]) -> bool:
        """Spool a group and acknowledge it (spooled, or dropped over the cap); False if the
        disk refused it (the engine keeps the batches and they come back)."""
        assert self.spool is not None
        try:
            self.spool.append([batch for _, batch in group])
        except SpoolFull as full:
            for batch_id, batch in group:
                self.send(Ack(batch_id, False, len(batch), kind="dropped"))
            log.error("journal worker: spool full (%s): %d records dropped", full, _count(group))
        except OSError as exc:
            self.state = "down"
            log.error("journal worker: cannot spool (%s)", type(exc).__name__)
            self.report()
            return False
        else:
            for batch_id, batch in group:
                self.send(Ack(batch_id, False, len(batch), kind="spooled"))
        if self.state == "down":
            self.state = "spooling"
        self.report()
        self._replay_wake.set()
        return True

    # -- the spool -------------------------------------------------------------------------
    async def replay(self) -> None:
        """Store the spool's batches, oldest first, whenever there are some; back off while
        the store refuses them. When it is empty the journal is "ok" again."""
        spool = self.spool
        assert spool is not None
        failures = 0
        while True:
            if not spool.records:
                self._back_if_stored()
                self._replay_wake.clear()
                await self._replay_wake.wait()
                continue
            batches = spool.oldest(GROUP_RECORDS)
            try:
                secrets, seconds = await self._write(batches, replay=True)
            except Exception as exc:
                self._failed(exc)
                if self.state == "ok":
                    self.state = "spooling"
                    self.report()
                failures += 1
                self._replay_wake.clear()
                with contextlib.suppress(TimeoutError):  # new batches do not hurry a retry
                    await REPLAY_BACKOFF.wait(failures)
                continue
            failures = 0
            records = spool.consume(len(batches))
            self.send(Ack(0, True, records, secrets, seconds, kind="replayed"))
            self.report()

    def _back_if_stored(self) -> None:
        """Back to "ok" once the store takes writes and nothing waits in the spool (a spool
        emptied by drops over its cap, with the store still down, is not "ok")."""
        if self.state == "ok" or not self._last_write_ok:
            return
        if self.spool is not None and self.spool.records:
            return
        log.warning("journal worker: the store is back; the spool is stored")
        self.state, self._outage = "ok", False
        self.report()

    async def run(self, inp: asyncio.StreamReader) -> int:
        try:  # open now so the first batch need not wait; a store that is down is retried later
            await self._open()
        except Exception as exc:
            log.warning("journal worker: cannot open the store yet: %s", type(exc).__name__)
        self.send_line(READY)
        replayer = None
        if self.spool is not None:
            if self.spool.damaged_bytes:
                log.error(
                    "journal worker: %d bytes of damaged spool frames skipped",
                    self.spool.damaged_bytes,
                )
            if self.spool.records:
                log.warning(
                    "journal worker: %d spooled records of an earlier worker to store",
                    self.spool.records,
                )
                self.state = "spooling"
            self.report()
            replayer = asyncio.create_task(self.replay())
        batches: asyncio.Queue[Batch | None] = asyncio.Queue()
        reader = asyncio.create_task(_read(inp, batches))
        reader.add_done_callback(lambda _: setattr(self, "eof", True))
        giving_up = False
        try:
            while group := await _next_group(batches):
                if giving_up or not await self.store_group(group):
                    giving_up = True
                    self.lost += _count(group)
            if replayer is not None:
                await self._finish_replay()
        finally:
            if replayer is not None:
                replayer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await replayer
            if self.spool is not None:
                self.spool.close()
            await self._close_store()
        if self.lost:
            log.error("journal worker: %d records could not be written before exit", self.lost)
        if self.spool is not None and self.spool.records:
            log.error(
                "journal worker: %d records stay spooled in %s for the next worker",
                self.spool.records,
                self.spool.path,
            )
        return 1 if self.lost else 0

    async def _finish_replay(self) -> None:
        """The engine is gone: give the spool a few seconds to reach the store (what stays is
        kept on disk for the next worker of this journal)."""
        assert self.spool is not None
        for _ in range(RETRIES_AFTER_EOF * 10):
            if not self.spool.records:
                return
            self._replay_wake.set()
            await asyncio.sleep(0.1)


def _count(group: list[Batch]) -> int:
    return sum(len(batch) for _, batch in group)


def open_spool(url: str, directory: Path, max_bytes: int) -> Spool | None:
    """The worker's spool in `directory`; None (and an error logged) if it cannot be made:
    the worker then keeps failed batches with the engine and retries them."""
    try:
        return Spool.open(directory, url, max_bytes)
    except OSError as exc:
        log.error("journal worker: no spool in %s: %s", directory, exc)
        return None


async def _main(args: argparse.Namespace, out_fd: int) -> int:
    loop = asyncio.get_running_loop()
    inp = asyncio.StreamReader(limit=2**30)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(inp), sys.stdin.buffer)
    spool = open_spool(args.url, args.spool_dir, args.spool_max_bytes)
    return await Worker(args.url, out_fd, spool, args.resent_below).run(inp)


def _arguments(argv: list[str], settings: Settings) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ivr.journal.worker")
    parser.add_argument("url", nargs="?", default=settings.journal_url)
    parser.add_argument(
        "--resent-below",
        type=int,
        default=0,
        help="batch ids below this were sent to an earlier worker (they may be stored already)",
    )
    parser.add_argument("--spool-dir", type=Path, default=settings.journal_spool_dir)
    parser.add_argument("--spool-max-bytes", type=int, default=settings.journal_spool_max_bytes)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    try:
        settings = load_settings()
    except SettingsError as error:
        logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
        log.error("journal worker: %s", error)
        sys.exit(2)
    args = _arguments(sys.argv[1:] if argv is None else argv, settings)
    _place(settings.journal_worker_cpus)
    out_fd = os.dup(1)
    os.dup2(2, 1)  # a stray print goes to stderr, never into the acknowledgements
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    sys.exit(asyncio.run(_main(args, out_fd)))


if __name__ == "__main__":
    main()
