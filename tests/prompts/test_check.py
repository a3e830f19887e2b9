"""`ivr prompts check`: errors with file:line, warnings, and the spoken/placeholder listing."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.cli.main import main
from ivr.prompts.build import build_placeholders
from ivr.prompts.catalog import PromptCatalog
from ivr.prompts.check import FILLABLE_PLACEHOLDERS, check_prompts
from tests.prompts.conftest import FLOW, make_speech_flac, write_catalog


def test_a_complete_tree_passes_with_notes_for_spoken_prompts(prompt_tree: Path) -> None:
    report = check_prompts(prompt_tree / "prompts", prompt_tree / "flows", prompt_tree / "build")
    assert report.errors == []
    assert report.warnings == []
    catalog_file = prompt_tree / "prompts" / "en-GB" / "catalog.yaml"
    assert report.notes == [
        f"{catalog_file}:9: en-GB ask_number_again: spoken (no recording)",
        f"{catalog_file}:11: en-GB thanks: spoken (no recording)",
    ]


def test_placeholder_audio_is_reported_once_generated(prompt_tree: Path) -> None:
    out = prompt_tree / "build"
    build_placeholders(PromptCatalog.load(prompt_tree / "prompts"), out)
    report = check_prompts(prompt_tree / "prompts", prompt_tree / "flows", out)
    assert [note.split(": ", 1)[1] for note in report.notes] == [
        "en-GB ask_number_again: placeholder audio",
        "en-GB thanks: placeholder audio",
    ]


def test_missing_prompt_and_language_are_errors_at_the_flow_line(prompt_tree: Path) -> None:
    flows = prompt_tree / "flows"
    (flows / "demo.yaml").write_text(FLOW.format(languages="en-GB, cy-GB"))
    write_catalog(prompt_tree / "prompts", "fr-FR", "welcome:\n  text: Bienvenue.\n")
    (flows / "french.yaml").write_text(FLOW.format(languages="fr-FR").replace("id: demo", "id: fr"))
    report = check_prompts(prompt_tree / "prompts", flows)
    french = flows / "french.yaml"
    assert report.errors == [
        f"{flows / 'demo.yaml'}:5: language 'cy-GB' has no catalogue "
        f"({prompt_tree / 'prompts' / 'cy-GB' / 'catalog.yaml'})",
        f"{french}:12: prompt 'ask_number' is not in the fr-FR catalogue "
        f"({prompt_tree / 'prompts' / 'fr-FR' / 'catalog.yaml'})",
        f"{french}:13: prompt 'ask_number_again' is not in the fr-FR catalogue "
        f"({prompt_tree / 'prompts' / 'fr-FR' / 'catalog.yaml'})",
        f"{french}:18: prompt 'thanks' is not in the fr-FR catalogue "
        f"({prompt_tree / 'prompts' / 'fr-FR' / 'catalog.yaml'})",
    ]


def test_unused_prompts_and_unfillable_placeholders_are_warnings(prompt_tree: Path) -> None:
    catalog_file = prompt_tree / "prompts" / "en-GB" / "catalog.yaml"
    with catalog_file.open("a") as out:
        out.write("  balance:\n    text: Your balance is {balance}, {customer_name}.\n")
    report = check_prompts(prompt_tree / "prompts", prompt_tree / "flows")
    assert report.errors == []
    assert report.warnings == [
        f"{catalog_file}:13: prompt 'balance' is used by no flow",
        f"{catalog_file}:13: prompt 'balance': the engine cannot fill {{balance}}; "
        f"it knows {', '.join(sorted(FILLABLE_PLACEHOLDERS))}",
    ]


def test_a_recorded_secret_prompt_is_an_error(prompt_tree: Path) -> None:
    catalog_file = prompt_tree / "prompts" / "en-GB" / "catalog.yaml"
    with catalog_file.open("a") as out:
        out.write("  secret_word:\n    text: Your secret is {secret}.\n    audio: welcome.flac\n")
    report = check_prompts(prompt_tree / "prompts", prompt_tree / "flows")
    assert any("secret_word" in e and "spoken by the gateway" in e for e in report.errors)


def test_missing_and_corrupt_recordings_are_errors(prompt_tree: Path) -> None:
    folder = prompt_tree / "prompts" / "en-GB"
    (folder / "welcome.flac").unlink()
    (folder / "ask_number.mp3").write_bytes(b"\xff\xfb" + b"not really an mp3" * 50)
    report = check_prompts(prompt_tree / "prompts", prompt_tree / "flows")
    catalog_file = folder / "catalog.yaml"
    assert len(report.errors) == 2
    assert report.errors[0] == (
        f"{catalog_file}:3: prompt 'welcome': recording {folder / 'welcome.flac'} not found"
    )
    assert report.errors[1].startswith(
        f"{catalog_file}:6: prompt 'ask_number': cannot decode ask_number.mp3"
    )


def test_recording_changed_since_build_is_a_warning(prompt_tree: Path) -> None:
    prompts, out = prompt_tree / "prompts", prompt_tree / "build"
    assert main(["prompts", "build", "--prompts", str(prompts), "--out", str(out)]) == 0
    assert check_prompts(prompts, prompt_tree / "flows", out).warnings == []
    make_speech_flac(prompts / "en-GB" / "welcome.flac", "Hello and welcome.")
    warnings = check_prompts(prompts, prompt_tree / "flows", out).warnings
    assert len(warnings) == 1
    assert "welcome': recording changed since the last build" in warnings[0]


def test_cli_exit_codes_and_output(prompt_tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["prompts", "check", "--prompts", str(prompt_tree / "prompts")]
    args += ["--flows", str(prompt_tree / "flows"), "--out", str(prompt_tree / "build")]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "0 errors, 0 warnings, 2 prompts without a recording" in captured.out
    assert "thanks: spoken (no recording)" in captured.out

    (prompt_tree / "prompts" / "en-GB" / "welcome.flac").unlink()
    assert main(args) == 1
    captured = capsys.readouterr()
    assert "welcome.flac not found [error]" in captured.err
