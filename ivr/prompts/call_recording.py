"""Listening to a call: what the caller heard and pressed, as one 8 kHz mono 16-bit WAV.

Business users check a flow by ear before it goes live (`ivr simulate ... --record call.wav`).
The simulator describes the call as a timeline:

- `Heard(prompt, cut_at_ms)`: a prompt as played; barge-in cuts it where a key was pressed.
- `Pressed(keys)`: DTMF tones (the standard frequency pairs), `tone_ms` of tone and `gap_ms`
  of silence per key, so the keys can be decoded from the recording. Card digits
  (`masked=True`) are written as `MASKED_KEYS_MS` of silence whatever their number: neither
  the keys nor how many were pressed can be read back.
- `Silence(seconds)`: the caller saying nothing, e.g. until a timeout.

Parts are laid end to end with nothing added between them, so the recording's length is the
sum of the parts (`CallRecording.parts` gives each part's offset for a transcript).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ivr.engine.actions import PromptRef
from ivr.prompts.audio import SAMPLE_RATE, AudioSegment, pcm_wav_bytes, silence, write_atomic
from ivr.prompts.catalog import PromptCatalog
from ivr.prompts.render import PromptAudio

TONE_MS = 100
GAP_MS = 60
TONE_DBFS = -12.0  # level of each of the two frequencies
MASKED_KEYS_MS = 1000

# ITU-T Q.23 keypad: key -> (row frequency, column frequency), in Hz.
_ROWS = (697, 770, 852, 941)
_COLUMNS = (1209, 1336, 1477, 1633)
_KEYPAD = ("123A", "456B", "789C", "*0#D")
DTMF_FREQUENCIES: dict[str, tuple[int, int]] = {
    key: (_ROWS[row], _COLUMNS[column])
    for row, keys in enumerate(_KEYPAD)
    for column, key in enumerate(keys)
}


@dataclass(frozen=True, slots=True)
class Heard:
    prompt: PromptRef
    cut_at_ms: int | None = None  # barge-in: the prompt stops here (ms from its start)


@dataclass(frozen=True, slots=True)
class Pressed:
    keys: str
    masked: bool = False


@dataclass(frozen=True, slots=True)
class Silence:
    seconds: float


TimelineItem = Heard | Pressed | Silence


@dataclass(frozen=True, slots=True)
class RenderedPart:
    item: TimelineItem
    start_ms: int
    duration_ms: int


@dataclass(frozen=True, slots=True)
class CallRecording:
    path: Path
    duration_ms: int
    parts: tuple[RenderedPart, ...]


def dtmf_tones(keys: str, tone_ms: int = TONE_MS, gap_ms: int = GAP_MS) -> AudioSegment:
    """The tones a phone sends for `keys`: each key's frequency pair, then a gap."""
    amplitude = 32767 * 10 ** (TONE_DBFS / 20)
    result = silence(0)
    for key in keys:
        if key not in DTMF_FREQUENCIES:
            raise ValueError(f"{key!r} is not a DTMF key (0-9, *, #, A-D)")
        low, high = DTMF_FREQUENCIES[key]
        count = SAMPLE_RATE * tone_ms // 1000
        samples = array(
            "h",
            (
                round(
                    amplitude
                    * (
                        math.sin(2 * math.pi * low * n / SAMPLE_RATE)
                        + math.sin(2 * math.pi * high * n / SAMPLE_RATE)
                    )
                )
                for n in range(count)
            ),
        )
        tone = AudioSegment(
            data=samples.tobytes(), sample_width=2, frame_rate=SAMPLE_RATE, channels=1
        )
        result += tone + silence(gap_ms)
    return result


def render_call(
    timeline: Sequence[TimelineItem],
    catalog: PromptCatalog,
    out_path: Path,
    *,
    language: str,
    cache_dir: Path | None = None,
    tone_ms: int = TONE_MS,
    gap_ms: int = GAP_MS,
) -> CallRecording:
    """Write the call to `out_path` (8 kHz mono 16-bit PCM WAV) and say where each part is.

    `language` picks the espeak-ng voice for prompts without a recording (their `PromptRef.text`
    is spoken as filled in, e.g. with the customer's name); recordings are found under
    `catalog.root`. Pass `cache_dir` to keep generated speech between runs. This blocks while
    ffmpeg and espeak-ng run: from async code call it with `asyncio.to_thread`.
    """
    audio = PromptAudio(catalog.root, language, cache_dir=cache_dir)
    combined = silence(0)
    parts: list[RenderedPart] = []
    for item in timeline:
        if isinstance(item, Heard):
            segment = audio.for_ref(item.prompt)
            if item.cut_at_ms is not None:
                segment = segment[: max(0, item.cut_at_ms)]
        elif isinstance(item, Pressed) and item.masked:
            segment = silence(MASKED_KEYS_MS)
        elif isinstance(item, Pressed):
            segment = dtmf_tones(item.keys, tone_ms, gap_ms)
        else:
            segment = silence(round(item.seconds * 1000))
        parts.append(RenderedPart(item, len(combined), len(segment)))
        combined += segment
    write_atomic(out_path, pcm_wav_bytes(combined))
    return CallRecording(path=out_path, duration_ms=len(combined), parts=tuple(parts))
