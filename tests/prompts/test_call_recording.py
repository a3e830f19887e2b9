"""A simulated call as one WAV: its length is the sum of its parts and its tones decode back."""

from __future__ import annotations

import math
import wave
from array import array
from pathlib import Path

import pytest

from ivr.engine.actions import PromptRef
from ivr.prompts.audio import WAVE_FORMAT_PCM, read_wav_info
from ivr.prompts.call_recording import (
    DTMF_FREQUENCIES,
    GAP_MS,
    TONE_MS,
    Heard,
    Pressed,
    Silence,
    dtmf_tones,
    render_call,
)
from ivr.prompts.catalog import PromptCatalog
from ivr.prompts.render import PromptAudio

RATE = 8000
ROWS = sorted({low for low, _ in DTMF_FREQUENCIES.values()})
COLUMNS = sorted({high for _, high in DTMF_FREQUENCIES.values()})
BY_PAIR = {pair: key for key, pair in DTMF_FREQUENCIES.items()}


def goertzel(block: list[int], frequency: float) -> float:
    """Power of one frequency in a block (the Goertzel recurrence)."""
    coefficient = 2 * math.cos(2 * math.pi * frequency / RATE)
    s1 = s2 = 0.0
    for sample in block:
        s1, s2 = sample + coefficient * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coefficient * s1 * s2


def classify(block: list[int]) -> str | None:
    """The key whose two tones carry most of the block's energy, if any."""
    energy = sum(sample * sample for sample in block)
    if energy < len(block) * 100**2:
        return None
    rows = [goertzel(block, f) for f in ROWS]
    columns = [goertzel(block, f) for f in COLUMNS]
    row, column = max(range(4), key=rows.__getitem__), max(range(4), key=columns.__getitem__)
    # A pure tone of N samples has Goertzel power ~ energy * N / 2.
    if (rows[row] + columns[column]) / (energy * len(block) / 2) < 0.6:
        return None
    return BY_PAIR[(ROWS[row], COLUMNS[column])]


def detect_keys(samples: list[int], block: int = 205, hop: int = 80) -> str:
    """Keys as runs of at least two consecutive blocks classified alike, split by non-tones."""
    keys, previous, run = [], None, 0
    for start in range(0, len(samples) - block, hop):
        current = classify(samples[start : start + block])
        run = run + 1 if current == previous else 1
        if current is not None and run == 2:
            keys.append(current)
        previous = current
    return "".join(keys)


def read_samples(path: Path) -> list[int]:
    with wave.open(str(path)) as reader:
        assert (reader.getframerate(), reader.getnchannels(), reader.getsampwidth()) == (8000, 1, 2)
        return list(array("h", reader.readframes(reader.getnframes())))


def test_dtmf_tones_alone_decode_to_every_key() -> None:
    keys = "1234567890*#ABCD"
    tones = dtmf_tones(keys)
    assert len(tones) == len(keys) * (TONE_MS + GAP_MS)
    assert detect_keys(list(array("h", tones.raw_data))) == keys


def test_repeated_keys_stay_separate() -> None:
    assert detect_keys(list(array("h", dtmf_tones("1100#").raw_data))) == "1100#"


def test_unknown_key_is_rejected() -> None:
    with pytest.raises(ValueError, match="not a DTMF key"):
        dtmf_tones("12x")


def test_call_recording_length_and_keys(prompt_tree: Path, tmp_path: Path) -> None:
    catalog = PromptCatalog.load(prompt_tree / "prompts")
    welcome = catalog.resolve("welcome", "en-GB")
    thanks = catalog.resolve("thanks", "en-GB", {"customer_name": "Ada"})
    assert thanks.text == "Thank you, Ada."
    timeline = [
        Heard(welcome, cut_at_ms=700),  # barge-in: the caller pressed 1 at 0.7 s
        Pressed("12"),
        Heard(PromptRef("ask_number_again", "Sorry, please try again.")),
        Silence(1.5),
        Pressed("*#0A9"),
        Heard(thanks),
    ]
    out = tmp_path / "call.wav"
    recording = render_call(timeline, catalog, out, language="en-GB", cache_dir=tmp_path / "c")

    audio = PromptAudio(catalog.root, "en-GB", cache_dir=tmp_path / "c")
    expected = [
        700,
        2 * (TONE_MS + GAP_MS),
        len(audio.for_ref(timeline[2].prompt)),  # type: ignore[union-attr]
        1500,
        5 * (TONE_MS + GAP_MS),
        len(audio.for_ref(thanks)),
    ]
    assert [part.duration_ms for part in recording.parts] == expected
    assert [part.start_ms for part in recording.parts] == [sum(expected[:i]) for i in range(6)]
    info = read_wav_info(out.read_bytes())
    assert (info.format_tag, info.sample_rate, info.channels) == (WAVE_FORMAT_PCM, 8000, 1)
    assert abs(info.duration_ms - sum(expected)) <= 2
    assert recording.duration_ms == sum(expected)
    # Speech and the cut recording must not be mistaken for keys.
    assert detect_keys(read_samples(out)) == "12*#0A9"


def test_a_cut_longer_than_the_prompt_plays_it_whole(prompt_tree: Path, tmp_path: Path) -> None:
    catalog = PromptCatalog.load(prompt_tree / "prompts")
    welcome = catalog.resolve("welcome", "en-GB")
    full = len(PromptAudio(catalog.root, "en-GB").for_ref(welcome))
    recording = render_call(
        [Heard(welcome, cut_at_ms=full + 5000)], catalog, tmp_path / "c.wav", language="en-GB"
    )
    assert recording.duration_ms == full
