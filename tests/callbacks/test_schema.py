"""Migration 4 is applied by its number: a journal that has later migrations but not 4 gets it."""

from __future__ import annotations

from ivr.callbacks import schema
from ivr.journal.store import open_store


async def test_missing_migration_is_applied_by_number(store_url: str) -> None:
    store = await open_store(store_url)
    assert (await store.fetch("SELECT COUNT(*) FROM callbacks", {}))[0][0] == 0
    await store.close()
    # as if migration 4 had landed after a later one was applied: drop it and its tables
    from ivr.callbacks.db import open_database

    db = await open_database(store_url)
    for table in ("callbacks", "callback_events", "standing_secrets", "queue_stats", "leases"):
        await db.execute(f"DROP TABLE {table}")
    await db.execute("DELETE FROM schema_version WHERE version = :v", {"v": schema.VERSION})
    await db.execute("INSERT INTO schema_version (version, applied_at) VALUES (99, 'later')")
    await db.close()
    again = await open_store(store_url)
    versions = [row[0] for row in await again.fetch("SELECT version FROM schema_version", {})]
    assert schema.VERSION in versions
    assert (await again.fetch("SELECT COUNT(*) FROM leases", {}))[0][0] == 0
    await again.close()
