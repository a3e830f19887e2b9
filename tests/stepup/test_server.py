"""One-time codes through the real server on loopback (JSON webhook): a texted code verifies
the caller, and `/readyz` shows the code provider."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from pydantic import SecretStr

from ivr.bootstrap import Project
from ivr.directory.csv_import import import_file
from ivr.web.app import create_app
from ivr.web.settings import ServeSettings
from tests.stepup.provider_server import TOKEN, LoopbackProvider, free_port
from tests.web.conftest import SECRET, Caller, transfer

from .conftest import ROOT, settings_for

STEPUP_LINE = "+441134960005"


async def _client(aiohttp_client: Any, tmp_path: Path, provider_url: str) -> TestClient[Any, Any]:
    db = tmp_path / "directory.db"
    await import_file(ROOT / "config" / "demo-customers.csv", db)
    settings = ServeSettings(
        project=Project(ROOT / "flows", ROOT / "config", ROOT / "prompts"),
        prompts_build=tmp_path / "prompts-build",
        directory=str(db),
        journal_url=None,
        webhook_secret=SECRET,
        env=settings_for(provider_url, otp_provider_token=SecretStr(TOKEN)),
    )
    client: TestClient[Any, Any] = await aiohttp_client(create_app(settings))
    return client


async def test_a_texted_code_verifies_a_caller_over_http(
    aiohttp_client: Any, tmp_path: Path, provider: LoopbackProvider
) -> None:
    client = await _client(aiohttp_client, tmp_path, provider.url)
    caller = Caller(client)
    await caller.start(ani="+447700900456", dnis=STEPUP_LINE)
    await caller.press("23456789#")
    await caller.press("15071975#")
    (the_code,) = provider.codes_for("C1002")
    done = await caller.press(the_code + "#")
    handoff = transfer(done)["handoff"]
    assert handoff["idv_status"] == "identified_and_verified"
    assert handoff["factors_passed"] == ["date_of_birth", "sent_code"]
    ready = await (await client.get("/readyz")).json()
    assert ready["dependencies"]["otp_provider"] == {"state": "ok"}


async def test_readyz_shows_a_provider_that_is_down(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await _client(aiohttp_client, tmp_path, f"http://127.0.0.1:{free_port()}")
    response = await client.get("/readyz")
    body = await response.json()
    assert response.status == 200
    assert body["status"] == "degraded"
    assert body["dependencies"]["otp_provider"]["state"] == "down"
    caller = Caller(client)  # and callers who need a code still reach an agent
    await caller.start(ani="+447700900456", dnis=STEPUP_LINE)
    await caller.press("23456789#")
    done = await caller.press("15071975#")
    assert transfer(done)["handoff"]["idv_status"] == "identified_only"
