"""flows/stepup.yaml played in process against the real directory and the loopback provider:
a texted code verifies, and a provider that is down routes the caller on to an agent."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from ivr.bootstrap import Project, build_engine, load_project
from ivr.directory.sqlite_store import SqliteDirectory
from ivr.engine.actions import Transfer
from ivr.engine.runtime import EngineSettings
from simulator.local import LocalDriver
from tests.stepup.provider_server import TOKEN, LoopbackProvider, free_port

from .conftest import ROOT, settings_for


async def _play(directory: SqliteDirectory, provider_url: str, keys: list[str]) -> Transfer:
    loaded = load_project(Project(ROOT / "flows", ROOT / "config", ROOT / "prompts"))
    settings = settings_for(provider_url, otp_provider_token=SecretStr(TOKEN))
    engine, _ = await build_engine(loaded, directory, EngineSettings(), settings)
    driver = LocalDriver(engine, flow_id="stepup")
    actions = list(await driver.start("c1", "+447700900456", "+441134960005", "unknown"))
    for key in keys:
        actions = list(await driver.press(key))
    transfers = [a for a in actions if isinstance(a, Transfer)]
    assert transfers, actions
    return transfers[0]


async def test_a_texted_code_verifies_the_caller(
    tmp_path: Path, provider: LoopbackProvider
) -> None:
    directory = await SqliteDirectory.open(await _demo(tmp_path))
    try:
        loaded = load_project(Project(ROOT / "flows", ROOT / "config", ROOT / "prompts"))
        settings = settings_for(provider.url, otp_provider_token=SecretStr(TOKEN))
        engine, _ = await build_engine(loaded, directory, EngineSettings(), settings)
        driver = LocalDriver(engine, flow_id="stepup")
        await driver.start("c1", "+447700900456", "+441134960005", "unknown")
        await driver.press("23456789#")
        await driver.press("15071975#")  # Bob has no authenticator: a code is texted
        (the_code,) = provider.codes_for("C1002")
        actions = await driver.press(the_code + "#")
        (transfer,) = [a for a in actions if isinstance(a, Transfer)]
        assert transfer.handoff["idv_status"] == "identified_and_verified"
        assert transfer.handoff["factors_passed"] == ["date_of_birth", "sent_code"]
    finally:
        await directory.close()


async def test_a_provider_that_is_down_routes_the_caller_to_an_agent(tmp_path: Path) -> None:
    directory = await SqliteDirectory.open(await _demo(tmp_path))
    try:
        down = f"http://127.0.0.1:{free_port()}"
        transfer = await _play(directory, down, ["23456789#", "15071975#"])
        assert transfer.route_name == "agent"
        assert transfer.handoff["idv_status"] == "identified_only"
        assert transfer.handoff["factors_passed"] == ["date_of_birth"]
    finally:
        await directory.close()


async def _demo(folder: Path) -> Path:
    from ivr.directory.csv_import import import_file

    db = folder / "directory.db"
    await import_file(ROOT / "config" / "demo-customers.csv", db)
    return db
