"""Stores on real SQLite files and a real PostgreSQL: migrations, append, journeys, prune."""

from __future__ import annotations

import time

import pytest

from ivr.journal.records import JournalRecord, RecordKind, as_row, scrub_record
from ivr.journal.store import JournalStore, open_store
from ivr.journal.synthetic import CallScript, build_call

DAY = 86400.0
T0 = 1_717_200_000.0  # 2024-06-01 00:00:00 UTC


async def test_migrations_are_idempotent(store_url: str) -> None:
    first = await open_store(store_url)
    version = await first.schema_version()
    await first.close()
    again = await open_store(store_url)  # opening again must not re-apply or fail
    assert await again.schema_version() == version == 2
    rows = await again.fetch("SELECT COUNT(*) FROM schema_version", {})
    assert rows == [(2,)]
    await again.close()


async def test_rollup_migration_backfills_existing_calls(store_url: str) -> None:
    store = await open_store(store_url)
    await store.append(build_call(CallScript("c1", T0, ani_found=True, verify=["verified"])))
    before = await store.fetch("SELECT calls, verified, steps_sum FROM call_hourly", {})
    await store.close()
    # Put the journal back to schema 1 with data in it, as an older release left it.
    await _downgrade_to_v1(store_url)
    again = await open_store(store_url)
    assert await again.schema_version() == 2
    assert await again.fetch("SELECT calls, verified, steps_sum FROM call_hourly", {}) == before
    assert before == [(1, 1, 3)]  # welcome, by_ani, date_of_birth
    await again.close()


async def _downgrade_to_v1(url: str) -> None:
    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        conn.execute("DROP TABLE call_hourly")
        conn.execute("DELETE FROM schema_version WHERE version = 2")
        conn.commit()
        conn.close()
        return
    import asyncpg

    from ivr.journal.pg_store import split_url

    dsn, schema = split_url(url)
    conn2 = await asyncpg.connect(dsn, server_settings={"search_path": schema})
    await conn2.execute("DROP TABLE call_hourly")
    await conn2.execute("DELETE FROM schema_version WHERE version = 2")
    await conn2.close()


async def test_append_and_journey(store: JournalStore) -> None:
    records = build_call(CallScript("c1", T0 + 3600, ani_found=True, verify=["verified"]))
    await store.append(records[:4])
    await store.append(records[4:])
    journey = await store.journey("c1")
    assert [r.kind for r in journey] == [r.kind for r in records]
    assert journey[0].data["ani_presented"] is True
    assert journey == [scrub_record(r)[0] for r in records]  # dnis masked on the way in


async def test_call_summary_merges_batches(store: JournalStore) -> None:
    records = build_call(
        CallScript("c1", T0 + 3600, account=["not_found", "found"], verify=["wrong", "verified"])
    )
    for r in records:  # one record per batch: the upsert must merge, not overwrite
        await store.append([r])
    rows = await store.fetch(
        "SELECT day, hour, idv_status, route_kind, ended_by, steps, id_attempts,"
        " verify_attempts, ani_identified, account_identified, max_attempt, dnis"
        " FROM calls WHERE call_id = :c",
        {"c": "c1"},
    )
    assert rows == [
        (
            "2024-06-01",
            1,
            "identified_and_verified",
            "self_service",
            "route",
            4,
            2,
            2,
            0,
            1,
            2,
            "*********0000",
        )
    ]
    # The hourly rollup followed the call through every batch: no leftovers under old keys.
    rollup = await store.fetch(
        "SELECT route_kind, calls, verified, steps_sum FROM call_hourly WHERE calls <> 0", {}
    )
    assert rollup == [("self_service", 1, 1, 4)]


async def test_duplicate_record_is_ignored(store: JournalStore) -> None:
    r = JournalRecord("c1", 0, T0, RecordKind.STEP_ENTERED, "idv", "1", "retail", step="welcome")
    await store.append([r])
    await store.append([r])
    assert await store.fetch("SELECT COUNT(*) FROM records", {}) == [(1,)]


async def test_prune_deletes_old_rows_only(store: JournalStore) -> None:
    now = time.time()
    old = build_call(CallScript("old", now - 100 * DAY, verify=["verified"], ani_found=True))
    new = build_call(CallScript("new", now - 1 * DAY, verify=["verified"], ani_found=True))
    await store.append(old + new)
    deleted = await store.prune(now - 90 * DAY)
    assert deleted["calls"] == 1
    assert deleted["records"] == len(old)
    assert deleted["step_daily"] > 0
    assert await store.fetch("SELECT call_id FROM calls", {}) == [("new",)]
    assert len(await store.journey("new")) == len(new)


async def test_stream_in_chunks(store: JournalStore) -> None:
    calls = [build_call(CallScript(f"c{i:03d}", T0 + i, ani_found=True)) for i in range(25)]
    await store.append([r for call in calls for r in call])
    chunks = [
        chunk
        async for chunk in store.stream(
            "SELECT call_id FROM calls ORDER BY call_id", {}, chunk_size=10
        )
    ]
    assert [len(c) for c in chunks] == [10, 10, 5]
    assert chunks[0][0] == ("c000",)


async def test_bad_url_is_refused() -> None:
    from ivr.journal.store import JournalError

    with pytest.raises(JournalError):
        await open_store("mysql://nope")


async def test_a_large_batch_round_trips_exactly(store: JournalStore) -> None:
    """Several multi-row statements plus a remainder (SQLite), one JSON parameter (PostgreSQL):
    every record comes back as it went in, times and durations to the last bit, data as data."""
    from ivr.journal.sqlite_store import CHUNK

    calls = [
        build_call(CallScript(f"b{i:03d}", T0 + i * 0.123456789, ani_found=True, verify=["x"]))
        for i in range(2 * CHUNK // 10 + 3)
    ]
    extra = JournalRecord(
        "odd",
        0,
        T0 + 1 / 3,
        RecordKind.OPERATION,
        "idv",
        "1",
        "retail",
        step="s",
        outcome="error",
        duration_ms=0.1 + 0.2,
        data={"operation": "x", "nested": {"pin": "1234", "list": [1, 2.5, None, True]}, "é": "ü"},
    )
    records = [r for call in calls for r in call] + [extra]
    assert len(records) > 2 * CHUNK
    assert len(records) % CHUNK
    await store.append_rows([(*as_row(r)[:3], str(r.kind), *as_row(r)[4:]) for r in records])
    assert await store.fetch("SELECT COUNT(*) FROM records", {}) == [(len(records),)]
    for call_id in ("b000", "b017", f"b{len(calls) - 1:03d}", "odd"):
        expected = [scrub_record(r)[0] for r in records if r.call_id == call_id]
        assert await store.journey(call_id) == expected
    assert (await store.journey("odd"))[0].data["nested"] == {"list": [1, 2.5, None, True]}
    empty = await store.fetch("SELECT COUNT(*) FROM records WHERE data IS NULL", {})
    assert empty == [(sum(1 for r in records if not r.data),)]
