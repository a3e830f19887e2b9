"""Issue 14's scripted run through jambonz: the app books a callback with a secret; the
scheduler dials it with jambonz's REST createCall (a loopback stand-in); the callee hears the
secret in a `say` verb, presses 1, and the hand-off names the callback and
`reverse_idv: read_back`; the signed call status completes the callback; the journal holds no
secret."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from ivr.bootstrap import Project
from ivr.directory.csv_import import import_file
from ivr.journal.store import open_store
from ivr.settings import Settings
from ivr.web.app import create_app
from ivr.web.settings import ServeSettings
from tests.callbacks.conftest import JWT_SECRET, KEY_1, bearer
from tests.callbacks.jambonz_fake import JambonzFake
from tests.callbacks.servers import free_port, serving

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT, API_KEY, HOOK_SECRET = "acct-jambonz-1", "jambonz-api-key", "jambonz-webhook-secret"
SECRET = "anana"
TABLES = ("records", "calls", "callbacks", "callback_events")


async def test_booked_dialled_by_jambonz_read_back_in_say_and_connected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_url: str
) -> None:
    fake = JambonzFake(ACCOUNT, API_KEY, HOOK_SECRET, keys="1")
    async with serving(fake.app) as jambonz_url:
        monkeypatch.setenv("IVR_CALLBACK_GATEWAY", "jambonz")
        monkeypatch.setenv("IVR_JAMBONZ_ACCOUNT_SID", ACCOUNT)
        monkeypatch.setenv("IVR_JAMBONZ_API_BASE", jambonz_url)
        directory = tmp_path / "directory.db"
        await import_file(ROOT / "config" / "demo-customers.csv", directory)
        port = free_port()
        settings = ServeSettings(
            project=Project(ROOT / "flows", ROOT / "config", ROOT / "prompts"),
            prompts_build=tmp_path / "prompts-build",
            directory=str(directory),
            journal_url=store_url,
            public_url=f"http://127.0.0.1:{port}",
            webhook_secret="test-webhook-secret",
            reports_key=None,
            env=Settings.model_construct(
                app_jwt_secret=SecretStr(JWT_SECRET),
                callback_keys=SecretStr(f"k1:{KEY_1}"),
                jambonz_api_key=SecretStr(API_KEY),
                jambonz_secret=SecretStr(HOOK_SECRET),
            ),
        )
        async with serving(create_app(settings), port) as url, aiohttp.ClientSession() as http:
            now = datetime.now(UTC)
            window = {"start": now.isoformat(), "end": (now + timedelta(hours=2)).isoformat()}
            body = {"number": "+447700900123", "queue": "cards", "secret": SECRET, "window": window}
            headers = bearer("C1001", name="Alice Example")
            async with http.post(f"{url}/callbacks", json=body, headers=headers) as response:
                booked = await response.json()
                assert response.status == 201, booked
            for _ in range(200):
                if fake.calls and fake.calls[0].done.is_set():
                    break
                await asyncio.sleep(0.05)
            call = fake.calls[0]
            assert call.created["to"] == {"type": "phone", "number": "+447700900123"}
            heard = " ".join(call.heard)
            assert "Hello Alice Example" in heard, call.verbs
            assert f"your secret word is {SECRET}" in heard
            assert call.handoff is not None
            assert call.handoff["callback_id"] == booked["id"]
            assert call.handoff["reverse_idv"] == "read_back"
            assert call.handoff["callback_queue"] == "cards"
            # handed to the queue booked into: the route cards_agents, dialled (jambonz default)
            tag = next(v for v in call.verbs if v["verb"] == "tag")
            assert tag["data"]["route"] == "cards_agents"
            assert call.verbs[-1]["verb"] == "dial"
            assert call.verbs[-1]["target"] == [{"type": "user", "name": "cards"}]
            assert call.handoff["idv_status"] == "identified_and_verified"
            assert SECRET not in json.dumps(call.handoff)
            assert call.statuses == [204]  # signed call status accepted
            async with http.get(f"{url}/callbacks/{booked['id']}", headers=headers) as response:
                final = await response.json()
            assert final["status"] == "completed"
        await fake.settle()
    journal = await open_store(store_url)
    try:
        for _ in range(100):  # the journal worker writes in the background
            dumped = [repr(await journal.fetch(f"SELECT * FROM {t}", {})) for t in TABLES]
            if booked["id"] in "".join(dumped):
                break
            await asyncio.sleep(0.05)
    finally:
        await journal.close()
    assert booked["id"] in "".join(dumped)
    assert SECRET not in "".join(dumped).lower()
