"""`ivr prompts build`/`tts`: real recordings in, telephony WAVs and a manifest out."""

from __future__ import annotations

import hashlib
import json
import wave
from pathlib import Path

import pytest

from ivr.prompts.audio import (
    WAVE_FORMAT_MULAW,
    WAVE_FORMAT_PCM,
    ConversionSettings,
    read_wav_info,
    segment_from_pcm_wav,
)
from ivr.prompts.build import build_placeholders, build_recordings
from ivr.prompts.catalog import PromptCatalog
from ivr.prompts.manifest import Manifest
from tests.prompts.conftest import TONE_S, make_speech_flac, write_catalog


def test_build_converts_mp3_and_flac_to_pcm_and_ulaw(prompt_tree: Path) -> None:
    out = prompt_tree / "build"
    report = build_recordings(PromptCatalog.load(prompt_tree / "prompts"), out)

    assert report.errors == []
    assert (report.converted, report.cached) == (2, 0)
    for prompt_id in ("welcome", "ask_number"):
        pcm = read_wav_info((out / "en-GB" / f"{prompt_id}.wav").read_bytes())
        ulaw = read_wav_info((out / "en-GB" / f"{prompt_id}.ulaw.wav").read_bytes())
        assert (pcm.format_tag, pcm.sample_rate, pcm.channels, pcm.bits_per_sample) == (
            WAVE_FORMAT_PCM,
            8000,
            1,
            16,
        )
        assert (ulaw.format_tag, ulaw.sample_rate, ulaw.channels, ulaw.bits_per_sample) == (
            WAVE_FORMAT_MULAW,
            8000,
            1,
            8,
        )
        assert ulaw.frames == pcm.frames
    # stdlib wave reads the PCM file too: a plain, standard header.
    with wave.open(str(out / "en-GB" / "ask_number.wav")) as reader:
        assert reader.getframerate() == 8000


def test_silence_is_trimmed_and_level_normalised(prompt_tree: Path) -> None:
    out = prompt_tree / "build"
    build_recordings(PromptCatalog.load(prompt_tree / "prompts"), out)
    tone = segment_from_pcm_wav((out / "en-GB" / "ask_number.wav").read_bytes())
    keep = ConversionSettings().keep_silence_ms
    # 1.5 s of tone (0.5 s of silence each side in the source), keeping 50 ms pads.
    assert abs(len(tone) - (TONE_S * 1000 + 2 * keep)) <= 40
    # A sine's crest factor is 3 dB, so the -20 dBFS RMS target is reached without limiting;
    # the kept pads lower the average slightly.
    assert tone.dBFS == pytest.approx(-20.0, abs=0.6)
    assert tone.max_dBFS <= ConversionSettings().peak_ceiling_dbfs + 0.01


def test_manifest_lists_files_hashes_and_durations(prompt_tree: Path) -> None:
    out = prompt_tree / "build"
    build_recordings(PromptCatalog.load(prompt_tree / "prompts"), out)
    document = json.loads((out / "manifest.json").read_text())
    assert document["settings"]["target_dbfs"] == -20.0
    entries = {item["prompt_id"]: item for item in document["prompts"]}
    assert set(entries) == {"welcome", "ask_number"}
    welcome = entries["welcome"]
    assert welcome["placeholder"] is False
    assert welcome["source"] == "en-GB/welcome.flac"
    source = (prompt_tree / "prompts" / "en-GB" / "welcome.flac").read_bytes()
    assert welcome["source_sha256"] == hashlib.sha256(source).hexdigest()
    for built in welcome["files"].values():
        data = (out / built["path"]).read_bytes()
        assert built["sha256"] == hashlib.sha256(data).hexdigest()
        assert built["bytes"] == len(data)
    pcm = read_wav_info((out / "en-GB" / "welcome.wav").read_bytes())
    assert welcome["duration_ms"] == pcm.duration_ms > 1000


def test_rebuild_uses_the_cache_and_reconverts_only_changes(prompt_tree: Path) -> None:
    prompts, out = prompt_tree / "prompts", prompt_tree / "build"
    build_recordings(PromptCatalog.load(prompts), out)
    again = build_recordings(PromptCatalog.load(prompts), out)
    assert (again.converted, again.cached) == (0, 2)

    # Re-record one prompt: only it is converted.
    make_speech_flac(prompts / "en-GB" / "welcome.flac", "Welcome back to Example Bank.")
    changed = build_recordings(PromptCatalog.load(prompts), out)
    assert (changed.converted, changed.cached) == (1, 1)


def test_missing_and_corrupt_recordings_are_errors_with_catalog_lines(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts"
    catalog_file = write_catalog(
        prompts,
        "en-GB",
        "gone:\n  text: Gone.\n  audio: gone.wav\nbroken:\n  text: Broken.\n  audio: broken.mp3\n",
    )
    (prompts / "en-GB" / "broken.mp3").write_bytes(b"ID3" + bytes(range(256)) * 8)
    report = build_recordings(PromptCatalog.load(prompts), tmp_path / "build")
    assert report.converted == 0
    assert len(report.errors) == 2
    broken = next(error for error in report.errors if "broken" in error)
    assert broken.startswith(f"{catalog_file}:6: prompt 'broken': cannot decode broken.mp3")
    gone = next(error for error in report.errors if "gone" in error)
    assert gone == f"{catalog_file}:3: prompt 'gone': recording en-GB/gone.wav not found"


def test_tts_makes_marked_placeholders_for_unrecorded_prompts(prompt_tree: Path) -> None:
    prompts, out = prompt_tree / "prompts", prompt_tree / "build"
    build_recordings(PromptCatalog.load(prompts), out)
    report = build_placeholders(PromptCatalog.load(prompts), out)
    assert report.errors == []
    assert (report.converted, report.cached) == (2, 0)
    manifest = Manifest.load(out)
    placeholders = {e.prompt_id for e in manifest.entries.values() if e.placeholder}
    recordings = {e.prompt_id for e in manifest.entries.values() if not e.placeholder}
    assert placeholders == {"ask_number_again", "thanks"}
    assert recordings == {"welcome", "ask_number"}  # tts keeps build's entries
    entry = manifest.get("en-GB", "thanks")
    assert entry is not None
    assert entry.source == "tts:en-gb"
    info = read_wav_info((out / entry.files["ulaw"].path).read_bytes())
    assert (info.format_tag, info.sample_rate) == (WAVE_FORMAT_MULAW, 8000)
    assert 500 < entry.duration_ms < 5000
    # A later build keeps the placeholders for prompts still without a recording.
    build_recordings(PromptCatalog.load(prompts), out)
    assert manifest.get("en-GB", "thanks") == Manifest.load(out).get("en-GB", "thanks")
    assert build_placeholders(PromptCatalog.load(prompts), out).cached == 2
