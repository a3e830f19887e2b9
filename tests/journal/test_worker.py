"""The journal worker: batches waiting behind one are stored together, acknowledged one by one."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from ivr.journal.process_writer import ProcessJournalWriter
from ivr.journal.records import Row, as_row
from ivr.journal.store import open_store
from ivr.journal.wire import Ack
from ivr.journal.worker import CPUS_ENV, GROUP_RECORDS, Batch, Worker, _next_group, parse_cpus
from tests.journal.test_writer import many_calls


def rows_of(calls: int, first: int = 0) -> list[Row]:
    return [as_row(r) for call in many_calls(first + calls)[first:] for r in call]


async def test_waiting_batches_form_one_group_and_the_end_follows() -> None:
    batches: asyncio.Queue[Batch | None] = asyncio.Queue()
    for batch_id in range(3):
        batches.put_nowait((batch_id, rows_of(1)))
    batches.put_nowait(None)
    assert [b for b, _ in await _next_group(batches)] == [0, 1, 2]
    assert await _next_group(batches) == []
    assert await _next_group(batches) == []  # the end stays the end


async def test_a_group_stops_at_the_record_limit() -> None:
    batches: asyncio.Queue[Batch | None] = asyncio.Queue()
    for batch_id in range(3):
        batches.put_nowait((batch_id, [rows_of(1)[0]] * (GROUP_RECORDS // 2)))
    assert [b for b, _ in await _next_group(batches)] == [0, 1]
    assert [b for b, _ in await _next_group(batches)] == [2]


async def test_a_group_is_stored_once_and_each_batch_acknowledged(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/journal.db"
    read_fd, write_fd = os.pipe()
    worker = Worker(url, write_fd)
    group = [(7, rows_of(3)), (8, rows_of(2, first=3))]
    try:
        assert await worker.store_group(group)
    finally:
        assert worker.store is not None
        await worker.store.close()
        os.close(write_fd)
    with os.fdopen(read_fd, "rb") as acks:
        got = [Ack.decode(line) for line in acks]
    assert [(a.batch_id, a.ok, a.records) for a in got] == [
        (7, True, len(group[0][1])),
        (8, True, len(group[1][1])),
    ]
    store = await open_store(url)
    try:
        total = len(group[0][1]) + len(group[1][1])
        assert await store.fetch("SELECT COUNT(*) FROM records", {}) == [(total,)]
        assert await store.fetch("SELECT COUNT(*) FROM calls", {}) == [(5,)]
    finally:
        await store.close()


async def test_the_worker_keeps_off_the_first_core(sqlite_url: str) -> None:
    writer = ProcessJournalWriter(sqlite_url)
    await writer.wait_ready()
    assert writer.pid is not None
    mine = sorted(os.sched_getaffinity(0))
    # off the first core when there is another one; with a single core it stays where it is
    expected = mine[1:] if len(mine) > 1 else mine
    assert sorted(os.sched_getaffinity(writer.pid)) == expected
    await writer.close()


async def test_the_worker_runs_on_the_cpus_it_is_given(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An engine pinned to one core (taskset) would pass that core on; the setting wins."""
    last = max(os.sched_getaffinity(0))
    monkeypatch.setenv(CPUS_ENV, str(last))
    writer = ProcessJournalWriter(sqlite_url)
    await writer.wait_ready()
    assert writer.pid is not None
    assert os.sched_getaffinity(writer.pid) == {last}
    await writer.close()


def test_cpu_lists_are_read_as_taskset_writes_them() -> None:
    assert parse_cpus("1") == {1}
    assert parse_cpus("2-3, 6") == {2, 3, 6}
    with pytest.raises(ValueError, match="IVR_JOURNAL_WORKER_CPUS"):
        parse_cpus("first")
