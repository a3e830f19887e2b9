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

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time

from prometheus_client import REGISTRY

from ivr.journal.records import Row
from ivr.journal.store import JournalStore, open_store
from ivr.journal.wire import HEADER, READY, Ack, decode_batch
from ivr.settings import SettingsError, load_settings

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


class Worker:
    def __init__(self, url: str, out_fd: int) -> None:
        self.url = url
        self.out_fd = out_fd
        self.store: JournalStore | None = None
        self.eof = False
        self.lost = 0

    def send(self, ack: Ack) -> None:
        self.send_line(ack.encode())

    def send_line(self, line: bytes) -> None:
        with contextlib.suppress(OSError):  # the engine is gone: still store what was received
            os.write(self.out_fd, line)

    async def store_group(self, group: list[Batch]) -> bool:
        """Store batches in one transaction, retrying while it fails, and acknowledge each."""
        failures = 0
        while True:
            try:
                if self.store is None:
                    self.store = await open_store(self.url)
                before, started = _stripped(), time.perf_counter()
                await self.store.append_batches([batch for _, batch in group])
            except Exception as exc:  # report and retry: the engine must never lose a batch
                failures += 1
                for batch_id, _ in group:
                    self.send(Ack(batch_id, False, error=type(exc).__name__))
                log.warning("journal worker: batch failed: %s", type(exc).__name__)
                if self.eof and failures >= RETRIES_AFTER_EOF:
                    return False
                await asyncio.sleep(min(1.0, 0.1 * failures))
                continue
            seconds = time.perf_counter() - started
            secrets = _stripped() - before  # all on the first ack: the engine's total is exact
            for batch_id, batch in group:
                self.send(Ack(batch_id, True, len(batch), secrets, seconds))
                secrets = 0
            return True

    async def run(self, inp: asyncio.StreamReader) -> int:
        try:  # open now so the first batch need not wait; a store that is down is retried later
            self.store = await open_store(self.url)
        except Exception as exc:
            log.warning("journal worker: cannot open the store yet: %s", type(exc).__name__)
        self.send_line(READY)
        batches: asyncio.Queue[Batch | None] = asyncio.Queue()
        reader = asyncio.create_task(_read(inp, batches))
        reader.add_done_callback(lambda _: setattr(self, "eof", True))
        giving_up = False
        try:
            while group := await _next_group(batches):
                if giving_up or not await self.store_group(group):
                    giving_up = True
                    self.lost += sum(len(batch) for _, batch in group)
        finally:
            if self.store is not None:
                await self.store.close()
        if self.lost:
            log.error("journal worker: %d records could not be written before exit", self.lost)
        return 1 if self.lost else 0


async def _main(url: str, out_fd: int) -> int:
    loop = asyncio.get_running_loop()
    inp = asyncio.StreamReader(limit=2**30)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(inp), sys.stdin.buffer)
    return await Worker(url, out_fd).run(inp)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
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
    _place(settings.journal_worker_cpus)
    out_fd = os.dup(1)
    os.dup2(2, 1)  # a stray print goes to stderr, never into the acknowledgements
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    sys.exit(asyncio.run(_main(args[0] if args else settings.journal_url, out_fd)))


if __name__ == "__main__":
    main()
