"""Exactly once per delivery on the JSON protocol, in one worker and across two sharing Redis.

Every delivery a call applied is remembered with its answer for the call's life: any earlier
one delivered again (not only the latest) gets its original document, changes nothing and
is counted once (issue 12, item 1; architecture rule 6).
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import REGISTRY

from ivr.web.keys import STORE
from tests.sessions.conftest import REDIS_URL, delete_keys
from tests.web.conftest import CARDS_LINE, Caller, MakeClient


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def failures(db: str) -> int:
    with sqlite3.connect(db) as connection:
        return int(connection.execute("SELECT COUNT(*) FROM failures").fetchone()[0])


async def stored(client: TestClient[Any, Any], call_id: str) -> dict[str, Any] | None:
    data: dict[str, Any] | None = await client.app[STORE].get(call_id)
    return data


async def test_any_earlier_delivery_gets_its_answer_and_changes_nothing(
    client: TestClient[Any, Any], demo_db: str
) -> None:
    caller = Caller(client)
    started = await caller.start(ani=None, dnis=CARDS_LINE)
    account = await caller.press("12345678", event_id="account")
    wrong_1 = await caller.press("01011999#", event_id="wrong-1")
    wrong_2 = await caller.press("01011998#", event_id="wrong-2")
    assert wrong_1["call"]["attempts"]["date_of_birth"] == 2
    assert wrong_2["call"]["attempts"]["date_of_birth"] == 3
    before, counted = await stored(client, caller.call_id), failures(demo_db)
    applied = metric("ivr_events_total", adapter="json", kind="DigitsCollected")
    duplicates = metric("ivr_duplicate_events_total", adapter="json")

    assert await caller.press("01011999#", event_id="wrong-1") == wrong_1
    assert await caller.press("12345678", event_id="account") == account
    assert await caller.send("call.started", "e1", ani=None, dnis=CARDS_LINE) == started
    assert await stored(client, caller.call_id) == before
    assert failures(demo_db) == counted  # no extra lockout failure
    assert metric("ivr_events_total", adapter="json", kind="DigitsCollected") == applied
    assert metric("ivr_duplicate_events_total", adapter="json") == duplicates + 3


async def test_an_earlier_delivery_after_the_end_gets_its_answer(
    client: TestClient[Any, Any],
) -> None:
    caller = Caller(client)
    await caller.start()
    wrong = await caller.press("01011999#", event_id="wrong")
    done = await caller.press("01021980#", event_id="right")
    assert done["call"]["ended"] is True
    assert await caller.press("01011999#", event_id="wrong") == wrong
    assert await caller.press("01021980#", event_id="right") == done


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    prefix = f"ivr-test-{uuid.uuid4().hex[:12]}:"
    yield prefix
    await delete_keys(prefix)


async def test_an_earlier_delivery_on_another_worker_gets_its_answer(
    make_client: MakeClient, prefix: str
) -> None:
    """Two workers sharing Redis: the replay lands on the worker that never saw it."""
    worker_a = await make_client(redis_url=REDIS_URL, redis_prefix=prefix)
    worker_b = await make_client(redis_url=REDIS_URL, redis_prefix=prefix)
    on_a = Caller(worker_a)
    await on_a.start(ani=None, dnis=CARDS_LINE)
    await on_a.press("12345678", event_id="account")
    wrong_1 = await on_a.press("01011999#", event_id="wrong-1")
    on_b = Caller(worker_b, on_a.call_id)
    on_b.events = on_a.events
    wrong_2 = await on_b.press("01011998#", event_id="wrong-2")
    assert wrong_2["call"]["attempts"]["date_of_birth"] == 3
    before = await stored(worker_a, on_a.call_id)

    assert await on_b.press("01011999#", event_id="wrong-1") == wrong_1
    assert await on_a.press("01011998#", event_id="wrong-2") == wrong_2
    assert await stored(worker_b, on_a.call_id) == before
