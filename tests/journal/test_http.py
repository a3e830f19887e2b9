"""The journal routes over real HTTP on loopback: auth, reports, extracts, live calls, SSE."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ivr.journal.http import add_journal_routes, create_reports_app
from ivr.journal.hub import JournalHub
from ivr.journal.store import JournalStore
from ivr.journal.synthetic import CallScript, build_call
from tests.journal.known_calls import known_records

KEY = "s3cret-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def hub() -> JournalHub:
    return JournalHub()


@pytest.fixture
async def client(
    store: JournalStore, hub: JournalHub
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    await store.append(known_records())
    root = web.Application()
    add_journal_routes(root, lambda: store, hub, KEY)
    root.router.add_get("/open", open_route)
    async with TestClient(TestServer(root, host="127.0.0.1")) as c:
        yield c


async def open_route(request: web.Request) -> web.Response:
    return web.Response(text="open")


PATHS = [
    "/reports/summary",
    "/extracts/calls",
    "/calls/active",
    "/calls/A",
    "/calls/stream",
    "/pulse",
    "/dashboard",
]


@pytest.mark.parametrize("path", PATHS)
async def test_refuses_without_key(
    client: TestClient[web.Request, web.Application], path: str
) -> None:
    for headers in (
        {},
        {"X-API-Key": "wrong"},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic !!notbase64"},
    ):
        resp = await client.get(path, headers=headers)
        assert resp.status == 401
        assert "WWW-Authenticate" in resp.headers


async def test_other_routes_of_the_app_stay_open(
    client: TestClient[web.Request, web.Application],
) -> None:
    """The key guards the journal routes only, so they can sit beside open webhooks."""
    assert (await client.get("/open")).status == 200
    assert (await client.get("/nowhere")).status == 404


async def test_standalone_app_mounted_under_a_prefix(store: JournalStore, hub: JournalHub) -> None:
    await store.append(known_records())
    root = web.Application()
    root.add_subapp("/journal", create_reports_app(store, hub, KEY))
    async with TestClient(TestServer(root, host="127.0.0.1")) as c:
        assert (await c.get("/journal/calls/A")).status == 401
        body = await (await c.get("/journal/calls/A", headers=AUTH)).json()
        assert body["records"][0]["kind"] == "call_started"


async def test_empty_configured_key_refuses_everyone(store: JournalStore, hub: JournalHub) -> None:
    root = web.Application()
    root.add_subapp("/j", create_reports_app(store, hub, ""))
    async with TestClient(TestServer(root, host="127.0.0.1")) as c:
        assert (await c.get("/j/calls/active", headers={"X-API-Key": ""})).status == 401
        assert (await c.get("/j/calls/active", headers={"Authorization": "Bearer "})).status == 401


async def test_all_three_ways_of_giving_the_key(
    client: TestClient[web.Request, web.Application],
) -> None:
    basic = base64.b64encode(f"manager:{KEY}".encode()).decode()
    for headers in (AUTH, {"X-API-Key": KEY}, {"Authorization": f"Basic {basic}"}):
        assert (await client.get("/calls/active", headers=headers)).status == 200


async def test_report_json_and_csv(client: TestClient[web.Request, web.Application]) -> None:
    resp = await client.get("/reports/tasks?service_line=cards", headers=AUTH)
    assert resp.status == 200
    body = await resp.json()
    assert body["rows"][0]["route_kind"] == "agent"
    assert body["rows"][0]["calls"] == 1
    resp = await client.get("/reports/calls-per-day?from=2024-06-02&format=csv", headers=AUTH)
    assert resp.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert [r["day"] for r in rows] == ["2024-06-02"]
    assert (await client.get("/reports/nope", headers=AUTH)).status == 404
    assert (await client.get("/reports/summary?from=soon", headers=AUTH)).status == 400


async def test_extract_streams_csv(client: TestClient[web.Request, web.Application]) -> None:
    resp = await client.get("/extracts/steps?to=2024-06-01", headers=AUTH)
    assert resp.status == 200
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert "F" not in {r["call_id"] for r in rows}
    assert len(rows) == 18 - 3  # F's welcome, by_ani and date_of_birth outcomes excluded
    assert (await client.get("/extracts/nope", headers=AUTH)).status == 404


async def test_active_calls_and_journey(
    client: TestClient[web.Request, web.Application], hub: JournalHub
) -> None:
    live = build_call(CallScript("LIVE", 1_717_300_000.0, ani_found=True, verify=["verified"]))
    hub.publish(live[:5])
    body = await (await client.get("/calls/active", headers=AUTH)).json()
    assert body["count"] == 1
    assert body["calls"][0]["call_id"] == "LIVE"
    assert body["calls"][0]["step"] == "by_ani"
    journey = await (await client.get("/calls/LIVE", headers=AUTH)).json()
    assert journey["active"] is True
    assert [r["seq"] for r in journey["records"]] == [0, 1, 2, 3, 4]
    stored = await (await client.get("/calls/A", headers=AUTH)).json()
    assert stored["active"] is False
    assert stored["records"][0]["kind"] == "call_started"
    assert stored["records"][-1]["kind"] == "call_ended"
    assert (await client.get("/calls/unknown", headers=AUTH)).status == 404


async def test_sse_delivers_records(
    client: TestClient[web.Request, web.Application], hub: JournalHub
) -> None:
    resp = await client.get("/calls/stream?call_id=S1", headers=AUTH)
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/event-stream"
    assert (await resp.content.readline()) == b": connected\n"
    other = build_call(CallScript("OTHER", 1_717_300_000.0, ani_found=True))
    mine = build_call(CallScript("S1", 1_717_300_000.0, ani_found=True))
    hub.publish(other[:2] + mine[:2])
    events = []
    async with asyncio.timeout(5):
        while len(events) < 2:
            line = (await resp.content.readline()).decode()
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    assert [(e["call_id"], e["seq"], e["kind"]) for e in events] == [
        ("S1", 0, "call_started"),
        ("S1", 1, "step_entered"),
    ]
    resp.close()


async def test_pulse_and_dashboard(
    client: TestClient[web.Request, web.Application], hub: JournalHub
) -> None:
    import time

    hub.publish(build_call(CallScript("P", time.time(), ani_found=True)))
    pulse = await (await client.get("/pulse?seconds=30", headers=AUTH)).json()
    assert len(pulse["per_second"]) == 30
    assert pulse["events"] > 0
    assert (await client.get("/pulse?seconds=soon", headers=AUTH)).status == 400
    clamped = await (await client.get("/pulse?seconds=-5", headers=AUTH)).json()
    assert len(clamped["per_second"]) == 1
    page = await client.get("/dashboard", headers=AUTH)
    assert page.content_type == "text/html"
    text = await page.text()
    assert '<script src="dashboard.js">' in text
    script = await client.get("/dashboard.js", headers=AUTH)
    assert script.content_type == "text/javascript"
    code = await script.text()
    assert "EventSource" in code
    for asset in (text, code, await (await client.get("/dashboard.css", headers=AUTH)).text()):
        assert "http://" not in asset.replace("http://www.w3.org/2000/svg", "")  # no CDN
        assert "https://" not in asset
