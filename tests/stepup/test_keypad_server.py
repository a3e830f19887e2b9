"""The keypad answer to an agent's step-up through the real server: a flow step using
`stepup.answer` settles the challenge the agent started for the call."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from pydantic import SecretStr

from ivr.bootstrap import Project
from ivr.directory.csv_import import import_file
from ivr.web.app import create_app
from ivr.web.settings import ServeSettings
from tests.stepup.test_stepup_api import AGENT_KEY, agent
from tests.web.conftest import SECRET, Caller, transfer

from .conftest import ROOT, code, settings_for

LINE = "+441134960099"
FLOW = """schema_version: 1
flow: {id: agent_stepup, version: "1", description: Keypad step-up, languages: [en-GB]}
defaults:
  input: {timeout: 5s, inter_digit_timeout: 3s, term_key: "#", barge_in: true}
  max_attempts: 3
  no_input: [sorry_no_input]
  invalid: [sorry_invalid]
  wrong: [sorry_wrong]
identify:
  - step: account_number
    ask: {prompt: ask_account_number, digits: {min: 8, max: 8}}
    uses: directory.lookup_by_account
    outcomes: {found: smart_pin, max_attempts: result.not_identified, error: result.not_identified}
verify:
  - step: smart_pin
    ask: {prompt: ask_totp_code, digits: {min: 6, max: 6}, secret: true}
    uses: stepup.answer
    outcomes:
      verified: result.identified_and_verified
      no_challenge: result.identified_only
      expired: result.identified_only
      failed: result.identified_only
      locked: result.identified_only
      not_enrolled: result.identified_only
      max_attempts: result.identified_only
      error: result.identified_only
results:
  identified_and_verified: {route: agent, handoff: [idv_status, customer_id, factors_passed]}
  identified_only: {route: agent, handoff: [idv_status, customer_id]}
  not_identified: {route: agent, handoff: [idv_status]}
"""
LINE_CONFIG = f"""
  - name: agent_stepup
    dnis: ["{LINE}"]
    flow: agent_stepup
    language: en-GB
"""


def _project(folder: Path) -> Project:
    shutil.copytree(ROOT / "flows", folder / "flows")
    shutil.copytree(ROOT / "config", folder / "config")
    (folder / "flows" / "agent_stepup.yaml").write_text(FLOW)
    lines = folder / "config" / "service-lines.yaml"
    text = lines.read_text()
    marker = "service_lines:\n"
    lines.write_text(text.replace(marker, marker + LINE_CONFIG, 1))
    return Project(folder / "flows", folder / "config", ROOT / "prompts")


async def test_the_caller_answers_the_agents_step_up_by_keypad(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    db = tmp_path / "directory.db"
    await import_file(ROOT / "config" / "demo-customers.csv", db)
    settings = ServeSettings(
        project=_project(tmp_path),
        prompts_build=tmp_path / "prompts-build",
        directory=str(db),
        journal_url=f"sqlite:///{tmp_path / 'journal.db'}",
        webhook_secret=SECRET,
        env=settings_for(None, agent_key=SecretStr(AGENT_KEY)),
    )
    client: TestClient[Any, Any] = await aiohttp_client(create_app(settings))
    caller = Caller(client)
    await caller.start(ani="+447700900123", dnis=LINE)
    await caller.press("12345678#")
    started = await client.post("/step-ups", json={"call_id": caller.call_id}, headers=agent())
    assert started.status == 201, await started.text()
    step_up = await started.json()
    done = await caller.press(code(time.time()) + "#")
    handoff = transfer(done)["handoff"]
    assert handoff["idv_status"] == "identified_and_verified"
    assert handoff["factors_passed"] == ["totp"]
    settled = await (await client.get(f"/step-ups/{step_up['id']}", headers=agent())).json()
    assert settled["status"] == "verified"
    assert settled["answered_by"] == "keypad"
    assert "validation_token" in settled


async def test_without_a_step_up_the_caller_is_not_verified(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    db = tmp_path / "directory.db"
    await import_file(ROOT / "config" / "demo-customers.csv", db)
    settings = ServeSettings(
        project=_project(tmp_path),
        prompts_build=tmp_path / "prompts-build",
        directory=str(db),
        journal_url=f"sqlite:///{tmp_path / 'journal.db'}",
        webhook_secret=SECRET,
        env=settings_for(None, agent_key=SecretStr(AGENT_KEY)),
    )
    client: TestClient[Any, Any] = await aiohttp_client(create_app(settings))
    caller = Caller(client)
    await caller.start(ani="+447700900123", dnis=LINE)
    await caller.press("12345678#")
    done = await caller.press(code(time.time()) + "#")  # the right code, but nobody asked
    assert transfer(done)["handoff"]["idv_status"] == "identified_only"
