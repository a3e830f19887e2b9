"""Issue 14's scripted run: the app books a callback with a secret over real HTTP; the
scheduler dials it through the Twilio fake (driven by Twilio's own client); the callee hears
the secret in <Say>, presses 1, and the agent hand-off names the callback and
`reverse_idv: read_back`. Then the journal, the logs, Redis and the extracts are searched:
the secret is in none of them."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr
from redis import asyncio as aioredis

from ivr.bootstrap import Project
from ivr.callbacks.api import API
from ivr.callbacks.auth import AppIdentity
from ivr.callbacks.db import open_database
from ivr.callbacks.model import Booking
from ivr.callbacks.service import book
from ivr.callbacks.web import STORE
from ivr.directory.csv_import import import_file
from ivr.journal.extracts import extract_csv
from ivr.journal.store import ReportFilter, open_store
from ivr.settings import Settings
from ivr.web.app import create_app
from ivr.web.settings import ServeSettings
from tests.callbacks.conftest import JWT_SECRET, KEY_1, bearer
from tests.callbacks.servers import free_port, serving
from tests.callbacks.twilio_fake import Callee, PlacedCall, TwilioFake
from tests.sessions.conftest import REDIS_URL, delete_keys

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "AC" + "0" * 32
TOKEN = "twilio-test-auth-token"
SECRET = "anana"


@pytest.fixture
async def running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_url: str
) -> AsyncIterator[dict[str, Any]]:
    fake = TwilioFake(ACCOUNT, TOKEN)
    prefix = f"ivr-test-{uuid.uuid4().hex[:12]}:"
    async with serving(fake.app) as twilio_url:
        monkeypatch.setenv("IVR_TWILIO_ACCOUNT_SID", ACCOUNT)
        monkeypatch.setenv("IVR_TWILIO_API_BASE", twilio_url)
        monkeypatch.setenv("IVR_CALLBACK_GATEWAY", "twilio")
        db = tmp_path / "directory.db"
        await import_file(ROOT / "config" / "demo-customers.csv", db)
        port = free_port()
        settings = ServeSettings(
            project=Project(ROOT / "flows", ROOT / "config", ROOT / "prompts"),
            prompts_build=tmp_path / "prompts-build",
            directory=str(db),
            journal_url=store_url,
            redis_url=REDIS_URL,
            redis_prefix=prefix,
            public_url=f"http://127.0.0.1:{port}",
            webhook_secret="test-webhook-secret",
            reports_key="test-reports-key",
            env=Settings.model_construct(
                app_jwt_secret=SecretStr(JWT_SECRET),
                callback_keys=SecretStr(f"k1:{KEY_1}"),
                twilio_auth_token=SecretStr(TOKEN),
            ),
        )
        app = create_app(settings)
        async with serving(app, port) as url:
            yield {"url": url, "fake": fake, "prefix": prefix, "journal": store_url, "app": app}
        await fake.settle()
    await delete_keys(prefix)


async def test_booked_dialled_read_back_and_connected_without_leaking_the_secret(
    running: dict[str, Any], caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    url, fake = running["url"], running["fake"]
    fake.callees.append(Callee(keys=["1"]))
    async with aiohttp.ClientSession() as http:
        # the app books, the smallest body, a window open now
        now = datetime.now(UTC)
        window = {"start": now.isoformat(), "end": (now + timedelta(hours=2)).isoformat()}
        body = {"number": "+447700900123", "queue": "cards", "secret": SECRET, "window": window}
        headers = {**bearer("C1001", name="Alice Example"), "Idempotency-Key": "e2e-1"}
        async with http.post(f"{url}/callbacks", json=body, headers=headers) as response:
            text = await response.text()
            assert response.status == 201, text
            booked = json.loads(text)
        callback_id = booked["id"]
        # the scheduler (5 s interval, first tick at startup) dials it through the fake
        for _ in range(200):
            if fake.calls and fake.calls[0].done.is_set():
                break
            await asyncio.sleep(0.05)
        call = fake.calls[0]
        assert call.form["To"] == "+447700900123"
        assert call.form["MachineDetection"] == "Enable"
        heard = " ".join(call.heard)
        assert "<Error" not in call.documents[0], call.documents[0]
        assert "Hello Alice Example" in heard
        assert f"your secret word is {SECRET}" in heard
        assert "Press 1 to be connected" in heard
        assert call.handoff is not None
        assert call.enqueued == "cards"  # the queue booked into (its route), not `general`
        assert call.handoff["callback_queue"] == "cards"
        assert call.voices == {"en-GB"}
        assert call.handoff["callback_id"] == callback_id
        assert call.handoff["reverse_idv"] == "read_back"
        assert call.handoff["idv_status"] == "identified_and_verified"
        assert call.handoff["customer_id"] == "C1001"
        assert SECRET not in json.dumps(call.handoff)
        assert call.statuses
        assert set(call.statuses) == {204}
        async with http.get(f"{url}/callbacks/{callback_id}", headers=bearer("C1001")) as response:
            final = await response.json()
    assert final["status"] == "completed"
    assert final["attempts"] == 1
    assert final["has_secret"] is False  # deleted when the callback ended

    # searched after the run: the journal database, Redis, logs and extracts
    journal = await open_store(running["journal"])
    try:
        for _ in range(100):  # the journal worker writes in the background
            rows = await journal.fetch("SELECT COUNT(*) FROM calls WHERE ended_at IS NOT NULL", {})
            if rows[0][0] >= 1:
                break
            await asyncio.sleep(0.05)
        assert rows[0][0] >= 1
        dumped = []
        for table in ("records", "calls", "callbacks", "callback_events", "step_daily"):
            dumped.append(repr(await journal.fetch(f"SELECT * FROM {table}", {})))
        for name in ("calls", "steps"):
            dumped.extend([piece async for piece in extract_csv(journal, name, ReportFilter())])
    finally:
        await journal.close()
    async with aiohttp.ClientSession() as http:
        history_url = f"{url}/customers/C1001/interactions"
        async with http.get(history_url, headers=bearer("C1001")) as response:
            history_text = await response.text()
            assert response.status == 200, history_text
        async with http.get(history_url, headers=bearer("C2002")) as response:
            assert response.status == 404  # another customer's history
    history = json.loads(history_text)["interactions"]
    assert [item["type"] for item in history] == ["call", "callback"]  # newest first
    assert history[0]["direction"] == "outbound"
    assert history[0]["callback_id"] == callback_id
    assert history[0]["idv_status"] == "identified_and_verified"
    assert history[1]["status"] == "completed"
    dumped.append(history_text)
    everything = "\n".join(dumped)
    assert callback_id in everything  # the search did see the callback's rows
    assert SECRET not in everything.lower()
    db = await open_database(running["journal"])
    try:
        blobs = await db.fetch("SELECT secret_ct FROM callbacks", {})
        assert blobs == [(None,)]
    finally:
        await db.close()
    redis = aioredis.from_url(REDIS_URL)
    try:
        keys = [key async for key in redis.scan_iter(match=f"{running['prefix']}*")]
        assert keys  # the call's state was there
        for key in keys:
            kind = await redis.type(key)
            value = await redis.get(key) if kind == b"string" else await redis.dump(key)
            assert SECRET.encode() not in (value or b"")
    finally:
        await redis.aclose()
    logged = "\n".join(r.getMessage() + repr(r.__dict__) for r in caplog.records)
    out, err = capfd.readouterr()
    assert SECRET not in logged
    assert SECRET not in out + err


async def _dialled_through(
    url: str, fake: TwilioFake, bookings: list[dict[str, Any]]
) -> dict[str, PlacedCall]:
    """Book each body as the app does; the calls the scheduler placed, by number, once over."""
    async with aiohttp.ClientSession() as http:
        for index, body in enumerate(bookings):
            fake.callees.append(Callee(keys=["1"]))
            headers = {**bearer("C1001", name="Alice Example"), "Idempotency-Key": f"lang-{index}"}
            async with http.post(f"{url}/callbacks", json=body, headers=headers) as response:
                assert response.status == 201, await response.text()
    for _ in range(300):
        if len(fake.calls) == len(bookings) and all(c.done.is_set() for c in fake.calls):
            break
        await asyncio.sleep(0.05)
    return {call.form["To"]: call for call in fake.calls}


async def test_the_callee_hears_the_language_booked_in_and_reaches_the_queue_booked_into(
    running: dict[str, Any],
) -> None:
    now = datetime.now(UTC)
    window = {"start": now.isoformat(), "end": (now + timedelta(hours=2)).isoformat()}
    welsh = "+447700900123"
    bookings = [
        {"number": welsh, "queue": "cards", "secret": SECRET, "window": window,
         "language": "cy-GB"},
    ]  # fmt: skip
    calls = await _dialled_through(running["url"], running["fake"], bookings)
    # booked in Welsh: every prompt from the Welsh catalogue, spoken by a Welsh voice
    heard = " ".join(calls[welsh].heard)
    assert "Helo Alice Example" in heard
    assert f"eich gair cyfrinachol yw {SECRET}" in heard
    assert "Pwyswch 1" in heard
    assert "Press 1" not in heard
    assert calls[welsh].voices == {"cy-GB"}
    assert calls[welsh].enqueued == "cards"
    assert calls[welsh].handoff is not None
    assert calls[welsh].handoff["callback_queue"] == "cards"
    assert calls[welsh].handoff["reverse_idv"] == "read_back"
    journal = await open_store(running["journal"])
    try:
        for _ in range(100):
            rows = await journal.fetch("SELECT data FROM records WHERE kind = 'operation'", {})
            data = [json.loads(row[0]) if isinstance(row[0], str) else row[0] for row in rows]
            shown = [d for d in data if "language_asked" in d]
            if shown:
                break
            await asyncio.sleep(0.05)
    finally:
        await journal.close()
    assert [(d["language_asked"], d["language"], d.get("language_fallback")) for d in shown] == [
        ("cy-GB", "cy-GB", None)
    ]


async def test_a_language_the_callback_flow_does_not_speak_is_refused_at_booking(
    running: dict[str, Any],
) -> None:
    """Refused when the app books (and when it changes a booking), not found at call time."""
    now = datetime.now(UTC)
    window = {"start": now.isoformat(), "end": (now + timedelta(hours=2)).isoformat()}
    body = {"number": "+447700900456", "queue": "cards", "window": window, "language": "fr-FR"}
    async with aiohttp.ClientSession() as http:
        url, headers = running["url"], bearer("C1001", name="Alice Example")
        async with http.post(f"{url}/callbacks", json=body, headers=headers) as response:
            problem = await response.json()
            assert response.status == 422, problem
        assert "'fr-FR' is not spoken on callbacks" in problem["detail"]
        assert "en-GB, cy-GB" in problem["detail"]
        body["language"] = "cy"  # the same language as cy-GB: booked, spoken in cy-GB
        async with http.post(f"{url}/callbacks", json=body, headers=headers) as response:
            booked = await response.json()
            assert response.status == 201, booked
        change = {"language": "de-DE"}
        patch_headers = {**headers, "If-Match": response.headers["ETag"]}
        path = f"{url}/callbacks/{booked['id']}"
        async with http.patch(path, json=change, headers=patch_headers) as response:
            assert response.status == 422
        async with http.get(path, headers=headers) as response:
            unchanged = await response.json()
        assert unchanged["language"] == "cy"  # the refused change changed nothing


async def test_a_callback_in_a_language_no_longer_spoken_is_called_in_the_lines_and_shown(
    running: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Booked while the flow had French (the store written as the API writes it), called after
    a reload took French away: spoken in the line's English, with a warning, a journal field
    and a metric."""
    caplog.set_level(logging.WARNING)
    app, fake = running["app"], running["fake"]
    counted = REGISTRY.get_sample_value("ivr_language_fallbacks_total", {"flow": "callback"}) or 0
    now = datetime.now(UTC)
    window = {"start": now.isoformat(), "end": (now + timedelta(hours=2)).isoformat()}
    french = "+447700900456"
    booking = Booking.model_validate(
        {"number": french, "queue": "cards", "secret": SECRET, "window": window,
         "language": "fr-FR"}
    )  # fmt: skip
    fake.callees.append(Callee(keys=["1"]))
    who = AppIdentity("C1001", "Alice Example")
    await book(app[STORE], app[API].queues, who, booking, now.timestamp())
    app[API].booked()  # the dispatcher wakes, as after a booking through the API
    for _ in range(300):
        if fake.calls and fake.calls[0].done.is_set():
            break
        await asyncio.sleep(0.05)
    call = fake.calls[0]
    assert f"your secret word is {SECRET}" in " ".join(call.heard)
    assert call.voices == {"en-GB"}
    assert call.enqueued == "cards"
    warned = [r.getMessage() for r in caplog.records if "'fr-FR' asked for" in r.getMessage()]
    assert warned
    assert "no prompts in it" in warned[0]
    assert "speaking en-GB" in warned[0]
    journal = await open_store(running["journal"])
    try:
        for _ in range(100):
            rows = await journal.fetch("SELECT data FROM records WHERE kind = 'operation'", {})
            data = [json.loads(row[0]) if isinstance(row[0], str) else row[0] for row in rows]
            shown = [d for d in data if "language_asked" in d]
            if shown:
                break
            await asyncio.sleep(0.05)
    finally:
        await journal.close()
    assert [(d["language_asked"], d["language"], d.get("language_fallback")) for d in shown] == [
        ("fr-FR", "en-GB", "yes")
    ]
    after = REGISTRY.get_sample_value("ivr_language_fallbacks_total", {"flow": "callback"})
    assert after == counted + 1
