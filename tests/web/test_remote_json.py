"""The simulator's HTTP driver for the JSON protocol, against a real server on loopback,
in process and through `ivr simulate --url ... --protocol json`."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from ivr.engine.actions import CollectDigits, Transfer
from simulator.player import play_call, scripted
from simulator.remote_json import JsonDriver, RemoteError
from simulator.script import parse_script
from tests.web.conftest import ALICE, CARDS_LINE, DEMO_LINE, ROOT, SECRET
from tests.web.servers import Server


def base(client: TestClient[Any, Any]) -> str:
    return str(client.make_url("")).rstrip("/")


async def test_driver_plays_a_verified_call(client: TestClient[Any, Any]) -> None:
    driver = JsonDriver(base(client), SECRET)
    try:
        actions = await driver.start("remote-1", ALICE, DEMO_LINE, "A")
        assert isinstance(actions[-1], CollectDigits)
        assert actions[-1].step == "date_of_birth"
        final = await driver.press("01021980#")
        assert isinstance(final[-1], Transfer)
        summary = await driver.summary()
        assert summary.idv_status == "identified_and_verified"
        assert summary.flow_version == "1"
        assert summary.customer_id == "C1001"
    finally:
        await driver.close()


async def test_player_over_http_matches_the_in_process_contract(
    client: TestClient[Any, Any],
) -> None:
    driver = JsonDriver(base(client), SECRET)
    try:
        outcome = await play_call(
            driver,
            scripted(parse_script("99999999#;timeout;23456789#;15071975#")),
            ani=None,
            dnis=CARDS_LINE,
        )
    finally:
        await driver.close()
    result = outcome.to_json()
    assert result["idv_status"] == "identified_and_verified"
    assert result["customer_id"] == "C1002"
    assert result["attempts"]["account_number"] == 3


async def test_wrong_secret_is_reported(client: TestClient[Any, Any]) -> None:
    driver = JsonDriver(base(client), "not-the-secret")
    with pytest.raises(RemoteError, match="403"):
        await driver.start("remote-2", ALICE, DEMO_LINE, "unknown")
    await driver.close()


async def test_ivr_simulate_url_json(tmp_path: Path, demo_db: str) -> None:
    folders = [f"--{name}={ROOT / name}" for name in ("flows", "config", "prompts")]
    server = Server(["--db", demo_db, "--journal", "none", *folders], tmp_path)
    try:
        await server.ready()
        env = {**os.environ, "IVR_WEBHOOK_SECRET": SECRET, "PYTHONPATH": str(ROOT)}
        command = [sys.executable, "-m", "ivr.cli.main", "simulate", "--url", server.url]
        command += ["--protocol", "json", "--ani", ALICE, "--dnis", DEMO_LINE]
        command += ["--input", "01021980#", "--json"]
        process = await asyncio.create_subprocess_exec(
            *command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, err.decode()
        result = json.loads(out)
        assert result["idv_status"] == "identified_and_verified"
        assert result["flow_version"] == "1"
    finally:
        server.stop()
