"""bench.webhooks counts what a journal stored while the server served, on both real stores."""

from __future__ import annotations

import asyncio

from bench.webhooks import _stored
from ivr.journal.store import open_store
from ivr.journal.synthetic import CallScript, build_call
from tests.journal.conftest import pg_url, sqlite_url, store_url  # noqa: F401  (fixtures)

T0 = 1_717_200_000.0


async def test_records_calls_and_ended_calls_are_counted(store_url: str) -> None:  # noqa: F811
    assert await asyncio.to_thread(_stored, store_url) == (0, 0, 0)  # nothing created yet
    calls = [build_call(CallScript(f"c{i}", T0 + i, ani_found=True)) for i in range(3)]
    store = await open_store(store_url)
    try:
        await store.append([r for call in calls for r in call])
        await store.append(build_call(CallScript("open", T0, ani_found=True))[:4])
    finally:
        await store.close()
    records = sum(len(call) for call in calls) + 4
    assert await asyncio.to_thread(_stored, store_url) == (records, 4, 3)
    assert _stored(None) == (0, 0, 0)
