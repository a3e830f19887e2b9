"""The server's journal store for reads: a failure closes it, and the next read opens it afresh
once the back-off has passed."""

from __future__ import annotations

import uuid

import pytest

from bench.journal_faults import admin_connection, kill_pg_connections
from ivr.journal.reconnecting import JournalUnavailable, ReconnectingStore
from ivr.journal.store import JournalStore, open_store
from tests.journal.conftest import PG_DSN

PG = PG_DSN


async def test_a_store_that_fails_is_reopened_after_the_back_off() -> None:
    name = f"ivr_test_reconnect_{uuid.uuid4().hex[:8]}"
    url = f"{PG}?schema={name}&application_name={name}"
    opened: list[JournalStore] = []
    now = [100.0]

    async def opener(url: str) -> JournalStore:
        store = await open_store(url)
        opened.append(store)
        return store

    reads = ReconnectingStore(url, opener=opener, clock=lambda: now[0])
    assert await reads.open()
    assert await reads.fetch("SELECT COUNT(*) FROM calls", {}) == [(0,)]

    assert await kill_pg_connections(url) > 0  # as a server restart or a network cut would
    with pytest.raises(JournalUnavailable):
        await reads.fetch("SELECT COUNT(*) FROM calls", {})
    assert reads.outage is not None
    with pytest.raises(JournalUnavailable):  # within the back-off: not even tried
        await reads.fetch("SELECT COUNT(*) FROM calls", {})
    assert len(opened) == 1

    now[0] += 60
    assert await reads.fetch("SELECT COUNT(*) FROM calls", {}) == [(0,)]
    assert len(opened) == 2
    assert reads.outage is None
    await reads.close()
    conn, schema = await admin_connection(url)
    await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    await conn.close()
