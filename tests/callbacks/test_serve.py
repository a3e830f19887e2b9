"""`ivr serve` mounts the callback API when the app's token secret and a sealing key are set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import SecretStr

from ivr.bootstrap import Project
from ivr.directory.csv_import import import_file
from ivr.settings import Settings
from ivr.web.app import create_app
from ivr.web.settings import ServeSettings
from tests.callbacks.conftest import JWT_SECRET, KEY_1
from tests.callbacks.conftest import bearer as bearer

ROOT = Path(__file__).resolve().parents[2]


async def _settings(tmp_path: Path, **env: Any) -> ServeSettings:
    db = tmp_path / "directory.db"
    await import_file(ROOT / "config" / "demo-customers.csv", db)
    return ServeSettings(
        project=Project(ROOT / "flows", ROOT / "config", ROOT / "prompts"),
        prompts_build=tmp_path / "prompts-build",
        directory=str(db),
        journal_url=f"sqlite:///{tmp_path}/journal.db",
        webhook_secret="test-webhook-secret",
        reports_key=None,
        env=Settings.model_construct(**{k: SecretStr(v) for k, v in env.items()}),
    )


async def test_served_with_its_openapi(aiohttp_client: Any, tmp_path: Path) -> None:
    settings = await _settings(tmp_path, app_jwt_secret=JWT_SECRET, callback_keys=f"k1:{KEY_1}")
    client = await aiohttp_client(create_app(settings))
    spec = await (await client.get("/callbacks/openapi.json")).json()
    assert {"/callbacks", "/callbacks/{id}", "/callbacks/slots"} <= set(spec["paths"])
    assert "Booking" in spec["components"]["schemas"]
    listed = await client.get("/callbacks", headers=bearer("C1001"))
    assert listed.status == 200


async def test_not_served_without_keys(aiohttp_client: Any, tmp_path: Path) -> None:
    settings = await _settings(tmp_path, app_jwt_secret=JWT_SECRET)
    client = await aiohttp_client(create_app(settings))
    assert (await client.get("/callbacks", headers=bearer("C1001"))).status == 404


async def test_queue_figures_and_wait(aiohttp_client: Any, tmp_path: Path) -> None:
    settings = await _settings(tmp_path, app_jwt_secret=JWT_SECRET, callback_keys=f"k1:{KEY_1}")
    settings = ServeSettings(**{**settings.__dict__, "reports_key": "ops-key"})
    client = await aiohttp_client(create_app(settings))
    ops = {"Authorization": "Bearer ops-key"}
    figures = {
        "agents_staffed": 10,
        "agents_available": 0,
        "calls_waiting": 9,
        "average_handle_time_s": 300,
    }
    refused = await client.post("/queues/cards/stats", json=figures)
    assert refused.status == 401
    bad = await client.post(
        "/queues/cards/stats", json={**figures, "calls_waiting": -1}, headers=ops
    )
    assert bad.status == 422
    unknown = await client.post("/queues/nope/stats", json=figures, headers=ops)
    assert unknown.status == 404
    first = await (await client.post("/queues/cards/stats", json=figures, headers=ops)).json()
    assert first["state"] == "unknown"  # one push is too few to trust
    assert (await client.get("/queues/cards/wait")).status == 401
    await client.post("/queues/cards/stats", json={**figures, "calls_waiting": 10}, headers=ops)
    wait = await (await client.get("/queues/cards/wait", headers=bearer("C1001"))).json()
    assert wait["state"] == "open"
    assert wait["method"] == "position"
    assert wait["sample_size"] == 2
    # the newest figures: 11th in line for 10 agents averaging 300 s -> 330 s
    assert wait["estimated_wait_s"] == 330.0
