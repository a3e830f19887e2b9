"""`ivr test --url`: the flow's test cases through a real `ivr serve` process, over the JSON
webhook and as Twilio and jambonz (webhooks and WebSocket API) would call it."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.web.conftest import ROOT, SECRET
from tests.web.servers import Server

TWILIO_TOKEN = "remote-cases-twilio-token"
JAMBONZ_SECRET = "remote-cases-jambonz-secret"
JAMBONZ_WS = {"IVR_JAMBONZ_WS_USERNAME": "jambonz-app", "IVR_JAMBONZ_WS_PASSWORD": "remote-ws"}
IVR = str(Path(sys.executable).with_name("ivr"))


@pytest.fixture
def server(demo_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """A server in a copy of the project, so its log and files stay out of the checkout."""
    for folder in ("flows", "config", "prompts"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    monkeypatch.setenv("IVR_TWILIO_AUTH_TOKEN", TWILIO_TOKEN)
    monkeypatch.setenv("IVR_JAMBONZ_SECRET", JAMBONZ_SECRET)
    for name, value in JAMBONZ_WS.items():
        monkeypatch.setenv(name, value)
    started = Server(["--db", demo_db, "--journal", "none"], cwd=tmp_path)
    yield started
    started.stop()


@pytest.mark.parametrize("protocol", ["json", "twilio", "jambonz", "jambonz-ws"])
async def test_the_idv_cases_pass_through_a_running_server(server: Server, protocol: str) -> None:
    await server.ready()
    env = {**os.environ, "IVR_WEBHOOK_SECRET": SECRET, "IVR_TWILIO_AUTH_TOKEN": TWILIO_TOKEN}
    env.update(JAMBONZ_WS, IVR_JAMBONZ_SECRET=JAMBONZ_SECRET)
    url = server.url.replace("http://", "ws://") if protocol == "jambonz-ws" else server.url
    done = await asyncio.to_thread(
        subprocess.run,
        [IVR, "test", "flows/", "--url", url, "--protocol", protocol],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # the callback cases book a callback in a scratch database, the cards cases key partial
    # answers, the step-up cases key one-time codes (each accepted once), some need a customer
    # locked before the call: in process only
    assert "36 cases passed, 0 failed (75 not runnable over HTTP)" in done.stdout
    if protocol != "json":  # a gateway document's answer to a hang-up carries no ID&V status
        assert "not observable over this protocol: idv_status" in done.stdout
