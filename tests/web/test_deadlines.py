"""Every webhook is answered within 4 s and routes the caller on, even when the directory
hangs; a call's journal and state say why it left."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ivr.directory.port import LookupResult, VerifyStatus
from ivr.directory.sqlite_store import SqliteDirectory
from tests.web.conftest import CARDS_LINE, Caller, MakeClient, transfer


class HangingDirectory:
    """The demo directory, except that account lookups never come back."""

    def __init__(self, inner: SqliteDirectory) -> None:
        self.inner = inner
        self.calls = 0

    async def lookup_by_phone(self, e164: str) -> LookupResult:
        return await self.inner.lookup_by_phone(e164)

    async def lookup_by_account(self, account_number: str) -> LookupResult:
        self.calls += 1
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async def verify_answer(self, customer_id: str, field: str, answer: str) -> VerifyStatus:
        return await self.inner.verify_answer(customer_id, field, answer)

    async def close(self) -> None:
        await self.inner.close()


async def _hanging(demo_db: str) -> HangingDirectory:
    return HangingDirectory(await SqliteDirectory.open(demo_db))


async def test_hung_directory_is_answered_within_4s_with_a_route_to_an_agent(
    make_client: MakeClient, demo_db: str
) -> None:
    directory = await _hanging(demo_db)
    client = await make_client(directory=directory)  # engine: 2 s per operation
    caller = Caller(client)
    await caller.start(ani=None, dnis=CARDS_LINE)
    started = time.monotonic()
    doc = await caller.press("12345678#")
    elapsed = time.monotonic() - started
    assert elapsed < 4.0
    assert transfer(doc)["kind"] == "agent"
    assert doc["call"]["idv_status"] == "not_identified"
    assert directory.calls == 1


async def test_overall_deadline_routes_to_an_agent_when_the_engine_overruns(
    make_client: MakeClient, demo_db: str
) -> None:
    directory = await _hanging(demo_db)
    journal: list[Any] = []

    client = await make_client(
        directory=directory, operation_deadline_s=30.0, response_deadline_s=0.5
    )
    from ivr.web.keys import CALLS

    client.app[CALLS].journal = type("Sink", (), {"write": lambda self, r: journal.extend(r)})()
    caller = Caller(client)
    await caller.start(ani=None, dnis=CARDS_LINE)
    started = time.monotonic()
    doc = await caller.press("12345678#")
    assert time.monotonic() - started < 1.5
    assert transfer(doc)["kind"] == "agent"
    assert doc["call"]["ended"] is True
    assert [r.kind.value for r in journal][-4:] == [
        "step_outcome",
        "idv_status",
        "routed",
        "call_ended",
    ]
    assert journal[-4].data == {"reason": "response deadline"}
    again = await caller.press("12345678#")
    assert again["actions"] == []  # the call ended: nothing more happens
