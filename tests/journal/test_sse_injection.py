"""Nothing a gateway sends can forge a line or an event in /calls/stream: a CallSid holding
newlines goes through the real engine and the journal hub and comes out as one `record`
event whose fields are each one line."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ivr.bootstrap import Project, build_engine, load_project
from ivr.directory.csv_import import import_file
from ivr.directory.sqlite_store import SqliteDirectory
from ivr.engine.events import CallStarted
from ivr.journal.http import add_journal_routes
from ivr.journal.hub import JournalHub
from ivr.journal.store import JournalStore

ROOT = Path(__file__).resolve().parents[2]
KEY = "sse-key"
FORGED = 'CA1\nevent: forged\ndata: {"call_id":"victim","kind":"call_ended"}\n\nid: x'
CR_FORGED = "CA2\revent: forged\r\rdata: x"


def parse_sse(text: str) -> list[dict[str, list[str]]]:
    """Events as a browser's EventSource splits them (CR, LF and CRLF all end a line)."""
    events: list[dict[str, list[str]]] = []
    current: dict[str, list[str]] = {}
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line:
            if current:
                events.append(current)
            current = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            current.setdefault(name, []).append(value.removeprefix(" "))
    return events


@pytest.fixture
async def client(
    store: JournalStore, tmp_path: Path
) -> AsyncIterator[tuple[TestClient[web.Request, web.Application], JournalHub]]:
    hub = JournalHub()
    app = web.Application()
    add_journal_routes(app, lambda: store, hub, KEY)
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        yield c, hub


async def test_a_call_id_with_newlines_is_one_event(
    client: tuple[TestClient[web.Request, web.Application], JournalHub], tmp_path: Path
) -> None:
    http, hub = client
    db = tmp_path / "directory.db"
    await import_file(ROOT / "config" / "demo-customers.csv", db)
    directory = await SqliteDirectory.open(db)
    loaded = load_project(Project(ROOT / "flows", ROOT / "config", ROOT / "prompts"))
    engine, _ = await build_engine(loaded, directory)
    response = await http.get("/calls/stream", headers={"X-API-Key": KEY})
    assert (await response.content.readline()) == b": connected\n"
    published = 0
    for call_id in (FORGED, CR_FORGED):
        turn = await engine.start_call(CallStarted(call_id, "+447700900123", "+441134960000"))
        hub.publish(turn.records)
        published += len(turn.records)
    text = ""
    async with asyncio.timeout(5):
        while text.count("\n\n") < published:
            text += (await response.content.readany()).decode()
    response.close()
    await directory.close()
    events = parse_sse(text)
    assert len(events) == published
    seen = []
    for event in events:
        assert set(event) == {"id", "event", "data"}
        assert event["event"] == ["record"]
        assert len(event["data"]) == 1
        assert len(event["id"]) == 1
        record = json.loads(event["data"][0])
        seen.append(record["call_id"])
    assert set(seen) == {FORGED, CR_FORGED}
    assert "victim" not in seen
