"""Store faults under a writing journal, on real stores: every acknowledged record is stored
once after recovery, counted. SQLite file deleted, SQLite made read-only then writable,
PostgreSQL table dropped, PostgreSQL connections killed, the worker killed with SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from bench.journal_faults import (
    delete_sqlite,
    drop_pg_table,
    kill_pg_connections,
    set_read_only,
)
from ivr.journal.process_writer import ProcessJournalWriter
from ivr.journal.records import JournalRecord, as_row
from ivr.journal.store import open_store
from ivr.journal.synthetic import CallScript, build_call
from tests.journal.local_postgres import LocalPostgres, local_postgres
from tests.journal.test_writer import T0


def calls(first: int, n: int, tag: str = "c") -> list[list[JournalRecord]]:
    return [
        build_call(CallScript(f"{tag}{i}", T0 + i, ani_found=True, verify=["verified"]))
        for i in range(first, first + n)
    ]


async def until(check: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


async def stored(url: str) -> tuple[int, int, int]:
    """Records in the store, distinct (call, seq) among them, and the records the `calls`
    summaries count (equal when nothing was stored or counted twice)."""
    store = await open_store(url)
    try:
        rows = await store.fetch(
            "SELECT COUNT(*), COUNT(DISTINCT call_id || ':' || seq) FROM records", {}
        )
        counted = await store.fetch("SELECT COALESCE(SUM(records), 0) FROM calls", {})
    finally:
        await store.close()
    return int(rows[0][0]), int(rows[0][1]), int(counted[0][0])


class Feed:
    """Writes calls in two halves, so that calls are in progress when the fault strikes."""

    def __init__(self, writer: ProcessJournalWriter) -> None:
        self.writer = writer
        self.acknowledged = 0

    async def write(self, records: list[JournalRecord]) -> None:
        self.writer.write(records)
        self.acknowledged += len(records)
        await asyncio.sleep(0)

    async def first_halves(self, batch: list[list[JournalRecord]]) -> None:
        for records in batch:
            await self.write(records[: len(records) // 2])

    async def second_halves(self, batch: list[list[JournalRecord]]) -> None:
        for records in batch:
            await self.write(records[len(records) // 2 :])


@pytest.fixture
async def make_writer(tmp_path: Path) -> AsyncIterator[Callable[[str], ProcessJournalWriter]]:
    made: list[ProcessJournalWriter] = []

    def make(url: str) -> ProcessJournalWriter:
        writer = ProcessJournalWriter(
            url, batch_size=50, interval=0.02, spool_dir=str(tmp_path / "spool")
        )
        made.append(writer)
        return writer

    yield make
    for writer in made:
        await writer.close()


async def drained(writer: ProcessJournalWriter, feed: Feed) -> None:
    """Everything acknowledged is stored (none waits in memory or in the spool)."""
    await until(lambda: writer.queued == 0 and writer.written >= feed.acknowledged)
    await until(lambda: writer.status.state == "ok" and writer.status.spooled_records == 0)


async def test_sqlite_file_deleted_while_serving(
    sqlite_url: str, make_writer: Callable[[str], ProcessJournalWriter]
) -> None:
    """The calls in progress and every call after the deletion are in the recreated file; the
    deletion is reported (rebuilt: schema) instead of records vanishing into the lost inode."""
    writer = make_writer(sqlite_url)
    await writer.wait_ready()
    feed = Feed(writer)
    batch = calls(0, 100)
    await feed.first_halves(batch)
    await drained(writer, feed)
    before = feed.acknowledged
    delete_sqlite(sqlite_url)
    await feed.second_halves(batch)
    await feed.first_halves(calls(100, 100))
    await drained(writer, feed)
    await writer.close()
    after = feed.acknowledged - before
    assert await stored(sqlite_url) == (after, after, after)
    assert "schema" in writer.rebuilt
    assert writer.dropped == 0


async def test_sqlite_read_only_then_writable(
    sqlite_url: str, make_writer: Callable[[str], ProcessJournalWriter]
) -> None:
    """Read-only (immutable, as root) used to kill the worker with SIGBUS, and its successors never
    recovered: now the records wait in the spool (state "spooling") and all are stored once the
    file is writable again."""
    writer = make_writer(sqlite_url)
    await writer.wait_ready()
    feed = Feed(writer)
    batch = calls(0, 150)
    await feed.first_halves(batch)
    await drained(writer, feed)
    set_read_only(sqlite_url, True)
    try:
        await feed.second_halves(batch)
        await feed.first_halves(calls(150, 50))
        await until(lambda: writer.spooled > 0 and writer.queued == 0)
        assert writer.health()["state"] == "spooling"
        assert writer.status.spooled_records > 0
        assert (
            REGISTRY.get_sample_value("ivr_journal_spool_records") == writer.status.spooled_records
        )
    finally:
        set_read_only(sqlite_url, False)
    await drained(writer, feed)
    assert writer.restarts == 0  # no SIGBUS
    await writer.close()
    total = feed.acknowledged
    assert await stored(sqlite_url) == (total, total, total)


async def test_worker_killed_with_a_full_spool_its_successor_stores_it(
    sqlite_url: str, make_writer: Callable[[str], ProcessJournalWriter]
) -> None:
    """kill -9 of a worker holding spooled records and batches in flight: the next worker adopts
    the spool and gets the batches again; each record is stored once."""
    writer = make_writer(sqlite_url)
    await writer.wait_ready()
    feed = Feed(writer)
    batch = calls(0, 150)
    await feed.first_halves(batch)
    await drained(writer, feed)
    set_read_only(sqlite_url, True)
    try:
        await feed.second_halves(batch)
        await until(lambda: writer.spooled > 0)
        assert writer.pid is not None
        os.kill(writer.pid, signal.SIGKILL)
        await feed.first_halves(calls(150, 100))
        await until(lambda: writer.restarts >= 1)
    finally:
        set_read_only(sqlite_url, False)
    await drained(writer, feed)
    await writer.close()
    total = feed.acknowledged
    assert await stored(sqlite_url) == (total, total, total)
    assert writer.dropped == 0


async def test_worker_killed_mid_write_its_batches_are_stored_once(
    store_url: str, make_writer: Callable[[str], ProcessJournalWriter]
) -> None:
    """SIGKILL while batches are in flight (some possibly committed, not acknowledged): sent
    again to the successor, stored once, counted once in the call summaries."""
    writer = make_writer(store_url)
    await writer.wait_ready()
    feed = Feed(writer)
    for round_ in range(3):
        batch = calls(round_ * 200, 200)
        await feed.first_halves(batch)
        assert writer.pid is not None
        os.kill(writer.pid, signal.SIGKILL)
        await feed.second_halves(batch)
        await until(lambda n=round_: writer.restarts > n and writer.pid is not None)
    await drained(writer, feed)
    await writer.close()
    total = feed.acknowledged
    assert writer.restarts >= 3
    assert await stored(store_url) == (total, total, total)


@pytest.fixture
async def pg_app_url(pg_url: str) -> str:
    """The test's PostgreSQL journal, its connections named so the test can kill just them."""
    return f"{pg_url}&application_name=ivr-fault-{uuid.uuid4().hex[:8]}"


async def test_postgresql_table_dropped(
    pg_app_url: str, make_writer: Callable[[str], ProcessJournalWriter]
) -> None:
    """DROP TABLE record_chunks CASCADE under a writing journal: recreated, reported, and every
    record acknowledged after the drop is stored (25,064 were lost before)."""
    url = pg_app_url
    writer = make_writer(url)
    await writer.wait_ready()
    feed = Feed(writer)
    batch = calls(0, 100)
    await feed.first_halves(batch)
    await drained(writer, feed)
    before = feed.acknowledged
    await drop_pg_table(url, "record_chunks")
    await feed.second_halves(batch)
    await feed.first_halves(calls(100, 100))
    await drained(writer, feed)
    await writer.close()
    after = feed.acknowledged - before
    records, distinct, _ = await stored(url)
    assert (records, distinct) == (after, after)
    assert {"record_chunks", "records"} <= set(writer.rebuilt)
    assert REGISTRY.get_sample_value("ivr_journal_store_rebuilt_total", {"table": "records"})


async def test_postgresql_connections_killed(
    pg_app_url: str, make_writer: Callable[[str], ProcessJournalWriter]
) -> None:
    """pg_terminate_backend() of the journal's connections, twice, mid-stream: all stored."""
    url = pg_app_url
    writer = make_writer(url)
    await writer.wait_ready()
    feed = Feed(writer)
    for round_ in range(2):
        batch = calls(round_ * 150, 150)
        await feed.first_halves(batch)
        assert await kill_pg_connections(url) >= 1
        await feed.second_halves(batch)
        await drained(writer, feed)
    await drained(writer, feed)
    await writer.close()
    total = feed.acknowledged
    assert await stored(url) == (total, total, total)


async def test_replaying_stored_batches_changes_nothing(store_url: str) -> None:
    """A batch stored, then replayed (as from the spool, or sent to a successor): the chunks
    and the call summaries stay as they were."""
    batches = [[as_row(r) for r in call] for call in calls(0, 5)]
    store = await open_store(store_url)
    try:
        await store.append_batches(batches[:3])
        before = await store.fetch("SELECT * FROM calls ORDER BY call_id", {})
        await store.append_batches(batches[:3], replay=True)
        assert await store.fetch("SELECT * FROM calls ORDER BY call_id", {}) == before
        await store.append_batches(batches, replay=True)  # three stored, two new
    finally:
        await store.close()
    total = sum(len(b) for b in batches)
    assert await stored(store_url) == (total, total, total)


async def test_a_full_spool_drops_and_counts(tmp_path: Path, sqlite_url: str) -> None:
    # Batches of at most 10 records (well under the cap): on a loaded machine batches of 50
    # could each exceed the cap, so nothing was spooled and the test failed on timing.
    writer = ProcessJournalWriter(
        sqlite_url,
        batch_size=10,
        interval=0.02,
        spool_dir=str(tmp_path / "spool"),
        spool_max_bytes=4000,
    )
    await writer.wait_ready()
    feed = Feed(writer)
    set_read_only(sqlite_url, True)
    dropped_before = REGISTRY.get_sample_value("ivr_journal_spool_dropped_records_total") or 0
    try:
        await feed.first_halves(calls(0, 200))
        await until(lambda: writer.queued == 0)
        assert writer.dropped > 0
        assert writer.spooled > 0
        assert writer.status.spooled_bytes <= 4000
    finally:
        set_read_only(sqlite_url, False)
    await until(lambda: writer.written == writer.spooled)
    await writer.close()
    dropped = REGISTRY.get_sample_value("ivr_journal_spool_dropped_records_total")
    assert dropped == dropped_before + writer.dropped
    assert writer.spooled + writer.dropped == feed.acknowledged
    assert (await stored(sqlite_url))[0] == writer.spooled


@pytest.mark.parametrize(
    "table",
    [
        "calls",
        "step_daily",
        "call_hourly",  # migration 6 (the dashboard) rebuilt it
        "record_chunks",
        *("callbacks", "callback_events", "standing_secrets", "queue_stats", "leases"),  # 4
    ],
)
async def test_a_dropped_table_comes_back_whole(store_url: str, table: str) -> None:
    """Each table the journal writes, dropped by hand, comes back on the next open with every
    column later migrations added, and takes writes again."""
    batches = [[as_row(r) for r in call] for call in calls(0, 4)]
    store = await open_store(store_url)
    try:
        await store.append_batches(batches[:2])
        cascade = " CASCADE" if store.dialect == "postgresql" else ""
        await store.fetch(f"SELECT 1 FROM {table} LIMIT 1", {})  # it is there
    finally:
        await store.close()
    await _execute(store_url, f"DROP TABLE {table}{cascade}")
    store = await open_store(store_url)
    try:
        assert table in store.rebuilt
        await store.append_batches(batches[2:])
        counted = await store.fetch("SELECT COUNT(*) FROM calls", {})
    finally:
        await store.close()
    assert counted[0][0] >= 2


async def _execute(url: str, sql: str) -> None:
    if url.startswith("sqlite"):
        import sqlite3

        from bench.journal_faults import sqlite_files

        with sqlite3.connect(sqlite_files(url)[0]) as db:
            db.execute(sql)
        return
    from bench.journal_faults import admin_connection

    conn, schema = await admin_connection(url)
    try:
        await conn.execute(f'SET search_path TO "{schema}"')
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
def own_postgres() -> Iterator[LocalPostgres]:
    with local_postgres() as server:
        yield server


async def test_postgresql_server_restarted_mid_call(
    own_postgres: LocalPostgres, make_writer: Callable[[str], ProcessJournalWriter]
) -> None:
    """The whole PostgreSQL server stopped while calls are in progress, records written while
    it is down, then started again: every acknowledged record is stored once (they wait in the
    spool meanwhile, and the journal says "spooling")."""
    url = f"{own_postgres.dsn}?schema=ivr_restart"
    writer = make_writer(url)
    await writer.wait_ready()
    feed = Feed(writer)
    batch = calls(0, 100)
    await feed.first_halves(batch)
    await drained(writer, feed)
    await asyncio.to_thread(own_postgres.stop)
    await feed.second_halves(batch)
    await feed.first_halves(calls(100, 50))
    await until(lambda: writer.spooled > 0 and writer.queued == 0)
    assert writer.health()["state"] == "spooling"
    await asyncio.to_thread(own_postgres.start)
    await drained(writer, feed)
    await writer.close()
    total = feed.acknowledged
    assert await stored(url) == (total, total, total)
    assert writer.dropped == 0
