"""Gateways are sent a prompt's URL only when its recording is built and served; otherwise
they speak the text (a URL that 404s would leave the caller in silence)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from yarl import URL

from ivr.cli.main import main
from tests.web.conftest import ROOT, Caller, MakeClient


def welcome(doc: dict[str, Any]) -> dict[str, Any]:
    prompts = [p for action in doc["actions"] for p in action.get("prompts", [])]
    found = [p for p in prompts if p["id"] == "welcome"]
    assert found, doc
    result: dict[str, Any] = found[0]
    return result


async def test_a_built_recording_is_played_from_its_served_url(
    make_client: MakeClient, tmp_path: Path
) -> None:
    build = tmp_path / "build"
    assert main(["prompts", "build", "--prompts", str(ROOT / "prompts"), "--out", str(build)]) == 0
    client = await make_client(prompts_build=build)
    doc = await Caller(client).start()
    url = welcome(doc)["audio_url"]
    assert url is not None
    assert url.endswith("/prompts/en-GB/welcome.wav")
    served = await client.get(URL(url).path)
    assert served.status == 200
    assert served.headers["Content-Type"] == "audio/wav"


async def test_an_unbuilt_recording_is_spoken_from_its_text(
    make_client: MakeClient, tmp_path: Path
) -> None:
    client = await make_client(prompts_build=tmp_path / "never-built")
    doc = await Caller(client).start()
    assert welcome(doc)["audio_url"] is None
    assert welcome(doc)["text"] == "Welcome to Example Bank."
