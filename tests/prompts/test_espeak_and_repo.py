"""espeak-ng voices and calls, fragment discovery, and the repository's own prompts."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.cli.main import main
from ivr.prompts.audio import decode
from ivr.prompts.catalog import PromptCatalog
from ivr.prompts.espeak import SpeechError, synthesize, synthesize_async, voice_for

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("language", "voice"),
    [("en-GB", "en-gb"), ("en-US", "en-us"), ("es-ES", "es"), ("cy-GB", "cy")],
)
def test_voice_mapping(language: str, voice: str) -> None:
    assert voice_for(language) == voice


def test_voice_fallbacks_use_installed_voices() -> None:
    assert voice_for("fr-BE") == "fr-be"  # lower-cased tag exists
    assert voice_for("da-DK") == "da"  # falls back to the language part


async def test_async_synthesis_writes_a_decodable_file(tmp_path: Path) -> None:
    out = tmp_path / "s.wav"
    await synthesize_async("-1 is not an option here", "en-gb", out)
    assert len(decode(out)) > 500


def test_unknown_voice_is_a_speech_error(tmp_path: Path) -> None:
    with pytest.raises(SpeechError, match="voice xx-nope"):
        synthesize("hello", "xx-nope", tmp_path / "s.wav")


def test_fragments_are_found_by_name_in_any_format(tmp_path: Path) -> None:
    folder = tmp_path / "en-GB" / "fragments"
    folder.mkdir(parents=True)
    for name in ("digit_1.wav", "digit_2.mp3", "notes.txt"):
        (folder / name).write_bytes(b"")
    (tmp_path / "en-GB" / "catalog.yaml").write_text("prompts: {}\n")
    fragments = PromptCatalog.load(tmp_path).fragments("en-GB")
    assert sorted(fragments) == ["digit_1", "digit_2"]


def test_repository_prompts_pass_the_check(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["prompts", "check", "--prompts", str(REPO / "prompts"), "--flows", str(REPO / "flows")]
    )
    assert code == 0, capsys.readouterr().err
