"""Stores on real SQLite files and a real PostgreSQL: migrations, append, journeys, prune."""

from __future__ import annotations

import time

import pytest

from ivr.journal.records import JournalRecord, RecordKind, as_row, scrub_record
from ivr.journal.schema import POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS, latest
from ivr.journal.store import JournalStore, open_store
from ivr.journal.synthetic import CallScript, build_call

DAY = 86400.0
T0 = 1_717_200_000.0  # 2024-06-01 00:00:00 UTC
LATEST = latest(SQLITE_MIGRATIONS)
assert latest(POSTGRES_MIGRATIONS) == LATEST


async def test_migrations_are_idempotent(store_url: str) -> None:
    first = await open_store(store_url)
    version = await first.schema_version()
    await first.close()
    again = await open_store(store_url)  # opening again must not re-apply or fail
    assert await again.schema_version() == version == LATEST
    rows = await again.fetch("SELECT COUNT(*) FROM schema_version", {})
    assert rows == [(len(SQLITE_MIGRATIONS),)]
    assert first.rebuilt == ("schema",)
    assert again.rebuilt == ()
    await again.close()


async def test_rollup_migration_backfills_existing_calls(store_url: str) -> None:
    records = build_call(CallScript("c1", T0, ani_found=True, verify=["verified"]))
    # A journal at schema 1 with this call in it, as an older release left it.
    await _old_journal(store_url, 1, records)
    again = await open_store(store_url)
    assert await again.schema_version() == LATEST
    rollup = await again.fetch("SELECT calls, verified, steps_sum FROM call_hourly", {})
    assert rollup == [(1, 1, 3)]  # welcome, by_ani, date_of_birth
    await again.close()


async def test_chunk_migration_keeps_every_record(store_url: str) -> None:
    """A journal at schema 2 (one `records` row per record) holding data: after migration 3 the
    records are chunks, read back through the `records` view exactly as they were stored."""
    calls = [
        build_call(CallScript(f"m{i}", T0 + i * 0.123456789, ani_found=True, verify=["x"]))
        for i in range(5)
    ]
    odd = JournalRecord(
        "odd", 0, T0 + 1 / 3, RecordKind.OPERATION, "idv", "1", "retail", step="s",
        outcome="error", attempt=2, duration_ms=0.1 + 0.2, data={"operation": "x", "é": [1, 2.5]},
    )  # fmt: skip
    records = [r for call in calls for r in call] + [odd]
    await _old_journal(store_url, 2, records)
    store = await open_store(store_url)
    try:
        assert await store.schema_version() == LATEST
        assert await store.fetch("SELECT COUNT(*) FROM records", {}) == [(len(records),)]
        for call_id in ("m0", "m4", "odd"):
            expected = [scrub_record(r)[0] for r in records if r.call_id == call_id]
            assert await store.journey(call_id) == expected
        empty = await store.fetch("SELECT COUNT(*) FROM records WHERE data IS NULL", {})
        assert empty == [(sum(1 for r in records if not r.data),)]
        calls_before = await store.fetch("SELECT call_id, steps FROM calls ORDER BY call_id", {})
        assert len(calls_before) == 6
        # The migrated journal takes new records beside the old ones.
        late = JournalRecord("m0", len(calls[0]), T0 + 20, RecordKind.HANGUP, "idv", "1", "retail")
        await store.append([late])
        assert [r.seq for r in await store.journey("m0")] == list(range(len(calls[0]) + 1))
    finally:
        await store.close()


async def _old_journal(url: str, version: int, records: list[JournalRecord]) -> None:
    """A journal at an older schema `version` holding `records`, written as that release did:
    one `records` row per record, calls and step_daily upserted (and the rollup, from 2 on)."""
    from ivr.journal import rollup
    from ivr.journal.fold import call_upsert_sql, call_values, fold
    from ivr.journal.records import data_json
    from ivr.journal.schema import (
        CALL_COLUMNS_V1,
        POSTGRES_MIGRATIONS,
        SQLITE_MIGRATIONS,
        VERSION_DDL,
    )

    clean = [scrub_record(r)[0] for r in records]
    calls, steps = fold(clean)
    for call in calls:  # what the older fold wrote into its int column (a count never filled)
        call.factors_passed = None
    rows = [
        (r.call_id, r.seq, r.at, str(r.kind), r.flow_id, r.flow_version, r.service_line, r.step,
         r.outcome, r.attempt, r.duration_ms, data_json(r.data))
        for r in clean
    ]  # fmt: skip
    step_rows = [(*key, c.n, c.timed, c.duration_ms) for key, c in steps.items()]
    if url.startswith("sqlite"):
        import sqlite3

        from ivr.journal.sqlite_store import STEP_UPSERT

        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute(VERSION_DDL)
        for number, statements in SQLITE_MIGRATIONS[:version]:
            for statement in statements:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version VALUES (?, 'old')", (number,))
        conn.executemany(f"INSERT INTO records VALUES ({', '.join('?' * 12)})", rows)
        upsert = call_upsert_sql(["?"] * len(CALL_COLUMNS_V1), "MAX", CALL_COLUMNS_V1)
        conn.executemany(upsert, [call_values(c, CALL_COLUMNS_V1) for c in calls])
        conn.executemany(STEP_UPSERT, step_rows)
        if version >= 2:
            conn.execute(rollup.BACKFILL)
        conn.close()
        return
    import asyncpg

    from ivr.journal.pg_store import split_url

    dsn, schema = split_url(url)
    pg = await asyncpg.connect(dsn)
    try:
        await pg.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await pg.execute(f'SET search_path = "{schema}"')
        await pg.execute(VERSION_DDL)
        for number, statements in POSTGRES_MIGRATIONS[:version]:
            for statement in statements:
                await pg.execute(statement)
            await pg.execute("INSERT INTO schema_version VALUES ($1, 'old')", number)
        marks = ", ".join(f"${i}" for i in range(1, 13))
        await pg.executemany(f"INSERT INTO records VALUES ({marks})", rows)
        marks_v1 = [f"${i + 1}" for i in range(len(CALL_COLUMNS_V1))]
        upsert = call_upsert_sql(marks_v1, "GREATEST", CALL_COLUMNS_V1)
        await pg.executemany(upsert, [call_values(c, CALL_COLUMNS_V1) for c in calls])
        step_marks = ", ".join(f"${i}" for i in range(1, 10))
        await pg.executemany(f"INSERT INTO step_daily VALUES ({step_marks})", step_rows)
        if version >= 2:
            await pg.execute(rollup.BACKFILL)
    finally:
        await pg.close()


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
    """Every record of a large batch comes back as it went in (through the chunks), times and
    durations to the last bit, data as data."""
    CHUNK = 250
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


async def test_each_calls_records_of_a_batch_are_one_chunk(store: JournalStore) -> None:
    """One stored row per call and batch; a batch stored again, alone or beside others as the
    worker groups them, adds nothing."""
    one = build_call(CallScript("k1", T0, ani_found=True, verify=["verified"]))
    two = build_call(CallScript("k2", T0 + 1, ani_found=True))
    first = [as_row(r) for r in one[:5] + two]
    second = [as_row(r) for r in one[5:]]
    await store.append_batches([first, second])
    assert await store.fetch("SELECT COUNT(*) FROM record_chunks", {}) == [(3,)]
    await store.append_batches([second])
    await store.append_rows(first)
    assert await store.fetch("SELECT COUNT(*) FROM records", {}) == [(len(one) + len(two),)]
    assert await store.journey("k1") == [scrub_record(r)[0] for r in one]
