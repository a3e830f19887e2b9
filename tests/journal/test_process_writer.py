"""ProcessJournalWriter: a store in a worker process loses nothing, never blocks, never orphans."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from prometheus_client import REGISTRY

from ivr.journal.hub import JournalHub
from ivr.journal.process_writer import ProcessJournalWriter
from ivr.journal.records import JournalRecord, RecordKind
from ivr.journal.store import open_store
from tests.journal.test_writer import T0, many_calls


def alive(pid: int) -> bool:
    """Whether a process runs (a zombie waiting for its new parent to reap it does not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        await asyncio.sleep(0.05)
    return False


async def count(url: str, sql: str) -> int:
    store = await open_store(url)
    try:
        return int((await store.fetch(sql, {}))[0][0])
    finally:
        await store.close()


async def test_every_record_of_hundreds_of_calls_is_stored(store_url: str) -> None:
    calls = many_calls(300)
    total = sum(len(c) for c in calls)
    writer = ProcessJournalWriter(store_url, batch_size=200, interval=10.0)
    writer.start()
    for records in calls:
        writer.write(records)
        await asyncio.sleep(0)
    await writer.close()
    assert (writer.written, writer.dropped, writer.queued) == (total, 0, 0)
    assert await count(store_url, "SELECT COUNT(*) FROM records") == total
    assert await count(store_url, "SELECT COUNT(*) FROM calls WHERE ended_by = 'route'") == 300
    assert writer.pid is not None
    assert await gone_within(writer.pid, 5)


async def test_the_live_hub_is_fed_before_anything_is_stored(sqlite_url: str) -> None:
    hub = JournalHub()
    sub = hub.subscribe()
    writer = ProcessJournalWriter(sqlite_url, hub, interval=10.0)
    records = many_calls(1)[0]
    writer.write(records[:3])
    assert [c.call_id for c in hub.active()] == ["c0"]
    assert (await anext(sub)).kind is RecordKind.CALL_STARTED
    writer.write(records[3:])
    assert hub.active() == []
    await writer.close()
    assert writer.written == len(records)


async def test_overflow_drops_oldest_and_counts(sqlite_url: str) -> None:
    writer = ProcessJournalWriter(sqlite_url, max_queue=10, interval=10.0)
    for i in range(25):  # no task running yet: write() returns at once all the same
        writer.write([JournalRecord("c1", i, T0 + i, RecordKind.STEP_ENTERED, "idv", "1", "r")])
    assert (writer.dropped, writer.queued) == (15, 10)
    await writer.close()
    store = await open_store(sqlite_url)
    try:
        assert [r.seq for r in await store.journey("c1")] == list(range(15, 25))
    finally:
        await store.close()


async def test_a_store_that_is_down_then_back_loses_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "journal"
    blocker.write_text("a file where the journal's folder should be: the store cannot open")
    url = f"sqlite:///{blocker}/journal.db"
    calls = many_calls(20)
    writer = ProcessJournalWriter(url, batch_size=50, interval=0.05)
    writer.start()
    for records in calls:
        writer.write(records)
    for _ in range(200):
        await asyncio.sleep(0.02)
        if writer.errors:
            break
    assert writer.errors >= 1
    assert writer.written == 0
    blocker.unlink()
    await writer.close()
    total = sum(len(c) for c in calls)
    assert (writer.written, writer.dropped) == (total, 0)
    assert await count(url, "SELECT COUNT(*) FROM records") == total


async def test_secrets_are_stripped_in_the_worker_and_counted_here(sqlite_url: str) -> None:
    def stripped() -> float:
        return REGISTRY.get_sample_value("ivr_journal_secret_keys_stripped_total") or 0.0

    before = stripped()
    record = JournalRecord(
        "s1", 0, T0, RecordKind.INPUT, "idv", "1", "r", data={"pin": "1234", "ani": "+447700900123"}
    )
    async with ProcessJournalWriter(sqlite_url, interval=0.01) as writer:
        writer.write([record])
    store = await open_store(sqlite_url)
    try:
        assert [r.data for r in await store.journey("s1")] == [{"ani": "*********0123"}]
    finally:
        await store.close()
    assert stripped() == before + 1


async def test_a_worker_that_dies_is_replaced_and_sent_its_batches_again(sqlite_url: str) -> None:
    calls = many_calls(40)
    writer = ProcessJournalWriter(sqlite_url, batch_size=100, interval=0.05)
    await writer.wait_ready()
    assert writer.pid is not None
    first = writer.pid
    os.kill(first, signal.SIGKILL)
    for records in calls:
        writer.write(records)
    await writer.close()
    total = sum(len(c) for c in calls)
    assert writer.restarts >= 1
    assert writer.pid != first
    assert (writer.written, writer.dropped) == (total, 0)
    assert await count(sqlite_url, "SELECT COUNT(*) FROM records") == total


PARENT = """
import asyncio, sys
from ivr.journal.process_writer import ProcessJournalWriter

async def main():
    writer = ProcessJournalWriter(sys.argv[1])
    await writer.wait_ready()
    print(writer.pid, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_the_worker_exits_when_its_parent_is_killed(sqlite_url: str) -> None:
    parent = subprocess.Popen(  # noqa: ASYNC220 - a plain Popen, to kill and wait on it by hand
        [sys.executable, "-c", PARENT, sqlite_url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        worker = int(await asyncio.to_thread(parent.stdout.readline))
        assert alive(worker)
        parent.kill()  # SIGKILL: no cleanup runs in the parent
        parent.wait()
        assert await gone_within(worker, 5)
    finally:
        parent.kill()
        parent.wait()


async def test_the_worker_runs_at_a_lower_cpu_priority(sqlite_url: str) -> None:
    writer = ProcessJournalWriter(sqlite_url)
    await writer.wait_ready()
    assert writer.pid is not None
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    assert os.getpriority(os.PRIO_PROCESS, writer.pid) > mine or mine >= 19
    await writer.close()


async def test_a_full_window_is_not_woken_by_every_write(sqlite_url: str) -> None:
    """While the worker holds the whole window, writes queue silently: waking the sender on
    each (a task switch and a new timed wait, ~15 µs) once cost the engine more than the hub."""
    writer = ProcessJournalWriter(sqlite_url, batch_size=20, window=2, interval=10.0)
    await writer.wait_ready()
    assert writer.pid is not None
    sends = 0
    send = writer._send

    async def counted(partial: bool) -> None:
        nonlocal sends
        sends += 1
        await send(partial)

    writer._send = counted  # type: ignore[method-assign]
    calls = many_calls(60)
    os.kill(writer.pid, signal.SIGSTOP)  # the worker stores nothing, acknowledges nothing
    try:
        for records in calls:
            writer.write(records)
            await asyncio.sleep(0)
        assert len(writer._inflight) == 2  # the window is full and the rest waits in the queue
        assert sends <= 3  # woken for the two batches sent, not for each of the 60 writes
    finally:
        os.kill(writer.pid, signal.SIGCONT)
    await writer.close()
    total = sum(len(c) for c in calls)
    assert (writer.written, writer.dropped) == (total, 0)
    assert await count(sqlite_url, "SELECT COUNT(*) FROM records") == total
