"""JournalWriter: never blocks, drops oldest on overflow, loses nothing on a clean close."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from prometheus_client import REGISTRY

from ivr.journal.hub import JournalHub
from ivr.journal.records import JournalRecord, RecordKind
from ivr.journal.store import JournalStore
from ivr.journal.synthetic import CallScript, build_call
from ivr.journal.writer import JournalWriter

T0 = 1_717_200_000.0


def many_calls(n: int) -> list[list[JournalRecord]]:
    return [
        build_call(CallScript(f"c{i}", T0 + i, ani_found=True, verify=["verified"]))
        for i in range(n)
    ]


async def test_close_flushes_everything(store: JournalStore) -> None:
    calls = many_calls(200)
    writer = JournalWriter(store, batch_size=64, interval=10.0)  # interval never reached
    writer.start()
    for records in calls:
        writer.write(records)
        await asyncio.sleep(0)
    await writer.close()
    total = sum(len(c) for c in calls)
    assert writer.written == total
    assert writer.dropped == 0
    assert await store.fetch("SELECT COUNT(*) FROM records", {}) == [(total,)]
    assert await store.fetch("SELECT COUNT(*) FROM calls WHERE ended_by = 'route'", {}) == [(200,)]


async def test_flushes_on_interval(store: JournalStore) -> None:
    async with JournalWriter(store, batch_size=10_000, interval=0.05) as writer:
        writer.write(many_calls(1)[0])
        for _ in range(100):
            await asyncio.sleep(0.02)
            if writer.written:
                break
        assert writer.written > 0


class BrokenStore:
    """A store that fails until healed: the writer must keep the batch and retry."""

    dialect = "broken"

    def __init__(self) -> None:
        self.healthy = False
        self.stored: list[JournalRecord] = []

    async def append(self, records: Sequence[JournalRecord]) -> None:
        if not self.healthy:
            raise ConnectionError("database down")
        self.stored.extend(records)


async def test_overflow_drops_oldest_and_counts() -> None:
    store = BrokenStore()
    writer = JournalWriter(store, max_queue=10, batch_size=1000, interval=10.0)  # type: ignore[arg-type]
    records = [
        JournalRecord("c1", i, T0 + i, RecordKind.STEP_ENTERED, "idv", "1", "retail", step="s")
        for i in range(25)
    ]
    for r in records:
        writer.write([r])  # returns at once: no task even running
    assert writer.dropped == 15
    assert writer.queued == 10
    store.healthy = True
    await writer.close()
    assert [r.seq for r in store.stored] == list(range(15, 25))  # the newest survive


async def test_failed_batch_is_retried_not_lost() -> None:
    store = BrokenStore()
    writer = JournalWriter(store, batch_size=5, interval=0.01)  # type: ignore[arg-type]
    writer.start()
    writer.write(many_calls(1)[0])
    await asyncio.sleep(0.05)
    assert writer.errors >= 1
    assert not store.stored
    store.healthy = True
    await writer.close()
    assert len(store.stored) == len(many_calls(1)[0])
    assert writer.dropped == 0


async def test_hub_sees_records_before_the_store(store: JournalStore) -> None:
    hub = JournalHub()
    sub = hub.subscribe()
    writer = JournalWriter(store, hub, interval=10.0)
    records = many_calls(1)[0]
    writer.write(records[:3])
    assert [c.call_id for c in hub.active()] == ["c0"]
    assert hub.active()[0].step == "welcome"
    assert (await anext(sub)).kind is RecordKind.CALL_STARTED
    writer.write(records[3:])
    assert hub.active() == []  # CALL_ENDED removes it
    sub.close()
    got = [r async for r in sub]
    assert len(got) == len(records) - 1
    await writer.close()


async def test_queue_depth_gauge_tells_what_is_really_pending() -> None:
    """The gauge is read when scraped: tens of thousands of records waiting behind a store that
    refuses them show as such (it used to stay at the last batch-sized value, ~1,000)."""

    class Refusing:
        async def append(self, records: object) -> None:
            raise OSError("down")

    writer = JournalWriter(Refusing(), batch_size=100, interval=0.01)  # type: ignore[arg-type]
    writer.start()
    for records in many_calls(2000):
        writer.write(records)
    await asyncio.sleep(0.05)
    depth = REGISTRY.get_sample_value("ivr_journal_queue_depth")
    assert writer.queued > 20_000
    assert depth == writer.queued
    writer._queue.clear()
    writer._pending = None
    await writer.close()
    assert REGISTRY.get_sample_value("ivr_journal_queue_depth") == 0
